#!/usr/bin/env python3
# Regenerates web.json, compat.json and strict.json in the directory given as argument:
#   python3 seccomp-profiles/tools/genprofiles.py seccomp-profiles
# The JSON files are what tenantrun embeds; edit the lists here and regenerate, or edit the JSON.
import json,sys
ALLOW = """
creat read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2
open openat openat2 close close_range lseek
stat fstat lstat newfstatat statx statfs fstatfs
access faccessat faccessat2 readlink readlinkat getdents getdents64
mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink symlinkat
chmod fchmod fchmodat chown fchown fchownat lchown
truncate ftruncate fallocate fsync fdatasync fadvise64 utimensat utimes umask
getcwd chdir fchdir dup dup2 dup3 pipe pipe2 fcntl flock ioctl
sendfile copy_file_range splice memfd_create
inotify_init1 inotify_add_watch inotify_rm_watch
getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
brk mmap munmap mprotect mremap madvise msync mincore membarrier
execve execveat exit exit_group wait4 waitid fork vfork kill tgkill tkill
getpid getppid gettid getuid geteuid getgid getegid getresuid getresgid getgroups
setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid
setsid setpgid getpgid getpgrp getsid
prctl arch_prctl set_tid_address set_robust_list get_robust_list rseq futex
sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_getscheduler
sched_get_priority_max sched_get_priority_min getpriority setpriority capget capset
getrlimit setrlimit prlimit64 getrusage times sysinfo uname
clock_gettime clock_getres clock_nanosleep gettimeofday time nanosleep
timer_create timer_settime timer_gettime timer_getoverrun timer_delete
timerfd_create timerfd_settime timerfd_gettime alarm getitimer setitimer
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigpending sigaltstack
signalfd signalfd4 pause restart_syscall
epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
poll ppoll select pselect6 eventfd eventfd2
socketpair bind listen accept accept4 connect getsockname getpeername setsockopt getsockopt
sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown
getrandom
shmget shmat shmdt shmctl semget semop semctl semtimedop
""".split()
# sched_setaffinity stays: the cpuset cgroup bounds what a task can pin to, and nginx's
# worker_cpu_affinity auto needs it (the web compatibility sweep, docs/seccomp.md).
DROP=set("preadv2 pwritev2 memfd_create listxattr llistxattr flistxattr sched_getparam sched_getscheduler sched_get_priority_max sched_get_priority_min setfsuid setfsgid getitimer timer_getoverrun signalfd epoll_pwait2 mincore tkill shmget shmat shmdt shmctl semget semop semctl semtimedop utimes time pause capset".split())
assert DROP<=set(ALLOW)
ALLOW=[x for x in ALLOW if x not in DROP]
assert len(ALLOW)==len(set(ALLOW)), [x for x in ALLOW if ALLOW.count(x)>1]
NS_MASK = 0x7E020000
def rule(names, action="SCMP_ACT_ALLOW", args=None, comment=None, errno=None):
    r={"names":names,"action":action}
    if errno is not None: r["errnoRet"]=errno
    if args: r["args"]=args
    return r
def arg(i,v,op="SCMP_CMP_EQ",v2=0): return {"index":i,"value":v,"valueTwo":v2,"op":op}
prof = {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],
 "syscalls":[rule(sorted(ALLOW)),
  rule(["clone"],args=[arg(0,0,"SCMP_CMP_MASKED_EQ",NS_MASK) ]),
  rule(["clone3"],"SCMP_ACT_ERRNO",errno=38),
  rule(["socket"],args=[arg(0,1)]),rule(["socket"],args=[arg(0,2)]),rule(["socket"],args=[arg(0,10)]),
  rule(["socket"],args=[arg(0,16),arg(2,0)]),
  rule(["personality"],args=[arg(0,0)]),rule(["personality"],args=[arg(0,0xffffffff)]),
 ]}
# masked_eq: value=mask? OCI: value is mask, valueTwo is datum
prof["syscalls"][1]["args"]=[arg(0,NS_MASK,"SCMP_CMP_MASKED_EQ",0)]

# An explicit flags list: runc's specconv gives a profile with no "flags" at all
# SECCOMP_FILTER_FLAG_SPEC_ALLOW (speculative store bypass mitigation off). TSYNC is accepted
# and ignored by libcontainer, and survives JSON round trips (an empty list would be omitted).
FLAGS = ["SECCOMP_FILTER_FLAG_TSYNC"]
def dump(p, path):
    p = dict(p); p["flags"] = FLAGS
    p = {k: p[k] for k in ["defaultAction","defaultErrnoRet","architectures","flags","syscalls"]}
    # one syscall name per line would be long; keep names on one line per rule, readable diff
    out = json.dumps(p, indent=1)
    open(path,"w").write(out+"\n")
dump(prof, sys.argv[1]+"/web.json")
print("web", len(ALLOW)+3)
COMPAT_EXTRA = """openat2 preadv2 pwritev2 memfd_create listxattr llistxattr flistxattr
sched_setaffinity sched_getparam sched_getscheduler sched_get_priority_max sched_get_priority_min
sched_getattr sched_setattr sched_setparam sched_setscheduler sched_rr_get_interval
setfsuid setfsgid getitimer timer_getoverrun signalfd epoll_pwait2 mincore tkill
shmget shmat shmdt shmctl semget semop semctl semtimedop msgget msgsnd msgrcv msgctl
mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
utimes utime futimesat time pause capset inotify_init
io_setup io_submit io_getevents io_destroy io_cancel io_pgetevents
sync syncfs sync_file_range tee vmsplice readahead
mlock munlock mlock2 mlockall munlockall
pidfd_open pidfd_send_signal rt_sigqueueinfo rt_tgsigqueueinfo
ioprio_get ioprio_set get_mempolicy set_mempolicy mbind
pkey_alloc pkey_free pkey_mprotect
setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp
mknod mknodat epoll_wait_old epoll_ctl_old getcpu
""".split()
CALLS = sorted(set(ALLOW) | set(COMPAT_EXTRA) - {"epoll_wait_old","epoll_ctl_old"})
compat = json.loads(json.dumps(prof)); compat["syscalls"][0]["names"] = CALLS
dump(compat, sys.argv[1]+"/compat.json")
print("compat", len(CALLS)+3)
STRICT = """read write readv writev pread64 pwrite64 openat openat2 close close_range lseek
fstat newfstatat statx fstatfs readlinkat getdents64 faccessat faccessat2 getcwd
mkdirat unlinkat renameat ftruncate fsync fdatasync
fcntl dup dup3 pipe2 ioctl
brk mmap munmap mprotect mremap madvise
execve exit exit_group getpid gettid getppid getuid geteuid getgid getegid
arch_prctl set_tid_address set_robust_list rseq futex sched_yield sched_getaffinity
clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday
rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack tgkill
getrandom uname prlimit64 getrlimit
epoll_create1 epoll_ctl epoll_pwait epoll_wait eventfd2 poll ppoll
bind listen accept accept4 connect getsockname getpeername setsockopt getsockopt
sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown
""".split()
assert len(STRICT)==len(set(STRICT))
strict = {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],
 "syscalls":[rule(sorted(STRICT)),
  rule(["clone"],args=[arg(0,NS_MASK|0x10000,"SCMP_CMP_MASKED_EQ",0x10000)]),
  rule(["clone3"],"SCMP_ACT_ERRNO",errno=38),
  rule(["socket"],args=[arg(0,1)]),rule(["socket"],args=[arg(0,2)]),rule(["socket"],args=[arg(0,10)]),
 ]}
dump(strict, sys.argv[1]+"/strict.json")
print("strict", len(STRICT)+2)


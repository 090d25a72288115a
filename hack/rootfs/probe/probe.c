/*
 * tenantrun-probe: tries syscalls a tenant must never get and prints one line each:
 *   NAME=denied ERRNO            the call failed with EPERM or ENOSYS (what the seccomp
 *                                profile returns), or the process was killed by a signal
 *   NAME=ALLOWED (...)           the call reached the kernel (it succeeded, or failed for a
 *                                reason the kernel found only after seccomp let it through)
 * Exit status: 0 when every call was denied, 1 when any was allowed.
 *
 * Arguments are chosen so that a call which gets past seccomp, even as root on the host,
 * does nothing harmful and fails with a distinctive errno (EINVAL, EBADF, ENOENT, ...):
 * running this probe unconfined as root prints ALLOWED lines, which is how its own
 * test proves it can tell the difference.
 *
 * Static (gcc -static); no libc wrappers that might be missing: raw syscall(2) only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if_ether.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef AF_PACKET
#define AF_PACKET 17
#endif
#define X32_SYSCALL_BIT 0x40000000

static int allowed;

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	case EFAULT: return "EFAULT";
	case ESRCH: return "ESRCH";
	case EACCES: return "EACCES";
	case ENODEV: return "ENODEV";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOEXEC: return "ENOEXEC";
	case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENOTDIR: return "ENOTDIR";
	default: return "E?";
	}
}

/* report a raw syscall result (ret, errno as left by syscall(2)) */
static void report(const char *name, long ret, int err)
{
	if (ret == -1 && (err == EPERM || err == ENOSYS)) {
		printf("%s=denied %s\n", name, errname(err));
	} else if (ret == -1) {
		printf("%s=ALLOWED (reached the kernel: %s %d)\n", name, errname(err), err);
		allowed = 1;
	} else {
		printf("%s=ALLOWED (returned %ld)\n", name, ret);
		allowed = 1;
	}
	fflush(stdout);
}

#define TRY(name, ...)                                   \
	do {                                             \
		errno = 0;                               \
		long r_ = syscall(__VA_ARGS__);          \
		report(name, r_, errno);                 \
	} while (0)

/* 32-bit getpid through the int 0x80 gate (i386 number 20) */
static long int80_getpid(void)
{
	long ret = 20;
	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "rcx", "r11");
	return ret; /* -errno on failure, like the kernel returns it */
}

/* runs fn in a child: a filter may kill the caller for a foreign-architecture call */
static void in_child(const char *name, long (*fn)(void))
{
	int pfd[2];
	if (pipe(pfd) != 0) {
		printf("%s=ERROR pipe\n", name);
		allowed = 1;
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		/* a profile without fork (strict): the call cannot be tried safely, and a process
		 * that cannot fork cannot use it to escape either */
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		printf("%s=denied %s (not tried: fork failed)\n", name, errname(e));
		fflush(stdout);
		return;
	}
	if (pid == 0) {
		close(pfd[0]);
		long r = fn();
		if (write(pfd[1], &r, sizeof r) != sizeof r)
			_exit(3);
		_exit(0);
	}
	close(pfd[1]);
	long r = 0;
	ssize_t n = read(pfd[0], &r, sizeof r);
	close(pfd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st)) {
		printf("%s=denied killed by signal %d (%s)\n", name, WTERMSIG(st),
		       WTERMSIG(st) == SIGSYS ? "SIGSYS: seccomp" : strsignal(WTERMSIG(st)));
		fflush(stdout);
		return;
	}
	if (n != sizeof r) {
		printf("%s=ERROR child status %d\n", name, st);
		allowed = 1;
		return;
	}
	if (r < 0 && r > -4096)
		report(name, -1, (int)-r);
	else
		report(name, r, 0);
}

static long x32_getpid(void)
{
	long ret = X32_SYSCALL_BIT | 39; /* x32 getpid */
	__asm__ volatile("syscall" : "+a"(ret) : : "memory", "rcx", "r11");
	return ret;
}

static long clone_newuser(void)
{
	/* raw clone: flags, stack=0 (copy-on-write like fork) */
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	if (r > 0) {
		waitpid((pid_t)r, NULL, 0);
		return r;
	}
	return -errno;
}

int main(void)
{
	TRY("mount", SYS_mount, "none", "/nonexistent/tenantrun-probe", "tenantrun-nofs", 0UL, NULL);
	TRY("umount2", SYS_umount2, "/nonexistent/tenantrun-probe", 0);
	TRY("unshare", SYS_unshare, 0x1UL); /* an invalid flag: EINVAL if it reaches the kernel */
	TRY("setns", SYS_setns, -1, 0);
	TRY("ptrace", SYS_ptrace, 2L /* PTRACE_PEEKDATA */, -1L, NULL, NULL);
	TRY("bpf", SYS_bpf, 0xffff, NULL, 0);
	TRY("keyctl", SYS_keyctl, 0xffff, 0, 0, 0, 0);
	TRY("add_key", SYS_add_key, NULL, NULL, NULL, 0, 0);
	TRY("kexec_load", SYS_kexec_load, 0UL, 0UL, NULL, 0xffff0000UL);
	TRY("init_module", SYS_init_module, NULL, 0UL, "");
	TRY("finit_module", SYS_finit_module, -1, "", 0);
	TRY("perf_event_open", SYS_perf_event_open, NULL, 0, -1, -1, 0UL);
	TRY("userfaultfd", SYS_userfaultfd, 0xffffffffU);
	TRY("io_uring_setup", SYS_io_uring_setup, 0U, NULL);
	TRY("open_by_handle_at", SYS_open_by_handle_at, -1, NULL, 0);
	{
		long r = clone_newuser();
		report("clone_newuser", r < 0 ? -1 : r, r < 0 ? (int)-r : 0);
	}
	{
		errno = 0;
		long fd = syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0x0300 /* htons(ETH_P_ALL) */);
		int e = errno;
		if (fd >= 0)
			close((int)fd);
		report("socket_af_packet", fd, e);
	}
	{
		errno = 0;
		long r = syscall(SYS_personality, (unsigned long)PER_LINUX32);
		int e = errno;
		if (r != -1)
			syscall(SYS_personality, (unsigned long)PER_LINUX);
		report("personality_linux32", r, e);
	}
	TRY("clone3", SYS_clone3, NULL, 0UL);
	in_child("int80_getpid", int80_getpid);
	in_child("x32_getpid", x32_getpid);
	printf("probe: %s\n", allowed ? "FAIL: some calls were allowed" : "ok: every call was denied");
	return allowed;
}

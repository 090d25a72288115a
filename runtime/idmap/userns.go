package idmap

// A user namespace fd for the idmapped rootfs, without running any program: a C helper clones
// a child into a new user namespace (CLONE_NEWUSER|CLONE_VM on a small private stack, all
// signals blocked); the child only waits for a pipe to close. The parent writes the child's
// uid_map and gid_map itself (it is root in the parent namespace, the child never needs to
// have run), opens /proc/PID/ns/user, closes the pipe, and reaps the child. No fork of the
// address space, no exec, no ptrace stop to wait for.

/*
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TR_USERNS_STACK (64 * 1024)

struct tr_userns_args {
	int rfd, wfd;
	pid_t parent;
};

// Runs in the child on its own stack, sharing the parent's memory: raw syscalls only (it
// must not touch the Go runtime or libc state); errno may be written, and the parent reads
// errno only when clone itself failed, when there is no child.
static int tr_userns_child(void *p) {
	struct tr_userns_args *a = p;
	char c;
	syscall(SYS_close, a->wfd);
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (syscall(SYS_getppid) != a->parent)
		syscall(SYS_exit, 0);
	// Returns 0 (EOF) once every copy of the write end is closed: the parent closed it or died.
	while (syscall(SYS_read, a->rfd, &c, 1) < 0)
		;
	syscall(SYS_exit, 0);
	return 0;
}

// tr_userns_spawn returns the child's pid (or -1 with errno) and the stack to free once the
// child has been reaped.
static int tr_userns_spawn(int rfd, int wfd, void **stackp) {
	sigset_t all, old;
	void *stack = mmap(NULL, TR_USERNS_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	struct tr_userns_args *a = stack; // the arguments live at the bottom of the child's stack
	a->rfd = rfd;
	a->wfd = wfd;
	a->parent = getpid();
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); // the child starts with every signal blocked
	int pid = clone(tr_userns_child, (char *)stack + TR_USERNS_STACK, CLONE_NEWUSER | CLONE_VM | SIGCHLD, a);
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		munmap(stack, TR_USERNS_STACK);
		errno = saved;
		return -1;
	}
	*stackp = stack;
	return pid;
}

static void tr_userns_free(void *stack) { munmap(stack, TR_USERNS_STACK); }
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// usernsReaper counts children of newUsernsClone not reaped yet (tests wait on it).
var usernsReaper sync.WaitGroup

func formatMap(m []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, x := range m {
		fmt.Fprintf(&b, "%d %d %d\n", x.ContainerID, x.HostID, x.Size)
	}
	return b.String()
}

// newUsernsClone is newUserns by a cloned, never-running child (see the top of this file).
func newUsernsClone(uidMap, gidMap []specs.LinuxIDMapping) (int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, err
	}
	var stack unsafe.Pointer
	pid, err := C.tr_userns_spawn(C.int(p[0]), C.int(p[1]), &stack)
	unix.Close(p[0])
	if pid < 0 {
		unix.Close(p[1])
		return -1, fmt.Errorf("clone(CLONE_NEWUSER): %w", err)
	}
	defer func() {
		unix.Close(p[1]) // the child's read returns EOF and it exits
		_ = unix.Kill(int(pid), unix.SIGKILL)
		// Reaping waits until the child has been scheduled to exit, milliseconds on a busy
		// machine: do it beside the mount work. Its stack is freed once it is a zombie
		// (it no longer runs on it then).
		usernsReaper.Add(1)
		go func() {
			defer usernsReaper.Done()
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != unix.EINTR {
					break
				}
			}
			C.tr_userns_free(stack)
		}()
	}()
	proc := "/proc/" + strconv.Itoa(int(pid))
	for _, f := range []struct{ name, data string }{{"uid_map", formatMap(uidMap)}, {"gid_map", formatMap(gidMap)}} {
		if err := writeOnce(proc+"/"+f.name, f.data); err != nil {
			return -1, fmt.Errorf("writing %s of the new user namespace: %w", f.name, err)
		}
	}
	fd, err := unix.Open(proc+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening the new user namespace: %w", err)
	}
	return fd, nil
}

// writeOnce writes data with a single write(2), as uid_map and gid_map require.
func writeOnce(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	n, err := f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(data))
	}
	return err
}

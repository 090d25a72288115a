// Package rlimits applies the rlimits libcontainer cannot apply itself (RLIMIT_AS) at the
// exec of the container's program. Its door: Defer splits them off a process; Watch and
// WatchInit set them at the exec; a Watch is waited for or abandoned.
package rlimits

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// RLIMIT_AS cannot be applied where libcontainer applies rlimits: inside its Go
// init, before the exec of the user program. That init has about 1.5 GiB of
// address space reserved by the Go runtime, so under a smaller limit every new
// mapping it makes fails, and whether it still needs one between the limit and
// the exec is a matter of timing: with RLIMIT_AS at 1 GiB, 2 starts in 60 died
// in the init with "fatal error: runtime: cannot allocate memory" and no output
// from the container at all (CI's conformance process_rlimits, enforcing).
// Setting it from outside just after the exec is too late the other way: a
// program that reads its limit at once (sh -c 'ulimit -v') saw "unlimited" in
// 25 runs of 150.
//
// tenantrun therefore takes RLIMIT_AS out of what libcontainer applies and sets
// it itself at the exec: it attaches to the process with ptrace(PTRACE_SEIZE,
// PTRACE_O_TRACEEXEC) before the exec, so the kernel stops the process when the
// new program is loaded and before its first instruction runs; tenantrun sets
// the limit with prlimit(2) and detaches. For the init that is at start (and
// run), while the init waits on the exec fifo, so the limit holds from the
// program's first instruction. For an exec process tenantrun can only attach
// once libcontainer's Run returns, which races with the process's own exec:
// if the program runs already, tenantrun stops it with PTRACE_INTERRUPT and
// sets the limit there, so its first microseconds may run without it (on a
// loaded machine, 3 execs in 30 read "unlimited" with an immediate
// `ulimit -v`). The kernel allows all of it: host root
// owns the container's user namespace. Where ptrace is not permitted (tenantrun
// itself confined without CAP_SYS_PTRACE), the limit is set as soon as the
// process's name shows the exec, and the program's first microseconds run
// without it.

// Types maps the OCI rlimit names to the kernel's resource numbers.
var Types = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// initComm is the name libcontainer's nsexec gives the init and exec children
// (prctl PR_SET_NAME); execve replaces it with the program's name.
const initComm = "runc:[2:INIT]"

// execWaitLimit bounds the wait for the exec: a trusted tenant's startContainer
// hooks run between start and the exec.
var execWaitLimit = 10 * time.Second

// Defer splits the rlimits tenantrun applies itself off p: it returns
// the process to hand to libcontainer (a copy when anything was taken out; p
// itself is left whole, since the container record keeps it as the base of
// exec processes) and the rlimits taken out.
func Defer(p *specs.Process) (*specs.Process, []specs.POSIXRlimit) {
	if p == nil {
		return nil, nil
	}
	var deferred []specs.POSIXRlimit
	kept := make([]specs.POSIXRlimit, 0, len(p.Rlimits))
	for _, r := range p.Rlimits {
		if r.Type == "RLIMIT_AS" {
			deferred = append(deferred, r)
			continue
		}
		kept = append(kept, r)
	}
	if deferred == nil {
		return p, nil
	}
	cp := *p
	cp.Rlimits = kept
	return &cp, deferred
}

// applyRlimits sets rls on pid. A process that has already exited is not an
// error: nothing is left to limit.
func applyRlimits(pid int, rls []specs.POSIXRlimit) error {
	for _, r := range rls {
		t, ok := Types[r.Type]
		if !ok {
			continue
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		err := unix.Prlimit(pid, t, &lim, nil)
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("process.rlimits %s: setting it on pid %d: %w", r.Type, pid, err)
		}
	}
	return nil
}

// Watcher sets deferred rlimits on a process at its exec (see above).
type Watcher struct {
	pid    int
	rls    []specs.POSIXRlimit
	cancel chan struct{}
	done   chan error
}

// Watch starts watching pid for its exec; nil when there is nothing to set.
// The caller then lets the process exec and calls wait.
func Watch(pid int, rls []specs.POSIXRlimit) *Watcher {
	if len(rls) == 0 || pid <= 0 {
		return nil
	}
	w := &Watcher{pid: pid, rls: rls, cancel: make(chan struct{}), done: make(chan error, 1)}
	seized := make(chan bool)
	go w.trace(seized)
	if !<-seized {
		go func() { w.done <- w.pollExec() }()
	}
	return w
}

// wait returns once the limits are set, or the process is gone. On failure the
// process is killed: it must not run without its limits.
func (w *Watcher) Wait() error {
	if w == nil {
		return nil
	}
	err := <-w.done
	if err != nil {
		_ = unix.Kill(w.pid, unix.SIGKILL)
	}
	return err
}

// abandon stops watching a process that will not be let exec (the verb failed).
func (w *Watcher) Abandon() {
	if w == nil {
		return
	}
	close(w.cancel)
	<-w.done
}

// trace is the tracer: every ptrace request must come from the thread that
// attached, so it owns a locked OS thread, which exits with it (and a tracer
// thread that exits detaches its tracees).
func (w *Watcher) trace(seized chan<- bool) {
	runtime.LockOSThread()
	if err := ptraceReq(unix.PTRACE_SEIZE, w.pid, unix.PTRACE_O_TRACEEXEC); err != nil {
		logrus.Debugf("rlimits: cannot attach to pid %d (%v); setting RLIMIT_AS after its exec", w.pid, err)
		seized <- false
		return
	}
	seized <- true
	// Exec'd already (an exec process can get there before this attaches): stop
	// it where it is and set the limit there.
	if execed, err := hasExeced(w.pid); err != nil || execed {
		_ = unix.PtraceInterrupt(w.pid)
	}
	deadline := time.Now().Add(execWaitLimit)
	interrupted := false
	for pause := 10 * time.Microsecond; ; {
		// Peek first (WNOWAIT): the exit of a process that died before its exec
		// belongs to its parent (run and exec wait for it), not to the tracer.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, w.pid, &info, unix.WEXITED|unix.WSTOPPED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || exitedCode(info.Code) {
			w.done <- nil // gone
			return
		}
		if siginfoPid(&info) == 0 {
			select {
			case <-w.cancel:
				if !interrupted {
					_ = unix.PtraceInterrupt(w.pid)
					interrupted = true
				}
			default:
				if !interrupted && time.Now().After(deadline) {
					logrus.Warnf("pid %d has not exec'd its program after %s; setting process.rlimits RLIMIT_AS on it now", w.pid, execWaitLimit)
					_ = unix.PtraceInterrupt(w.pid)
					interrupted = true
				}
			}
			time.Sleep(pause)
			pause = min(2*pause, time.Millisecond)
			continue
		}
		pause = 10 * time.Microsecond
		var ws unix.WaitStatus
		if _, err := unix.Wait4(w.pid, &ws, unix.WALL|unix.WNOHANG, nil); err != nil && err != unix.EINTR {
			w.done <- nil
			return
		}
		if !ws.Stopped() {
			continue
		}
		sig, cause := ws.StopSignal(), int(uint32(ws)>>16)
		switch cause {
		case unix.PTRACE_EVENT_EXEC:
			err := applyRlimits(w.pid, w.rls)
			_ = ptraceReq(unix.PTRACE_DETACH, w.pid, 0)
			w.done <- err
			return
		case unix.PTRACE_EVENT_STOP:
			execed, _ := hasExeced(w.pid)
			switch {
			case execed || (interrupted && !isCancelled(w.cancel)):
				err := applyRlimits(w.pid, w.rls)
				_ = ptraceReq(unix.PTRACE_DETACH, w.pid, 0)
				w.done <- err
			case interrupted:
				_ = ptraceReq(unix.PTRACE_DETACH, w.pid, 0)
				w.done <- nil
			case sig == unix.SIGTRAP:
				_ = unix.PtraceCont(w.pid, 0)
				continue
			default:
				// A group stop (SIGSTOP and friends) before the exec: leave the
				// process stopped as its sender wants; the limit follows the exec.
				_ = ptraceReq(unix.PTRACE_DETACH, w.pid, 0)
				w.done <- w.pollExec()
			}
			return
		default:
			// A signal on its way to the process: deliver it.
			_ = ptraceReq(unix.PTRACE_CONT, w.pid, int(sig))
		}
	}
}

// exitedCode: a waitid si_code for an exit (CLD_EXITED, CLD_KILLED, CLD_DUMPED).
func exitedCode(code int32) bool { return code >= 1 && code <= 3 }

// siginfoPid is si_pid of a waitid result (0: nothing to report).
func siginfoPid(info *unix.Siginfo) int32 {
	return *(*int32)(unsafe.Add(unsafe.Pointer(info), 16))
}

func isCancelled(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func ptraceReq(req, pid, data int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), 0, uintptr(data), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// pollExec is the fallback without ptrace: set the limits as soon as the
// process's name shows the exec.
func (w *Watcher) pollExec() error {
	deadline := time.Now().Add(execWaitLimit)
	for pause := 20 * time.Microsecond; ; pause = min(2*pause, time.Millisecond) {
		execed, err := hasExeced(w.pid)
		if err != nil {
			return nil // gone
		}
		if isCancelled(w.cancel) {
			return nil
		}
		if execed || time.Now().After(deadline) {
			return applyRlimits(w.pid, w.rls)
		}
		time.Sleep(pause)
	}
}

// hasExeced tells whether pid runs its program yet: its name is no longer the
// one libcontainer's nsexec gave it. An error means the process is gone.
func hasExeced(pid int) (bool, error) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/comm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	var buf [32]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil {
		return false, err
	}
	return !bytes.Equal(bytes.TrimSuffix(buf[:n], []byte("\n")), []byte(initComm)), nil
}

// WatchInit is Watch on a created container's init.
func WatchInit(c *libcontainer.Container, rls []specs.POSIXRlimit) *Watcher {
	if len(rls) == 0 {
		return nil
	}
	st, err := c.State()
	if err != nil {
		return nil
	}
	return Watch(st.InitProcessPid, rls)
}

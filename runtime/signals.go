package runtime

import (
	"os"
	"os/signal"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// forwarder relays signals sent to a foreground `run`/`exec` to the container
// process and reaps children. tenantrun makes itself a subreaper so that the
// container's orphans are reaped here (PID 1 on hosts like this one reaps late).
type forwarder struct {
	sigs chan os.Signal
}

func newForwarder() *forwarder {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		logrus.Warnf("cannot become a subreaper: %v", err)
	}
	f := &forwarder{sigs: make(chan os.Signal, 2048)}
	signal.Notify(f.sigs)
	return f
}

func (f *forwarder) stop() { signal.Stop(f.sigs) }

// forward runs until process p exits and returns its exit status.
func (f *forwarder) forward(p *libcontainer.Process) (int, error) {
	pid, err := p.Pid()
	if err != nil {
		return -1, err
	}
	// The process may have exited before we started listening.
	if st, done := reapAll(pid); done {
		_, _ = p.Wait()
		return st, nil
	}
	for s := range f.sigs {
		switch s {
		case unix.SIGCHLD:
			if st, done := reapAll(pid); done {
				_, _ = p.Wait()
				return st, nil
			}
		case unix.SIGURG, unix.SIGWINCH, unix.SIGPIPE:
			// SIGURG: Go's preemption; SIGWINCH: the engine resizes the pty itself.
		default:
			us := s.(unix.Signal)
			logrus.Debugf("forwarding signal %s to %d", unix.SignalName(us), pid)
			if err := p.Signal(s); err != nil {
				logrus.Debugf("forwarding %s: %v", unix.SignalName(us), err)
			}
		}
	}
	return -1, nil
}

// reapAll reaps every exited child; it reports the status of pid if it exited.
func reapAll(pid int) (int, bool) {
	status, found := 0, false
	for {
		var ws unix.WaitStatus
		r, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || r <= 0 {
			return status, found
		}
		if r == pid {
			found = true
			switch {
			case ws.Exited():
				status = ws.ExitStatus()
			case ws.Signaled():
				status = 128 + int(ws.Signal())
			}
		}
	}
}

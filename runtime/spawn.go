package runtime

import (
	"os"
	"strconv"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/sirupsen/logrus"
)

// spawn is what create's init and exec's process share between the converted process
// and a running one, so the two verbs cannot drift apart on any of it: the descriptors
// the caller passed (--preserve-fds, already checked by fds.Passed), the log level of
// libcontainer's init, the stdio (a terminal through the console socket, detached, or
// forwarded), the descriptor audit right before the spawn, and the undo steps on the
// verb's rollback: the stdio until the process has it, then the process itself.
type spawn struct {
	proc *libcontainer.Process
	io   *stdio
	rb   *rollback
	open bool // our ends of the stdio are still ours to close
}

// newSpawn prepares proc in container c for the spawn, pushing the undo of its stdio on rb.
func newSpawn(rb *rollback, c *libcontainer.Container, proc *libcontainer.Process, preserved []*os.File, terminal, detach bool, consoleSocket string) (*spawn, error) {
	proc.ExtraFiles = append(proc.ExtraFiles, preserved...)
	proc.LogLevel = strconv.Itoa(int(logrus.GetLevel()))
	io, err := setupIO(proc, c, terminal, detach, consoleSocket)
	if err != nil {
		return nil, err
	}
	sp := &spawn{proc: proc, io: io, rb: rb, open: true}
	rb.push(func() {
		if sp.open {
			io.close()
		}
	})
	return sp, nil
}

// start audits the descriptors (nothing tenantrun holds reaches the container) and runs
// run, which starts the process (libcontainer's Start or Run, and for create what must
// follow it). Once it has, the stdio is the process's, and a later failure of the verb
// kills the process: it must not run unknown to the caller, or without its deferred
// rlimits.
func (sp *spawn) start(run func() error) error {
	if err := auditFDs(); err != nil {
		return err
	}
	if err := run(); err != nil {
		return err
	}
	sp.io.started()
	sp.open = false
	sp.rb.push(func() {
		_ = sp.proc.Signal(os.Kill)
		_, _ = sp.proc.Wait()
	})
	return nil
}

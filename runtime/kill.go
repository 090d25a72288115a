package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// ParseSignal accepts a signal name (KILL, SIGKILL, sigterm) or number.
func ParseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}

// Kill sends a signal to the container's init, or with all to every process.
func Kill(g *Global, id, signal string, all bool) error {
	sig, err := ParseSignal(signal)
	if err != nil {
		return err
	}
	h, err := open(g, id)
	if err != nil {
		return err
	}
	defer h.close()
	st, err := h.c.Status()
	if err != nil {
		return err
	}
	if all {
		if st == libcontainer.Stopped {
			return nil
		}
		return signalAll(h.c, sig)
	}
	if st == libcontainer.Stopped {
		return fmt.Errorf("container %q is not running", id)
	}
	return h.c.Signal(sig)
}

// signalAll signals every process in the container's cgroup (a frozen
// container is thawed for SIGKILL so it can die).
func signalAll(c *libcontainer.Container, sig unix.Signal) error {
	pids, err := c.Processes()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, sig)
	}
	if sig == unix.SIGKILL {
		if st, _ := c.Status(); st == libcontainer.Paused {
			_ = c.Resume()
		}
	}
	return nil
}

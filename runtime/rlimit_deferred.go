package runtime

import (
	"fmt"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// RLIMIT_AS is applied by libcontainer inside its Go init, before the init
// compiles the seccomp filter; the Go runtime alone reserves about 1.5 GiB of
// address space, so a container asking for RLIMIT_AS below that could never
// start (runc 1.1 could). tenantrun therefore takes RLIMIT_AS out of what
// libcontainer applies and sets it itself with prlimit(2) on the container's
// process just before the user program is exec'd (start), or right after an
// exec process started. The kernel allows it: host root owns the container's
// user namespace.

// deferRlimits removes the rlimits tenantrun applies itself from p.
func deferRlimits(p *specs.Process) []specs.POSIXRlimit {
	if p == nil {
		return nil
	}
	var deferred []specs.POSIXRlimit
	kept := p.Rlimits[:0:0]
	for _, r := range p.Rlimits {
		if r.Type == "RLIMIT_AS" {
			deferred = append(deferred, r)
			continue
		}
		kept = append(kept, r)
	}
	if deferred != nil {
		p.Rlimits = kept
	}
	return deferred
}

// applyRlimits sets deferred rlimits on pid.
func applyRlimits(pid int, rls []specs.POSIXRlimit) error {
	for _, r := range rls {
		t, ok := rlimitTypes[r.Type]
		if !ok {
			continue
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(pid, t, &lim, nil); err != nil {
			return fmt.Errorf("process.rlimits %s: setting it on pid %d: %w", r.Type, pid, err)
		}
	}
	return nil
}

// applyDeferredToInit sets the deferred rlimits on a created container's init.
func applyDeferredToInit(c *libcontainer.Container, rls []specs.POSIXRlimit) error {
	if len(rls) == 0 {
		return nil
	}
	st, err := c.State()
	if err != nil {
		return err
	}
	return applyRlimits(st.InitProcessPid, rls)
}

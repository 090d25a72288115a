package runtime

import (
	"fmt"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/runtime/rlimits"
)

// Start runs the user process of a created container.
func Start(g *Global, id string) error {
	h, err := open(g, id)
	if err != nil {
		return err
	}
	defer h.close()
	st, err := h.c.Status()
	if err != nil {
		return err
	}
	switch st {
	case libcontainer.Created:
		failpoint("start:before-exec")
		var deferred []specs.POSIXRlimit
		if h.rec != nil {
			deferred = h.rec.DeferredRlimits
		}
		w := rlimits.WatchInit(h.c, deferred)
		if err := h.c.Exec(); err != nil {
			w.Abandon()
			return fmt.Errorf("starting container %q: %w", id, err)
		}
		if err := w.Wait(); err != nil {
			return fmt.Errorf("starting container %q: %w", id, err)
		}
		return nil
	case libcontainer.Stopped:
		return fmt.Errorf("cannot start container %q: it has stopped", id)
	case libcontainer.Running:
		return fmt.Errorf("cannot start container %q: it is already running", id)
	default:
		return fmt.Errorf("cannot start container %q in state %s", id, st)
	}
}

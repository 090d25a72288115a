package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/claims"
	"github.com/tenantrun/tenantrun/runtime/record"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

// Delete removes a stopped (or created) container; with force it kills a
// running one first. A state directory left by a crash mid-create (no
// loadable state) is cleaned up as well, so an id is never wedged.
func Delete(g *Global, id string, force bool) error {
	h, err := open(g, id)
	if err != nil {
		var ne *notExistError
		if errors.As(err, &ne) {
			if cleaned, cerr := deleteOrphan(g, id); cleaned || cerr != nil {
				return cerr
			}
			if force {
				return nil // runc: `delete --force` of a missing container succeeds (podman relies on it)
			}
		}
		return err
	}
	defer h.close()
	failpoint("delete:before-destroy")
	return destroyContainer(h, force)
}

func destroyContainer(h *handle, force bool) error {
	st, err := h.c.Status()
	if err != nil {
		return err
	}
	// The network policy's counters die with the namespace: read them while it lives.
	auditNet := netDeleteAudit(h, st)
	// The cgroup's fault counters go to the tenant's record before the kill: with the
	// systemd driver the scope's cgroup goes as soon as its last process does.
	retireCounters(h)
	switch st {
	case libcontainer.Stopped:
	case libcontainer.Created:
		// The init is parked on the exec fifo: killing it is what runc does.
		_ = h.c.Signal(unix.SIGKILL)
		waitStopped(h.c)
	default:
		if !force {
			return fmt.Errorf("cannot delete container %q that is not stopped: %s (use --force)", h.id, st)
		}
		if err := h.c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("killing container %q: %w", h.id, err)
		}
		waitStopped(h.c)
	}
	rec := h.rec
	gone := func() { // what tenantrun set up for the container, once libcontainer removed it
		cleanupRecord(rec)
		releaseClaims(filepath.Dir(h.stateDir), h.id)
		releaseNet(rec)
		auditNet()
	}
	if err := h.c.Destroy(); err != nil {
		// A failing poststop hook fails the destroy after libcontainer has removed the
		// container (its state directory is gone): the rest goes too, or its claims,
		// mounts and isolation entries would outlive it. A destroy that failed before
		// that (the container is still there) keeps them.
		if _, serr := os.Stat(h.stateDir); errors.Is(serr, os.ErrNotExist) {
			gone()
		}
		return fmt.Errorf("removing container %q: %w", h.id, err)
	}
	gone()
	return nil
}

// retireCounters keeps the container cgroup's counts (OOM kills, refused forks, I/O:
// cgroup v1 counts them only there) in its tenant's record before libcontainer removes
// the cgroup, so `tenants` never loses them (tenantcg/faults.go).
func retireCounters(h *handle) {
	if h.rec == nil || h.rec.CgroupParent == "" {
		return
	}
	inner, err := tenantcg.ParentInner(h.rec.CgroupParent, h.rec.Systemd)
	if err != nil {
		return
	}
	st, err := h.c.State()
	if err != nil {
		return
	}
	for _, p := range st.CgroupPaths {
		if strings.HasSuffix(filepath.Dir(p), inner) {
			tenantcg.RetireContainer(h.rec.CgroupParent, h.rec.Systemd, filepath.Base(p))
			return
		}
	}
}

// releaseClaims drops the host-wide claims (rootfs, pod) of container id under root: on
// delete, on a create's rollback and when gc removes a crashed create's state. A claim
// whose state directory is gone is stale anyway; releasing it keeps nothing behind.
func releaseClaims(root, id string) {
	if err := claims.ReleaseAll(root, id); err != nil {
		logrus.Warnf("container %s: releasing its claims: %v", id, err)
	}
}

// waitStopped waits (bounded, 10 s like runc) for the init to be gone after
// SIGKILL. A pid-namespace init only finishes dying once every zombie in its
// namespace is reaped; exec'd processes are reaped by the host's PID 1, which
// may be slow, so poll with a growing interval.
func waitStopped(c *libcontainer.Container) {
	deadline := time.Now().Add(10 * time.Second)
	for d := time.Millisecond; time.Now().Before(deadline); d = min(2*d, 100*time.Millisecond) {
		if st, err := c.Status(); err != nil || st == libcontainer.Stopped {
			return
		}
		time.Sleep(d)
	}
	logrus.Warnf("container %s: init still present after SIGKILL", c.ID())
}

// deleteOrphan removes <root>/<id> when libcontainer cannot load it (crash
// between mkdir and the first state save): kill what is in its cgroups,
// remove them and any mounts tenantrun recorded, then the directory.
func deleteOrphan(g *Global, id string) (bool, error) {
	root, err := g.stateRoot()
	if err != nil {
		return false, err
	}
	dir := filepath.Join(root, id)
	if _, err := os.Stat(dir); err != nil {
		return false, nil
	}
	who, err := callerOf(g)
	if err != nil {
		return false, err
	}
	lock, err := record.Lock(dir)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	rec, _ := record.Read(dir)
	// The same rule as open: a leftover recorded for another tenant (or with no
	// record at all) is the operator's (or gc's) to remove, not this caller's.
	if !who.mayActOn(rec) {
		return true, &notYoursError{id}
	}
	cleanupRecord(rec)
	if err := os.RemoveAll(dir); err != nil {
		return true, fmt.Errorf("removing leftover state of %q: %w", id, err)
	}
	releaseClaims(root, id)
	releaseNet(rec)
	logrus.Infof("removed leftover state of container %q", id)
	return true, nil
}

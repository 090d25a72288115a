package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/sirupsen/logrus"

	"github.com/tenantrun/tenantrun/runtime/fds"
	"github.com/tenantrun/tenantrun/runtime/record"
	"github.com/tenantrun/tenantrun/runtime/rlimits"
	"github.com/tenantrun/tenantrun/runtime/safepath"
)

// CreateOptions are the flags of `create` (and of `run`).
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int
}

// Create creates a container and leaves its init waiting for `start`.
func Create(g *Global, o CreateOptions) error {
	_, err := createContainer(g, o, actCreate)
	return err
}

type action int

const (
	actCreate action = iota
	actRun
	actRunDetached
)

// createContainer is the shared path of create and run: policy first, then
// libcontainer. On any error nothing is left behind: every step that makes something
// pushes its undo on one rollback, which runs when the create fails.
func createContainer(g *Global, o CreateOptions, act action) (_ int, err error) {
	tm := newPhaseTimer("create", o.ID)
	defer tm.done()
	if err := validateID(o.ID); err != nil {
		return -1, err
	}
	// Only descriptors the caller passed reach the container (package fds).
	preserved, err := fds.Passed(o.PreserveFDs, "--preserve-fds")
	if err != nil {
		return -1, err
	}
	root, err := g.stateRoot()
	if err != nil {
		return -1, err
	}
	bundle := o.Bundle
	if bundle == "" {
		bundle = "."
	}
	if bundle, err = filepath.Abs(bundle); err != nil {
		return -1, fmt.Errorf("--bundle: %w", err)
	}
	if fi, err := os.Stat(bundle); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return -1, fmt.Errorf("--bundle %q: %w", bundle, unwrapPathErr(err))
	}
	if _, err := os.Stat(filepath.Join(root, o.ID)); err == nil {
		return -1, fmt.Errorf("container %q already exists", o.ID)
	}
	tm.mark("spec")

	prep, err := preparePolicy(g, bundle, o.ID, o.ConsoleSocket != "")
	if err != nil {
		return -1, err
	}
	tm.mark("policy")
	failpoint("create:after-policy")

	var rb rollback
	var lock *os.File // the state directory's lock, held until the rollback is done
	defer func() {
		if err != nil {
			rb.run()
		}
		if lock != nil {
			lock.Close()
		}
	}()
	// The host-wide claims go last, once this create owns the id (another create of the
	// same id that won keeps its own).
	owned := false
	// Runs last: the isolation tables keep a pod's addresses while a member still holds
	// its namespace, which the claims say once this container's are released.
	rb.push(func() { releaseNet(prep.rec) })
	rb.push(func() {
		if owned {
			releaseClaims(root, o.ID)
		}
	})
	rb.push(prep.cleanupHost)
	// The tenant's parent cgroup and the idmapped rootfs: before specconv,
	// which reads the (possibly replaced) root.path.
	if err := prep.setupHost(); err != nil {
		return -1, err
	}
	if err := prep.pidsShortfall(); err != nil {
		return -1, err
	}
	tm.mark("host-setup")
	compatSpec(prep.spec)

	// specconv resolves root.path relative to the current directory.
	if err := os.Chdir(bundle); err != nil {
		return -1, fmt.Errorf("--bundle %q: %w", bundle, err)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:       o.ID,
		UseSystemdCgroup: g.SystemdCgroup,
		NoPivotRoot:      o.NoPivot,
		NoNewKeyring:     o.NoNewKeyring,
		Spec:             prep.spec,
		RootlessEUID:     os.Geteuid() != 0,
	})
	if err != nil {
		return -1, fmt.Errorf("converting the spec: %w", err)
	}
	lcProcess, deferred := rlimits.Defer(prep.spec.Process)
	prep.rec.DeferredRlimits = deferred
	proc, err := newProcess(lcProcess, true)
	if err != nil {
		return -1, err
	}

	c, err := libcontainer.Create(root, o.ID, cfg)
	if err != nil {
		// libcontainer.Create stats the state directory (ErrExist) and later mkdirs it: a
		// create of the same id in between makes the mkdir fail with a raw EEXIST.
		if errors.Is(err, libcontainer.ErrExist) || errors.Is(err, os.ErrExist) {
			// Another create of this id won: its work directory is not ours.
			prep.wd = ""
			return -1, fmt.Errorf("container %q already exists", o.ID)
		}
		return -1, err
	}
	stateDir := filepath.Join(root, o.ID)
	// From here on, failure destroys what libcontainer made too (before cleanupHost).
	owned = true
	rb.push(func() {
		_ = c.Destroy()
		_ = os.RemoveAll(stateDir)
	})
	if lock, err = record.Lock(stateDir); err != nil {
		return -1, err
	}
	// We own the id now: the idmapped rootfs goes onto the mount point that
	// libcontainer's config already names. The record is written first, so
	// a crash from here on leaves something delete and gc can clean up.
	prep.claimWorkDir()
	// The state directory exists (a claim is live while it does): claim the rootfs, the
	// pod and any host-owned engine network namespace host-wide before anything is
	// mounted for or started in the container. Another tenant's live container holding
	// any of them refuses this create: of two tenants racing past the policy for one
	// object, only one gets the claim.
	if err := prep.claimHost(); err != nil {
		return -1, err
	}
	if err := record.Write(stateDir, prep.rec); err != nil {
		return -1, err
	}
	if err := prep.applyNetSysctls(); err != nil {
		return -1, err
	}
	if err := prep.installJoinedNetPolicy(); err != nil {
		return -1, err
	}
	failpoint("create:after-claim")
	if err := prep.mountRootfs(); err != nil {
		return -1, err
	}
	if err := record.Write(stateDir, prep.rec); err != nil {
		return -1, err
	}
	failpoint("create:after-libcontainer-create")
	tm.mark("libcontainer-create")

	sp, err := newSpawn(&rb, c, proc, preserved, prep.spec.Process.Terminal, act != actRun, o.ConsoleSocket)
	if err != nil {
		return -1, err
	}
	var fwd *forwarder
	if act == actRun {
		fwd = newForwarder()
		defer fwd.stop()
	}
	err = sp.start(func() error {
		if err := c.Start(proc); err != nil {
			return err
		}
		if err := prep.installOwnNetPolicy(proc); err != nil || act == actCreate {
			return err
		}
		w := rlimits.WatchInit(c, prep.rec.DeferredRlimits)
		if err := c.Exec(); err != nil {
			w.Abandon()
			return err
		}
		return w.Wait()
	})
	if err != nil {
		// Another start of the same tenant may have used up the quota meanwhile.
		if qerr := prep.pidsShortfall(); qerr != nil {
			return -1, fmt.Errorf("%w (%v)", explainStartError(err), qerr)
		}
		return -1, explainStartError(err)
	}
	prep.started()
	// What list prints, in the record (best effort: list falls back to libcontainer's state).
	if in, err := recordInit(c); err == nil {
		prep.rec.Init = in
		if err := record.Write(stateDir, prep.rec); err != nil {
			logrus.Warnf("container %s: %v", o.ID, err)
		}
	}
	tm.mark("start")
	failpoint("create:after-start")
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc); err != nil {
			return -1, err
		}
	}
	rb.done()
	audit(prep, verbName(act))
	if act != actRun {
		return 0, nil
	}
	// Foreground run: wait for the container, then remove it as runc does.
	lock.Close()
	status, err := fwd.forward(proc)
	sp.io.wait()
	if h, herr := open(g, o.ID); herr == nil {
		_ = destroyContainer(h, true)
		h.close()
	}
	if err != nil {
		return -1, err
	}
	return status, nil
}

func writePidFile(path string, p *libcontainer.Process) error {
	pid, err := p.Pid()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("--pid-file %q: %w", path, err)
	}
	if err := safepath.WriteFile(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file %q: %w", path, err)
	}
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func verbName(a action) string {
	if a == actCreate {
		return "create"
	}
	return "run"
}

// explainStartError adds the operator's fix to errors whose cause is a host
// setting rather than the bundle.
func explainStartError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "session key") && strings.Contains(msg, "quota") {
		return fmt.Errorf("%w (each container gets a session keyring charged to its tenant's root uid: "+
			"raise the per-uid key quota, e.g. sysctl -w kernel.keys.maxkeys=20000 kernel.keys.maxbytes=2000000)", err)
	}
	return err
}

// auditFDs is the descriptor audit every spawn (create's init, exec's process) runs
// first: nothing tenantrun holds reaches the container (package fds).
func auditFDs() error {
	failpointLeakFD()
	return fds.Audit()
}

package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/runtime/fds"
	"github.com/tenantrun/tenantrun/runtime/rlimits"
	"github.com/tenantrun/tenantrun/runtime/safepath"
)

// ExecOptions are the flags of `exec`.
type ExecOptions struct {
	ID            string
	ProcessFile   string // --process: a process.json (engines use this)
	Args          []string
	Env           []string
	Cwd           string
	User          string // uid[:gid]
	AdditionalGID []string
	Tty           bool
	Detach        bool
	PidFile       string
	ConsoleSocket string
	PreserveFDs   int
	Caps          []string
	NoNewPrivs    bool
}

// Exec runs a new process in a running container. The process goes through
// the container's tenant policy exactly like the init process did. On failure one
// rollback undoes what was made (the stdio, a started process) and the container's
// lock is released.
func Exec(g *Global, o ExecOptions) (err error) {
	// Only descriptors the caller passed reach the container (package fds).
	preserved, err := fds.Passed(o.PreserveFDs, "--preserve-fds")
	if err != nil {
		return err
	}
	h, err := open(g, o.ID)
	if err != nil {
		return err
	}
	var rb rollback
	held := true
	defer func() {
		if err != nil {
			rb.run()
		}
		if held {
			h.close()
		}
	}()
	st, err := h.c.Status()
	if err != nil {
		return err
	}
	if st != libcontainer.Running {
		return fmt.Errorf("cannot exec in container %q: it is %s, not running", o.ID, st)
	}
	p, err := execProcessSpec(h, o)
	if err != nil {
		return err
	}
	if p, err = policyForExec(g, h, p, o.ConsoleSocket != ""); err != nil {
		return err
	}
	lcProcess, deferred := rlimits.Defer(p)
	proc, err := newProcess(lcProcess, false)
	if err != nil {
		return err
	}
	sp, err := newSpawn(&rb, h.c, proc, preserved, p.Terminal, o.Detach, o.ConsoleSocket)
	if err != nil {
		return err
	}
	var fwd *forwarder
	if !o.Detach {
		fwd = newForwarder()
		defer fwd.stop()
	}
	if err := sp.start(func() error { return h.c.Run(proc) }); err != nil {
		return fmt.Errorf("exec in container %q: %w", o.ID, err)
	}
	if len(deferred) > 0 {
		if pid, perr := proc.Pid(); perr == nil {
			if err := rlimits.Watch(pid, deferred).Wait(); err != nil {
				return err
			}
		}
	}
	failpoint("exec:after-start")
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc); err != nil {
			return err
		}
	}
	rb.done()
	h.close() // don't hold the container's lock while the process runs
	held = false
	if o.Detach {
		return nil
	}
	status, err := fwd.forward(proc)
	sp.io.wait()
	if err != nil {
		return err
	}
	if status != 0 {
		return &ExitError{Code: status}
	}
	return nil
}

// execProcessSpec builds the OCI process for exec: from --process, or from the
// container's (already hardened) process with the command-line overrides.
func execProcessSpec(h *handle, o ExecOptions) (*specs.Process, error) {
	if o.ProcessFile != "" {
		data, err := safepath.ReadFile(o.ProcessFile, maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("--process %q: %w", o.ProcessFile, unwrapPathErr(err))
		}
		return decodeProcess(data)
	}
	if len(o.Args) == 0 {
		return nil, fmt.Errorf("exec: no command given (args or --process)")
	}
	var base specs.Process
	if h.rec != nil && h.rec.Process != nil {
		base = *h.rec.Process
	}
	p := base
	p.Args = o.Args
	p.Terminal = o.Tty
	p.ConsoleSize = nil
	p.Env = append(append([]string(nil), base.Env...), o.Env...)
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if o.User != "" {
		u, gstr, hasG := strings.Cut(o.User, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: uid must be a number", o.User)
		}
		p.User.UID = uint32(uid)
		p.User.AdditionalGids = nil
		if hasG {
			gid, err := strconv.ParseUint(gstr, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: gid must be a number", o.User)
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, s := range o.AdditionalGID {
		gid, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids %q: must be a number", s)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(o.Caps) > 0 && p.Capabilities != nil {
		c := *p.Capabilities
		for _, cp := range o.Caps {
			c.Bounding = append(c.Bounding, cp)
			c.Effective = append(c.Effective, cp)
			c.Permitted = append(c.Permitted, cp)
		}
		p.Capabilities = &c
	}
	if o.NoNewPrivs {
		p.NoNewPrivileges = true
	}
	return &p, nil
}

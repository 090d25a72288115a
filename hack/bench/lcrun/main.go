// Command lcrun is a bench-only, minimal libcontainer runner: `lcrun --root DIR run ID` runs
// the bundle in the current directory exactly as written (no tenant policy), waits for it and
// destroys it. hack/bench uses it to measure what each part of a hardened bundle costs inside
// libcontainer (user namespace, seccomp profile size, the v1 /sys/fs/cgroup mount, /dev
// mounts) by running variants of one bundle alternately. It is not a runtime: stdio is
// /dev/null, no terminal, no hooks, no signal forwarding.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	_ "github.com/opencontainers/cgroups/devices"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

var rlimits = map[string]int{"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_STACK": unix.RLIMIT_STACK}

func main() {
	if len(os.Args) != 5 || os.Args[1] != "--root" || os.Args[3] != "run" {
		fmt.Fprintln(os.Stderr, "usage: lcrun --root DIR run ID   (in the bundle directory)")
		os.Exit(2)
	}
	code, err := run(os.Args[2], os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, "lcrun:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(root, id string) (int, error) {
	data, err := os.ReadFile("config.json")
	if err != nil {
		return -1, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return -1, err
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: &spec})
	if err != nil {
		return -1, err
	}
	c, err := libcontainer.Create(root, id, cfg)
	if err != nil {
		return -1, err
	}
	defer func() { _ = c.Destroy() }()
	p := spec.Process
	nnp := p.NoNewPrivileges
	proc := &libcontainer.Process{Args: p.Args, Env: p.Env, UID: int(p.User.UID), GID: int(p.User.GID),
		Cwd: p.Cwd, Init: true, NoNewPrivileges: &nnp}
	if cp := p.Capabilities; cp != nil {
		proc.Capabilities = &configs.Capabilities{Bounding: cp.Bounding, Effective: cp.Effective,
			Permitted: cp.Permitted, Inheritable: cp.Inheritable, Ambient: cp.Ambient}
	}
	for _, rl := range p.Rlimits {
		if t, ok := rlimits[rl.Type]; ok {
			proc.Rlimits = append(proc.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
		}
	}
	if err := c.Run(proc); err != nil {
		return -1, err
	}
	st, err := proc.Wait()
	if err != nil && st == nil {
		return -1, err
	}
	return st.ExitCode(), nil
}

package runtime

import (
	"fmt"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/runtime/rlimits"
)

// newProcess converts an OCI process into a libcontainer process. Every field
// the container's process carries is converted here (specconv only converts
// the container-wide ones), so exec processes get exactly what the policy left.
func newProcess(p *specs.Process, init bool) (*libcontainer.Process, error) {
	if p == nil {
		return nil, fmt.Errorf("process: missing")
	}
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("process.args: must not be empty")
	}
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		AppArmorProfile: p.ApparmorProfile,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
		Init:            init,
	}
	nnp := p.NoNewPrivileges
	lp.NoNewPrivileges = &nnp
	if p.ConsoleSize != nil {
		lp.ConsoleWidth = uint16(p.ConsoleSize.Width)
		lp.ConsoleHeight = uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding: c.Bounding, Effective: c.Effective, Permitted: c.Permitted,
			Inheritable: c.Inheritable, Ambient: c.Ambient,
		}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for i, rl := range p.Rlimits {
		t, ok := rlimits.Types[rl.Type]
		if !ok {
			return nil, fmt.Errorf("process.rlimits[%d].type: unknown rlimit %q", i, rl.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	aff, err := configs.ConvertCPUAffinity(p.ExecCPUAffinity)
	if err != nil {
		return nil, fmt.Errorf("process.execCPUAffinity: %w", err)
	}
	lp.CPUAffinity = aff
	return lp, nil
}

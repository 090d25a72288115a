package hardening

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// invariantViolations lists every way an enforced spec breaks the tenant invariants.
func invariantViolations(s *specs.Spec, t *Tenant, cfg *Config, id string) []string {
	var v []string
	bad := func(f string, a ...any) { v = append(v, fmt.Sprintf(f, a...)) }
	if s.Linux == nil {
		return []string{"no linux section"}
	}
	l := s.Linux
	hasUser := false
	for _, ns := range l.Namespaces {
		if ns.Type == specs.UserNamespace {
			hasUser = true
		}
	}
	if !hasUser {
		bad("no user namespace")
	}
	for _, ty := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.CgroupNamespace} {
		found := false
		for _, ns := range l.Namespaces {
			if ns.Type == ty {
				found = true
			}
		}
		if !found {
			bad("no %s namespace", ty)
		}
	}
	for _, m := range append(slices.Clone(l.UIDMappings), l.GIDMappings...) {
		r := t.UIDs
		if !r.Contains(uint64(m.HostID), uint64(m.Size)) && !t.GIDs.Contains(uint64(m.HostID), uint64(m.Size)) {
			bad("mapping %v outside the tenant range", m)
		}
	}
	if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
		bad("no id mappings")
	}
	if s.Root == nil || !s.Root.Readonly {
		bad("root not read-only")
	}
	if pr := s.Process; pr != nil {
		if !pr.NoNewPrivileges {
			bad("noNewPrivileges false")
		}
		if c := pr.Capabilities; c != nil {
			for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
				for _, name := range set {
					if !slices.Contains(t.Capabilities, name) {
						bad("capability %s outside the allowlist", name)
					}
				}
			}
			if len(c.Inheritable) > 0 || len(c.Ambient) > 0 {
				bad("inheritable/ambient not empty")
			}
		}
		nofile, core := false, false
		for _, r := range pr.Rlimits {
			if r.Type == "RLIMIT_NOFILE" {
				nofile = r.Hard <= t.Container.Nofile && r.Soft <= r.Hard
			}
			if r.Type == "RLIMIT_CORE" {
				core = r.Hard == 0
			}
		}
		if !nofile || !core {
			bad("rlimits nofile/core not clamped: %+v", pr.Rlimits)
		}
		if pr.OOMScoreAdj == nil || *pr.OOMScoreAdj < t.OOMScoreAdjMin {
			bad("oomScoreAdj below the floor")
		}
		if !lsmKept(pr.ApparmorProfile, t.Apparmor, t.ApparmorAllowed) {
			bad("apparmorProfile %q neither the tenant's nor allowlisted", pr.ApparmorProfile)
		}
		if !lsmKept(pr.SelinuxLabel, t.SELinuxLabel, t.SELinuxAllowed) {
			bad("selinuxLabel %q neither the tenant's nor allowlisted", pr.SelinuxLabel)
		}
	}
	if !lsmKept(l.MountLabel, t.MountLabel, t.MountLabelAllowed) {
		bad("mountLabel %q neither the tenant's nor allowlisted", l.MountLabel)
	}
	if l.Seccomp == nil {
		bad("no seccomp")
	} else if l.Seccomp.ListenerPath != "" || l.Seccomp.DefaultAction == specs.ActAllow {
		bad("seccomp weakened")
	}
	if !strings.HasPrefix(l.CgroupsPath, "/"+cfg.Defaults.CgroupParent+"/"+t.Name+"/") || path.Clean(l.CgroupsPath) != l.CgroupsPath || path.Base(l.CgroupsPath) != id {
		bad("cgroupsPath %q not under the tenant parent", l.CgroupsPath)
	}
	r := l.Resources
	if r == nil || r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit <= 0 || *r.Memory.Limit > t.Container.Memory {
		bad("memory limit not set within quota")
	} else if r.Memory.Swap == nil || *r.Memory.Swap != *r.Memory.Limit {
		bad("swap not tied to the limit")
	}
	if r == nil || r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit <= 0 || *r.Pids.Limit > t.Container.Pids {
		bad("pids limit not set within quota")
	}
	if r == nil || r.CPU == nil || r.CPU.Quota == nil || r.CPU.Period == nil || *r.CPU.Quota <= 0 ||
		float64(*r.CPU.Quota)/float64(*r.CPU.Period) > t.Container.CPUs+0.001 {
		bad("cpu quota not set within quota")
	}
	if r != nil && (len(r.Devices) == 0 || r.Devices[0].Allow) {
		bad("device rules do not start with deny-all")
	}
	for _, mp := range DefaultMaskedPaths {
		if !slices.Contains(l.MaskedPaths, mp) {
			bad("masked path %s missing", mp)
		}
	}
	for _, rp := range DefaultReadonlyPaths {
		if !slices.Contains(l.ReadonlyPaths, rp) {
			bad("readonly path %s missing", rp)
		}
	}
	if l.RootfsPropagation != "rprivate" {
		bad("rootfsPropagation %q", l.RootfsPropagation)
	}
	for i, m := range s.Mounts {
		if !slices.Contains(m.Options, "nosuid") {
			bad("mounts[%d] %s without nosuid", i, m.Destination)
		}
		if slices.Contains(m.Options, "suid") || slices.Contains(m.Options, "dev") {
			bad("mounts[%d] with suid/dev", i)
		}
		if m.Type == "bind" && !slices.Contains(m.Options, "nodev") {
			bad("bind mounts[%d] without nodev", i)
		}
		if m.Type == "tmpfs" {
			ok := false
			for _, o := range m.Options {
				if sz, found := strings.CutPrefix(o, "size="); found {
					n, err := ParseSize(sz)
					ok = err == nil && n <= t.Container.Tmpfs
				}
			}
			if !ok {
				bad("tmpfs mounts[%d] %s unsized or too big", i, m.Destination)
			}
		}
	}
	for i, m := range s.Mounts {
		if slices.Contains(splitOptions(m.Options), "tmpcopyup") {
			bad("mounts[%d] %s keeps tmpcopyup (a copy before pivot_root by name in the rootfs)", i, m.Destination)
		}
	}
	for _, d := range []string{"/tmp", "/run", "/var/tmp"} {
		if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == d }) {
			bad("no mount at %s", d)
		}
	}
	if s.Hooks != nil {
		for _, hs := range [][]specs.Hook{s.Hooks.Prestart, s.Hooks.CreateRuntime, s.Hooks.CreateContainer, s.Hooks.StartContainer, s.Hooks.Poststart, s.Hooks.Poststop} {
			for _, h := range hs {
				d := cfg.Defaults.HookDecl(h.Path)
				if d == nil {
					bad("hook %s not allowlisted", h.Path)
					continue
				}
				if args, err := d.ArgsFor(id, h.Args); err != nil || !slices.Equal(h.Args, args) || !slices.Equal(h.Env, d.Env) || !equalIntPtr(h.Timeout, d.Timeout) {
					bad("hook %s not as declared: args %q env %q timeout %v", h.Path, h.Args, h.Env, intPtrValue(h.Timeout))
				}
			}
		}
	}
	if l.IntelRdt != nil || l.NetDevices != nil || l.Personality != nil {
		bad("intelRdt/netDevices/personality kept")
	}
	return v
}

// lsmKept: an LSM value that may run: the tenant's, or allowlisted (never "" when the
// tenant has a value).
func lsmKept(v, forced string, allowed []string) bool {
	return v == forced || slices.Contains(allowed, v)
}

package hardening

import (
	"fmt"
	"reflect"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var okSeccompFlags = map[specs.LinuxSeccompFlag]bool{
	specs.LinuxSeccompFlagLog:                true,
	"SECCOMP_FILTER_FLAG_TSYNC":              true,
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": true,
}

// enforceSeccomp refuses what sends file descriptors to the host or weakens the
// filter (listenerPath, NOTIFY, TRACE, SPEC_ALLOW) and otherwise replaces whatever the
// bundle carries (or does not) with the tenant's profile.
func (p *pol) enforceSeccomp(s *specs.Spec, t *Tenant, cfg *Config) {
	l := s.Linux
	if sc := l.Seccomp; sc != nil {
		if sc.ListenerPath != "" {
			p.refuse("linux.seccomp.listenerPath", "a seccomp notify listener receives the container's syscalls on a host socket")
		}
		if badSeccompAction(sc.DefaultAction) {
			p.refuse("linux.seccomp.defaultAction", fmt.Sprintf("%s hands syscalls to another process", sc.DefaultAction))
		}
		for i, sy := range sc.Syscalls {
			if badSeccompAction(sy.Action) {
				p.refuse(fmt.Sprintf("linux.seccomp.syscalls[%d].action", i), fmt.Sprintf("%s hands syscalls to another process", sy.Action))
			}
		}
		for _, f := range sc.Flags {
			if !okSeccompFlags[f] {
				p.refuse("linux.seccomp.flags", fmt.Sprintf("flag %s is not allowed (SPEC_ALLOW disables speculative-execution mitigations)", f))
			}
		}
	}
	prof, err := p.host.SeccompProfile(t.SeccompProfile, cfg.Defaults.SeccompDir)
	if err != nil {
		p.refuse("linux.seccomp", fmt.Sprintf("tenant %s's profile %q: %v", t.Name, t.SeccompProfile, err))
		return
	}
	if !reflect.DeepEqual(l.Seccomp, prof) {
		p.decide("linux.seccomp", ActionOverride, seccompSummary(l.Seccomp), "profile "+t.SeccompProfile, "the tenant's seccomp profile replaces the bundle's")
	}
	l.Seccomp = prof // always: the bundle's section was not copied
}

func badSeccompAction(a specs.LinuxSeccompAction) bool {
	return a == specs.ActNotify || a == specs.ActTrace
}

func seccompSummary(sc *specs.LinuxSeccomp) string {
	if sc == nil {
		return "none"
	}
	return fmt.Sprintf("defaultAction %s, %d rules", sc.DefaultAction, len(sc.Syscalls))
}

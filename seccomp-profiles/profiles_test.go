package profiles

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestEmbeddedProfilesLoad(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no embedded profiles")
	}
	for _, n := range names {
		p, err := Load(n, "")
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if p.DefaultAction != specs.ActErrno {
			t.Errorf("%s: defaultAction %s, want SCMP_ACT_ERRNO", n, p.DefaultAction)
		}
		t.Logf("%s: %d allowed syscalls", n, len(AllowedNames(p)))
	}
}

func TestLoadReturnsFreshCopy(t *testing.T) {
	a, err := Load("web", "")
	if err != nil {
		t.Fatal(err)
	}
	a.Syscalls[0].Names[0] = "mutated"
	a.Architectures[0] = "mutated"
	*a.DefaultErrnoRet = 99
	b, err := Load("web", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Syscalls[0].Names[0] == "mutated" || b.Architectures[0] == "mutated" || *b.DefaultErrnoRet == 99 {
		t.Fatal("Load shares memory between calls")
	}
}

func TestValidateRefuses(t *testing.T) {
	one := uint(1)
	base := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &one,
			Architectures: []specs.Arch{NativeArch()},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}},
		}
	}
	cases := map[string]struct {
		mut  func(p *specs.LinuxSeccomp)
		want string
	}{
		"unknown syscall": {func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "no_such_call") }, `syscalls[0].names[1]: unknown syscall "no_such_call"`},
		"allow default":   {func(p *specs.LinuxSeccomp) { p.DefaultAction = specs.ActAllow; p.DefaultErrnoRet = nil }, "defaultAction: SCMP_ACT_ALLOW refused"},
		"notify rule":     {func(p *specs.LinuxSeccomp) { p.Syscalls[0].Action = specs.ActNotify }, "syscalls[0].action: SCMP_ACT_NOTIFY refused"},
		"trace default":   {func(p *specs.LinuxSeccomp) { p.DefaultAction = specs.ActTrace; p.DefaultErrnoRet = nil }, "defaultAction: SCMP_ACT_TRACE refused"},
		"listener":        {func(p *specs.LinuxSeccomp) { p.ListenerPath = "/run/agent.sock" }, "listenerPath: refused"},
		"spec allow":      {func(p *specs.LinuxSeccomp) { p.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagSpecAllow} }, "flags[0]: SECCOMP_FILTER_FLAG_SPEC_ALLOW refused"},
		"no arches":       {func(p *specs.LinuxSeccomp) { p.Architectures = nil }, "architectures: missing"},
		"unknown arch":    {func(p *specs.LinuxSeccomp) { p.Architectures = append(p.Architectures, "SCMP_ARCH_VAX") }, `architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
		"arg index": {func(p *specs.LinuxSeccomp) {
			p.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}
		}, "syscalls[0].args[0].index: 6 out of range"},
		"bad op": {func(p *specs.LinuxSeccomp) {
			p.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_LIKE"}}
		}, `syscalls[0].args[0].op: unknown operator "SCMP_CMP_LIKE"`},
		"unknown action":   {func(p *specs.LinuxSeccomp) { p.Syscalls[0].Action = "SCMP_ACT_MAYBE" }, `syscalls[0].action: unknown action "SCMP_ACT_MAYBE"`},
		"errno with allow": {func(p *specs.LinuxSeccomp) { p.Syscalls[0].ErrnoRet = &one }, "syscalls[0].errnoRet: only valid with action SCMP_ACT_ERRNO"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := base()
			c.mut(p)
			err := Validate(p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
	if err := Validate(base()); err != nil {
		t.Fatalf("valid profile refused: %v", err)
	}
}

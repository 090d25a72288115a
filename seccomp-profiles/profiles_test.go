package profiles

import (
	"os"
	"path/filepath"
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

func TestParseDockerFormat(t *testing.T) {
	doc := `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 1,
	"archMap": [
		{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
	],
	"syscalls": [
		{"names": ["read", "write", "chown32"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
		{"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}},
		{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}], "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"name": "getpid", "action": "SCMP_ACT_ALLOW"}
	]
}`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Architectures) != 1 || p.Architectures[0] != NativeArch() {
		t.Errorf("architectures %v, want only %s (sub-architectures would open the 32-bit tables)", p.Architectures, NativeArch())
	}
	got := strings.Join(AllowedNames(p), " ")
	if NativeArch() == specs.ArchX86_64 {
		if want := "arch_prctl chown32 clone getpid read write"; got != want {
			t.Errorf("allowed %q, want %q (caps-gated and other-arch rules dropped)", got, want)
		}
	}
	if _, err := Parse([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "bogus": 1}`)); err == nil || !strings.Contains(err.Error(), `unknown field "bogus"`) {
		t.Errorf("unknown field: got %v", err)
	}
}

func TestOperatorDir(t *testing.T) {
	dir := t.TempDir()
	good := `{"defaultAction":"SCMP_ACT_ERRNO","architectures":["` + string(NativeArch()) + `"],"syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`
	if err := os.WriteFile(filepath.Join(dir, "tiny.json"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web.json"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["`+string(NativeArch())+`"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load("tiny", dir)
	if err != nil || len(AllowedNames(p)) != 3 {
		t.Fatalf("tiny: %v %v", p, err)
	}
	if p, err := Load("web", dir); err != nil || len(AllowedNames(p)) != 3 {
		t.Errorf("an operator profile must shadow the embedded one: %v", err)
	}
	if _, err := Load("bad", dir); err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "defaultAction: SCMP_ACT_ALLOW refused") {
		t.Errorf("bad: %v", err)
	}
	if _, err := Load("nope", dir); err == nil || !strings.Contains(err.Error(), "no such embedded profile") {
		t.Errorf("nope: %v", err)
	}
	if _, err := Load("../etc/x", dir); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Errorf("path in a name: %v", err)
	}
}

func TestAudit(t *testing.T) {
	p, err := Load("web", "")
	if err != nil {
		t.Fatal(err)
	}
	a := Audit(p)
	if a.DefaultAction != specs.ActLog || a.DefaultErrnoRet != nil {
		t.Fatalf("audit: default %s %v", a.DefaultAction, a.DefaultErrnoRet)
	}
	if err := Validate(a); err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != specs.ActErrno {
		t.Fatal("Audit modified its argument")
	}
}

// The web profile's security properties (issue 6), checked on the JSON itself.
func TestWebProfileShape(t *testing.T) {
	for _, name := range Names() {
		p, err := Load(name, "")
		if err != nil {
			t.Fatal(err)
		}
		if p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
			t.Errorf("%s: default errno is not EPERM", name)
		}
		if len(p.Architectures) != 1 || p.Architectures[0] != specs.ArchX86_64 {
			t.Errorf("%s: architectures %v, want only SCMP_ARCH_X86_64", name, p.Architectures)
		}
		allowed := map[string]bool{}
		for _, n := range AllowedNames(p) {
			allowed[n] = true
		}
		if name == "web" && len(allowed) > 200 {
			t.Errorf("web allows %d syscalls, want <= 200", len(allowed))
		}
		for _, never := range []string{"mount", "umount2", "unshare", "setns", "ptrace", "bpf", "keyctl", "add_key",
			"kexec_load", "init_module", "finit_module", "perf_event_open", "userfaultfd", "io_uring_setup",
			"io_uring_enter", "open_by_handle_at", "name_to_handle_at", "clone3", "pivot_root", "chroot", "reboot",
			"swapon", "acct", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "fsopen", "move_mount", "open_tree"} {
			if allowed[never] {
				t.Errorf("%s allows %s", name, never)
			}
		}
		var clone3, clone, socket int
		for _, s := range p.Syscalls {
			for _, n := range s.Names {
				switch n {
				case "clone3":
					clone3++
					if s.Action != specs.ActErrno || s.ErrnoRet == nil || *s.ErrnoRet != 38 {
						t.Errorf("%s: clone3 must be ERRNO(ENOSYS)", name)
					}
				case "clone":
					clone++
					if len(s.Args) != 1 || s.Args[0].Op != specs.OpMaskedEqual || s.Args[0].Value&0x7E020000 != 0x7E020000 || s.Args[0].ValueTwo&0x7E020000 != 0 {
						t.Errorf("%s: clone must be allowed only without namespace flags: %+v", name, s.Args)
					}
				case "socket":
					socket++
					if len(s.Args) == 0 || s.Args[0].Index != 0 || s.Args[0].Op != specs.OpEqualTo {
						t.Errorf("%s: socket must be limited by family: %+v", name, s.Args)
						continue
					}
					switch s.Args[0].Value {
					case 1, 2, 10: // AF_UNIX, AF_INET, AF_INET6
					case 16: // AF_NETLINK: NETLINK_ROUTE only
						if len(s.Args) != 2 || s.Args[1].Index != 2 || s.Args[1].Value != 0 {
							t.Errorf("%s: netlink must be NETLINK_ROUTE only: %+v", name, s.Args)
						}
					default:
						t.Errorf("%s: socket family %d allowed", name, s.Args[0].Value)
					}
				}
			}
		}
		if clone3 != 1 || clone != 1 || socket < 3 {
			t.Errorf("%s: clone3 %d, clone %d, socket %d rules", name, clone3, clone, socket)
		}
	}
}

func TestAuditSuffix(t *testing.T) {
	p, err := Load("web-audit", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != specs.ActLog {
		t.Fatalf("web-audit: default %s", p.DefaultAction)
	}
	if _, err := Load("nope-audit", ""); err == nil {
		t.Fatal("nope-audit loaded")
	}
}

// Load runs on every container start: decode once, then a deep copy per call.
func BenchmarkLoad(b *testing.B) {
	if _, err := Load("web", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Load("web", ""); err != nil {
			b.Fatal(err)
		}
	}
}

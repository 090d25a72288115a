//go:build cgo && seccomp

package profiles

// Compile and load cost of a profile (issue 6): `make seccomp-bench`.
//
//   BenchmarkCompile/*      libseccomp rule building + BPF generation (export, no load), in-process;
//                           the same rules libcontainer builds for the same JSON.
//   BenchmarkInitSeccomp/*  libcontainer's own path, as in a container start: specconv.SetupSeccomp
//                           + seccomp.InitSeccomp (compile, patchbpf's ENOSYS stub, load into the
//                           kernel), timed inside a fresh child process per iteration (a filter
//                           can only be loaded once per process); reported as ms/load.
//
// "docker434" is a profile the size of the one the issue measured (434 names, one allow rule
// plus Docker-style argument rules) over the three x86 architectures Docker and containerd list
// on amd64 (x86_64, x86, x32).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

const benchChildEnv = "_TENANTRUN_SECCOMP_BENCH_CHILD"

func TestMain(m *testing.M) {
	if name := os.Getenv(benchChildEnv); name != "" {
		os.Exit(benchChild(name))
	}
	os.Exit(m.Run())
}

// benchChild loads one profile through libcontainer and prints the nanoseconds it took.
func benchChild(name string) int {
	p, err := benchProfile(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := time.Now()
	cfg, err := specconv.SetupSeccomp(p)
	if err == nil {
		_, err = seccomp.InitSeccomp(cfg)
	}
	d := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(d.Nanoseconds())
	return 0
}

func benchProfile(name string) (*specs.LinuxSeccomp, error) {
	switch name {
	case "docker434":
		return docker434(), nil
	case "docker434-native": // the same rules, x86_64 only: what the architecture list costs
		p := docker434()
		p.Architectures = []specs.Arch{specs.ArchX86_64}
		return p, nil
	}
	return Load(name, "")
}

// docker434 builds a 434-name allowlist over x86_64+x86+x32 with Docker's argument rules.
func docker434() *specs.LinuxSeccomp {
	// every x86_64 name first (so the process can still run), then 32-bit-only names up to 430
	seen := map[string]bool{"clone": true, "clone3": true, "socket": true, "personality": true}
	var names []string
	for _, a := range []libseccomp.ScmpArch{libseccomp.ArchAMD64, libseccomp.ArchX86, libseccomp.ArchX32} {
		var add []string
		for nr := 0; nr < 1024; nr++ {
			n, err := libseccomp.ScmpSyscall(nr).GetNameByArch(a)
			if err == nil && n != "" && !seen[n] {
				seen[n] = true
				add = append(add, n)
			}
		}
		sort.Strings(add)
		names = append(names, add...)
	}
	if len(names) > 430 {
		names = names[:430]
	}
	names = append(names, "clone", "socket", "personality", "clone3") // 434 with the rules below
	one, enosys := uint(1), uint(38)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: &one,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      []specs.LinuxSyscall{{Names: names[:430], Action: specs.ActAllow}},
	}
	p.Syscalls = append(p.Syscalls,
		specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7E020000, Op: specs.OpMaskedEqual}}},
		specs.LinuxSyscall{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 40, Op: specs.OpNotEqual}}},
		specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
	)
	for _, v := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff} {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}}})
	}
	return p
}

func countNames(p *specs.LinuxSeccomp) int {
	set := map[string]bool{}
	for _, s := range p.Syscalls {
		for _, n := range s.Names {
			set[n] = true
		}
	}
	return len(set)
}

// TestNoSpecAllow: libcontainer must never receive SPEC_ALLOW for a tenant profile, neither
// directly nor after the profile went through JSON (omitempty drops an empty flags list, and
// runc's specconv turns a nil list into SPEC_ALLOW).
func TestNoSpecAllow(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/noflags.json", []byte(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["`+string(NativeArch())+`"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range append(Names(), "web-audit", "noflags") {
		p, err := Load(name, dir)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var rt specs.LinuxSeccomp
		if err := json.Unmarshal(data, &rt); err != nil {
			t.Fatal(err)
		}
		for _, q := range []*specs.LinuxSeccomp{p, &rt} {
			cfg, err := specconv.SetupSeccomp(q)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, f := range cfg.Flags {
				if f == specs.LinuxSeccompFlagSpecAllow {
					t.Errorf("%s: libcontainer would load it with SPEC_ALLOW (flags %v)", name, q.Flags)
				}
			}
		}
	}
}

func TestDocker434Shape(t *testing.T) {
	p := docker434()
	if n := countNames(p); n != 434 {
		t.Fatalf("docker434 has %d names, want 434", n)
	}
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
}

var benchNames = []string{"web", "strict", "compat", "docker434", "docker434-native"}

func BenchmarkCompile(b *testing.B) {
	for _, name := range benchNames {
		p, err := benchProfile(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var insns int
			for i := 0; i < b.N; i++ {
				f, err := Build(p)
				if err != nil {
					b.Fatal(err)
				}
				bpf, err := ExportBPF(f)
				if err != nil {
					b.Fatal(err)
				}
				insns = len(bpf) / 8
				f.Release()
			}
			b.ReportMetric(float64(insns), "bpf-insns")
			b.ReportMetric(float64(countNames(p)), "names")
		})
	}
}

func BenchmarkInitSeccomp(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(self)
				cmd.Env = append(os.Environ(), benchChildEnv+"="+name)
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("child: %v %s", err, out)
				}
				ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
				if err != nil {
					b.Fatalf("child output %q", out)
				}
				total += time.Duration(ns)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/load")
		})
	}
}

// TestWriteDocker434 writes the benchmark's 434-name profile as JSON when
// _TENANTRUN_WRITE_DOCKER434=FILE is set (to compare container start times with
// `tenantrun --config` pointing at an operator seccomp_dir holding it).
func TestWriteDocker434(t *testing.T) {
	path := os.Getenv("_TENANTRUN_WRITE_DOCKER434")
	if path == "" {
		t.Skip("set _TENANTRUN_WRITE_DOCKER434=FILE to write the profile")
	}
	data, err := json.MarshalIndent(docker434(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Issue 10, bad input: every case is a clear error within bounded time and memory, nothing
// started (the container would print STARTED), no panic, nothing left (the leak check).

const (
	badInputTimeout = 30 * time.Second
	badInputMaxRSS  = 1 << 20 // KiB: 1 GiB
)

func runBad(t *testing.T, h *tu.H, b *tu.Bundle, msg ...string) *tu.Result {
	t.Helper()
	id := h.ID("bad")
	r := h.RT.RunCall(t, tu.Call{Timeout: badInputTimeout}, "run", "--bundle", b.Dir, id)
	expectError(t, r, 1, msg...)
	if r.MaxRSSKB > badInputMaxRSS {
		t.Errorf("runtime peaked at %d MiB of memory", r.MaxRSSKB/1024)
	}
	t.Logf("%s: exit %d in %v, max RSS ≤ %d MiB, stderr %q", t.Name(), r.Code, r.Duration.Round(time.Millisecond), r.MaxRSSKB/1024, firstLine(r.Stderr))
	if st, err := h.TryState(id); err == nil {
		t.Errorf("a refused bundle left container state: %s", st.Raw())
	}
	return r
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func TestBadInputTruncated(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript))
	full, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []int{1, 10, 50, 90, 99} {
		t.Run(fmt.Sprintf("%d%%", frac), func(t *testing.T) {
			b.WriteRaw(full[:len(full)*frac/100])
			runBad(t, h, b, "config.json")
		})
	}
	b.WriteRaw(nil)
	t.Run("empty", func(t *testing.T) { runBad(t, h, b, "config.json") })
}

func TestBadInputTypeConfused(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript))
	cases := []struct {
		name  string
		field string // what the message must name
		patch func(m map[string]any)
	}{
		{"process-string", "process", func(m map[string]any) { m["process"] = "yes" }},
		{"args-string", "args", func(m map[string]any) { proc(m)["args"] = "sh -c echo" }},
		{"args-numbers", "args", func(m map[string]any) { proc(m)["args"] = []any{1, 2} }},
		{"uid-negative", "uid", func(m map[string]any) { proc(m)["user"] = map[string]any{"uid": -1, "gid": 0} }},
		{"uid-string", "uid", func(m map[string]any) { proc(m)["user"] = map[string]any{"uid": "0", "gid": 0} }},
		{"uid-huge", "uid", func(m map[string]any) { proc(m)["user"] = map[string]any{"uid": 1 << 40, "gid": 0} }},
		{"env-numbers", "env", func(m map[string]any) { proc(m)["env"] = []any{1, true} }},
		{"mounts-object", "mounts", func(m map[string]any) { m["mounts"] = map[string]any{} }},
		{"namespace-type-number", "type", func(m map[string]any) {
			linux(m)["namespaces"] = []any{map[string]any{"type": 5}}
		}},
		{"ociVersion-number", "ociVersion", func(m map[string]any) { m["ociVersion"] = 1.2 }},
		{"root-null", "root", func(m map[string]any) { m["root"] = nil }},
		{"memory-limit-string", "limit", func(m map[string]any) {
			linux(m)["resources"] = map[string]any{"memory": map[string]any{"limit": "1G"}}
		}},
		{"toplevel-array", "", func(m map[string]any) {
			for k := range m {
				delete(m, k)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "toplevel-array" {
				b.WriteRaw([]byte(`["not", "an", "object"]`))
			} else {
				b.Spec = tu.DefaultSpec()
				b.Spec.Process.Args = []string{"sh", "-c", startedScript}
				b.PatchJSON(tc.patch)
			}
			if tc.field != "" {
				runBad(t, h, b, tc.field)
			} else {
				runBad(t, h, b)
			}
		})
	}
}

func proc(m map[string]any) map[string]any  { return m["process"].(map[string]any) }
func linux(m map[string]any) map[string]any { return m["linux"].(map[string]any) }

func TestBadInputInvalidUTF8(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript))
	data, _ := os.ReadFile(b.ConfigPath())
	// An invalid byte sequence inside a string (process.env) and inside a key.
	for name, bad := range map[string][]byte{
		"in-value": bytes.Replace(data, []byte("TERM=xterm"), []byte("TERM=\xff\xfe\xc3("), 1),
		"in-key":   bytes.Replace(data, []byte(`"hostname"`), []byte("\"host\xc3\x28name\""), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(bad, data) {
				t.Fatal("patch did not apply")
			}
			b.WriteRaw(bad)
			if name == "in-key" {
				runBad(t, h, b) // refused as an unknown field is clear enough
			} else {
				runBad(t, h, b, "utf")
			}
		})
	}
}

func TestBadInputHugeConfig(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript), tu.WithSpec(func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.example.padding": "@PAD@"}
	}))
	small, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	before, after, _ := bytes.Cut(small, []byte("@PAD@"))
	// Written in chunks and freed before the run: the runtime's peak RSS as measured includes
	// this process's RSS at fork time, so keep that small.
	writeHuge := func(prefix []byte, fill byte, suffix []byte) {
		f, err := os.Create(b.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		chunk := bytes.Repeat([]byte{fill}, 1<<20)
		f.Write(prefix)
		for i := 0; i < 100; i++ {
			if _, err := f.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		f.Write(suffix)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
	t.Run("annotation", func(t *testing.T) {
		writeHuge(before, 'A', after)
		runBad(t, h, b)
	})
	t.Run("whitespace", func(t *testing.T) {
		writeHuge(nil, ' ', small)
		runBad(t, h, b)
	})
}

func TestBadInputManyEnv(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript), tu.WithSpec(func(s *specs.Spec) {
		for i := 0; i < 100000; i++ {
			s.Process.Env = append(s.Process.Env, fmt.Sprintf("VAR_%d=value_%d", i, i))
		}
	}))
	runBad(t, h, b, "env")
}

func TestBadInputManyMounts(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript), tu.WithSpec(func(s *specs.Spec) {
		for i := 0; i < 10000; i++ {
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: fmt.Sprintf("/tmp/m%d", i), Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "size=4k"},
			})
		}
	}))
	runBad(t, h, b, "mounts")
}

func TestBadInputDeeplyNested(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript))
	data, _ := os.ReadFile(b.ConfigPath())
	const depth = 100000
	nested := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	for name, where := range map[string]string{
		"unknown-field": `{"deep": ` + nested + `, `,
		"annotations":   `{"annotations": {"x": ` + nested + `}, `,
	} {
		t.Run(name, func(t *testing.T) {
			b.WriteRaw(append([]byte(where), data[1:]...))
			runBad(t, h, b)
		})
	}
}

func TestBadInputUnknownFields(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript))
	for _, tc := range []struct {
		name  string
		patch func(m map[string]any)
	}{
		{"toplevelFutureField", func(m map[string]any) { m["toplevelFutureField"] = true }},
		{"processFutureField", func(m map[string]any) { proc(m)["processFutureField"] = "x" }},
		{"linuxFutureField", func(m map[string]any) { linux(m)["linuxFutureField"] = []any{1} }},
		{"resourcesFutureField", func(m map[string]any) {
			linux(m)["resources"].(map[string]any)["resourcesFutureField"] = map[string]any{"a": 1}
		}},
		{"mountFutureField", func(m map[string]any) {
			m["mounts"].([]any)[0].(map[string]any)["mountFutureField"] = 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.Spec = tu.DefaultSpec()
			b.Spec.Process.Args = []string{"sh", "-c", startedScript}
			b.PatchJSON(tc.patch)
			runBad(t, h, b, tc.name)
		})
	}
}

// TestBadInputFullStateFS puts --root on a tiny tmpfs this test mounts and fills.
func TestBadInputFullStateFS(t *testing.T) {
	tu.RequireRoot(t)
	for _, tc := range []struct {
		name   string
		opts   string
		inodes bool
	}{
		{"blocks", "size=256k,nr_inodes=1024,mode=0711", false},
		{"blocks-and-inodes", "size=256k,nr_inodes=64,mode=0711", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := tu.TempDir(t, "fullfs")
			if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, tc.opts); err != nil {
				t.Fatalf("mount tmpfs: %v", err)
			}
			// Registered before the harness: runs after its leak check.
			t.Cleanup(func() {
				if err := unix.Unmount(mnt, 0); err != nil {
					_ = unix.Unmount(mnt, unix.MNT_DETACH)
				}
			})
			tu.FillFS(t, mnt, tc.inodes)
			h := tu.New(t)
			h.RT.Root = mnt
			h.Leaks.AddStateRoot(mnt)
			h.Leaks.KeepInRoot(tu.FillerNames(mnt)...)
			b := h.Bundle(tu.WithShell(startedScript))
			for _, verb := range []string{"create", "run"} {
				id := h.ID("full")
				r := h.RT.RunCall(t, tu.Call{Timeout: badInputTimeout}, verb, "--bundle", b.Dir, id)
				expectError(t, r, 1, "space")
				t.Logf("%s on a full state fs: exit %d in %v: %q", verb, r.Code, r.Duration.Round(time.Millisecond), firstLine(r.Stderr))
			}
			// The tmpfs still holds only the filler.
			ents, _ := os.ReadDir(mnt)
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), "filler") {
					t.Errorf("left on the full state fs: %s", filepath.Join(mnt, e.Name()))
				}
			}
		})
	}
}

// A trusted tenant's bundle is validated, not filtered: fields this runtime
// does not know are ignored with a warning, as the runtime spec requires, by
// create and by `policy check` alike; any other tenant is refused by both.
func TestTrustedUnknownFields(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	h.UseConfig(`
[tenants.system]
uid_range = "3200000:65536"
trusted = true

[tenants.web]
uid_range = "3300000:65536"
`)
	b := h.Bundle(tu.WithShell("echo ran"))
	b.PatchJSON(func(m map[string]any) { proc(m)["processFutureField"] = "x" })

	h.RT.Tenant = "web"
	if r := h.R("policy", "check", "--bundle", b.Dir); r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "process.processFutureField") {
		t.Errorf("policy check, untrusted tenant: want a refusal naming process.processFutureField: %s", r)
	}
	runBad(t, h, b, "process.processFutureField")

	h.RT.Tenant = "system"
	if r := h.R("policy", "check", "--bundle", b.Dir); r.Code != 0 {
		t.Errorf("policy check, trusted tenant: want exit 0 (create runs this bundle): %s", r)
	}
	id := h.ID("trusted-unknown")
	r := h.R("run", "--bundle", b.Dir, id)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ran" || !strings.Contains(r.Stderr, "processFutureField") {
		t.Errorf("run, trusted tenant: want it to run and warn about the field: %s", r)
	}
}

// TestConfigCheck: `config check` loads a configuration as create does. A bad file (an
// unknown key, a bad value, two tenants' overlapping ranges) fails with the key named and
// exit 1, and a create with the same file fails the same way; a good file exits 0 and
// lists its tenants.
func TestConfigCheck(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell("echo STARTED"))
	for _, c := range []struct{ cfg, want string }{
		{"[defaults]\nbogus_key = 1\n", "defaults.bogus_key"},
		{"[tenants.a]\nuid_range = \"5000000:65536\"\nmemory = \"lots\"\n", "tenants.a.memory"},
		{"[tenants.a]\nuid_range = \"5000000:65536\"\n[tenants.b]\nuid_range = \"5030000:65536\"\n", "overlap"},
		{"[tenants.a]\nuid_range = \"5000000:65536\"\n[tenants.a.network]\negress = \"maybe\"\n", "tenants.a.network.egress"},
		{"[tenants.a]\nuid_range = \"5000000:65536\"\n[tenants.a.quota]\nio_write_bps = \"10M\"\n[tenants.a.container]\nio_write_bps = \"1G\"\n", "tenants.a.container.io_write_bps"},
	} {
		h.UseConfig(c.cfg)
		r := h.RT.RunCall(t, tu.Call{Timeout: badInputTimeout}, "config", "check")
		expectError(t, r, 1, c.want)
		runBad(t, h, b, c.want)
	}
	h.UseConfig("[tenants.shop]\nuid_range = \"5000000:65536\"\n[tenants.ci]\nuid_range = \"5100000:65536\"\n[tenants.ci.network]\nenabled = false\n")
	r := h.OK("config", "check")
	for _, want := range []string{"OK, 2 tenants", "shop", "uids 5000000:65536", "ci", "no network policy"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("config check does not say %q:\n%s", want, r.Stdout)
		}
	}
	if r := h.RT.RunCall(t, tu.Call{Timeout: badInputTimeout}, "config", "check", "extra"); r.Code == 0 {
		t.Errorf("config check took an argument: %s", r)
	}
}

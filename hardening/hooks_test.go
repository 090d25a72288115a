package hardening

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hookTOML declares one plain-path hook and one whole declaration.
const hookTOML = `
[defaults]
hooks = ["/usr/bin/true"]
[[defaults.hook]]
path = "/usr/libexec/oci/hooks.d/netcfg"
args = ["netcfg", "--config", "/etc/netcfg.toml"]
env = ["PATH=/usr/bin:/bin", "NETCFG_MODE=strict"]
timeout = 10
[tenants.t1]
uid_range = "100000:65536"
`

func hookConfig(t *testing.T) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(hookTOML))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Invariant 14 (docs/security.md): an allowlisted hook runs exactly as the operator
// declared it; no bundle argv, env or timeout reaches the host-root program.
func TestHooksRunAsDeclared(t *testing.T) {
	ip := func(v int) *int { return &v }
	netcfg := "/usr/libexec/oci/hooks.d/netcfg"
	declared := []string{"netcfg", "--config", "/etc/netcfg.toml"}
	declaredEnv := []string{"PATH=/usr/bin:/bin", "NETCFG_MODE=strict"}
	cases := []struct {
		name      string
		hook      specs.Hook
		args, env []string
		timeout   *int
		changed   []string // the decision paths (suffixes of hooks.createRuntime[0].)
	}{
		{"LD_PRELOAD into a tenant tree, plain form",
			specs.Hook{Path: "/usr/bin/true", Env: []string{"LD_PRELOAD=/srv/tenants/t1/evil.so"}},
			[]string{"/usr/bin/true"}, DefaultHookEnv, nil, []string{"args", "env"}},
		{"LD_LIBRARY_PATH, declared form",
			specs.Hook{Path: netcfg, Args: declared, Env: append(slices.Clone(declaredEnv), "LD_LIBRARY_PATH=/srv/tenants/t1/lib"), Timeout: ip(10)},
			declared, declaredEnv, ip(10), []string{"env"}},
		{"PATH to a tenant dir replaces the declared PATH",
			specs.Hook{Path: netcfg, Args: declared, Env: []string{"PATH=/srv/tenants/t1/bin", "NETCFG_MODE=strict"}, Timeout: ip(10)},
			declared, declaredEnv, ip(10), []string{"env"}},
		{"args with another --config",
			specs.Hook{Path: netcfg, Args: []string{"netcfg", "--config", "/srv/tenants/t1/evil.toml"}, Env: declaredEnv, Timeout: ip(10)},
			declared, declaredEnv, ip(10), []string{"args"}},
		{"extra args appended to the plain form",
			specs.Hook{Path: "/usr/bin/true", Args: []string{"/usr/bin/true", "--config", "/srv/tenants/t1/x"}, Env: DefaultHookEnv},
			[]string{"/usr/bin/true"}, DefaultHookEnv, nil, []string{"args"}},
		{"huge timeout",
			specs.Hook{Path: netcfg, Args: declared, Env: declaredEnv, Timeout: ip(1 << 30)},
			declared, declaredEnv, ip(10), []string{"timeout"}},
		{"huge timeout, operator declared none",
			specs.Hook{Path: "/usr/bin/true", Args: []string{"/usr/bin/true"}, Env: DefaultHookEnv, Timeout: ip(1 << 30)},
			[]string{"/usr/bin/true"}, DefaultHookEnv, nil, []string{"timeout"}},
		{"absent timeout gets the declared one",
			specs.Hook{Path: netcfg, Args: declared, Env: declaredEnv},
			declared, declaredEnv, ip(10), []string{"timeout"}},
		{"absent args and env (nil: the runtime's environment) get the declared ones",
			specs.Hook{Path: netcfg, Timeout: ip(10)},
			declared, declaredEnv, ip(10), []string{"args", "env"}},
		{"exactly as declared: nothing to decide",
			specs.Hook{Path: netcfg, Args: declared, Env: declaredEnv, Timeout: ip(10)},
			declared, declaredEnv, ip(10), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, ds, err := run(t, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{c.hook}}
			}, func(r *Request) {
				r.Config.Defaults.Hooks = hookConfig(t).Defaults.Hooks
			})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			h := out.Hooks.CreateRuntime[0]
			if !slices.Equal(h.Args, c.args) || !slices.Equal(h.Env, c.env) || !equalIntPtr(h.Timeout, c.timeout) {
				t.Fatalf("hook ran as args %q env %q timeout %v; want %q %q %v", h.Args, h.Env, intPtrValue(h.Timeout), c.args, c.env, intPtrValue(c.timeout))
			}
			var got []string
			for _, d := range ds {
				if rest, ok := strings.CutPrefix(d.Path, "hooks.createRuntime[0]."); ok {
					if d.Action != ActionOverride {
						t.Errorf("decision %s: action %s, want override", d.Path, d.Action)
					}
					got = append(got, rest)
				}
			}
			if !slices.Equal(got, c.changed) {
				t.Errorf("decisions %q, want %q", got, c.changed)
			}
			for _, d := range ds {
				if strings.Contains(d.Path, ".env") && strings.Contains(fmt.Sprint(d.Old, d.New), "/srv/tenants") {
					t.Errorf("an env decision logs a value: %+v", d)
				}
			}
			if c.hook.Env != nil && slices.Equal(h.Env, c.hook.Env) && !slices.Equal(c.hook.Env, c.env) {
				t.Error("the bundle's env slice was kept")
			}
		})
	}
}

// Every phase gets the same treatment, and the input spec is not mutated.
func TestHooksAllPhasesAndInputUntouched(t *testing.T) {
	evil := specs.Hook{Path: "/usr/bin/true", Args: []string{"/usr/bin/true", "x"}, Env: []string{"LD_PRELOAD=/x.so"}}
	s := baseSpec(t)
	s.Hooks = &specs.Hooks{Prestart: []specs.Hook{evil}, CreateRuntime: []specs.Hook{evil}, CreateContainer: []specs.Hook{evil},
		StartContainer: []specs.Hook{evil}, Poststart: []specs.Hook{evil}, Poststop: []specs.Hook{evil, evil}}
	cfg := t1Config(t)
	cfg.Defaults.Hooks = hookConfig(t).Defaults.Hooks
	out, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["t1"], Config: cfg, Host: newFakeHost()})
	if err != nil {
		t.Fatal(err)
	}
	h := out.Hooks
	for _, hs := range [][]specs.Hook{h.Prestart, h.CreateRuntime, h.CreateContainer, h.StartContainer, h.Poststart, h.Poststop} {
		for _, hk := range hs {
			if !slices.Equal(hk.Args, []string{"/usr/bin/true"}) || !slices.Equal(hk.Env, DefaultHookEnv) {
				t.Errorf("hook kept bundle values: %+v", hk)
			}
		}
	}
	if s.Hooks.Poststop[1].Env[0] != "LD_PRELOAD=/x.so" || len(s.Hooks.Prestart[0].Args) != 2 {
		t.Error("Enforce mutated the request's spec")
	}
	if v := invariantViolations(out, cfg.Tenants["t1"], cfg, "c1"); len(v) != 0 {
		t.Errorf("invariants: %v", v)
	}
}

func TestHookConfig(t *testing.T) {
	c := hookConfig(t)
	if d := c.Defaults.HookDecl("/usr/bin/true"); d == nil || !slices.Equal(d.Args, []string{"/usr/bin/true"}) || !slices.Equal(d.Env, DefaultHookEnv) || d.Timeout != nil {
		t.Errorf("plain form: %+v", d)
	}
	if d := c.Defaults.HookDecl("/usr/libexec/oci/hooks.d/netcfg"); d == nil || d.Args[0] != "netcfg" || d.Env[1] != "NETCFG_MODE=strict" || d.Timeout == nil || *d.Timeout != 10 {
		t.Errorf("table form: %+v", d)
	}
	if d, err := ParseConfig([]byte("[[defaults.hook]]\npath = \"/usr/bin/x\"\n")); err != nil || !slices.Equal(d.Defaults.Hooks[0].Args, []string{"/usr/bin/x"}) || !slices.Equal(d.Defaults.Hooks[0].Env, DefaultHookEnv) {
		t.Errorf("table form defaults: %v %+v", err, d)
	}
	for _, bad := range []struct{ toml, key string }{
		{`hooks = ["usr/bin/true"]`, "defaults.hooks[0]"},
		{"[[defaults.hook]]\nargs = [\"x\"]", "defaults.hook[0].path"},
		{"[[defaults.hook]]\npath = \"/a/../b\"", "defaults.hook[0].path"},
		{"[[defaults.hook]]\npath = \"/b\"\nargs = []", "defaults.hook[0].args"},
		{"[[defaults.hook]]\npath = \"/b\"\nenv = []", "defaults.hook[0].env"},
		{"[[defaults.hook]]\npath = \"/b\"\nenv = [\"PATH\"]", "defaults.hook[0].env[0]"},
		{"[[defaults.hook]]\npath = \"/b\"\nenv = [\"=x\"]", "defaults.hook[0].env[0]"},
		{"[[defaults.hook]]\npath = \"/b\"\ntimeout = 0", "defaults.hook[0].timeout"},
		{"[[defaults.hook]]\npath = \"/b\"\ntimeout = -5", "defaults.hook[0].timeout"},
		{"[[defaults.hook]]\npath = \"/b\"\ntimeout = \"5s\"", "defaults.hook"},
		{"[[defaults.hook]]\npath = \"/b\"\nuser = \"root\"", "defaults.hook"},
		{"hooks = [\"/b\"]\n[[defaults.hook]]\npath = \"/b\"", "defaults.hook[0].path"},
	} {
		_, err := ParseConfig([]byte("[defaults]\n" + bad.toml + "\n"))
		if bad.toml[0] == '[' {
			_, err = ParseConfig([]byte(bad.toml + "\n"))
		}
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%q: want an error naming %s, got %v", bad.toml, bad.key, err)
		}
	}
}

// dockerd's libnetwork-setkey hook is /proc/<dockerd pid>/exe with the container id and
// dockerd's controller id as arguments. Declared by binary, it is trusted by what the pid
// runs (the kernel's answer, FakeHost.ProcExe here), runs as the declared binary (so a
// restart's new pid changes nothing), a declared "{id}" is the container id, never the
// bundle's value, and "{hex}" takes the bundle's word only when it is hex.
func TestHookByBinary(t *testing.T) {
	c, err := ParseConfig([]byte(`
[[defaults.hook]]
binary = "/usr/sbin/dockerd"
args = ["libnetwork-setkey", "-exec-root=/run/docker", "{id}", "{hex}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	host := newFakeHost()
	host.ProcExe = map[int]string{4242: "/usr/sbin/dockerd", 20514: "/usr/sbin/dockerd", 777: "/srv/tenants/t1/rootfs/bin/sh"}
	hook := func(pid int, ctl string) specs.Hook {
		return specs.Hook{Path: fmt.Sprintf("/proc/%d/exe", pid), Args: []string{"libnetwork-setkey", "-exec-root=/srv/tenants/t1", "other", ctl}}
	}
	judge := func(h specs.Hook, id string) (*specs.Spec, []Decision, error) {
		return run(t, func(s *specs.Spec) { s.Hooks = &specs.Hooks{Prestart: []specs.Hook{h}} }, func(r *Request) {
			r.Config.Defaults.Hooks = c.Defaults.Hooks
			r.ContainerID = id
			r.Host = host
		})
	}
	// Before and after a dockerd restart (3791 -> 20514 in the issue): the same config.
	for _, pid := range []int{4242, 20514} {
		out, ds, err := judge(hook(pid, "0123456789ab"), "c1")
		if err != nil {
			t.Fatalf("dockerd as pid %d: %v", pid, err)
		}
		got := out.Hooks.Prestart[0]
		if got.Path != "/usr/sbin/dockerd" {
			t.Errorf("pid %d: the hook runs %q, want the declared binary", pid, got.Path)
		}
		if want := []string{"libnetwork-setkey", "-exec-root=/run/docker", "c1", "0123456789ab"}; !slices.Equal(got.Args, want) {
			t.Errorf("args %q, want %q", got.Args, want)
		}
		for _, p := range []string{"hooks.prestart[0].path", "hooks.prestart[0].args"} {
			if !slices.ContainsFunc(ds, func(d Decision) bool { return d.Path == p && d.Action == ActionOverride }) {
				t.Errorf("no override decision for %s", p)
			}
		}
	}
	// Attacks: the pid of a tenant's process, of no process, a path of the same shape
	// that is not a pid, a controller id that is an option or a path, an id that is an
	// option.
	for _, bad := range []struct {
		h  specs.Hook
		id string
	}{
		{hook(777, "0123456789ab"), "c1"},
		{hook(31337, "0123456789ab"), "c1"},
		{specs.Hook{Path: "/proc/self/exe", Args: hook(4242, "0123456789ab").Args}, "c1"},
		{specs.Hook{Path: "/proc/4242/root/usr/sbin/dockerd", Args: hook(4242, "0123456789ab").Args}, "c1"},
		{hook(4242, "--config=/srv/tenants/t1/evil"), "c1"},
		{hook(4242, "../../../srv"), "c1"},
		{hook(4242, "ABCDEF"), "c1"},
		{specs.Hook{Path: "/proc/4242/exe", Args: []string{"libnetwork-setkey"}}, "c1"},
		{hook(4242, "0123456789ab"), "-exec-root=x"},
	} {
		if _, _, err := judge(bad.h, bad.id); err == nil {
			t.Errorf("hook %q %q (id %q) was accepted", bad.h.Path, bad.h.Args, bad.id)
		} else {
			refusedAt(t, err, "hooks.prestart[0]")
		}
	}
	// A pid-shaped path can no longer be declared: the next restart makes it another process.
	if _, err := ParseConfig([]byte("[[defaults.hook]]\npath = \"/proc/3791/exe\"\n")); err == nil || !strings.Contains(err.Error(), "binary =") {
		t.Errorf("a /proc/<pid>/exe path declaration: %v", err)
	}
	for _, bad := range []string{
		"[[defaults.hook]]\nbinary = \"/usr/sbin/dockerd\"\n",
		"[[defaults.hook]]\nbinary = \"usr/sbin/dockerd\"\nargs = [\"x\"]\n",
		"[[defaults.hook]]\nbinary = \"/usr/sbin/dockerd\"\npath = \"/usr/sbin/dockerd\"\nargs = [\"x\"]\n",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "defaults.hook[0]") {
			t.Errorf("%q: want an error naming defaults.hook[0], got %v", bad, err)
		}
	}
}

// The complete example of docs/config.md loads, with both hook forms declared as documented.
func TestDocsConfigExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## A complete example\n\n```toml\n")
	body, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no complete example in docs/config.md")
	}
	c, err := ParseConfig([]byte(body))
	if err != nil {
		t.Fatalf("docs/config.md example: %v", err)
	}
	if d := c.Defaults.HookDecl("/usr/libexec/oci/hooks.d/netns-hook"); d == nil || !slices.Equal(d.Env, DefaultHookEnv) {
		t.Errorf("plain hook: %+v", d)
	}
	if d := c.Defaults.HookDecl("/usr/libexec/oci/hooks.d/gpu-hook"); d == nil || d.Args[0] != "gpu-hook" || d.Timeout == nil || *d.Timeout != 10 {
		t.Errorf("declared hook: %+v", d)
	}
}

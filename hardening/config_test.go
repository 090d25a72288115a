package hardening

import (
	"os"
	"strings"
	"testing"
)

func TestBuiltinConfig(t *testing.T) {
	c := BuiltinConfig()
	d := c.Tenants["default"]
	if d == nil || c.Defaults.FallbackTenant != "default" || d.UIDs != (IDRange{1000000, 65536}) || d.Container.Memory != 512<<20 ||
		d.Container.Pids != 256 || d.Container.CPUs != 1 || d.Container.Tmpfs != 64<<20 || d.Container.Nofile != 4096 || d.SeccompProfile != "web" {
		t.Fatalf("%+v", d)
	}
	tn, err := c.ResolveTenant(TenantRequest{})
	if err != nil || tn.Name != "default" {
		t.Fatal(err)
	}
}

func TestParseConfigFile(t *testing.T) {
	c, err := ParseConfig([]byte(hostileTOML))
	if err != nil {
		t.Fatal(err)
	}
	t1 := c.Tenants["t1"]
	if t1.Container.Memory != 134217728 || t1.Container.Pids != 64 || t1.Container.CPUs != 0.5 || t1.GIDs != t1.UIDs || t1.Mode != ModeEnforce || len(t1.Capabilities) != 11 {
		t.Fatalf("%+v", t1)
	}
	if _, err := c.ResolveTenant(TenantRequest{}); err == nil {
		t.Fatal("no fallback: must refuse")
	}
	if _, err := c.ResolveTenant(TenantRequest{Flag: "nope"}); err == nil {
		t.Fatal("unknown tenant accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ name, toml, want string }{
		{"unknown key", "[tenants.a]\nuid_range = \"100000:10\"\nbogus = 1", "tenants.a.bogus"},
		{"unknown defaults key", "[defaults]\nfoo = 1", "defaults.foo"},
		{"bad range", "[tenants.a]\nuid_range = \"x\"", "tenants.a.uid_range"},
		{"host root range", "[tenants.a]\nuid_range = \"0:65536\"", "tenants.a.uid_range"},
		{"overlap", "[tenants.a]\nuid_range = \"100000:65536\"\n[tenants.b]\nuid_range = \"150000:65536\"", "overlaps"},
		{"gid overlap", "[tenants.a]\nuid_range = \"100000:100\"\ngid_range=\"300000:100\"\n[tenants.b]\nuid_range = \"200000:100\"\ngid_range=\"300050:100\"", "gid_range"},
		{"bad mode", "[tenants.a]\nuid_range = \"100000:10\"\nmode = \"yolo\"", "tenants.a.mode"},
		{"dangerous cap", "[tenants.a]\nuid_range = \"100000:10\"\ncapabilities = [\"SYS_ADMIN\"]", "tenants.a.capabilities[0]"},
		{"bad memory", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\nmemory = \"lots\"", "tenants.a.quota.memory"},
		{"container above quota", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\npids = 10\n[tenants.a.container]\npids = 20", "tenants.a.container.pids"},
		{"type error", "[tenants.a]\nuid_range = 5", "uid_range"},
		{"unknown fallback", "[defaults]\nfallback_tenant = \"x\"", "defaults.fallback_tenant"},
		{"relative bind root", "[tenants.a]\nuid_range = \"100000:10\"\nbind_roots = [\"srv\"]", "tenants.a.bind_roots[0]"},
		{"root user", "[tenants.a]\nuid_range = \"100000:10\"\nusers = [0]", "tenants.a.users[0]"},
		{"trusted annotation without root", "[[defaults.trusted_annotations]]\nkey = \"k\"", "defaults.trusted_annotations[0].root"},
		{"bad tenant name", "[tenants.\"A/B\"]\nuid_range = \"100000:10\"", "tenants.A/B"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.toml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error naming %q, got %v", c.want, err)
			}
		})
	}
}

func TestQuotaAndContainerTables(t *testing.T) {
	c, err := ParseConfig([]byte(`
[tenants.a]
uid_range = "100000:65536"
[tenants.a.quota]
memory = "1G"
pids = 500
cpus = 2
tmpfs = "128Mi"
nofile = 8192
[tenants.a.container]
memory = "256M"
cpus = 0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Tenants["a"]
	if a.Quota.Memory != 1<<30 || a.Container.Memory != 256<<20 || a.Container.Pids != 500 || a.Container.CPUs != 0.5 || a.Container.Tmpfs != 128<<20 || a.Container.Nofile != 8192 {
		t.Fatalf("%+v %+v", a.Quota, a.Container)
	}
}

func TestResolveTenant(t *testing.T) {
	c, err := ParseConfig([]byte(`
[defaults]
fallback_tenant = "shared"
[[defaults.trusted_annotations]]
engine = "cri"
root = "/run/containerd/runc/k8s.io"
key = "io.kubernetes.cri.sandbox-namespace"
[defaults.trusted_annotations.map]
"team-a-prod" = "a"
[tenants.a]
uid_range = "100000:65536"
users = [1000]
[tenants.shared]
uid_range = "200000:65536"
`))
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{"io.kubernetes.cri.sandbox-namespace": "team-a-prod"}
	cases := []struct {
		req  TenantRequest
		want string
		err  bool
	}{
		{TenantRequest{Flag: "a"}, "a", false},
		{TenantRequest{CallerUID: 1000}, "a", false},
		{TenantRequest{CallerUID: 1000, Flag: "shared"}, "", true},
		{TenantRequest{CallerUID: 1001, Flag: "a"}, "", true},
		{TenantRequest{CallerUID: 1001}, "shared", false},
		{TenantRequest{Root: "/run/containerd/runc/k8s.io", Annotations: ann}, "a", false},
		{TenantRequest{Root: "/run/containerd/runc/default", Annotations: ann}, "shared", false},
		{TenantRequest{Root: "/run/containerd/runc/k8s.io", Annotations: map[string]string{"io.kubernetes.cri.sandbox-namespace": "a"}}, "shared", false},
	}
	for i, cs := range cases {
		tn, err := c.ResolveTenant(cs.req)
		if cs.err {
			if err == nil {
				t.Errorf("%d: want error, got %s", i, tn.Name)
			}
			continue
		}
		if err != nil || tn.Name != cs.want {
			t.Errorf("%d: want %s, got %v %v", i, cs.want, tn, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"128M": 128 << 20, "64Mi": 64 << 20, "65536k": 64 << 20, "1G": 1 << 30, "4096": 4096, "16m": 16 << 20, "2GiB": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "50%", "-1", "1X", "99999999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestPolicyDigestAndExplain(t *testing.T) {
	c := t1Config(t)
	d1 := PolicyDigest(c, c.Tenants["t1"])
	d2 := PolicyDigest(c, c.Tenants["t2"])
	if d1 == d2 || !strings.HasPrefix(d1, "sha256:") || d1 != PolicyDigest(c, c.Tenants["t1"]) {
		t.Fatal("digest")
	}
	out, ds, err := run(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := NewExplanation(out, ds, nil, c, c.Tenants["t1"]).Render("text")
	if err != nil || !strings.Contains(string(txt), "linux.uidMappings") || !strings.Contains(string(txt), "verdict: run") {
		t.Fatalf("%s %v", txt, err)
	}
	js, err := Explain(out, ds, "json")
	if err != nil || !strings.Contains(string(js), `"action": "override"`) {
		t.Fatalf("%s", js)
	}
	if _, err := Explain(out, ds, "yaml"); err == nil {
		t.Fatal("unknown format")
	}
}

// TestDocExamples parses every TOML example in docs/config.md, docs/network.md and
// docs/quotas.md, so the documentation stays true to the code.
func TestDocExamples(t *testing.T) {
	for name, least := range map[string]int{"config.md": 3, "network.md": 3, "quotas.md": 2} {
		doc, err := os.ReadFile("../docs/" + name)
		requireTool(t, err == nil, "docs/"+name)
		blocks := strings.Split(string(doc), "```toml\n")
		if len(blocks) < least+1 {
			t.Fatalf("%s: examples missing", name)
		}
		for i, b := range blocks[1:] {
			body, _, _ := strings.Cut(b, "```")
			if _, err := ParseConfig([]byte(body)); err != nil {
				t.Errorf("%s example %d: %v", name, i+1, err)
			}
		}
	}
}

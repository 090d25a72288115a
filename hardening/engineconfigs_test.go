package hardening

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// engineVerdicts reads the README table: file -> "run" or "refuse".
func engineVerdicts(t *testing.T, dir string) map[string]string {
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| ([a-z0-9.-]+\\.json) \\| [^|]+ \\| ([^|]+) \\|")
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[2])
		if strings.HasPrefix(v, "refuse") {
			out[m[1]] = "refuse"
		} else {
			out[m[1]] = "run"
		}
	}
	return out
}

// engineTestConfig is the built-in config with the capture machine's engine
// directories (/tmp/ctrd, /tmp/clients) as engine roots, which the fake Host provides.
func engineTestConfig(t testing.TB) *Config {
	cfg, err := ParseConfig([]byte(`
[defaults]
fallback_tenant = "default"
engine_roots = ["/tmp/ctrd", "/tmp/clients"]
[[defaults.trusted_annotations]]
engine = "cri"
root = "/run/containerd/runc/k8s.io"
key = "io.kubernetes.cri.sandbox-namespace"
[tenants.default]
uid_range = "1000000:65536"
foreign_idmap = "override"
[tenants.kube-system]
uid_range = "2000000:65536"
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestEngineConfigs(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "engine-configs")
	verdicts := engineVerdicts(t, dir)
	requireTool(t, len(verdicts) > 50, "engine-configs README table")
	cfg := engineTestConfig(t)
	for name, want := range verdicts {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			var probe map[string]json.RawMessage
			_ = json.Unmarshal(data, &probe)
			if _, isSpec := probe["ociVersion"]; !isSpec {
				// exec process.json
				pr, err := DecodeProcess(data)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				out, _, err := EnforceProcess(ProcessRequest{Process: pr, ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg})
				checkVerdict(t, want, err)
				if err == nil && (len(out.Capabilities.Ambient) > 0 || !out.NoNewPrivileges) {
					t.Fatalf("exec process not hardened")
				}
				return
			}
			spec, err := DecodeSpec(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			host := newFakeHost()
			host.engineNetns(spec)
			id := strings.TrimPrefix(path.Base(spec.Linux.CgroupsPath), "libpod-")
			bundle := "/tmp/clients/bundles/" + id
			tenant, err := cfg.ResolveTenant(TenantRequest{Root: "/run/runc", Annotations: spec.Annotations})
			if err != nil {
				t.Fatal(err)
			}
			if tenant.Name != "default" {
				t.Fatalf("annotation chose tenant %s", tenant.Name)
			}
			out, ds, err := Enforce(Request{Spec: spec, Bundle: bundle, ContainerID: id, Tenant: tenant, Config: cfg, Host: host})
			checkVerdict(t, want, err)
			if err != nil {
				t.Logf("%v", err)
				return
			}
			if v := invariantViolations(out, tenant, cfg, id); len(v) > 0 {
				t.Fatalf("invariants: %v", v)
			}
			if len(ds) == 0 {
				t.Fatalf("nothing rewritten")
			}
		})
	}
}

func checkVerdict(t *testing.T, want string, err error) {
	t.Helper()
	var re *RefusedError
	switch {
	case want == "refuse" && !errors.As(err, &re):
		t.Fatalf("want refusal, got %v", err)
	case want == "run" && err != nil:
		t.Fatalf("want run, got %v", err)
	}
}

// The forged sandbox-namespace annotation selects a tenant only when the engine
// trusted for it (by --root) is the caller.
func TestAnnotationSpoof(t *testing.T) {
	cfg := engineTestConfig(t)
	ann := map[string]string{"io.kubernetes.cri.sandbox-namespace": "kube-system"}
	for _, root := range []string{"", "/run/runc", "/run/containerd/runc/default", "/run/containerd/runc/k8s.io.evil"} {
		tn, err := cfg.ResolveTenant(TenantRequest{Root: root, Annotations: ann})
		if err != nil || tn.Name != "default" {
			t.Fatalf("root %q: got %v %v, want fallback default", root, tn, err)
		}
	}
	tn, err := cfg.ResolveTenant(TenantRequest{Root: "/run/containerd/runc/k8s.io", Annotations: ann})
	if err != nil || tn.Name != "kube-system" {
		t.Fatalf("trusted CRI root: got %v %v", tn, err)
	}
}

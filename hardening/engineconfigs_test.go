package hardening

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
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
	row := regexp.MustCompile(`^\| ([a-z0-9.-]+\.json) \| [^|]+ \| ([^|]+) \|`)
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

// A privileged config refuses ~30 capabilities in each of three sets and every host
// device: the message (which containerd and crictl show the user in one line) lists them
// in one clause per kind instead of ~200 clauses, and still names every refused field.
func TestPrivilegedRefusalMessage(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "engine-configs")
	cfg := engineTestConfig(t)
	for _, name := range []string{"docker.privileged.json", "podman.privileged.json", "cri.start-priv.json", "ctr.privileged.json"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			spec, err := DecodeSpec(data)
			if err != nil {
				t.Fatal(err)
			}
			host := newFakeHost()
			host.engineNetns(spec)
			_, _, err = Enforce(Request{Spec: spec, Bundle: "/tmp/clients/bundles/c1", ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg, Host: host})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("want refusal, got %v", err)
			}
			msg := err.Error()
			t.Logf("%d refusals, %d bytes: %s", len(re.Refusals), len(msg), msg)
			if len(re.Refusals) < 20 {
				t.Fatalf("only %d refusals: not the privileged shape this test is about", len(re.Refusals))
			}
			if len(msg) > 4096 {
				t.Errorf("message is %d bytes", len(msg))
			}
			for _, p := range re.Paths() {
				if strings.HasPrefix(p, "linux.devices[") {
					p = "linux.devices"
				}
				if !strings.Contains(msg, p) {
					t.Errorf("message does not name %s", p)
				}
			}
			if strings.Contains(msg, "CAP_SYS_ADMIN") == false && strings.Contains(msg, "more") == false {
				t.Errorf("capability clause names neither CAP_SYS_ADMIN nor a count of the rest")
			}
		})
	}
}

func TestSummarizeRefusals(t *testing.T) {
	var rs []Refusal
	add := func(path, groupPath, group, item string) {
		rs = append(rs, Refusal{Path: path, Reason: item + " is bad", groupPath: groupPath, group: group, item: item})
	}
	for _, set := range []string{"bounding", "effective"} {
		for _, c := range []string{"CAP_A", "CAP_B", "CAP_C", "CAP_D"} {
			add("process.capabilities."+set, "process.capabilities."+set, groupCaps, c)
		}
	}
	add("process.capabilities.permitted", "process.capabilities.permitted", groupCaps, "CAP_A") // below the threshold
	for i := 0; i < 15; i++ {
		add(fmt.Sprintf("linux.devices[%d]", i), "linux.devices", groupDevices, fmt.Sprintf("/dev/d%d c 1:%d", i, i))
	}
	rs = append(rs, Refusal{Path: "hooks.prestart[0]", Reason: "not allowlisted"})
	got := summarizeRefusals(rs)
	want := []string{
		"process.capabilities.bounding, process.capabilities.effective: 4 capabilities that are never granted to a tenant (CAP_A, CAP_B, CAP_C, CAP_D)",
		"process.capabilities.permitted: CAP_A is bad",
		"linux.devices: 15 devices that are not default devices (/dev/d0 c 1:0, /dev/d1 c 1:1, /dev/d2 c 1:2, /dev/d3 c 1:3, /dev/d4 c 1:4, /dev/d5 c 1:5, /dev/d6 c 1:6, /dev/d7 c 1:7, /dev/d8 c 1:8, /dev/d9 c 1:9, /dev/d10 c 1:10, /dev/d11 c 1:11 and 3 more)",
		"hooks.prestart[0]: not allowlisted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var many []Refusal
	for i := 0; i < maxClauses+5; i++ {
		many = append(many, Refusal{Path: fmt.Sprintf("mounts[%d]", i), Reason: "no"})
	}
	if got := summarizeRefusals(many); len(got) != maxClauses+1 || !strings.HasPrefix(got[maxClauses], "and 5 more") {
		t.Errorf("long list: %d clauses, last %q", len(got), got[len(got)-1])
	}
}

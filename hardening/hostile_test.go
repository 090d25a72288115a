package hardening

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sharedDir is ../shared seen from the repository root.
func sharedDir(t testing.TB) string {
	d := os.Getenv("TENANTRUN_SHARED")
	if d == "" {
		d, _ = filepath.Abs("../../shared")
	}
	requireTool(t, dirExists(d), "reference material ../shared (set TENANTRUN_SHARED)")
	return d
}

func dirExists(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}

// hostileTOML is exactly what hostile/run.sh writes.
const hostileTOML = `
[tenants.t1]
uid_range = "300000:65536"
bind_roots = ["/srv/tenants/t1"]
[tenants.t1.quota]
memory = "128M"
pids = 64
cpus = 0.5
`

type hostileCase struct {
	ID     string          `json:"id"`
	Attack string          `json:"attack"`
	Expect string          `json:"expect"`
	Patch  string          `json:"patch"`
	Check  json.RawMessage `json:"check"`
}

func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// jqBundle builds a case's config.json the way run.sh does.
func jqBundle(t testing.TB, base, patch, bundle, id string) []byte {
	out, err := exec.Command("jq", "--arg", "bundle", bundle, "--arg", "id", id, patch, base).Output()
	if err != nil {
		t.Fatalf("jq: %v", err)
	}
	return out
}

func TestHostileCases(t *testing.T) {
	_, err := exec.LookPath("jq")
	requireTool(t, err == nil, "jq")
	sh := sharedDir(t)
	base := filepath.Join(sh, "hostile", "base.json")
	files, _ := filepath.Glob(filepath.Join(sh, "hostile", "cases", "*.json"))
	requireTool(t, len(files) > 0, "hostile cases")
	cfg, err := ParseConfig([]byte(hostileTOML))
	if err != nil {
		t.Fatal(err)
	}
	tenant := cfg.Tenants["t1"]
	host := newFakeHost()
	for _, f := range files {
		data, _ := os.ReadFile(f)
		var c hostileCase
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var check map[string]json.RawMessage
		_ = json.Unmarshal(c.Check, &check)
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			id := "hostile-" + c.ID
			bundle := filepath.Join(hostileBundleParent, id)
			raw := jqBundle(t, base, c.Patch, bundle, id)
			spec, err := DecodeSpec(raw)
			var out = spec
			if err == nil {
				out, _, err = Enforce(Request{Spec: spec, Bundle: bundle, ContainerID: id, Tenant: tenant, Config: cfg, Host: host})
			}
			switch c.Expect {
			case "refuse":
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("expected refusal, got err=%v", err)
				}
				t.Logf("%v", err)
				want := stringList(check["refuse_path"])
				if !slices.ContainsFunc(want, func(p string) bool { return strings.Contains(err.Error(), p) }) {
					t.Fatalf("refusal %q names none of %v", err, want)
				}
			case "neutralize", "accept":
				if err != nil {
					t.Fatalf("%s case refused: %v", c.Expect, err)
				}
				if v := invariantViolations(out, tenant, cfg, id); len(v) > 0 {
					t.Fatalf("invariants: %v", v)
				}
				checkCaseSpecific(t, c.ID, out)
			default:
				t.Fatalf("unknown expect %q", c.Expect)
			}
		})
	}
}

var capBits = regexp.MustCompile(`CAP_(NET_RAW|MKNOD)`)

// checkCaseSpecific checks what each neutralize/accept case observes inside the container.
func checkCaseSpecific(t *testing.T, id string, out any) {
	b, _ := json.Marshal(out)
	s := string(b)
	switch id {
	case "cap-engine-defaults":
		if capBits.MatchString(s) {
			t.Errorf("NET_RAW/MKNOD kept")
		}
	case "benign-tmpfs-data":
		if !strings.Contains(s, `"destination":"/data","type":"tmpfs"`) {
			t.Errorf("/data tmpfs lost")
		}
	case "benign-user-1000":
		if !strings.Contains(s, `"uid":1000,"gid":1000`) {
			t.Errorf("user 1000 changed")
		}
	case "ns-userns-missing", "proc-root-gid0":
		if !strings.Contains(s, `"uidMappings":[{"containerID":0,"hostID":300000,"size":65536}]`) {
			t.Errorf("uid mapping not the tenant's: %s", s)
		}
	case "cgroup-path-root", "cgroup-path-other-tenant", "quota-memory-raise", "quota-cpu-raise":
		for _, w := range []string{`"cgroupsPath":"/tenantrun/t1/hostile-` + id + `"`, `"limit":134217728`, `"quota":50000,"period":100000`, `"pids":{"limit":64}`} {
			if !strings.Contains(s, w) {
				t.Errorf("missing %s", w)
			}
		}
	}
}

package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

func TestTenantWarnings(t *testing.T) {
	used := 0.9
	u := TenantUsage{Tenant: "t1", Present: true, CPUUsed: &used, CPULimit: 1, MemoryBytes: 200 << 20, MemoryLimitBytes: 256 << 20, Pids: 10, PidsLimit: 64}
	w := tenantWarnings(&u, 0.8)
	if len(w) != 1 || !strings.Contains(w[0], "cpu at 90%") {
		t.Errorf("0.8: %q", w)
	}
	w = tenantWarnings(&u, 0.75)
	if len(w) != 2 || !strings.Contains(w[1], "memory at 78% of its quota (200.0M of 256.0M") {
		t.Errorf("0.75: %q", w)
	}
	if w := tenantWarnings(&u, 0); w != nil {
		t.Errorf("0 disables: %q", w)
	}
	u.PidsLimit = 0 // unlimited: never a warning
	u.Pids = 1 << 20
	if w := tenantWarnings(&u, 0.95); len(w) != 0 {
		t.Errorf("unlimited pids warned: %q", w)
	}
}

func TestTenantsPrometheusFormat(t *testing.T) {
	used := 0.25
	rows := []TenantUsage{
		{Tenant: "a", Present: true, Containers: 2, CPUUsageSeconds: 1.5, CPUUsed: &used, CPULimit: 1, MemoryBytes: 100, MemoryLimitBytes: 1000, Pids: 3, PidsLimit: 64, OOMKills: 1, PidsLimitHits: 7},
		{Tenant: "b", Present: false, Containers: 1},
	}
	var buf bytes.Buffer
	if err := writeTenantsPrometheus(&buf, rows); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"# TYPE tenantrun_tenant_containers gauge\ntenantrun_tenant_containers{tenant=\"a\"} 2\ntenantrun_tenant_containers{tenant=\"b\"} 1\n",
		"tenantrun_tenant_cgroup_present{tenant=\"b\"} 0\n",
		"# TYPE tenantrun_tenant_cpu_usage_seconds_total counter\ntenantrun_tenant_cpu_usage_seconds_total{tenant=\"a\"} 1.5\n",
		"tenantrun_tenant_cpu_used_cpus{tenant=\"a\"} 0.25\n",
		"tenantrun_tenant_memory_limit_bytes{tenant=\"a\"} 1000\n",
		"tenantrun_tenant_oom_kills_total{tenant=\"a\"} 1\n",
		"tenantrun_tenant_pids_limit_hits_total{tenant=\"a\"} 7\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "tenantrun_tenant_memory_usage_bytes{tenant=\"b\"}") {
		t.Error("absent tenant has usage samples")
	}
	// Exposition format: every line is a comment or `name{labels} value`; every family has
	// HELP and TYPE before its samples, and a family's samples are contiguous.
	seen := map[string]bool{}
	last := ""
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(line, "# ") {
			f := strings.Fields(line)
			if len(f) < 4 || (f[1] != "HELP" && f[1] != "TYPE") {
				t.Errorf("bad comment %q", line)
			}
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.Contains(rest, "} ") {
			t.Errorf("bad sample %q", line)
			continue
		}
		if _, err := strconv.ParseFloat(rest[strings.Index(rest, "} ")+2:], 64); err != nil {
			t.Errorf("bad value in %q", line)
		}
		if name != last && seen[name] {
			t.Errorf("family %s not contiguous", name)
		}
		seen[name], last = true, name
	}
	if promEscape("a\"b\\c\nd") != `a\"b\\c\nd` {
		t.Error("label escaping")
	}
}

func TestTenantsTableAndJSON(t *testing.T) {
	used := 0.5
	rows := []TenantUsage{
		{Tenant: "t1", Cgroup: "/tenantrun/t1", Present: true, Containers: 2, CPUUsed: &used, CPULimit: 1, MemoryBytes: 128 << 20, MemoryLimitBytes: 256 << 20, Pids: 32, PidsLimit: 64},
		{Tenant: "t2", Cgroup: "/tenantrun/t2", Containers: 1},
	}
	var buf bytes.Buffer
	if err := writeTenants(&buf, "table", rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TENANT", "0.50/1.00 (50%)", "128.0M/256.0M (50%)", "32/64 (50%)", "(absent)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := writeTenants(&buf, "json", nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("empty json %q %v", buf.String(), err)
	}
	buf.Reset()
	if err := writeTenants(&buf, "json", rows); err != nil {
		t.Fatal(err)
	}
	var back []TenantUsage
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back) != 2 || back[0].PidsLimit != 64 || *back[0].CPUUsed != 0.5 {
		t.Errorf("json round trip %+v %v", back, err)
	}
	if err := Tenants(&Global{Root: t.TempDir()}, TenantsOptions{Format: "xml"}, &buf); err == nil {
		t.Error("--format xml accepted")
	}
}

func TestTenantsOutputAtomic(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tenantrun.prom")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Tenants(&Global{Root: filepath.Join(dir, "root")}, TenantsOptions{Format: "prometheus", Output: out, Tenants: []string{"nosuchtenant"}}, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(data), "# HELP tenantrun_tenant_containers") {
		t.Errorf("output %q", data)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestScanTenantTopNames(t *testing.T) {
	// Only the naming rule (the directories are real ones elsewhere).
	if m := scanTenantTop("bad/name.slice", true); len(m) != 0 {
		t.Errorf("%v", m)
	}
}

// `tenants` finds a tenant parent by scanning the config's cgroup_parent top, with no
// container under --root (real cgroups, root).
func TestTenantsFindsParentWithoutContainers(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("prerequisite missing (CI=true): must run as root (creates real cgroups)")
		}
		t.Skip("must run as root (creates real cgroups)")
	}
	old := tenantcg.LockDir
	tenantcg.LockDir = t.TempDir()
	t.Cleanup(func() { tenantcg.LockDir = old })
	top := fmt.Sprintf("/tenantrun-test-%d-tenants", os.Getpid())
	parent := top + "/t1"
	unlock, err := tenantcg.Ensure(parent, false, tenantcg.Limits{Pids: 20})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	t.Cleanup(func() {
		tenantcg.Release(parent, false)
		tops, _ := filepath.Glob("/sys/fs/cgroup/*" + top)
		for _, d := range append(tops, "/sys/fs/cgroup"+top) {
			_ = os.Remove(d)
		}
	})
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[defaults]\ncgroup_parent = %q\n[tenants.t1]\nuid_range = \"1000000:65536\"\n", strings.TrimPrefix(top, "/"))), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Tenants(&Global{Root: t.TempDir(), ConfigPath: cfg}, TenantsOptions{Format: "json", Tenants: []string{"t1"}}, &buf); err != nil {
		t.Fatal(err)
	}
	var rows []TenantUsage
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil || len(rows) != 1 || !rows[0].Present || rows[0].Cgroup != parent || rows[0].PidsLimit != 20 || rows[0].Containers != 0 {
		t.Errorf("tenants found %+v (%v):\n%s", rows, err, buf.String())
	}
}

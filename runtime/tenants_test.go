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

	"github.com/opencontainers/cgroups"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadTenantUsageV1Files(t *testing.T) {
	base := t.TempDir()
	f := tenantCgroupFiles{
		cpu: filepath.Join(base, "cpu"), cpuacct: filepath.Join(base, "cpuacct"),
		memory: filepath.Join(base, "memory"), pids: filepath.Join(base, "pids"),
	}
	writeFiles(t, f.cpu, map[string]string{
		"cpu.cfs_quota_us": "150000\n", "cpu.cfs_period_us": "100000\n",
		"cpu.stat": "nr_periods 120\nnr_throttled 30\nthrottled_time 2500000000\nnr_bursts 0\nburst_time 0\n",
	})
	writeFiles(t, f.cpuacct, map[string]string{"cpuacct.usage": "12500000000\n"})
	writeFiles(t, f.memory, map[string]string{
		"memory.usage_in_bytes": "209715200\n", "memory.limit_in_bytes": "268435456\n",
		"memory.max_usage_in_bytes": "268435456\n", "memory.failcnt": "77\n",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
	})
	writeFiles(t, f.pids, map[string]string{"pids.current": "60\n", "pids.max": "64\n", "pids.events": "max 0\n"})
	// v1 event counters live in the cgroup where the event happened: summed over the subtree.
	writeFiles(t, filepath.Join(f.pids, "c1"), map[string]string{"pids.events": "max 4\n"})
	writeFiles(t, filepath.Join(f.pids, "c2"), map[string]string{"pids.events": "max 5\n"})
	writeFiles(t, filepath.Join(f.memory, "c1"), map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
	var u TenantUsage
	u.Tenant = "t1"
	if !readTenantUsage(f, &u) {
		t.Fatal("not present")
	}
	want := TenantUsage{Tenant: "t1", CPUUsageSeconds: 12.5, CPULimit: 1.5, CPUPeriods: 120, CPUThrottledPeriods: 30,
		CPUThrottledSeconds: 2.5, MemoryBytes: 200 << 20, MemoryLimitBytes: 256 << 20, MemoryMaxBytes: 256 << 20,
		MemoryLimitHits: 77, OOMKills: 3, Pids: 60, PidsLimit: 64, PidsLimitHits: 9}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", u, want)
	}
	// Unlimited v1 values read as 0 ("not limited").
	writeFiles(t, f.memory, map[string]string{"memory.limit_in_bytes": "9223372036854771712\n"})
	writeFiles(t, f.pids, map[string]string{"pids.max": "max\n"})
	writeFiles(t, f.cpu, map[string]string{"cpu.cfs_quota_us": "-1\n"})
	u = TenantUsage{}
	readTenantUsage(f, &u)
	if u.MemoryLimitBytes != 0 || u.PidsLimit != 0 || u.CPULimit != 0 {
		t.Errorf("unlimited read as %d %d %v", u.MemoryLimitBytes, u.PidsLimit, u.CPULimit)
	}
	if readTenantUsage(tenantCgroupFiles{memory: filepath.Join(base, "gone")}, &TenantUsage{}) {
		t.Error("absent parent reported present")
	}
}

func TestReadTenantUsageV2Files(t *testing.T) {
	d := filepath.Join(t.TempDir(), "tenantrun", "t1")
	writeFiles(t, d, map[string]string{
		"cpu.stat":       "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 50\nnr_throttled 10\nthrottled_usec 400000\n",
		"cpu.max":        "50000 100000\n",
		"memory.current": "1048576\n", "memory.max": "268435456\n", "memory.peak": "2097152\n",
		"memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
		"pids.current":  "5\n", "pids.max": "max\n", "pids.events": "max 2\n",
	})
	var u TenantUsage
	if !readTenantUsage(tenantCgroupFiles{v2: true, unified: d}, &u) {
		t.Fatal("not present")
	}
	want := TenantUsage{CPUUsageSeconds: 3, CPULimit: 0.5, CPUPeriods: 50, CPUThrottledPeriods: 10, CPUThrottledSeconds: 0.4,
		MemoryBytes: 1 << 20, MemoryLimitBytes: 256 << 20, MemoryMaxBytes: 2 << 20, MemoryLimitHits: 4, OOMKills: 1,
		Pids: 5, PidsLimit: 0, PidsLimitHits: 2}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", u, want)
	}
	if v, ok := readCPUUsage(tenantCgroupFiles{v2: true, unified: d}); !ok || v != 3 {
		t.Errorf("readCPUUsage %v %v", v, ok)
	}
}

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

// The figures of a real parent match its files, with a process charged to it.
func TestTenantUsageRealKernel(t *testing.T) {
	requireRootCgroupfs(t)
	withTestLockDir(t)
	top := fmt.Sprintf("/tenantrun-test-%d-usage", os.Getpid())
	parent := top + "/t1"
	t.Cleanup(func() {
		for _, d := range append(hierarchyDirs(t, parent), hierarchyDirs(t, top)...) {
			_ = os.Remove(d)
		}
	})
	unlock, err := ensureTenantParent(parent, false, tenantLimits{MemoryBytes: 64 << 20, Pids: 20, CPUQuota: 20000, CPUPeriod: 100000})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	defer releaseTenantParent(&sidecar{CgroupParent: parent})
	f := tenantFilesFor(parent)
	var u TenantUsage
	if !readTenantUsage(f, &u) {
		t.Fatal("parent not present")
	}
	if u.MemoryLimitBytes != 64<<20 || u.PidsLimit != 20 || u.CPULimit != 0.2 {
		t.Errorf("limits %+v", u)
	}
	// `tenants` finds the parent by scanning the config's cgroup_parent top, with no
	// container under --root.
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
	if cgroups.IsCgroup2UnifiedMode() {
		return
	}
	if got := cgReadUint(filepath.Join(f.memory, "memory.usage_in_bytes")); got != u.MemoryBytes && got > u.MemoryBytes+1<<20 {
		t.Errorf("memory %d vs file %d", u.MemoryBytes, got)
	}
	if got := cgReadUint(filepath.Join(f.pids, "pids.current")); got != u.Pids {
		t.Errorf("pids %d vs file %d", u.Pids, got)
	}
}

// A v2 tenant parent's refused forks: the parent's own count on kernels that count
// hierarchically, the containers' sum on those that count where the fork happened (6.1).
func TestV2PidsLimitHits(t *testing.T) {
	dir := t.TempDir()
	write := func(p, v string) {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "pids.events"), []byte("max "+v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(dir, "0")
	write(filepath.Join(dir, "c1"), "3")
	write(filepath.Join(dir, "c2"), "4")
	if n := v2PidsLimitHits(dir); n != 7 {
		t.Errorf("local counting (6.1): %d, want 7", n)
	}
	write(dir, "9")
	if n := v2PidsLimitHits(dir); n != 9 {
		t.Errorf("hierarchical counting: %d, want 9", n)
	}
}

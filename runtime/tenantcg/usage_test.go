package tenantcg

import (
	"fmt"
	"os"
	"path/filepath"
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
	f := Files{
		CPU: filepath.Join(base, "cpu"), CPUAcct: filepath.Join(base, "cpuacct"),
		Memory: filepath.Join(base, "memory"), Pids: filepath.Join(base, "pids"),
	}
	writeFiles(t, f.CPU, map[string]string{
		"cpu.cfs_quota_us": "150000\n", "cpu.cfs_period_us": "100000\n",
		"cpu.stat": "nr_periods 120\nnr_throttled 30\nthrottled_time 2500000000\nnr_bursts 0\nburst_time 0\n",
	})
	writeFiles(t, f.CPUAcct, map[string]string{"cpuacct.usage": "12500000000\n"})
	writeFiles(t, f.Memory, map[string]string{
		"memory.usage_in_bytes": "209715200\n", "memory.limit_in_bytes": "268435456\n",
		"memory.max_usage_in_bytes": "268435456\n", "memory.failcnt": "77\n",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
	})
	writeFiles(t, f.Pids, map[string]string{"pids.current": "60\n", "pids.max": "64\n", "pids.events": "max 0\n"})
	// v1 event counters live in the cgroup where the event happened: summed over the subtree.
	writeFiles(t, filepath.Join(f.Pids, "c1"), map[string]string{"pids.events": "max 4\n"})
	writeFiles(t, filepath.Join(f.Pids, "c2"), map[string]string{"pids.events": "max 5\n"})
	writeFiles(t, filepath.Join(f.Memory, "c1"), map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
	var u Usage
	u.Tenant = "t1"
	if !ReadUsage(f, &u) {
		t.Fatal("not present")
	}
	want := Usage{Tenant: "t1", CPUUsageSeconds: 12.5, CPULimit: 1.5, CPUPeriods: 120, CPUThrottledPeriods: 30,
		CPUThrottledSeconds: 2.5, MemoryBytes: 200 << 20, MemoryLimitBytes: 256 << 20, MemoryMaxBytes: 256 << 20,
		MemoryLimitHits: 77, OOMKills: 3, Pids: 60, PidsLimit: 64, PidsLimitHits: 9}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", u, want)
	}
	// Unlimited v1 values read as 0 ("not limited").
	writeFiles(t, f.Memory, map[string]string{"memory.limit_in_bytes": "9223372036854771712\n"})
	writeFiles(t, f.Pids, map[string]string{"pids.max": "max\n"})
	writeFiles(t, f.CPU, map[string]string{"cpu.cfs_quota_us": "-1\n"})
	u = Usage{}
	ReadUsage(f, &u)
	if u.MemoryLimitBytes != 0 || u.PidsLimit != 0 || u.CPULimit != 0 {
		t.Errorf("unlimited read as %d %d %v", u.MemoryLimitBytes, u.PidsLimit, u.CPULimit)
	}
	if ReadUsage(Files{Memory: filepath.Join(base, "gone")}, &Usage{}) {
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
	var u Usage
	if !ReadUsage(Files{V2: true, Unified: d}, &u) {
		t.Fatal("not present")
	}
	want := Usage{CPUUsageSeconds: 3, CPULimit: 0.5, CPUPeriods: 50, CPUThrottledPeriods: 10, CPUThrottledSeconds: 0.4,
		MemoryBytes: 1 << 20, MemoryLimitBytes: 256 << 20, MemoryMaxBytes: 2 << 20, MemoryLimitHits: 4, OOMKills: 1,
		Pids: 5, PidsLimit: 0, PidsLimitHits: 2}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", u, want)
	}
	if v, ok := ReadCPU(Files{V2: true, Unified: d}); !ok || v != 3 {
		t.Errorf("readCPUUsage %v %v", v, ok)
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
	unlock, err := Ensure(parent, false, Limits{MemoryBytes: 64 << 20, Pids: 20, CPUQuota: 20000, CPUPeriod: 100000})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	defer Release(parent, false)
	f := FilesFor(parent)
	var u Usage
	if !ReadUsage(f, &u) {
		t.Fatal("parent not present")
	}
	if u.MemoryLimitBytes != 64<<20 || u.PidsLimit != 20 || u.CPULimit != 0.2 {
		t.Errorf("limits %+v", u)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		return
	}
	if got := ReadUint(filepath.Join(f.Memory, "memory.usage_in_bytes")); got != u.MemoryBytes && got > u.MemoryBytes+1<<20 {
		t.Errorf("memory %d vs file %d", u.MemoryBytes, got)
	}
	if got := ReadUint(filepath.Join(f.Pids, "pids.current")); got != u.Pids {
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
	if n := V2PidsLimitHits(dir); n != 7 {
		t.Errorf("local counting (6.1): %d, want 7", n)
	}
	write(dir, "9")
	if n := V2PidsLimitHits(dir); n != 9 {
		t.Errorf("hierarchical counting: %d, want 9", n)
	}
}

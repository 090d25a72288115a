package integration

// Tenant quotas on a real kernel: the tenant parent cgroup (/tenantrun/<tenant>) carries the
// tenant's aggregate limits, so containers of one tenant together cannot exceed them;
// `update` cannot raise a container above the tenant's maximum; `tenantrun tenants` reports
// what the cgroup files say; the parent is removed with the tenant's last container.
// The noisy-neighbour test measures a quiet tenant's HTTP latency while another tenant runs
// a fork bomb, a memory hog and a CPU hog (about 20 s; NOISY=0 skips it). See docs/quotas.md.

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/cgroups/systemd"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/internal/testutil"
)

// Each test's config names its own cgroup top ("trq<hex>" instead of the default
// "tenantrun"), so that other containers on this shared machine never share the top with
// the test and the leak check sees exactly what the test's tenants made.
var quotaTops sync.Map // tenant name -> top

func quotaTopOf(tenant string) string {
	if v, ok := quotaTops.Load(tenant); ok {
		return v.(string)
	}
	return "tenantrun"
}

// quotaParentRel is the tenant parent's path below a hierarchy's root: <top>/<tenant> with
// cgroupfs, the slice's path (tenantrun.slice/tenantrun-<tenant>.slice) with --systemd-cgroup.
func quotaParentRel(tenant string) string {
	if testutil.SystemdCgroup() {
		p, err := systemd.ExpandSlice(hardening.SystemdTenantSlice(quotaTopOf(tenant), tenant))
		if err != nil {
			panic(err)
		}
		return p
	}
	return filepath.Join(quotaTopOf(tenant), tenant)
}

// quotaTenant is a tenant with its own name (unique per test run) in its own config file.
type quotaTenant struct {
	Name    string
	UIDBase int
	Memory  string // tenant aggregate
	Pids    int
	CPUs    float64
	CMemory string // per-container maximum
	CPids   int
	CCPUs   float64
	// More TOML lines for the tenant's table, its [quota] and its [container].
	TenantTOML, QuotaTOML, ContainerTOML string
}

func quotaTenantName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// quotaHarness is a harness whose runtime uses a config with the given tenants.
func quotaHarness(t *testing.T, tenants ...quotaTenant) *testutil.H {
	t.Helper()
	return quotaHarnessWith(t, "", tenants...)
}

// quotaHarnessWith is quotaHarness with more TOML after the [defaults] keys (its subtables:
// [defaults.warnings], ...).
func quotaHarnessWith(t *testing.T, defaults string, tenants ...quotaTenant) *testutil.H {
	t.Helper()
	h := testutil.New(t)
	testutil.TenantrunOnly(t)
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 != nil {
			testutil.Require(t, false, "no cgroup v1 memory hierarchy nor a cgroup v2 mount")
		}
	}
	var b strings.Builder
	top := quotaTenantName("trq")
	// The tenants' fault counters are kept in the test's own directory (gone with it).
	fmt.Fprintf(&b, "[defaults]\ncgroup_parent = %q\ncounters_dir = %q\n%s\n", top, testutil.TempDir(t, "counters"), defaults)
	for _, q := range tenants {
		quotaTops.Store(q.Name, top)
		fmt.Fprintf(&b, "\n[tenants.%s]\nuid_range = \"%d:65536\"\ngid_range = \"%d:65536\"\nforeign_idmap = \"override\"\n%s\n", q.Name, q.UIDBase, q.UIDBase, q.TenantTOML)
		fmt.Fprintf(&b, "[tenants.%s.quota]\nmemory = %q\npids = %d\ncpus = %v\n%s\n", q.Name, q.Memory, q.Pids, q.CPUs, q.QuotaTOML)
		fmt.Fprintf(&b, "[tenants.%s.container]\nmemory = %q\npids = %d\ncpus = %v\n%s\n", q.Name, q.CMemory, q.CPids, q.CCPUs, q.ContainerTOML)
	}
	h.UseConfig(b.String())
	return h
}

// quotaAs runs the runtime as tenant name.
func quotaAs(h *testutil.H, tenant string, args ...string) *testutil.Result {
	h.T.Helper()
	return h.RT.RunCall(h.T, testutil.Call{Globals: append(h.RT.GlobalArgs(), "--tenant", tenant), Timeout: 60 * time.Second}, args...)
}

func quotaAsOK(h *testutil.H, tenant string, args ...string) *testutil.Result {
	h.T.Helper()
	r := quotaAs(h, tenant, args...)
	if r.Code != 0 {
		h.T.Fatalf("expected success: %s", r)
	}
	return r
}

// quotaRun starts a detached container of tenant and returns its init pid.
func quotaRun(h *testutil.H, tenant, id string, b *testutil.Bundle) int {
	h.T.Helper()
	quotaAsOK(h, tenant, "run", "-d", "--bundle", b.Dir, id)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := quotaAs(h, tenant, "state", id)
		var st testutil.State
		if r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &st) == nil && st.Status == "running" {
			h.Leaks.ObservePID(st.Pid)
			return st.Pid
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("container %s not running: %s", id, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withMemoryRequest sets the container's own request (the engine's ask).
func quotaResources(mem int64, pids int64) testutil.BundleOption {
	return testutil.WithSpec(func(s *specs.Spec) {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if mem > 0 {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem}
		}
		if pids > 0 {
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
		}
	})
}

// quotaParentDir is the tenant's parent cgroup in a hierarchy ("memory", "pids", "cpu";
// "" for cgroup v2), checked against where the container's init really is.
func quotaParentDir(t *testing.T, pid int, hier, tenant string) string {
	t.Helper()
	if hier == "" {
		hier = "unified"
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			hier = "."
		}
	}
	f, err := testutil.CgroupFile(pid, hier, "x")
	if err != nil {
		t.Fatal(err)
	}
	container := filepath.Dir(f)
	parent := filepath.Dir(container)
	want := filepath.Join(testutil.CgroupRoot, hier, quotaParentRel(tenant))
	if parent != filepath.Clean(want) {
		t.Fatalf("container cgroup %s is not beneath the tenant parent %s", container, want)
	}
	return parent
}

func quotaIsV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

func quotaReadU(t *testing.T, p string) uint64 {
	t.Helper()
	s := testutil.ReadTrim(p)
	if s == "max" {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %q: %v", p, s, err)
	}
	if v >= 1<<62 {
		return 0
	}
	return v
}

func quotaReadKey(t *testing.T, p, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(testutil.ReadTrim(p), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// quotaEvents reads an event counter of a tenant parent: on cgroup v2 the parent's file is
// hierarchical; cgroup v1 keeps oom_kill and pids "max" only in the cgroup where the event
// happened, so the tenant's figure is the sum over its subtree (what `tenants` reports).
func quotaEvents(t *testing.T, dir, file, key string) uint64 {
	t.Helper()
	if quotaIsV2() && file != "pids.events" {
		return quotaReadKey(t, filepath.Join(dir, file), key)
	}
	// v1 counts events in the cgroup they happened in: sum the subtree. So does v2's
	// pids.events on kernels without pids.events.local (Debian 12's 6.1: a fork refused by the
	// tenant parent's limit is counted in the forking container's cgroup, the parent stays at
	// 0); newer kernels count it hierarchically in the parent: the larger of the two.
	var sum, own uint64
	if quotaIsV2() {
		own = quotaReadKey(t, filepath.Join(dir, file), key)
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if quotaIsV2() && p == dir {
			return nil
		}
		if err == nil && d.IsDir() {
			if _, err := os.Stat(filepath.Join(p, file)); err == nil {
				sum += quotaReadKey(t, filepath.Join(p, file), key)
			}
		}
		return nil
	})
	return max(sum, own)
}

// quotaMemFiles are the memory files of a tenant parent (v1 or v2 names).
type quotaMemFiles struct{ dir, usage, limit, peak, events, oomKey string }

func quotaMemoryFiles(t *testing.T, pid int, tenant string) quotaMemFiles {
	if quotaIsV2() {
		d := quotaParentDir(t, pid, "", tenant)
		return quotaMemFiles{d, "memory.current", "memory.max", "memory.peak", "memory.events", "oom_kill"}
	}
	d := quotaParentDir(t, pid, "memory", tenant)
	return quotaMemFiles{d, "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.max_usage_in_bytes", "memory.oom_control", "oom_kill"}
}

// quotaParentGone checks the tenant parent is gone in every hierarchy.
func quotaParentGone(t *testing.T, tenant string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, hier := range testutil.CgroupHierarchies() {
			d := filepath.Join(testutil.CgroupRoot, hier, quotaParentRel(tenant))
			if _, err := os.Stat(d); err == nil {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("tenant parent left after its last container was deleted: %v", left)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The tenant's 256M holds across two containers that each ask for 512M and each allocate 200M.
func TestTenantAggregateMemory(t *testing.T) {
	ten := quotaTenant{Name: quotaTenantName("qm"), UIDBase: 3100000, Memory: "256M", Pids: 128, CPUs: 1, CMemory: "256M", CPids: 64, CCPUs: 1}
	h := quotaHarness(t, ten)
	// dd holds its 200M buffer while blocked writing into a pipe nobody reads.
	hog := testutil.WithShell("dd if=/dev/zero bs=209715200 count=1 2>/dev/null | sleep 600")
	b1 := h.Bundle(hog, quotaResources(512<<20, 0))
	b2 := h.Bundle(hog, quotaResources(512<<20, 0))
	id1, id2 := h.ID("mem1"), h.ID("mem2")
	pid1 := quotaRun(h, ten.Name, id1, b1)
	mf := quotaMemoryFiles(t, pid1, ten.Name)
	if lim := quotaReadU(t, filepath.Join(mf.dir, mf.limit)); lim != 256<<20 {
		t.Fatalf("tenant parent %s = %d, want %d", mf.limit, lim, 256<<20)
	}
	if !quotaIsV2() {
		if sw := filepath.Join(mf.dir, "memory.memsw.limit_in_bytes"); testutil.ReadTrim(sw) != "" {
			if v := quotaReadU(t, sw); v != 256<<20 {
				t.Errorf("memory+swap limit %d: swap could bypass the tenant limit", v)
			}
		}
	} else if v := testutil.ReadTrim(filepath.Join(mf.dir, "memory.swap.max")); v != "0" && v != "" {
		t.Errorf("memory.swap.max %s: swap could bypass the tenant limit", v)
	}
	// Each container's own limit was clamped from 512M to the per-container 256M.
	if f, err := testutil.CgroupFile(pid1, map[bool]string{false: "memory", true: "."}[quotaIsV2()], mf.limit); err == nil {
		if v := quotaReadU(t, f); v == 0 || v > 256<<20 {
			t.Errorf("container limit %d: the 512M request was not clamped to 256M", v)
		}
	}
	quotaWaitFor(t, 20*time.Second, "container 1 to hold its 200M", func() bool {
		return quotaReadU(t, filepath.Join(mf.dir, mf.usage)) >= 190<<20
	})
	quotaRun(h, ten.Name, id2, b2)
	quotaWaitFor(t, 20*time.Second, "an OOM kill in the tenant", func() bool {
		return quotaEvents(t, mf.dir, mf.events, mf.oomKey) >= 1
	})
	time.Sleep(500 * time.Millisecond)
	usage := quotaReadU(t, filepath.Join(mf.dir, mf.usage))
	peak := quotaReadU(t, filepath.Join(mf.dir, mf.peak))
	ooms := quotaEvents(t, mf.dir, mf.events, mf.oomKey)
	t.Logf("tenant %s: limit 256M, usage now %.1fM, peak %.1fM, OOM kills %d (asked 2x512M, allocated 2x200M)",
		ten.Name, float64(usage)/(1<<20), float64(peak)/(1<<20), ooms)
	if peak > 256<<20 {
		t.Errorf("tenant peak %d exceeds its 256M", peak)
	}
	if ooms < 1 {
		t.Errorf("no OOM kill: both 200M allocations fit in 256M?")
	}

	// `tenants --format json` figures come from these files.
	quotaCheckTenantsJSON(t, h, ten, mf)

	h.Delete(id1)
	h.Delete(id2)
	quotaParentGone(t, ten.Name)
	// The OOM kills outlive the containers and the parent (cgroup v1 counted them only in
	// the containers' own cgroups, v2 in the parent).
	quotaCountersKept(t, h, ten.Name, "oomKills", ooms)
}

// quotaCountersKept checks that `tenants` still reports the tenant's fault counter key at
// (at least) want once its containers and parent cgroup are gone.
func quotaCountersKept(t *testing.T, h *testutil.H, tenant, key string, want uint64) {
	t.Helper()
	r := quotaAsOK(h, tenant, "tenants", "--format", "json", "--interval", "0", tenant)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("tenants after the last delete: %v\n%s", err, r)
	}
	got, _ := rows[0][key].(float64)
	t.Logf("after the last delete: %s %v (%d before), present %v, kept in %v", key, got, want, rows[0]["present"], rows[0]["retiredFrom"])
	if uint64(got) < want || rows[0]["present"] != false {
		t.Errorf("tenant %s: %s is %v after its containers and parent are gone, was %d: %s", tenant, key, got, want, r.Stdout)
	}
	tb := quotaAsOK(h, tenant, "tenants", "--interval", "0", tenant)
	if !strings.Contains(tb.Stdout, tenant) || !strings.Contains(tb.Stdout, "(absent)") {
		t.Errorf("table after the last delete:\n%s", tb.Stdout)
	}
}

// quotaCheckTenantsJSON compares `tenantrun tenants --format json` with the cgroup files.
func quotaCheckTenantsJSON(t *testing.T, h *testutil.H, ten quotaTenant, mf quotaMemFiles) {
	t.Helper()
	r := quotaAsOK(h, ten.Name, "tenants", "--format", "json", "--interval", "0", ten.Name)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("tenants json: %v\n%s", err, r)
	}
	row := rows[0]
	num := func(k string) uint64 { v, _ := row[k].(float64); return uint64(v) }
	if row["tenant"] != ten.Name || num("containers") != 2 || row["present"] != true {
		t.Errorf("row %v", row)
	}
	if got, want := num("memoryLimitBytes"), quotaReadU(t, filepath.Join(mf.dir, mf.limit)); got != want {
		t.Errorf("memoryLimitBytes %d, file %d", got, want)
	}
	if got, want := num("oomKills"), quotaEvents(t, mf.dir, mf.events, mf.oomKey); got != want {
		t.Errorf("oomKills %d, file %d", got, want)
	}
	if got, want := num("memoryMaxBytes"), quotaReadU(t, filepath.Join(mf.dir, mf.peak)); got != want {
		t.Errorf("memoryMaxBytes %d, file %d", got, want)
	}
	if got, want := num("memoryBytes"), quotaReadU(t, filepath.Join(mf.dir, mf.usage)); quotaAbsDiff(got, want) > 4<<20 {
		t.Errorf("memoryBytes %d, file %d", got, want)
	}
	pidsDir := mf.dir
	if !quotaIsV2() {
		pidsDir = filepath.Join(testutil.CgroupRoot, "pids", quotaParentRel(ten.Name))
	}
	if got, want := num("pidsLimit"), quotaReadU(t, filepath.Join(pidsDir, "pids.max")); got != want || got != uint64(ten.Pids) {
		t.Errorf("pidsLimit %d, file %d, quota %d", got, want, ten.Pids)
	}
	if got, want := num("pids"), quotaReadU(t, filepath.Join(pidsDir, "pids.current")); got != want {
		t.Errorf("pids %d, file %d", got, want)
	}
	if v, _ := row["cpuLimit"].(float64); v != ten.CPUs {
		t.Errorf("cpuLimit %v, quota %v", v, ten.CPUs)
	}
	t.Logf("tenants json: %s", strings.Join(strings.Fields(r.Stdout), " "))
	// The other formats render the same row.
	p := quotaAsOK(h, ten.Name, "tenants", "--format", "prometheus", "--interval", "0", ten.Name)
	if want := fmt.Sprintf("tenantrun_tenant_memory_limit_bytes{tenant=%q} %d", ten.Name, 256<<20); !strings.Contains(p.Stdout, want) {
		t.Errorf("prometheus lacks %q:\n%s", want, p.Stdout)
	}
	tb := quotaAsOK(h, ten.Name, "tenants", "--interval", "0", "--warn-at", "0.1", ten.Name)
	if !strings.Contains(tb.Stdout, ten.Name) || !strings.Contains(tb.Stdout, "/256.0M") {
		t.Errorf("table:\n%s", tb.Stdout)
	}
	// Memory (a surviving hog) is above 10%: the early warning fires. The OOM killer may
	// have taken both hogs (it picks the victims): then nothing is above 10%.
	if used := quotaReadU(t, filepath.Join(mf.dir, mf.usage)); used*10 >= uint64(256<<20) && !strings.Contains(tb.Stderr, "memory at") {
		t.Errorf("no early warning on stderr with %d bytes in use: %q", used, tb.Stderr)
	}
}

func quotaAbsDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

func quotaWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A pids limit of 64 holds across containers.
func TestTenantAggregatePids(t *testing.T) {
	ten := quotaTenant{Name: quotaTenantName("qp"), UIDBase: 3200000, Memory: "512M", Pids: 64, CPUs: 1, CMemory: "256M", CPids: 64, CCPUs: 1}
	h := quotaHarness(t, ten)
	// ash exits when a fork fails, so the forks happen in a subshell: when the tenant's
	// limit refuses one, only the subshell dies; the sleeps it started and the init stay
	// (exec, no fork), so both containers keep running with the tenant at its limit.
	spawn := testutil.WithShell("(i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i+1)); done; wait) 2>/dev/null; exec sleep 600")
	b1, b2 := h.Bundle(spawn), h.Bundle(spawn)
	id1, id2 := h.ID("pids1"), h.ID("pids2")
	pid1 := quotaRun(h, ten.Name, id1, b1)
	pidsDir := quotaParentDir(t, pid1, map[bool]string{false: "pids", true: ""}[quotaIsV2()], ten.Name)
	quotaWaitFor(t, 20*time.Second, "container 1 to spawn", func() bool { return quotaReadU(t, filepath.Join(pidsDir, "pids.current")) >= 42 })
	quotaRun(h, ten.Name, id2, b2)
	quotaWaitFor(t, 20*time.Second, "the tenant's pids limit to be hit", func() bool {
		return quotaEvents(t, pidsDir, "pids.events", "max") >= 1
	})
	time.Sleep(time.Second)
	cur := quotaReadU(t, filepath.Join(pidsDir, "pids.current"))
	hits := quotaEvents(t, pidsDir, "pids.events", "max")
	t.Logf("tenant %s: pids.max 64, pids.current %d, forks refused %d (two containers each trying 42)", ten.Name, cur, hits)
	if cur > 64 {
		t.Errorf("tenant has %d tasks, limit 64", cur)
	}
	if cur < 60 {
		t.Errorf("tenant has only %d tasks: the second container did not fill up to the limit", cur)
	}
	for _, id := range []string{id1, id2} {
		if st := h.State(id); st.Status != "running" {
			t.Errorf("container %s %s: the limit should refuse forks, not stop it", id, st.Status)
		}
	}
	if lim := quotaReadU(t, filepath.Join(pidsDir, "pids.max")); lim != 64 {
		t.Errorf("pids.max %d", lim)
	}
	// A third container cannot start with the tenant at its limit: the refusal names the
	// tenant and the quota (not a Go runtime abort from inside init), and leaves nothing.
	id3 := h.ID("pids3")
	r := quotaAs(h, ten.Name, "run", "-d", "--bundle", h.Bundle(testutil.WithArgs("/bin/true")).Dir, id3)
	if r.Code == 0 {
		t.Fatalf("a container started in a tenant at its pids limit: %s", r)
	}
	for _, want := range []string{"tenant " + ten.Name + " has reached its process quota", "pids in [tenants." + ten.Name + ".quota]"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("refusal does not say %q: %s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "SIGABRT") || strings.Contains(r.Stderr, "goroutine") {
		t.Errorf("refusal dumps a Go crash: %s", r)
	}
	if _, err := os.Stat(filepath.Join(h.RT.Root, id3)); err == nil {
		t.Errorf("refused container %s left its state directory", id3)
	}
	hits = quotaEvents(t, pidsDir, "pids.events", "max")
	h.Delete(id1)
	h.Delete(id2)
	quotaParentGone(t, ten.Name)
	quotaCountersKept(t, h, ten.Name, "pidsLimitHits", hits)
}

// `update --memory 8G` cannot raise a container above the tenant's maximum.
func TestTenantUpdateCannotRaise(t *testing.T) {
	ten := quotaTenant{Name: quotaTenantName("qu"), UIDBase: 3300000, Memory: "256M", Pids: 64, CPUs: 1, CMemory: "128M", CPids: 32, CCPUs: 0.5}
	h := quotaHarness(t, ten)
	b := h.Bundle(testutil.WithArgs("sleep", "600"))
	id := h.ID("upd")
	pid := quotaRun(h, ten.Name, id, b)
	mf := quotaMemoryFiles(t, pid, ten.Name)
	hier := map[bool]string{false: "memory", true: "."}[quotaIsV2()]
	own, err := testutil.CgroupFile(pid, hier, mf.limit)
	if err != nil {
		t.Fatal(err)
	}
	before := quotaReadU(t, own)
	r := quotaAs(h, ten.Name, "update", "--memory", "8G", "--pids-limit", "100000", id)
	after := quotaReadU(t, own)
	t.Logf("update --memory 8G: exit %d (%s); container limit %d -> %d; tenant parent %d",
		r.Code, strings.TrimSpace(r.Stderr), before, after, quotaReadU(t, filepath.Join(mf.dir, mf.limit)))
	if after == 0 || after > 128<<20 {
		t.Errorf("container memory limit %d after update: above the tenant's per-container 128M", after)
	}
	if v := quotaReadU(t, filepath.Join(mf.dir, mf.limit)); v != 256<<20 {
		t.Errorf("tenant parent limit changed to %d", v)
	}
	pidsHier := map[bool]string{false: "pids", true: "."}[quotaIsV2()]
	if f, err := testutil.CgroupFile(pid, pidsHier, "pids.max"); err == nil {
		if v := quotaReadU(t, f); v == 0 || v > 32 {
			t.Errorf("container pids.max %d after update: above the per-container 32", v)
		}
	}
	h.Delete(id)
	quotaParentGone(t, ten.Name)
}

// --- noisy neighbour -----------------------------------------------------------------------

// quotaFetchSource is the probe run inside tenant B's container: sequential HTTP GETs (a new
// connection each, as busybox httpd closes it) and their latencies.
//
//go:embed testdata/fetch/main.go
var quotaFetchSource string

type quotaFetchResult struct {
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50ms"`
	P90    float64 `json:"p90ms"`
	P99    float64 `json:"p99ms"`
	Max    float64 `json:"maxms"`
}

func quotaBuildFetcher(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	// A prebuilt probe (hack/vm builds it on the host: under emulation `go build` takes minutes).
	if p := os.Getenv("TENANTRUN_TEST_FETCH_BIN"); p != "" {
		testutil.RequireFile(t, p, "TENANTRUN_TEST_FETCH_BIN")
		return p
	}
	testutil.RequireFile(t, goBin, "the Go toolchain builds the in-container HTTP probe")
	dir := testutil.TempDir(t, "fetch")
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), quotaFetchSource)
	testutil.WriteFile(t, filepath.Join(dir, "go.mod"), "module fetch\n\ngo 1.22\n")
	out := filepath.Join(dir, "fetch")
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, b)
	}
	return out
}

func quotaCopyExec(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func quotaHostExecMedian(n int) time.Duration {
	var d []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		_ = exec.Command("/bin/true").Run()
		d = append(d, time.Since(t0))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

// Tenant A runs a fork bomb, a memory hog and a CPU hog at once; tenant B's busybox httpd,
// fetched in a loop inside B's container, keeps answering, within 2x its quiet median
// (that ratio fails the run only under `make bench-timing`: testutil.TimingTarget).
// About 20 s; NOISY=0 skips it (it loads the whole machine for a few seconds).
//
// The quiet baseline is measured before A starts and again after A is gone, and the
// baseline is their mean: the machine is shared, so background load drifts during the test.
// A's per-container pids maximum (32) is half its tenant quota (64): the bomb exhausts its
// own container's share, the tenant-wide limit caps the rest, and A's other containers
// (whose shells exit on a failed fork) keep running.
func TestNoisyNeighbour(t *testing.T) {
	if os.Getenv("NOISY") == "0" {
		t.Skip("NOISY=0")
	}
	a := quotaTenant{Name: quotaTenantName("na"), UIDBase: 3400000, Memory: "256M", Pids: 64, CPUs: 0.5, CMemory: "256M", CPids: 32, CCPUs: 0.5}
	bt := quotaTenant{Name: quotaTenantName("nb"), UIDBase: 3500000, Memory: "256M", Pids: 64, CPUs: 1, CMemory: "256M", CPids: 64, CCPUs: 1}
	h := quotaHarness(t, a, bt)
	fetch := quotaBuildFetcher(t)

	// Tenant B: httpd as init, the probe exec'd inside the same container.
	bb := h.Bundle(testutil.WithArgs("httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"))
	if err := os.MkdirAll(filepath.Join(bb.Rootfs(), "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(bb.Rootfs(), "www", "index.html"), strings.Repeat("tenant B is fine\n", 64))
	quotaCopyExec(t, fetch, filepath.Join(bb.Rootfs(), "fetch"))
	idB := h.ID("web")
	quotaRun(h, bt.Name, idB, bb)
	probe := func(label string) quotaFetchResult {
		r := quotaAs(h, bt.Name, "exec", idB, "/fetch", "-n", "300", "-gap", "5ms")
		var fr quotaFetchResult
		if r.Code != 0 || json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &fr) != nil {
			t.Fatalf("probe (%s): %s", label, r)
		}
		t.Logf("%s: B's httpd: %d ok, %d errors, median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms", label, fr.OK, fr.Errors, fr.P50, fr.P90, fr.P99, fr.Max)
		return fr
	}
	time.Sleep(300 * time.Millisecond) // httpd listening
	probe("warm-up")
	quiet1 := probe("quiet (before A)")
	hostQuiet := quotaHostExecMedian(30)

	// Tenant A: CPU hog and memory hog first (the fork bomb takes every pid A has).
	cpuHog := h.Bundle(testutil.WithShell("for i in 1 2 3 4; do (while :; do :; done) & done; wait"))
	memHog := h.Bundle(testutil.WithShell("while :; do dd if=/dev/zero bs=300000000 count=1 2>/dev/null | sleep 1; done"))
	// ash exits when a fork fails: the bomb runs in a subshell and the init becomes a sleep
	// (exec, no fork), so the container lives on with its pids full (bomb shells and zombies).
	bomb := h.Bundle(testutil.WithShell("(f(){ f | f & }; f) 2>/dev/null; exec sleep 100000"))
	idCPU, idMem, idBomb := h.ID("cpuhog"), h.ID("memhog"), h.ID("bomb")
	pidCPU := quotaRun(h, a.Name, idCPU, cpuHog)
	quotaRun(h, a.Name, idMem, memHog)
	quotaRun(h, a.Name, idBomb, bomb)
	time.Sleep(3 * time.Second) // let the bomb saturate and the hog hit its limit
	loaded := probe("tenant A noisy")
	hostLoaded := quotaHostExecMedian(30)

	// A hit A's limits.
	cpuDir := quotaParentDir(t, pidCPU, map[bool]string{false: "cpu", true: ""}[quotaIsV2()], a.Name)
	pidsDir := quotaParentDir(t, pidCPU, map[bool]string{false: "pids", true: ""}[quotaIsV2()], a.Name)
	mf := quotaMemoryFiles(t, pidCPU, a.Name)
	thrKey, thrDiv := "throttled_time", 1e9
	if quotaIsV2() {
		thrKey, thrDiv = "throttled_usec", 1e6
	}
	throttled := float64(quotaReadKey(t, filepath.Join(cpuDir, "cpu.stat"), thrKey)) / thrDiv
	nrThrottled := quotaReadKey(t, filepath.Join(cpuDir, "cpu.stat"), "nr_throttled")
	pidsHits := quotaEvents(t, pidsDir, "pids.events", "max")
	pidsCur := quotaReadU(t, filepath.Join(pidsDir, "pids.current"))
	ooms := quotaEvents(t, mf.dir, mf.events, mf.oomKey)
	peak := quotaReadU(t, filepath.Join(mf.dir, mf.peak))
	t.Logf("tenant A: CPU throttled %.1fs in %d periods; pids %d/64, forks refused %d; memory peak %.1fM/256M, OOM kills %d",
		throttled, nrThrottled, pidsCur, pidsHits, float64(peak)/(1<<20), ooms)
	t.Logf("host: median fork+exec of /bin/true %v quiet, %v with tenant A noisy", hostQuiet, hostLoaded)
	r := quotaAsOK(h, a.Name, "tenants", "--interval", "1s")
	t.Logf("tenantrun tenants during the load:\n%s%s", r.Stdout, r.Stderr)

	if nrThrottled == 0 || pidsHits == 0 || ooms == 0 {
		t.Errorf("tenant A did not hit all its limits (throttled periods %d, pids hits %d, OOM kills %d)", nrThrottled, pidsHits, ooms)
	}
	if loaded.Errors > 0 || loaded.OK == 0 {
		t.Errorf("B's httpd failed %d of %d requests under A's load", loaded.Errors, loaded.Errors+loaded.OK)
	}
	if hostLoaded > 10*hostQuiet+50*time.Millisecond {
		t.Errorf("host unresponsive: fork+exec %v vs %v quiet", hostLoaded, hostQuiet)
	}
	for _, id := range []string{idBomb, idMem, idCPU} {
		h.Delete(id)
	}
	quotaParentGone(t, a.Name)
	quiet2 := probe("quiet (after A)")
	baseline := (quiet1.P50 + quiet2.P50) / 2
	t.Logf("B's median: quiet %.2f ms (before %.2f, after %.2f), with A noisy %.2f ms: %.2fx",
		baseline, quiet1.P50, quiet2.P50, loaded.P50, loaded.P50/baseline)
	// The 2x latency target is a speed target, enforced by `make bench-timing`; what this
	// test enforces is the isolation itself: B answered every request, A hit each of its
	// limits, the host stayed responsive.
	testutil.TimingTarget(t, loaded.P50 <= 2*baseline, "B's median latency %.2f ms under A's load is more than 2x its quiet %.2f ms", loaded.P50, baseline)
	h.Delete(idB)
	quotaParentGone(t, bt.Name)
}

// Creates and deletes of one tenant's containers racing each other: no create ever finds
// its parent removed under it (the per-tenant lock), and the parent is gone at the end.
func TestTenantParentConcurrentCreateDelete(t *testing.T) {
	ten := quotaTenant{Name: quotaTenantName("qc"), UIDBase: 3600000, Memory: "512M", Pids: 256, CPUs: 1, CMemory: "64M", CPids: 16, CCPUs: 0.5}
	h := quotaHarness(t, ten)
	const workers, iters = 4, 5
	b := h.Bundle(testutil.WithArgs("true"))
	errs := make(chan string, workers*iters)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				id := h.ID(fmt.Sprintf("cc%d-%d", w, i))
				if r := quotaAs(h, ten.Name, "run", "-d", "--bundle", b.Dir, id); r.Code != 0 {
					errs <- r.String()
					continue
				}
				if r := quotaAs(h, ten.Name, "delete", "--force", id); r.Code != 0 {
					errs <- r.String()
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		n++
		t.Errorf("racing create/delete failed: %s", e)
	}
	t.Logf("%d workers x %d run/delete cycles of tenant %s: %d failures", workers, iters, ten.Name, n)
	quotaParentGone(t, ten.Name)
}

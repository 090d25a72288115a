package tenantcg

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/systemd"

	"github.com/tenantrun/tenantrun/hardening"
)

func TestTenantLimitsFromQuota(t *testing.T) {
	for _, c := range []struct {
		mem, pids int64
		cpus      float64
		want      Limits
	}{
		{256 << 20, 64, 1, Limits{MemoryBytes: 256 << 20, Pids: 64, CPUQuota: 100000, CPUPeriod: 100000}},
		{512 << 20, 256, 2.5, Limits{MemoryBytes: 512 << 20, Pids: 256, CPUQuota: 250000, CPUPeriod: 100000}},
		{0, 0, 0, Limits{}},
		{-1, -1, -1, Limits{}},
		{1, 1, 0.001, Limits{MemoryBytes: 1, Pids: 1, CPUQuota: 1000, CPUPeriod: 100000}}, // kernel minimum 1 ms
		{0, 0, 0.333, Limits{CPUQuota: 33300, CPUPeriod: 100000}},
	} {
		if got := LimitsFromQuota(c.mem, c.pids, c.cpus); got != c.want {
			t.Errorf("LimitsFromQuota(%d, %d, %v) = %+v, want %+v", c.mem, c.pids, c.cpus, got, c.want)
		}
	}
}

func TestTenantResources(t *testing.T) {
	r := tenantResources(Limits{MemoryBytes: 256 << 20, Pids: 64, CPUQuota: 50000, CPUPeriod: 100000, BlkioWeight: 300}, true)
	if r.Memory != 256<<20 || r.MemorySwap != 256<<20 {
		t.Errorf("memory %d swap %d: memory+swap must equal memory so swap cannot bypass the limit", r.Memory, r.MemorySwap)
	}
	if r.PidsLimit == nil || *r.PidsLimit != 64 {
		t.Errorf("pids %v", r.PidsLimit)
	}
	if r.CpuQuota != 50000 || r.CpuPeriod != 100000 {
		t.Errorf("cpu %d/%d", r.CpuQuota, r.CpuPeriod)
	}
	if r.BlkioWeight != 300 {
		t.Errorf("blkio weight %d", r.BlkioWeight)
	}
	if !r.SkipDevices {
		t.Error("the parent must never get device rules")
	}
	// v2 conversion of the same request: swap.max 0, io.weight scaled.
	if sw, err := cgroups.ConvertMemorySwapToCgroupV2Value(r.MemorySwap, r.Memory); err != nil || sw != 0 {
		t.Errorf("v2 memory.swap.max = %d, %v; want 0", sw, err)
	}
	if w := cgroups.ConvertBlkIOToIOWeightValue(r.BlkioWeight); w != 2930 {
		t.Errorf("v2 io.weight = %d", w)
	}
	// No I/O weight file: no weight written.
	if r := tenantResources(Limits{BlkioWeight: 300}, false); r.BlkioWeight != 0 {
		t.Errorf("weight written without a weight file: %d", r.BlkioWeight)
	}
	// Zero limits are written as unlimited (an update that lifts a limit takes effect).
	z := tenantResources(Limits{}, true)
	if z.Memory != -1 || z.MemorySwap != -1 || z.PidsLimit == nil || *z.PidsLimit != -1 || z.CpuQuota != -1 {
		t.Errorf("unlimited: %+v pids %v", z, z.PidsLimit)
	}
	if sw, err := cgroups.ConvertMemorySwapToCgroupV2Value(z.MemorySwap, z.Memory); err != nil || sw != -1 {
		t.Errorf("v2 unlimited swap = %d, %v", sw, err)
	}
	// A quota without a period gets the default period.
	if r := tenantResources(Limits{CPUQuota: 20000}, false); r.CpuPeriod != defaultTenantCPUPeriod {
		t.Errorf("period %d", r.CpuPeriod)
	}
}

func TestValidateTenantParent(t *testing.T) {
	good := []struct {
		p  string
		sd bool
	}{{"/tenantrun/t1", false}, {"/x", false}, {"tenantrun-t1.slice", true}, {"t1.slice", true}}
	for _, c := range good {
		if err := validateTenantParent(c.p, c.sd); err != nil {
			t.Errorf("%q systemd=%v: %v", c.p, c.sd, err)
		}
	}
	bad := []struct {
		p  string
		sd bool
	}{
		{"", false}, {"/", false}, {"tenantrun/t1", false}, {"/tenantrun/../x", false}, {"/tenantrun//t1", false},
		{"/tenantrun/t1/", false}, {"tenantrun-t1.slice", false},
		{"", true}, {"/tenantrun/t1", true}, {"tenantrun-t1", true}, {"-.slice", true}, {"a--b.slice", true},
		{"-a.slice", true}, {"x:y.slice", true}, {".slice", true},
	}
	for _, c := range bad {
		if err := validateTenantParent(c.p, c.sd); err == nil {
			t.Errorf("%q systemd=%v accepted", c.p, c.sd)
		}
	}
}

func TestSystemdTenantParent(t *testing.T) {
	for _, c := range []struct{ slice, parent, path string }{
		{"tenantrun-t1.slice", "tenantrun.slice", "/tenantrun.slice/tenantrun-t1.slice"},
		{"t1.slice", "-.slice", "/t1.slice"},
		{"a-b-c.slice", "a-b.slice", "/a.slice/a-b.slice/a-b-c.slice"},
	} {
		p, err := SliceParent(c.slice)
		if err != nil || p != c.parent {
			t.Errorf("SliceParent(%q) = %q, %v; want %q", c.slice, p, err, c.parent)
		}
		inner, err := ParentInner(c.slice, true)
		if err != nil || inner != c.path {
			t.Errorf("ParentInner(%q) = %q, %v; want %q", c.slice, inner, err, c.path)
		}
		// The driver places the unit at ExpandSlice(Parent)/Name: the same path as
		// libcontainer's "tenantrun-t1.slice:tenantrun-t1:<id>" puts the container beneath.
		cg, err := tenantCgroupConfig(c.slice, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !cg.Systemd || cg.Name != c.slice || cg.Parent != c.parent || cg.Path != "" {
			t.Errorf("config %+v", cg)
		}
		base, err := ExpandSlice(cg.Parent)
		if err != nil {
			t.Fatal(err)
		}
		if got := filepath.Join(base, cg.Name); got != c.path {
			t.Errorf("unit path %q, want %q", got, c.path)
		}
		if cg.Resources == nil || !cg.Resources.SkipDevices {
			t.Errorf("resources %+v", cg.Resources)
		}
	}
	for _, s := range []string{"tenantrun", "-.slice", ".slice", "-a.slice", "a-.slice"} {
		if p, err := SliceParent(s); err == nil {
			t.Errorf("SliceParent(%q) = %q, want an error", s, p)
		}
	}
	cg, err := tenantCgroupConfig("/tenantrun/t1", false, nil)
	if err != nil || cg.Path != "/tenantrun/t1" || cg.Systemd || cg.Name != "" {
		t.Errorf("cgroupfs config %+v, %v", cg, err)
	}
}

func TestTenantSliceName(t *testing.T) {
	for _, c := range []struct{ top, tenant, slice, path string }{
		{"tenantrun", "t1", "tenantrun-t1.slice", "/tenantrun.slice/tenantrun-t1.slice"},
		// A dash in a tenant name must not make it a child slice of another tenant.
		{"tenantrun", "a-b", `tenantrun-a\x2db.slice`, `/tenantrun.slice/tenantrun-a\x2db.slice`},
		{"tenantrun-test", "t1", `tenantrun\x2dtest-t1.slice`, `/tenantrun\x2dtest.slice/tenantrun\x2dtest-t1.slice`},
	} {
		got := SliceName(c.top, c.tenant)
		if got != c.slice {
			t.Errorf("SliceName(%q, %q) = %q, want %q", c.top, c.tenant, got, c.slice)
		}
		if p, err := ParentInner(got, true); err != nil || p != c.path {
			t.Errorf("%q expands to %q, %v; want %q", got, p, err, c.path)
		}
		if UnescapeDash(hardening.SystemdEscapeDash(c.tenant)) != c.tenant {
			t.Errorf("escape round trip of %q", c.tenant)
		}
	}
	// Without escaping, tenant "a-b" would live inside tenant "a"'s slice.
	if p, _ := ParentInner("tenantrun-a-b.slice", true); p != "/tenantrun.slice/tenantrun-a.slice/tenantrun-a-b.slice" {
		t.Errorf("unescaped expansion %q", p)
	}
}

func TestTenantLockKey(t *testing.T) {
	seen := map[string]string{}
	for _, c := range []struct {
		p  string
		sd bool
	}{{"/tenantrun/t1", false}, {"/tenantrun_t1", false}, {"/tenantrun/t1/x", false}, {"tenantrun-t1.slice", true}, {"/tenantrun-t1.slice", false}} {
		k := tenantLockKey(c.p, c.sd)
		if strings.Contains(k, "/") {
			t.Errorf("key %q has a slash", k)
		}
		if o, dup := seen[k]; dup {
			t.Errorf("key %q for both %q and %q", k, o, c.p)
		}
		seen[k] = c.p
	}
}

func TestCandidateDirs(t *testing.T) {
	paths := map[string]string{
		"memory": "/sys/fs/cgroup/memory/tenantrun/t1",
		"cpu":    "/sys/fs/cgroup/cpu/tenantrun/t1",
		"":       "/sys/fs/cgroup/unified/tenantrun/t1",
	}
	got := candidateDirs(paths, "/tenantrun/t1")
	want := []string{
		"/sys/fs/cgroup/cpu/tenantrun", "/sys/fs/cgroup/cpu/tenantrun/t1",
		"/sys/fs/cgroup/memory/tenantrun", "/sys/fs/cgroup/memory/tenantrun/t1",
		"/sys/fs/cgroup/unified/tenantrun", "/sys/fs/cgroup/unified/tenantrun/t1",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v\nwant %v", got, want)
	}
	v2 := candidateDirs(map[string]string{"": "/sys/fs/cgroup/tenantrun.slice/tenantrun-t1.slice"}, "/tenantrun.slice/tenantrun-t1.slice")
	if strings.Join(v2, " ") != "/sys/fs/cgroup/tenantrun.slice /sys/fs/cgroup/tenantrun.slice/tenantrun-t1.slice" {
		t.Errorf("v2 %v", v2)
	}
}

// --- real kernel (root) -----------------------------------------------------------------

func requireRootCgroupfs(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true" || os.Getenv("CI") == "1"
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "must run as root (creates real cgroups)"
	default:
		if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
			why = "no /sys/fs/cgroup"
		}
	}
	if why == "" {
		return
	}
	if ci {
		t.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %s", why)
	}
	t.Skip(why)
}

// withTestLockDir points the locks and the record at a private dir for the test.
func withTestLockDir(t *testing.T) {
	old := LockDir
	LockDir = t.TempDir()
	t.Cleanup(func() { LockDir = old })
}

// hierarchyDirs lists <mount>/<inner> for every cgroup hierarchy mounted under /sys/fs/cgroup.
func hierarchyDirs(t *testing.T, inner string) []string {
	t.Helper()
	if cgroups.IsCgroup2UnifiedMode() {
		return []string{filepath.Join("/sys/fs/cgroup", inner)}
	}
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		mp := filepath.Join("/sys/fs/cgroup", e.Name())
		var st syscall.Statfs_t
		if syscall.Statfs(mp, &st) != nil || (st.Type != 0x27e0eb && st.Type != 0x63677270) {
			continue
		}
		if fi, err := os.Lstat(mp); err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		out = append(out, filepath.Join(mp, inner))
	}
	sort.Strings(out)
	return out
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestTenantParentLifecycleRealKernel(t *testing.T) {
	requireRootCgroupfs(t)
	withTestLockDir(t)
	top := fmt.Sprintf("/tenantrun-test-%d", os.Getpid())
	parent := top + "/t1"
	topDirs := hierarchyDirs(t, top)
	t.Cleanup(func() { // safety net: never leave our test dirs behind
		for _, d := range hierarchyDirs(t, parent+"/c1") {
			_ = os.Remove(d)
		}
		for _, d := range hierarchyDirs(t, parent) {
			_ = os.Remove(d)
		}
		for _, d := range topDirs {
			_ = os.Remove(d)
		}
	})
	l := Limits{MemoryBytes: 256 << 20, Pids: 64, CPUQuota: 50000, CPUPeriod: 100000, BlkioWeight: 200}
	unlock, err := Ensure(parent, false, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range hierarchyDirs(t, parent) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("parent missing in a hierarchy: %v", err)
		}
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	if !v2 {
		cg := "/sys/fs/cgroup"
		if got := readTrim(t, cg+"/memory"+parent+"/memory.limit_in_bytes"); got != strconv.Itoa(256<<20) {
			t.Errorf("memory.limit_in_bytes %s", got)
		}
		if _, err := os.Stat(cg + "/memory" + parent + "/memory.memsw.limit_in_bytes"); err == nil {
			if got := readTrim(t, cg+"/memory"+parent+"/memory.memsw.limit_in_bytes"); got != strconv.Itoa(256<<20) {
				t.Errorf("memory.memsw.limit_in_bytes %s", got)
			}
		}
		if got := readTrim(t, cg+"/memory"+parent+"/memory.use_hierarchy"); got != "1" {
			t.Errorf("memory.use_hierarchy %s", got)
		}
		if got := readTrim(t, cg+"/pids"+parent+"/pids.max"); got != "64" {
			t.Errorf("pids.max %s", got)
		}
		if got := readTrim(t, cg+"/cpu"+parent+"/cpu.cfs_quota_us"); got != "50000" {
			t.Errorf("cpu.cfs_quota_us %s", got)
		}
		if got := readTrim(t, cg+"/cpuset"+parent+"/cpuset.cpus"); got == "" || got != readTrim(t, cg+"/cpuset/cpuset.cpus") {
			t.Errorf("cpuset.cpus %q not copied from the root", got)
		}
		if got := readTrim(t, cg+"/cpuset"+parent+"/cpuset.mems"); got == "" {
			t.Error("cpuset.mems empty")
		}
	} else {
		d := "/sys/fs/cgroup" + parent
		for f, want := range map[string]string{"memory.max": strconv.Itoa(256 << 20), "memory.swap.max": "0", "pids.max": "64", "cpu.max": "50000 100000"} {
			if got := readTrim(t, filepath.Join(d, f)); got != want {
				t.Errorf("%s = %s, want %s", f, got, want)
			}
		}
	}
	// Update in place (a second create with new limits): lifts memory, lowers pids.
	unlock2, err := Ensure(parent, false, Limits{Pids: 32, CPUQuota: 50000, CPUPeriod: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if !v2 {
		if got := readTrim(t, "/sys/fs/cgroup/pids"+parent+"/pids.max"); got != "32" {
			t.Errorf("updated pids.max %s", got)
		}
		if got := readTrim(t, "/sys/fs/cgroup/memory"+parent+"/memory.limit_in_bytes"); got == strconv.Itoa(256<<20) {
			t.Errorf("memory limit not lifted: %s", got)
		}
	}
	// A child (as libcontainer would create for a container) keeps the parent alive.
	child := parent + "/c1"
	for _, d := range hierarchyDirs(t, child) {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// While this process holds the create lock, release is deferred to unlock.
	Release(parent, false)
	if _, err := os.Stat(hierarchyDirs(t, parent)[0]); err != nil {
		t.Fatal("released while a create held the lock")
	}
	unlock()
	unlock2()
	unlock2() // idempotent
	if _, err := os.Stat(hierarchyDirs(t, parent)[0]); err != nil {
		t.Fatal("parent with a child cgroup was removed")
	}
	// Another process holding the create lock (flock, as a concurrent `create` does) keeps it.
	for _, d := range hierarchyDirs(t, child) {
		if err := os.Remove(d); err != nil {
			t.Fatal(err)
		}
	}
	lockPath := filepath.Join(LockDir, tenantLockKey(parent, false)+".lock")
	holder := exec.Command("flock", "-o", "-s", lockPath, "sleep", "30")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err == nil {
		time.Sleep(300 * time.Millisecond)
		Release(parent, false)
		if _, err := os.Stat(hierarchyDirs(t, parent)[0]); err != nil {
			t.Error("released while another process's create held the lock")
		}
		_ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL) // flock and its sleep
		_ = holder.Wait()
	} else {
		t.Logf("flock(1) not available (%v): cross-process lock not exercised", err)
	}
	// Now nothing holds it and it is empty: removed in every hierarchy, and the top dir that
	// Ensure created with it too.
	Release(parent, false)
	for _, d := range append(hierarchyDirs(t, parent), topDirs...) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("left behind: %s", d)
		}
	}
	if rec, err := readCreated(); err != nil || len(rec) != 0 {
		t.Errorf("record after release: %v, %v", rec, err)
	}
	if _, err := os.Stat(lockPath); err == nil {
		t.Errorf("lock file %s left after the parent was removed", lockPath)
	}
}

// A lock taken on a lock file that a release unlinked meanwhile is retaken on the new file.
func TestTenantLockFileReplaced(t *testing.T) {
	withTestLockDir(t)
	path := filepath.Join(LockDir, "x.lock")
	held, err := tenantLockFile(path, syscall.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *os.File)
	go func() {
		f, err := tenantLockFile(path, syscall.LOCK_SH)
		if err != nil {
			t.Error(err)
		}
		done <- f
	}()
	time.Sleep(100 * time.Millisecond)
	if err := os.Remove(path); err != nil { // what a release does, holding it
		t.Fatal(err)
	}
	held.Close()
	f := <-done
	if f == nil {
		return
	}
	defer f.Close()
	var a, b syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(path, &b); err != nil || a.Ino != b.Ino {
		t.Errorf("lock held on an unlinked file (path: %v)", err)
	}
}

func TestTenantParentNeverRemovesForeign(t *testing.T) {
	requireRootCgroupfs(t)
	withTestLockDir(t)
	top := fmt.Sprintf("/tenantrun-test-%d-foreign", os.Getpid())
	parent := top + "/t1"
	// The top exists before (an operator made it): tenantrun may create t1 in it and remove
	// t1, never the top.
	topDirs := hierarchyDirs(t, top)
	for _, d := range topDirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range hierarchyDirs(t, parent) {
			_ = os.Remove(d)
		}
		for _, d := range topDirs {
			_ = os.Remove(d)
		}
	})
	unlock, err := Ensure(parent, false, Limits{Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	Release(parent, false)
	for _, d := range hierarchyDirs(t, parent) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("tenant parent left: %s", d)
		}
	}
	for _, d := range topDirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("pre-existing top removed: %s", d)
		}
	}
	// A parent tenantrun did not create at all is never removed either.
	for _, d := range hierarchyDirs(t, parent) {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	Release(parent, false)
	for _, d := range hierarchyDirs(t, parent) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("foreign parent removed: %s", d)
		}
	}
}

func TestTenantParentRejectsBadInput(t *testing.T) {
	withTestLockDir(t)
	for _, p := range []string{"", "/", "relative/x", "/a/../b"} {
		if _, err := Ensure(p, false, Limits{}); err == nil {
			t.Errorf("Ensure(%q) accepted", p)
		}
	}
	Release("", false)
	Release("/", false) // refused, nothing happens
}

// The systemd driver's own path computation (no D-Bus needed until Apply) puts the tenant
// slice where ParentInner says, which is where libcontainer nests the containers.
func TestSystemdTenantParentPathsFromDriver(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		t.Skip("no /sys/fs/cgroup")
	}
	slice := SliceName("tenantrun", "a-b")
	cg, err := tenantCgroupConfig(slice, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := ParentInner(slice, true)
	var paths map[string]string
	if cgroups.IsCgroup2UnifiedMode() {
		m, err := systemd.NewUnifiedManager(cg, "")
		if err != nil {
			t.Skipf("unified systemd manager: %v", err)
		}
		paths = m.GetPaths()
	} else {
		m, err := systemd.NewLegacyManager(cg, nil)
		if err != nil {
			t.Fatal(err)
		}
		paths = m.GetPaths()
	}
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	for k, p := range paths {
		if !strings.HasSuffix(p, inner) {
			t.Errorf("%s: driver path %s, want .../%s", k, p, inner)
		}
	}
	if got := candidateDirs(paths, inner); len(got) == 0 {
		t.Error("no candidate dirs")
	}
	t.Logf("systemd driver paths for %s: %v", slice, paths)
}

// gc removes an empty parent whose create died before the container existed, and keeps a
// parent with a child.
func TestGCTenantParents(t *testing.T) {
	requireRootCgroupfs(t)
	withTestLockDir(t)
	top := fmt.Sprintf("/tenantrun-test-%d-gc", os.Getpid())
	empty, busy := top+"/crashed", top+"/busy"
	t.Cleanup(func() {
		for _, d := range append(append(hierarchyDirs(t, busy+"/c1"), hierarchyDirs(t, busy)...), append(hierarchyDirs(t, empty), hierarchyDirs(t, top)...)...) {
			_ = os.Remove(d)
		}
	})
	for _, p := range []string{empty, busy} {
		unlock, err := Ensure(p, false, Limits{Pids: 8})
		if err != nil {
			t.Fatal(err)
		}
		unlock() // the create "crashed": nobody will delete a container of it
	}
	for _, d := range hierarchyDirs(t, busy+"/c1") {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	GC()
	for _, d := range hierarchyDirs(t, empty) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("gc left the empty parent %s", d)
		}
	}
	for _, d := range hierarchyDirs(t, busy) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("gc removed a parent with a child: %s", d)
		}
	}
	for _, d := range hierarchyDirs(t, busy+"/c1") {
		_ = os.Remove(d)
	}
	GC()
	for _, d := range append(hierarchyDirs(t, busy), hierarchyDirs(t, top)...) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("gc left %s", d)
		}
	}
}

// Under systemd on v2 the tenant slice's swap limit must be sent as MemorySwapMax=0 (a
// unified resource): memory+swap == memory alone converts to "unset" (MemorySwapMax=infinity).
func TestSystemdSwapLimit(t *testing.T) {
	dir := t.TempDir()
	l := Limits{MemoryBytes: 256 << 20}
	r := tenantResources(l, false)
	systemdSwapLimit(r, l, dir)
	if r.Unified != nil {
		t.Errorf("no memory.swap.max (no swap accounting): Unified %v", r.Unified)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	systemdSwapLimit(r, l, dir)
	if v := r.Unified["memory.swap.max"]; v != "0" {
		t.Errorf("memory.swap.max %q, want 0", v)
	}
	if r.Memory != 256<<20 || r.MemorySwap != 256<<20 {
		t.Errorf("memory %d, memory+swap %d", r.Memory, r.MemorySwap)
	}
	un := tenantResources(Limits{}, false)
	systemdSwapLimit(un, Limits{}, dir)
	if un.Unified != nil {
		t.Errorf("no memory limit: Unified %v", un.Unified)
	}
}

package tenantcg

// Tenant-wide parent cgroups (LVE-style aggregate limits).
//
// Every container of tenant T lives beneath T's parent cgroup ("/tenantrun/T" with
// cgroupfs, "tenantrun-T.slice" with systemd). The parent carries the tenant's aggregate
// limits, so a tenant with 50 containers still gets one tenant's share. The parent is
// created on demand by create (Ensure) and removed by delete once it has no
// child cgroup left (Release).
//
// Locking, all flock(2) on files under LockDir (they die with the process):
//   - <key>.lock, per tenant parent: held SHARED by every create from Ensure
//     until its unlock (called once the container's own cgroup exists and holds its init);
//     release takes it EXCLUSIVE and NON-BLOCKING: if a create holds it, that create is
//     about to put a child into the parent, so the parent must stay (and that create, if it
//     fails, calls Release itself once unlocked).
//   - .setup.lock, global: held EXCLUSIVE for the few milliseconds of mkdir+write and of
//     rmdir, so that the record of which directories tenantrun created stays consistent and
//     two tenants never race on the shared top directory ("/tenantrun").
// A tenant's lock file is removed by the release that removed its parent, while holding it
// exclusively; whoever locks a lock file checks afterwards that the path still names the
// file it locked, and retries otherwise.
//
// "Never touch cgroups you did not create": with cgroupfs, Ensure records in
// LockDir/created.json every directory it created (the tenant parent and, if it made
// it, the top "/tenantrun" in every hierarchy); Release removes only recorded
// directories, deepest first, and only with rmdir(2), which the kernel refuses for a cgroup
// that still has children or tasks. A pre-existing directory gets the limits written but is
// never removed. With systemd the parent is a transient slice unit that tenantrun started;
// release stops it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/cgroups/systemd"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// LockDir holds the per-tenant locks and the record of created directories.
// A variable so tests can use their own.
var LockDir = "/run/tenantrun-tenants"

// defaultTenantCPUPeriod is the CFS period used when limits give a quota without one.
const defaultTenantCPUPeriod = 100000

// Limits are a tenant's aggregate limits (zero = not limited).
type Limits struct {
	MemoryBytes int64 // memory (and memory+swap where the controller has it, so swap cannot bypass it)
	Pids        int64
	CPUQuota    int64 // µs per CPUPeriod
	CPUPeriod   uint64
	BlkioWeight uint16 // where the controller exists
	IO          IOLimits
	// CountersDir is where the tenant's fault counters are kept (faults.go); "" keeps the
	// last one recorded (or the default).
	CountersDir string
}

// IOLimits are a tenant's aggregate block I/O throttles on Devices (each device on its
// own, as the kernel throttles). A value type, so a parent's stamp compares with ==.
type IOLimits struct {
	ReadBPS, WriteBPS, ReadIOPS, WriteIOPS uint64 // 0: not limited
	// Devices is "major:minor" of each device, comma-separated in ascending order
	// (IODevices makes it); the parent keeps the throttles of devices earlier creates set.
	Devices string
}

// IODevices is the Devices string of devs.
func IODevices(devs []hardening.BlockDev) string {
	ks := make([]string, 0, len(devs))
	for _, d := range devs {
		ks = append(ks, fmt.Sprintf("%d:%d", d.Major, d.Minor))
	}
	sort.Strings(ks)
	return strings.Join(slices.Compact(ks), ",")
}

// throttles are l's cgroup entries. Only limits that are set: the v2 io.max refuses a
// rate of 0 (ERANGE), and a limit the operator removed is dropped from the parent when
// the tenant's last container is gone and the parent with it.
func (l IOLimits) throttles(r *cgroups.Resources) {
	if l.Devices == "" {
		return
	}
	for _, dev := range strings.Split(l.Devices, ",") {
		var ma, mi int64
		if _, err := fmt.Sscanf(dev, "%d:%d", &ma, &mi); err != nil {
			continue
		}
		if l.ReadBPS > 0 {
			r.BlkioThrottleReadBpsDevice = append(r.BlkioThrottleReadBpsDevice, cgroups.NewThrottleDevice(ma, mi, l.ReadBPS))
		}
		if l.WriteBPS > 0 {
			r.BlkioThrottleWriteBpsDevice = append(r.BlkioThrottleWriteBpsDevice, cgroups.NewThrottleDevice(ma, mi, l.WriteBPS))
		}
		if l.ReadIOPS > 0 {
			r.BlkioThrottleReadIOPSDevice = append(r.BlkioThrottleReadIOPSDevice, cgroups.NewThrottleDevice(ma, mi, l.ReadIOPS))
		}
		if l.WriteIOPS > 0 {
			r.BlkioThrottleWriteIOPSDevice = append(r.BlkioThrottleWriteIOPSDevice, cgroups.NewThrottleDevice(ma, mi, l.WriteIOPS))
		}
	}
}

// TenantLimits are the aggregate limits of tenant t's parent: its [quota], with the I/O
// throttles on devs (the devices behind this create's rootfs and the tenant's bind roots).
func TenantLimits(t *hardening.Tenant, devs []hardening.BlockDev) Limits {
	q := t.Quota
	l := LimitsFromQuota(q.Memory, q.Pids, q.CPUs)
	l.BlkioWeight = q.IOWeight
	if q.HasIOLimits() {
		l.IO = IOLimits{ReadBPS: q.IOReadBPS, WriteBPS: q.IOWriteBPS, ReadIOPS: q.IOReadIOPS,
			WriteIOPS: q.IOWriteIOPS, Devices: IODevices(devs)}
	}
	return l
}

// LimitsFromQuota converts a tenant quota (memory bytes, pids, CPUs as a fraction of
// one CPU each) into aggregate cgroup limits. Zero or negative values mean "not limited".
func LimitsFromQuota(memory, pids int64, cpus float64) Limits {
	l := Limits{}
	if memory > 0 {
		l.MemoryBytes = memory
	}
	if pids > 0 {
		l.Pids = pids
	}
	if cpus > 0 && !math.IsNaN(cpus) && !math.IsInf(cpus, 0) {
		l.CPUPeriod = defaultTenantCPUPeriod
		q := int64(math.Round(cpus * defaultTenantCPUPeriod))
		if q < 1000 { // the kernel's minimum quota is 1 ms
			q = 1000
		}
		l.CPUQuota = q
	}
	return l
}

// tenantResources turns limits into what the cgroup managers write. A zero limit is
// written as "unlimited" (not left untouched), so that an update that lifts a limit
// takes effect on an existing parent. weightOK says whether an I/O weight file exists.
func tenantResources(l Limits, weightOK bool) *cgroups.Resources {
	r := &cgroups.Resources{SkipDevices: true} // device rules belong to the containers, never to the parent
	if l.MemoryBytes > 0 {
		r.Memory = l.MemoryBytes
		r.MemorySwap = l.MemoryBytes // memory+swap == memory: swap cannot bypass the limit (v2: memory.swap.max 0)
	} else {
		r.Memory = -1
		r.MemorySwap = -1
	}
	pids := int64(-1) // "max"
	if l.Pids > 0 {
		pids = l.Pids
	}
	r.PidsLimit = &pids
	if l.CPUQuota > 0 {
		r.CpuQuota = l.CPUQuota
		r.CpuPeriod = l.CPUPeriod
		if r.CpuPeriod == 0 {
			r.CpuPeriod = defaultTenantCPUPeriod
		}
	} else {
		r.CpuQuota = -1
	}
	if weightOK && l.BlkioWeight != 0 {
		r.BlkioWeight = l.BlkioWeight
	}
	l.IO.throttles(r)
	return r
}

// systemdSwapLimit makes the systemd driver cap the tenant slice's swap on cgroup v2. The
// manager sends MemorySwapMax only for a non-zero swap limit (opencontainers/cgroups
// genV2ResourcesProperties: memory+swap == memory converts to swap 0, read as "unset"), so the
// slice kept MemorySwapMax=infinity and systemd wrote memory.swap.max back to max whenever it
// realized the slice: the tenant aggregate did not cap swap as it does under cgroupfs. As a
// unified resource it becomes MemorySwapMax=0 (and the file write). dir is the slice's v2
// directory; without swap accounting (no memory.swap.max there) nothing is added.
func systemdSwapLimit(r *cgroups.Resources, l Limits, dir string) {
	if l.MemoryBytes <= 0 || dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err != nil {
		return
	}
	if r.Unified == nil {
		r.Unified = map[string]string{}
	}
	r.Unified["memory.swap.max"] = "0"
}

// systemdIOWeight gives a new tenant slice its io_weight as the IOWeight property on cgroup
// v2: the driver sends no I/O weight there, so systemd wrote io.weight back to "default 100"
// whenever it realized the slice (a new scope below it), and the tenant's share was lost
// under --systemd-cgroup. Properties go with the unit's start: a changed io_weight reaches
// an existing slice when it is made again (the tenant's last container gone).
func systemdIOWeight(cg *cgroups.Cgroup, l Limits) {
	if !cg.Systemd || l.BlkioWeight == 0 || !cgroups.IsCgroup2UnifiedMode() {
		return
	}
	cg.SystemdProps = append(cg.SystemdProps, systemdDbus.Property{Name: "IOWeight",
		Value: godbus.MakeVariant(cgroups.ConvertBlkIOToIOWeightValue(l.BlkioWeight))})
}

// validateTenantParent checks a parent name before anything is created from it.
func validateTenantParent(parent string, systemd bool) error {
	if systemd {
		if strings.ContainsAny(parent, "/:") || !strings.HasSuffix(parent, ".slice") || parent == "-.slice" {
			return fmt.Errorf("tenant cgroup parent %q: with systemd it must be a slice name like tenantrun-t1.slice", parent)
		}
		if _, err := ExpandSlice(parent); err != nil {
			return fmt.Errorf("tenant cgroup parent %q: %w", parent, err)
		}
		return nil
	}
	if !filepath.IsAbs(parent) || filepath.Clean(parent) != parent || parent == "/" {
		return fmt.Errorf("tenant cgroup parent %q: must be a clean absolute path below / (like /tenantrun/t1)", parent)
	}
	for _, c := range strings.Split(parent[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("tenant cgroup parent %q: invalid component %q", parent, c)
		}
	}
	return nil
}

// SliceName is the systemd slice of a tenant's parent (hardening.SystemdTenantSlice:
// "<top>-<tenant>.slice" with each "-" escaped, so tenant "a-b" is not nested in tenant "a").
func SliceName(top, tenant string) string { return hardening.SystemdTenantSlice(top, tenant) }

func UnescapeDash(s string) string { return strings.ReplaceAll(s, `\x2d`, "-") }

// ExpandSlice is systemd's slice → cgroup path mapping
// ("tenantrun-t1.slice" → "/tenantrun.slice/tenantrun-t1.slice").
func ExpandSlice(slice string) (string, error) { return systemd.ExpandSlice(slice) }

// SliceParent returns the slice a slice unit lives in ("tenantrun-t1.slice" →
// "tenantrun.slice", "t1.slice" → "-.slice", the root slice).
func SliceParent(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "" || name == "-" {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return "-.slice", nil
	}
	if i == 0 || i == len(name)-1 {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	return name[:i] + ".slice", nil
}

// ParentInner is the parent's path relative to every hierarchy's root.
func ParentInner(parent string, systemd bool) (string, error) {
	if err := validateTenantParent(parent, systemd); err != nil {
		return "", err
	}
	if systemd {
		return ExpandSlice(parent)
	}
	return parent, nil
}

// tenantCgroupConfig is the cgroups configuration of a tenant parent: with cgroupfs an
// absolute Path, with systemd a slice unit (Name) in its parent slice (Parent), which the
// systemd driver starts with Wants= on the parent slice.
func tenantCgroupConfig(parent string, systemd bool, r *cgroups.Resources) (*cgroups.Cgroup, error) {
	if err := validateTenantParent(parent, systemd); err != nil {
		return nil, err
	}
	if r == nil {
		r = &cgroups.Resources{SkipDevices: true}
	}
	if !systemd {
		return &cgroups.Cgroup{Path: parent, Resources: r}, nil
	}
	p, err := SliceParent(parent)
	if err != nil {
		return nil, err
	}
	return &cgroups.Cgroup{Name: parent, Parent: p, Systemd: true, Resources: r}, nil
}

// tenantLockKey maps a parent to a file name (injective: path-escaped, with the driver).
func tenantLockKey(parent string, systemd bool) string {
	k := "fs_" + url.PathEscape(strings.TrimPrefix(parent, "/"))
	if systemd {
		k = "sd_" + url.PathEscape(parent)
	}
	return k
}

// In-process bookkeeping: a release asked for while this same process still holds the
// parent's shared lock (a create that failed before calling unlock) is done at unlock.
var tenantHeld = struct {
	sync.Mutex
	n       map[string]int
	pending map[string]*parentRef
}{n: map[string]int{}, pending: map[string]*parentRef{}}

// parentRef names a tenant parent: its path and whether the systemd driver made it.
type parentRef struct {
	parent  string
	systemd bool
}

func tenantLockFile(path string, how int) (*os.File, error) {
	// A release removes a tenant's lock file (holding it exclusively) once the parent is
	// gone, so a lock taken on a file that was unlinked meanwhile is no lock: retry on the
	// file the path names now.
	for attempt := 0; ; attempt++ {
		f, err := fsutil.LockFile(path, how)
		if err != nil {
			return nil, err
		}
		var held, now unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &held); err != nil {
			f.Close()
			return nil, err
		}
		if err := unix.Stat(path, &now); err == nil && now.Ino == held.Ino && now.Dev == held.Dev {
			return f, nil
		}
		f.Close()
		if attempt >= 100 {
			return nil, fmt.Errorf("%s keeps being replaced", path)
		}
	}
}

func tenantLockDirReady() error {
	if err := os.MkdirAll(LockDir, 0o700); err != nil {
		return fmt.Errorf("tenant locks: %w", err)
	}
	return nil
}

// Ensure creates (or updates) the tenant's parent cgroup `parent` ("/tenantrun/t1",
// or "tenantrun-t1.slice" with systemd) in every hierarchy with the limits, and returns an unlock
// func: until unlock is called a per-tenant lock (flock on a file under /run/tenantrun-tenants/)
// is held, so Release cannot remove the parent while a create is between this call
// and the moment the container's own cgroup exists.
func Ensure(parent string, systemd bool, l Limits) (unlock func(), err error) {
	if err := validateTenantParent(parent, systemd); err != nil {
		return nil, err
	}
	if err := tenantLockDirReady(); err != nil {
		return nil, err
	}
	key := tenantLockKey(parent, systemd)
	tl, err := tenantLockFile(filepath.Join(LockDir, key+".lock"), unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("tenant cgroup %s: lock: %w", parent, err)
	}
	tenantHeld.Lock()
	tenantHeld.n[key]++
	tenantHeld.Unlock()
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			tl.Close()
			tenantHeld.Lock()
			tenantHeld.n[key]--
			var pend *parentRef
			if tenantHeld.n[key] == 0 {
				delete(tenantHeld.n, key)
				pend = tenantHeld.pending[key]
				delete(tenantHeld.pending, key)
			}
			tenantHeld.Unlock()
			if pend != nil {
				Release(pend.parent, pend.systemd)
			}
		})
	}
	setCountersDir(parent, systemd, l.CountersDir)
	stamp := filepath.Join(LockDir, key+".limits")
	if !systemd && tenantParentCurrent(stamp, l) {
		return unlock, nil
	}
	_ = os.Remove(stamp)
	if err := setupTenantParent(parent, systemd, l); err != nil {
		unlock()
		return nil, err
	}
	if !systemd {
		writeTenantStamp(stamp, parent, systemd, l)
	}
	return unlock, nil
}

// A stamp records that the tenant's parent was set up with these limits in
// these directories. While the per-tenant lock is held shared nobody removes
// the parent, so a create whose stamp matches and whose directories all exist
// skips the setup (manager, mkdir in every hierarchy, writing every limit
// under the machine-wide setup lock: ≈ 2.5–2.9 ms CPU per create measured).
type tenantStamp struct {
	Limits Limits   `json:"limits"`
	Paths  []string `json:"paths"`
}

func tenantParentCurrent(stamp string, l Limits) bool {
	data, err := os.ReadFile(stamp)
	if err != nil {
		return false
	}
	var st tenantStamp
	if json.Unmarshal(data, &st) != nil || st.Limits != l || len(st.Paths) == 0 {
		return false
	}
	for _, p := range st.Paths {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func writeTenantStamp(stamp, parent string, systemd bool, l Limits) {
	cg, err := tenantCgroupConfig(parent, systemd, nil)
	if err != nil {
		return
	}
	m, err := manager.New(cg)
	if err != nil {
		return
	}
	st := tenantStamp{Limits: l}
	for _, p := range m.GetPaths() {
		st.Paths = append(st.Paths, p)
	}
	sort.Strings(st.Paths)
	if data, err := json.Marshal(st); err == nil {
		_ = fsutil.WriteFileAtomic(stamp, data, 0o600)
	}
}

func setupTenantParent(parent string, systemd bool, l Limits) error {
	sl, err := tenantLockFile(filepath.Join(LockDir, ".setup.lock"), unix.LOCK_EX)
	if err != nil {
		return fmt.Errorf("tenant cgroup %s: lock: %w", parent, err)
	}
	defer sl.Close()

	inner, err := ParentInner(parent, systemd)
	if err != nil {
		return err
	}
	cg, err := tenantCgroupConfig(parent, systemd, tenantResources(l, false))
	if err != nil {
		return err
	}
	systemdIOWeight(cg, l)
	m, err := manager.New(cg)
	if err != nil {
		return fmt.Errorf("tenant cgroup %s: %w", parent, err)
	}
	paths := m.GetPaths()
	// Which directories exist before: those made now are tenantrun's (recorded below).
	cands := candidateDirs(paths, inner)
	existed := map[string]bool{}
	for _, d := range cands {
		if _, err := os.Stat(d); err == nil {
			existed[d] = true
		}
	}
	existedBefore := len(paths) > 0
	for _, p := range paths {
		if !existed[p] {
			existedBefore = false
		}
	}
	if err := m.Apply(-1); err != nil {
		rollbackCreated(cands, existed)
		return fmt.Errorf("tenant cgroup %s: creating: %w", parent, err)
	}
	if !systemd {
		// Apply skips hierarchies it has nothing to set in (devices, with SkipDevices), but
		// libcontainer creates the container's cgroup in every one: make the parent there
		// too, so that it is tenantrun's (recorded) and removed with the rest.
		for _, p := range paths {
			if err := os.MkdirAll(p, 0o755); err != nil {
				rollbackCreated(cands, existed)
				return fmt.Errorf("tenant cgroup %s: creating: %w", parent, err)
			}
		}
	}
	var made []string
	for _, d := range cands {
		if existed[d] {
			continue
		}
		if _, err := os.Stat(d); err == nil {
			made = append(made, d)
		}
	}
	if !systemd && len(made) > 0 {
		if err := recordCreated(made, nil); err != nil {
			rollbackCreated(cands, existed)
			return fmt.Errorf("tenant cgroup %s: %w", parent, err)
		}
	}
	if err := ensureMemoryHierarchy(paths, existed); err != nil {
		undoSetup(m, systemd, cands, existed, made)
		return fmt.Errorf("tenant cgroup %s: %w", parent, err)
	}
	// Set writes via the same manager: the resources it was built with.
	weightOK := ioWeightSupported(paths)
	if l.BlkioWeight != 0 && !weightOK {
		logrus.Warnf("tenant cgroup %s: io_weight %d has no effect here: no I/O weight file (blkio.weight, io.weight or their bfq forms; the disks' I/O scheduler has no weights)", parent, l.BlkioWeight)
	}
	*cg.Resources = *tenantResources(l, weightOK)
	if systemd {
		systemdSwapLimit(cg.Resources, l, paths[""])
	}
	if err := m.Set(cg.Resources); err != nil {
		if !existedBefore {
			undoSetup(m, systemd, cands, existed, made)
			return fmt.Errorf("tenant cgroup %s: setting limits: %w", parent, err)
		}
		// An existing parent keeps the limits it had (for example the operator lowered a
		// tenant's cpus below a running container's quota, which cgroup v1 refuses, or
		// memory below current usage). Per-container limits still apply; say it loudly.
		logrus.Warnf("tenant cgroup %s: updating the aggregate limits failed, the previous ones stay: %v", parent, err)
	}
	return nil
}

// candidateDirs lists, for every hierarchy path of the parent, the directories from the
// first component below the hierarchy's root down to the parent itself.
func candidateDirs(paths map[string]string, inner string) []string {
	seen := map[string]bool{}
	var out []string
	comps := strings.Split(strings.Trim(inner, "/"), "/")
	for _, p := range paths {
		base, ok := strings.CutSuffix(p, inner)
		if !ok || base == "" {
			continue
		}
		cur := base
		for _, c := range comps {
			cur = filepath.Join(cur, c)
			if !seen[cur] {
				seen[cur] = true
				out = append(out, cur)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ioWeightSupported reports whether the I/O controller has a weight file here.
func ioWeightSupported(paths map[string]string) bool {
	for k, p := range paths {
		var files []string
		switch k {
		case "blkio":
			files = []string{"blkio.weight", "blkio.bfq.weight"}
		case "":
			if cgroups.IsCgroup2UnifiedMode() {
				files = []string{"io.weight", "io.bfq.weight"}
			}
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(p, f)); err == nil {
				return true
			}
		}
	}
	return false
}

// ensureMemoryHierarchy turns on memory.use_hierarchy (cgroup v1) in directories tenantrun
// just created, so the parent's limit covers its children. Kernels since 5.x only have
// hierarchical mode (the file reads 1); older ones default to the parent's value.
func ensureMemoryHierarchy(paths map[string]string, existed map[string]bool) error {
	p, ok := paths["memory"]
	if !ok || cgroups.IsCgroup2UnifiedMode() {
		return nil
	}
	v, err := os.ReadFile(filepath.Join(p, "memory.use_hierarchy"))
	if err != nil || strings.TrimSpace(string(v)) == "1" {
		return nil
	}
	if existed[p] {
		return fmt.Errorf("%s has memory.use_hierarchy=0: the tenant's memory limit would not cover its containers", p)
	}
	if err := os.WriteFile(filepath.Join(p, "memory.use_hierarchy"), []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling memory.use_hierarchy in %s: %w", p, err)
	}
	return nil
}

func undoSetup(m cgroups.Manager, systemd bool, cands []string, existed map[string]bool, made []string) {
	if systemd {
		if len(made) > 0 || !anyExisted(existed) {
			_ = m.Destroy()
		}
		return
	}
	rollbackCreated(cands, existed)
	_ = recordCreated(nil, made)
}

func anyExisted(m map[string]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}

// rollbackCreated removes (deepest first) the candidate directories that did not exist before.
func rollbackCreated(cands []string, existed map[string]bool) {
	for i := len(cands) - 1; i >= 0; i-- {
		if !existed[cands[i]] {
			_ = unix.Rmdir(cands[i])
		}
	}
}

// The record of directories tenantrun created (absolute paths), under .setup.lock.
type createdRecord struct {
	Dirs []string `json:"dirs"`
}

func createdRecordPath() string { return filepath.Join(LockDir, "created.json") }

func readCreated() (map[string]bool, error) {
	out := map[string]bool{}
	data, err := os.ReadFile(createdRecordPath())
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var r createdRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", createdRecordPath(), err)
	}
	for _, d := range r.Dirs {
		out[d] = true
	}
	return out, nil
}

// recordCreated adds and removes directories in the record (caller holds .setup.lock).
func recordCreated(add, remove []string) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	cur, err := readCreated()
	if err != nil {
		return err
	}
	for _, d := range add {
		cur[d] = true
	}
	for _, d := range remove {
		delete(cur, d)
	}
	r := createdRecord{Dirs: []string{}}
	for d := range cur {
		r.Dirs = append(r.Dirs, d)
	}
	sort.Strings(r.Dirs)
	data, _ := json.Marshal(r)
	if err := fsutil.WriteFileAtomic(createdRecordPath(), data, 0o600); err != nil {
		return fmt.Errorf("recording created cgroups: %w", err)
	}
	return nil
}

// Release removes the tenant's parent cgroup (every hierarchy) once it has no
// child cgroups left, under the same lock; never removes a parent that still has children.
func Release(parent string, systemd bool) {
	if parent == "" {
		return
	}
	if err := validateTenantParent(parent, systemd); err != nil {
		logrus.Warnf("not releasing tenant cgroup: %v", err)
		return
	}
	key := tenantLockKey(parent, systemd)
	tenantHeld.Lock()
	if tenantHeld.n[key] > 0 {
		// This process is itself between Ensure and unlock: do it at unlock.
		tenantHeld.pending[key] = &parentRef{parent, systemd}
		tenantHeld.Unlock()
		return
	}
	tenantHeld.Unlock()
	if _, err := os.Stat(LockDir); err != nil {
		return // nothing was ever created by tenantrun on this boot
	}
	tl, err := tenantLockFile(filepath.Join(LockDir, key+".lock"), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			logrus.Debugf("tenant cgroup %s: a create is in progress, keeping it", parent)
		} else {
			logrus.Warnf("tenant cgroup %s: lock: %v", parent, err)
		}
		return
	}
	defer tl.Close()
	sl, err := tenantLockFile(filepath.Join(LockDir, ".setup.lock"), unix.LOCK_EX)
	if err != nil {
		logrus.Warnf("tenant cgroup %s: lock: %v", parent, err)
		return
	}
	defer sl.Close()
	gone, err := removeTenantParent(parent, systemd)
	if err != nil {
		logrus.Warnf("tenant cgroup %s: %v", parent, err)
	}
	if gone {
		// Still holding it exclusively: a create waiting on this file retries on a new one.
		_ = os.Remove(filepath.Join(LockDir, key+".limits"))
		_ = os.Remove(countersFile(parent, systemd))
		_ = os.Remove(filepath.Join(LockDir, key+".lock"))
	}
}

// GC releases every tenant parent tenantrun ever locked on this boot (one lock
// file each under LockDir): the ones left empty by a create killed between
// Ensure and the container's cgroup, whose tenant has no container left to
// delete. Parents with children, or with a create in flight, stay. For `gc`.
func GC() {
	ents, err := os.ReadDir(LockDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		var s parentRef
		switch {
		case strings.HasPrefix(name, "fs_"):
			p, err := url.PathUnescape(name[3:])
			if err != nil {
				continue
			}
			s.parent = "/" + p
		case strings.HasPrefix(name, "sd_"):
			p, err := url.PathUnescape(name[3:])
			if err != nil {
				continue
			}
			s.parent, s.systemd = p, true
		default:
			continue
		}
		if tenantLockKey(s.parent, s.systemd) != name {
			continue // not a name tenantrun made
		}
		Release(s.parent, s.systemd)
	}
}

// removeTenantParent does the removal; the caller holds both locks. gone reports that the
// parent no longer exists in any hierarchy.
func removeTenantParent(parent string, systemd bool) (gone bool, err error) {
	inner, err := ParentInner(parent, systemd)
	if err != nil {
		return false, err
	}
	cg, err := tenantCgroupConfig(parent, systemd, nil)
	if err != nil {
		return false, err
	}
	m, err := manager.New(cg)
	if err != nil {
		return false, err
	}
	paths := m.GetPaths()
	for _, p := range paths {
		if dirHasSubdir(p) {
			logrus.Debugf("tenant cgroup %s: %s still has child cgroups, keeping it", parent, p)
			return false, nil
		}
	}
	// Its counters go to the tenant's record first (faults.go); back if it stays.
	undo := retireParent(parent, systemd)
	defer func() {
		if !gone {
			undo()
		}
	}()
	if systemd {
		// A transient slice tenantrun started; stopping it removes its cgroups.
		if !m.Exists() {
			return true, nil
		}
		if err := m.Destroy(); err != nil {
			return false, err
		}
		return true, nil
	}
	created, err := readCreated()
	if err != nil {
		return false, err
	}
	cands := candidateDirs(paths, inner)
	var removed []string
	var errs []string
	for i := len(cands) - 1; i >= 0; i-- { // deepest first
		d := cands[i]
		if !created[d] {
			continue // not ours: never removed
		}
		switch err := unix.Rmdir(d); {
		case err == nil, errors.Is(err, unix.ENOENT):
			removed = append(removed, d)
		case errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY):
			// A shared ancestor (the top "/tenantrun") with other tenants in it, or a
			// cgroup with tasks: it stays, and so does its record.
			if strings.HasSuffix(d, inner) {
				errs = append(errs, fmt.Sprintf("%s: %v", d, err))
			}
		default:
			errs = append(errs, fmt.Sprintf("%s: %v", d, err))
		}
	}
	if err := recordCreated(nil, removed); err != nil {
		errs = append(errs, err.Error())
	}
	gone = true
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			gone = false
		}
	}
	if len(errs) > 0 {
		return gone, fmt.Errorf("removing: %s", strings.Join(errs, "; "))
	}
	return gone, nil
}

func dirHasSubdir(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}

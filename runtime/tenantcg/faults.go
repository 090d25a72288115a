package tenantcg

// Counters that outlive containers.
//
// The kernel keeps a tenant's counters (CPU time and throttling, memory limit hits and OOM
// kills, refused forks, I/O done) in cgroups, and some of them only in the cgroup where
// the event happened: on cgroup v1 an OOM kill or a refused fork is counted in the
// container's own cgroup, so deleting the container lost it, and removing the tenant parent
// with its last container lost everything. Invariant: a tenant's counter as `tenants` reports
// it never goes down.
//
// The mechanism: a record per tenant parent under FaultDir keeps the counts retired from
// cgroups that are going away, and names those cgroups (by inode, so a new container or
// parent of the same name is not confused with them) while they still exist. A reading is
// the record's counts plus the live figures of every cgroup the record does not name.
// Retiring a cgroup moves exactly what it adds to the live figure into the record and names
// it, in one atomic write under the record's lock: before and after, the sum is the same,
// and once the cgroup is gone nothing changes. delete retires the container's cgroup just
// before libcontainer removes it; Release retires the parent before removing it (and puts
// the record back if the parent stays). The record lives on disk, so counts survive reboots
// of the counters' cgroups as well as of the runtime.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// countersFile (in LockDir, beside the tenant's lock) names the directory its records are
// in, as the config that created the parent said ([defaults] counters_dir): delete and the
// parent's release, which read no config, keep the counts where `tenants` reads them.
func countersFile(parent string, systemd bool) string {
	return filepath.Join(LockDir, tenantLockKey(parent, systemd)+".counters")
}

// setCountersDir records dir for the parent (Ensure), writing only when it changed.
func setCountersDir(parent string, systemd bool, dir string) {
	if dir == "" {
		return
	}
	if cur, err := os.ReadFile(countersFile(parent, systemd)); err == nil && string(cur) == dir {
		return
	}
	if err := fsutil.WriteFileAtomic(countersFile(parent, systemd), []byte(dir), 0o600); err != nil {
		logrus.Warnf("tenant cgroup %s: %v", parent, err)
	}
}

// countersDirOf is where the parent's record is: as Ensure recorded it, else the default.
func countersDirOf(parent string, systemd bool) string {
	if b, err := os.ReadFile(countersFile(parent, systemd)); err == nil && filepath.IsAbs(string(b)) {
		return string(b)
	}
	return hardening.DefaultCountersDir
}

type faultRecord struct {
	Parent   string             `json:"parent"`
	Systemd  bool               `json:"systemd,omitempty"`
	Retired  map[string]float64 `json:"retired"`
	Excluded []exclusion        `json:"excluded,omitempty"`
}

// exclusion names a cgroup whose counts are in Retired: a child of the parent by name, or
// the parent itself (Name ""), with its identity in Files.ref's hierarchy.
type exclusion struct {
	Name string `json:"name"`
	Ino  uint64 `json:"ino"`
}

// counter is one fault counter of Usage: these outlive the cgroups (usage totals, CPU time
// and bytes, are Prometheus counters whose resets a scraper handles; faults are what an
// operator is told about and bills by).
type counter struct {
	name string
	get  func(*Usage) float64
	add  func(*Usage, float64)
}

func u64(name string, p func(*Usage) *uint64) counter {
	return counter{name, func(u *Usage) float64 { return float64(*p(u)) }, func(u *Usage, v float64) { *p(u) += uint64(v) }}
}

func f64(name string, p func(*Usage) *float64) counter {
	return counter{name, func(u *Usage) float64 { return *p(u) }, func(u *Usage, v float64) { *p(u) += v }}
}

var counters = []counter{
	u64("cpu_throttled_periods", func(u *Usage) *uint64 { return &u.CPUThrottledPeriods }),
	f64("cpu_throttled_seconds", func(u *Usage) *float64 { return &u.CPUThrottledSeconds }),
	u64("memory_limit_hits", func(u *Usage) *uint64 { return &u.MemoryLimitHits }),
	u64("memory_high_hits", func(u *Usage) *uint64 { return &u.MemoryHighHits }),
	u64("oom_kills", func(u *Usage) *uint64 { return &u.OOMKills }),
	u64("pids_limit_hits", func(u *Usage) *uint64 { return &u.PidsLimitHits }),
	f64("io_pressure_seconds", func(u *Usage) *float64 { return &u.IOPressureSeconds }),
}

func faultPath(dir, parent string, systemd bool) string {
	return filepath.Join(dir, tenantLockKey(parent, systemd)+".json")
}

func readFaultRecord(path string) (*faultRecord, error) {
	r := &faultRecord{Retired: map[string]float64{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Retired == nil {
		r.Retired = map[string]float64{}
	}
	return r, nil
}

// inodeOf identifies a directory: its inode number, mixed with its birth time where the
// filesystem keeps one. cgroupfs (kernfs) inode numbers carry a generation and are not
// reused; on other filesystems (tests) a re-created directory may get the freed inode
// back, and its birth time tells it apart.
func inodeOf(p string) (uint64, bool) {
	var st unix.Statx_t
	if p == "" || unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_INO|unix.STATX_BTIME, &st) != nil {
		return 0, false
	}
	id := st.Ino
	if st.Mask&unix.STATX_BTIME != 0 {
		id ^= uint64(st.Btime.Sec)*1_000_000_007 ^ uint64(st.Btime.Nsec)<<20
	}
	return id, true
}

// skipper leaves out the cgroups r names that are still the very ones it named.
func (r *faultRecord) skipper(f Files) func(string) bool {
	ref := f.ref()
	live := map[string]bool{} // names (children; "" the parent) still the recorded cgroup
	for _, e := range r.Excluded {
		p := ref
		if e.Name != "" {
			p = filepath.Join(ref, e.Name)
		}
		if ino, ok := inodeOf(p); ok && ino == e.Ino {
			live[e.Name] = true
		}
	}
	if len(live) == 0 {
		return nil
	}
	parents := map[string]bool{}
	for _, d := range []string{f.Unified, f.Memory, f.Pids, f.CPU, f.CPUAcct, f.Blkio} {
		if d != "" {
			parents[d] = true
		}
	}
	return func(p string) bool {
		if p == ref {
			return live[""]
		}
		return parents[filepath.Dir(p)] && live[filepath.Base(p)]
	}
}

// prune drops exclusions of cgroups that are gone (or are new ones of the same name).
func (r *faultRecord) prune(f Files) {
	ref := f.ref()
	kept := r.Excluded[:0]
	for _, e := range r.Excluded {
		p := ref
		if e.Name != "" {
			p = filepath.Join(ref, e.Name)
		}
		if ino, ok := inodeOf(p); ok && ino == e.Ino {
			kept = append(kept, e)
		}
	}
	r.Excluded = kept
}

// ReadTenantUsage fills u with the tenant parent's figures: the live ones and, for the
// counters, what its record kept of cgroups that are gone. False if the parent does not
// exist (the counters are still filled from the record).
func ReadTenantUsage(dir, parent string, systemd bool, u *Usage) (Files, bool) {
	inner, err := ParentInner(parent, systemd)
	if err != nil {
		return Files{}, false
	}
	f := FilesFor(inner)
	rec, err := readFaultRecord(faultPath(dir, parent, systemd))
	if err != nil {
		logrus.Warnf("tenant cgroup %s: its counter record: %v", parent, err)
		rec = &faultRecord{Retired: map[string]float64{}}
	}
	present := readLive(f, u, rec.skipper(f))
	if len(rec.Retired) > 0 {
		u.RetiredFrom = faultPath(dir, parent, systemd)
		for _, c := range counters {
			if v := rec.Retired[c.name]; v > 0 {
				c.add(u, v)
			}
		}
	}
	return f, present
}

// updateRecord runs fn on the parent's record under its lock and writes the result.
func updateRecord(parent string, systemd bool, fn func(f Files, r *faultRecord) (changed bool)) error {
	inner, err := ParentInner(parent, systemd)
	if err != nil {
		return err
	}
	dir := countersDirOf(parent, systemd)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := faultPath(dir, parent, systemd)
	l, err := fsutil.LockFile(filepath.Join(dir, ".lock"), unix.LOCK_EX) // one for the directory: records are small and rare
	if err != nil {
		return err
	}
	defer l.Close()
	rec, err := readFaultRecord(path)
	if err != nil {
		return err
	}
	rec.Parent, rec.Systemd = parent, systemd
	f := FilesFor(inner)
	if !fn(f, rec) {
		return nil
	}
	if len(rec.Retired) == 0 && len(rec.Excluded) == 0 {
		return nil // nothing to keep: no record (and no file for a tenant that never faulted)
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// retire moves what the cgroup named by e adds to the live fault counters into the
// record, and names it; a cgroup that adds nothing is not named (nothing to keep).
func retire(f Files, r *faultRecord, e exclusion) bool {
	r.prune(f)
	var with, without Usage
	readLive(f, &with, r.skipper(f))
	r.Excluded = append(r.Excluded, e)
	readLive(f, &without, r.skipper(f))
	kept := false
	for _, c := range counters {
		if d := c.get(&with) - c.get(&without); d > 0 {
			r.Retired[c.name] += d
			kept = true
		}
	}
	if !kept {
		r.Excluded = r.Excluded[:len(r.Excluded)-1]
	}
	return true
}

// RetireContainer keeps the counts of a container's cgroup (child, a directory name below
// the tenant parent: the container id, or its scope unit) before it is removed.
func RetireContainer(parent string, systemd bool, child string) {
	if child == "" || child == "." || filepath.Base(child) != child {
		return
	}
	err := updateRecord(parent, systemd, func(f Files, r *faultRecord) bool {
		ino, ok := inodeOf(filepath.Join(f.ref(), child))
		if !ok {
			return false // already gone: whatever it counted went with it
		}
		return retire(f, r, exclusion{Name: child, Ino: ino})
	})
	if err != nil {
		logrus.Warnf("tenant cgroup %s: keeping the counters of %s: %v", parent, child, err)
	}
}

// retireParent keeps every count of the parent before it is removed; the returned undo
// puts the record back (for a parent that stays after all).
func retireParent(parent string, systemd bool) (undo func()) {
	var before []byte
	path := faultPath(countersDirOf(parent, systemd), parent, systemd)
	err := updateRecord(parent, systemd, func(f Files, r *faultRecord) bool {
		before, _ = os.ReadFile(path)
		ino, ok := inodeOf(f.ref())
		if !ok {
			return false
		}
		return retire(f, r, exclusion{Name: "", Ino: ino})
	})
	if err != nil {
		logrus.Warnf("tenant cgroup %s: keeping its counters: %v", parent, err)
	}
	return func() {
		_ = updateRecord(parent, systemd, func(Files, *faultRecord) bool {
			if before == nil {
				_ = os.Remove(path)
			} else {
				_ = fsutil.WriteFileAtomic(path, before, 0o600)
			}
			return false
		})
	}
}

// Recorded is a tenant parent that has a counter record.
type Recorded struct {
	Tenant, Parent string
	Systemd        bool
}

// Records lists the tenant parents with a record (their counters outlive them): `tenants`
// shows those tenants even with no container and no parent cgroup left.
func Records(dir string) []Recorded {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Recorded
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		r, err := readFaultRecord(filepath.Join(dir, e.Name()))
		if err != nil || r.Parent == "" || faultPath(dir, r.Parent, r.Systemd) != filepath.Join(dir, e.Name()) {
			continue
		}
		if t := TenantOfParent(r.Parent, r.Systemd); t != "" {
			out = append(out, Recorded{t, r.Parent, r.Systemd})
		}
	}
	return out
}

// TenantOfParent is the tenant a parent is named after: "/tenantrun/t1" → t1,
// "tenantrun-a\x2db.slice" → a-b.
func TenantOfParent(parent string, systemd bool) string {
	if !systemd {
		return filepath.Base(parent)
	}
	name, ok := strings.CutSuffix(parent, ".slice")
	i := strings.LastIndexByte(name, '-')
	if !ok || i < 0 {
		return ""
	}
	return UnescapeDash(name[i+1:])
}

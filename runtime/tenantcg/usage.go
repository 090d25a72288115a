package tenantcg

// The tenant parent's figures: which directories they are read from, the file readers, and
// the pids quota check a start makes.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// Usage is one tenant's row of `tenantrun tenants`. Limits of 0 mean "not limited". Figures come from the
// tenant parent cgroup's files (see docs/quotas.md for which file each one is).
type Usage struct {
	Tenant              string   `json:"tenant"`
	Cgroup              string   `json:"cgroup"`        // the parent: "/tenantrun/t1" or "tenantrun-t1.slice"
	CgroupVersion       int      `json:"cgroupVersion"` // 1 or 2
	Present             bool     `json:"present"`       // the parent cgroup exists
	Containers          int      `json:"containers"`    // containers of the tenant under --root
	CPUUsageSeconds     float64  `json:"cpuUsageSeconds"`
	CPUUsed             *float64 `json:"cpuUsed,omitempty"` // CPUs used over the sampling interval
	CPULimit            float64  `json:"cpuLimit"`          // CPUs (quota/period)
	CPUPeriods          uint64   `json:"cpuPeriods"`
	CPUThrottledPeriods uint64   `json:"cpuThrottledPeriods"`
	CPUThrottledSeconds float64  `json:"cpuThrottledSeconds"`
	MemoryBytes         uint64   `json:"memoryBytes"`
	MemoryLimitBytes    uint64   `json:"memoryLimitBytes"`
	MemoryMaxBytes      uint64   `json:"memoryMaxBytes"`  // peak usage (v1 max_usage_in_bytes, v2 memory.peak)
	MemoryLimitHits     uint64   `json:"memoryLimitHits"` // v1 memory.failcnt, v2 memory.events "max"
	MemoryHighHits      uint64   `json:"memoryHighHits"`  // v2 memory.events "high" (v1 has no memory.high)
	OOMKills            uint64   `json:"oomKills"`        // memory.oom_control / memory.events "oom_kill"
	Pids                uint64   `json:"pids"`            // pids.current
	PidsLimit           uint64   `json:"pidsLimit"`       // pids.max
	PidsLimitHits       uint64   `json:"pidsLimitHits"`   // pids.events "max"
	// Block I/O done by the tenant (every device): v1 blkio.throttle.io_service_bytes and
	// io_serviced summed over the subtree, v2 io.stat of the parent.
	IOReadBytes  uint64 `json:"ioReadBytes"`
	IOWriteBytes uint64 `json:"ioWriteBytes"`
	IOReadOps    uint64 `json:"ioReadOps"`
	IOWriteOps   uint64 `json:"ioWriteOps"`
	// IOPressureSeconds is the time some of the tenant's tasks waited for I/O (v2
	// io.pressure "some" total; 0 on v1): where its I/O limits hold it back.
	IOPressureSeconds float64 `json:"ioPressureSeconds"`
	// Disk space and inodes of the tenant's project on its bind roots (summed over them),
	// with the limits the filesystems enforce; 0 without a disk quota.
	DiskBytes      uint64 `json:"diskBytes"`
	DiskLimitBytes uint64 `json:"diskLimitBytes"`
	Inodes         uint64 `json:"inodes"`
	InodesLimit    uint64 `json:"inodesLimit"`
	// RetiredFrom says the counters include those of cgroups that are gone (deleted
	// containers, an earlier parent), kept in this record (faults.go).
	RetiredFrom string   `json:"retiredFrom,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	// Network are the tenant's network policy counters (packets), summed over the network
	// namespaces of its live containers under --root (runtime/netpolicy: egress_denied,
	// deny_set, ingress_denied, conn_cap, rate_cap, source_cap) and its drops between
	// tenants on the host (crossed); nil when it has no policed container.
	Network map[string]uint64 `json:"network,omitempty"`
	// NetworkByContainer are the same counters per container (a pod's members share their
	// namespace's: the container that listed it first carries them).
	NetworkByContainer map[string]map[string]uint64 `json:"networkByContainer,omitempty"`
}

// ReadUsage fills the figures of the cgroups as they are now; false if the parent cgroup
// does not exist.
func ReadUsage(f Files, u *Usage) bool { return readLive(f, u, nil) }

// readLive is ReadUsage, with skip (if not nil) leaving out cgroups of the subtree (the
// parent itself, or one of its children) whose counts a record already holds.
func readLive(f Files, u *Usage, skip func(dir string) bool) bool {
	if skip != nil && skip(f.ref()) {
		return f.ref() != "" && Exists(f.ref())
	}
	if f.V2 {
		d := f.Unified
		if _, err := os.Stat(d); err != nil {
			return false
		}
		st := ReadKV(filepath.Join(d, "cpu.stat"))
		u.CPUUsageSeconds = float64(st["usage_usec"]) / 1e6
		u.CPUPeriods = st["nr_periods"]
		u.CPUThrottledPeriods = st["nr_throttled"]
		u.CPUThrottledSeconds = float64(st["throttled_usec"]) / 1e6
		if fs := strings.Fields(ReadStr(filepath.Join(d, "cpu.max"))); len(fs) == 2 && fs[0] != "max" {
			q, _ := strconv.ParseFloat(fs[0], 64)
			p, _ := strconv.ParseFloat(fs[1], 64)
			if p > 0 {
				u.CPULimit = q / p
			}
		}
		u.MemoryBytes = ReadUint(filepath.Join(d, "memory.current"))
		u.MemoryLimitBytes = ReadLimit(filepath.Join(d, "memory.max"))
		u.MemoryMaxBytes = ReadUint(filepath.Join(d, "memory.peak"))
		ev := ReadKV(filepath.Join(d, "memory.events"))
		u.MemoryLimitHits = ev["max"]
		u.MemoryHighHits = ev["high"]
		u.OOMKills = ev["oom_kill"]
		u.Pids = ReadUint(filepath.Join(d, "pids.current"))
		u.PidsLimit = ReadLimit(filepath.Join(d, "pids.max"))
		u.PidsLimitHits = v2PidsLimitHits(d, skip)
		for _, line := range strings.Split(ReadStr(filepath.Join(d, "io.stat")), "\n") {
			for _, kv := range strings.Fields(line)[min(1, len(strings.Fields(line))):] {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					u.IOReadBytes += n
				case "wbytes":
					u.IOWriteBytes += n
				case "rios":
					u.IOReadOps += n
				case "wios":
					u.IOWriteOps += n
				}
			}
		}
		u.IOPressureSeconds = float64(readPressureTotal(filepath.Join(d, "io.pressure"))) / 1e6
		return true
	}
	present := false
	if d := f.CPUAcct; d != "" && Exists(d) {
		present = true
		u.CPUUsageSeconds = float64(ReadUint(filepath.Join(d, "cpuacct.usage"))) / 1e9
	}
	if d := f.CPU; d != "" && Exists(d) {
		present = true
		st := ReadKV(filepath.Join(d, "cpu.stat"))
		u.CPUPeriods = st["nr_periods"]
		u.CPUThrottledPeriods = st["nr_throttled"]
		u.CPUThrottledSeconds = float64(st["throttled_time"]) / 1e9
		q, err1 := strconv.ParseInt(ReadStr(filepath.Join(d, "cpu.cfs_quota_us")), 10, 64)
		p, err2 := strconv.ParseInt(ReadStr(filepath.Join(d, "cpu.cfs_period_us")), 10, 64)
		if err1 == nil && err2 == nil && q > 0 && p > 0 {
			u.CPULimit = float64(q) / float64(p)
		}
	}
	if d := f.Memory; d != "" && Exists(d) {
		present = true
		u.MemoryBytes = ReadUint(filepath.Join(d, "memory.usage_in_bytes"))
		u.MemoryLimitBytes = ReadLimit(filepath.Join(d, "memory.limit_in_bytes"))
		u.MemoryMaxBytes = ReadUint(filepath.Join(d, "memory.max_usage_in_bytes"))
		u.MemoryLimitHits = ReadUint(filepath.Join(d, "memory.failcnt"))
		// cgroup v1 counts an OOM kill only in the victim's own cgroup (no propagation up
		// the hierarchy, unlike v2's memory.events): sum the tenant's subtree.
		u.OOMKills = sumSubtreeKV(d, "memory.oom_control", "oom_kill", skip)
	}
	if d := f.Pids; d != "" && Exists(d) {
		present = true
		u.Pids = ReadUint(filepath.Join(d, "pids.current"))
		u.PidsLimit = ReadLimit(filepath.Join(d, "pids.max"))
		// v1 counts a refused fork in the forking task's cgroup: sum the subtree.
		u.PidsLimitHits = sumSubtreeKV(d, "pids.events", "max", skip)
	}
	if d := f.Blkio; d != "" && Exists(d) {
		// Each cgroup's own I/O (the _recursive files would lose a deleted child's).
		u.IOReadBytes, u.IOWriteBytes = sumSubtreeRW(d, "blkio.throttle.io_service_bytes", skip)
		u.IOReadOps, u.IOWriteOps = sumSubtreeRW(d, "blkio.throttle.io_serviced", skip)
	}
	return present
}

func ReadCPU(f Files) (float64, bool) {
	if f.V2 {
		st := ReadKV(filepath.Join(f.Unified, "cpu.stat"))
		v, ok := st["usage_usec"]
		return float64(v) / 1e6, ok
	}
	if f.CPUAcct == "" {
		return 0, false
	}
	s := ReadStr(filepath.Join(f.CPUAcct, "cpuacct.usage"))
	v, err := strconv.ParseUint(s, 10, 64)
	return float64(v) / 1e9, err == nil
}

// Files are the directories the figures are read from.
type Files struct {
	V2                                bool
	Unified                           string
	CPU, CPUAcct, Memory, Pids, Blkio string
}

// ref is the directory that stands for the parent (and, below it, for a child) when a
// record names cgroups by inode: the unified one, else the first v1 hierarchy there is.
func (f Files) ref() string {
	for _, d := range []string{f.Unified, f.Memory, f.Pids, f.CPU, f.CPUAcct, f.Blkio} {
		if d != "" {
			return d
		}
	}
	return ""
}

func FilesFor(inner string) Files {
	if cgroups.IsCgroup2UnifiedMode() {
		return Files{V2: true, Unified: filepath.Join("/sys/fs/cgroup", inner)}
	}
	var f Files
	for _, c := range []struct {
		name string
		dst  *string
	}{{"cpu", &f.CPU}, {"cpuacct", &f.CPUAcct}, {"memory", &f.Memory}, {"pids", &f.Pids}, {"blkio", &f.Blkio}} {
		if mnt, err := cgroups.FindCgroupMountpoint("", c.name); err == nil {
			*c.dst = filepath.Join(mnt, inner)
		}
	}
	return f
}

// --- cgroup file readers (missing files read as zero) -----------------------------------

// V2PidsLimitHits is a v2 tenant parent's count of forks refused by a pids limit. Kernels
// without pids.events.local (Debian 12's 6.1) count a refused fork in the forking task's own
// cgroup, whichever ancestor's limit refused it: the parent's pids.events stays 0 while its
// containers' have the hits. Newer kernels count it hierarchically in the parent. The larger
// of the parent's own count and its descendants' sum is right on both.
func V2PidsLimitHits(dir string) uint64 { return v2PidsLimitHits(dir, nil) }

func v2PidsLimitHits(dir string, skip func(string) bool) uint64 {
	own := ReadKV(filepath.Join(dir, "pids.events"))["max"]
	sub := sumSubtreeKV(dir, "pids.events", "max", skip) - own
	return max(own, sub)
}

// SumSubtreeKV sums key of file over dir and every cgroup below it (cgroup v1 event
// counters that the kernel keeps per cgroup only). Counts of containers already deleted
// are gone with their cgroups (the tenant's record keeps them: faults.go).
func SumSubtreeKV(dir, file, key string) uint64 { return sumSubtreeKV(dir, file, key, nil) }

func sumSubtreeKV(dir, file, key string, skip func(string) bool) uint64 {
	var sum uint64
	walkSubtree(dir, skip, func(p string) { sum += ReadKV(filepath.Join(p, file))[key] })
	return sum
}

// sumSubtreeRW sums the Read and Write lines of a v1 blkio stat file ("MAJ:MIN Read N")
// over the subtree.
func sumSubtreeRW(dir, file string, skip func(string) bool) (r, w uint64) {
	walkSubtree(dir, skip, func(p string) {
		for _, line := range strings.Split(ReadStr(filepath.Join(p, file)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			n, _ := strconv.ParseUint(f[2], 10, 64)
			switch f[1] {
			case "Read":
				r += n
			case "Write":
				w += n
			}
		}
	})
	return r, w
}

// walkSubtree calls fn for dir and every directory below it, leaving out those skip
// names (and what is below them).
func walkSubtree(dir string, skip func(string) bool, fn func(string)) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if skip != nil && p != dir && skip(p) {
			return filepath.SkipDir
		}
		fn(p)
		return nil
	})
}

// readPressureTotal is the "some" line's total (µs) of a PSI file.
func readPressureTotal(p string) uint64 {
	for _, line := range strings.Split(ReadStr(p), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "total="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				return n
			}
		}
	}
	return 0
}

func Exists(p string) bool { _, err := os.Stat(p); return err == nil }

func ReadStr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func ReadUint(p string) uint64 {
	v, _ := strconv.ParseUint(ReadStr(p), 10, 64)
	return v
}

// readLimit reads a limit file: "max" (v2) or a v1 "unlimited" value (≥ 2^62) read as 0.
func ReadLimit(p string) uint64 {
	s := ReadStr(p)
	if s == "" || s == "max" || s == "-1" {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v >= 1<<62 {
		return 0
	}
	return v
}

// readKV reads "key value" lines (cpu.stat, memory.events, pids.events, memory.oom_control).
func ReadKV(p string) map[string]uint64 {
	out := map[string]uint64{}
	data, err := os.ReadFile(p)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// minStartPids is about how many tasks starting a container takes from its tenant's pids
// quota: the nsexec stages and the Go runtime threads of `tenantrun init`, which stays
// until `start` (measured: a created container holds 5).
const minStartPids = 8

// PidsShortfall returns an error when the tenant's aggregate pids quota leaves no room
// to start another container. Without this check the start fails deep inside the init
// process (a Go runtime abort on pthread_create and "procReady not received"), which names
// neither the tenant nor the quota. Figures that cannot be read mean no error.
func PidsShortfall(tenant, parent string, systemd bool) error {
	inner, err := ParentInner(parent, systemd)
	if err != nil {
		return nil
	}
	f := FilesFor(inner)
	dir := f.Pids
	if f.V2 {
		dir = f.Unified
	}
	if dir == "" {
		return nil // no pids hierarchy
	}
	limit := ReadLimit(filepath.Join(dir, "pids.max"))
	if limit == 0 {
		return nil // "max", or not there
	}
	used := ReadUint(filepath.Join(dir, "pids.current"))
	if used+minStartPids <= limit {
		return nil
	}
	return fmt.Errorf("tenant %s has reached its process quota: %d of %d pids in use in %s, and starting a container needs about %d: "+
		"stop some of its containers or raise pids in [tenants.%s.quota] (`tenantrun tenants` shows usage)",
		tenant, used, limit, dir, minStartPids, tenant)
}

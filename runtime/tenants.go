package runtime

// `tenantrun tenants`: per-tenant usage against the tenant's aggregate limits, read from
// the tenant parent cgroups (like CloudLinux's lvetop). See docs/quotas.md.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/sirupsen/logrus"

	"github.com/tenantrun/tenantrun/hardening"
)

// TenantsOptions are the flags of `tenants`.
type TenantsOptions struct {
	Format   string        // table (default), json or prometheus
	WarnAt   float64       // warn when a quota is used at or above this fraction (0 disables)
	Interval time.Duration // CPU sampling window for "CPU used" (0: cumulative figures only)
	Output   string        // write here atomically (for node-exporter's textfile collector); "" = w
	Tenants  []string      // only these tenants ("" = all)
}

// DefaultWarnAt is the default early-warning threshold (80% of a quota).
const DefaultWarnAt = 0.8

// defaultTenantTops are the tops scanned for tenant parents that have no container under
// this --root (another engine's, or a leftover): hardening's default cgroup_parent.
var defaultTenantTops = []tenantTop{{"/tenantrun", false}, {"tenantrun.slice", true}}

type tenantTop struct {
	top     string
	systemd bool
}

// TenantUsage is one tenant's row. Limits of 0 mean "not limited". Figures come from the
// tenant parent cgroup's files (see docs/quotas.md for which file each one is).
type TenantUsage struct {
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
	OOMKills            uint64   `json:"oomKills"`        // memory.oom_control / memory.events "oom_kill"
	Pids                uint64   `json:"pids"`            // pids.current
	PidsLimit           uint64   `json:"pidsLimit"`       // pids.max
	PidsLimitHits       uint64   `json:"pidsLimitHits"`   // pids.events "max"
	Warnings            []string `json:"warnings,omitempty"`
}

// tenantCgroupFiles are the directories the figures are read from.
type tenantCgroupFiles struct {
	v2                         bool
	unified                    string
	cpu, cpuacct, memory, pids string
}

func tenantFilesFor(inner string) tenantCgroupFiles {
	if cgroups.IsCgroup2UnifiedMode() {
		return tenantCgroupFiles{v2: true, unified: filepath.Join("/sys/fs/cgroup", inner)}
	}
	var f tenantCgroupFiles
	for _, c := range []struct {
		name string
		dst  *string
	}{{"cpu", &f.cpu}, {"cpuacct", &f.cpuacct}, {"memory", &f.memory}, {"pids", &f.pids}} {
		if mnt, err := cgroups.FindCgroupMountpoint("", c.name); err == nil {
			*c.dst = filepath.Join(mnt, inner)
		}
	}
	return f
}

// Tenants prints every tenant's usage against its aggregate limits.
func Tenants(g *Global, o TenantsOptions, w io.Writer) error {
	switch o.Format {
	case "", "table", "json", "prometheus":
	default:
		return fmt.Errorf("--format %q: must be table, json or prometheus", o.Format)
	}
	if o.WarnAt < 0 || math.IsNaN(o.WarnAt) {
		return fmt.Errorf("--warn-at %v: must be a fraction like 0.8 (0 disables)", o.WarnAt)
	}
	rows, err := collectTenants(g, o)
	if err != nil {
		return err
	}
	if o.Output == "" {
		return writeTenants(w, o.Format, rows)
	}
	return writeTenantsAtomic(o.Output, func(f io.Writer) error { return writeTenants(f, o.Format, rows) })
}

func writeTenants(w io.Writer, format string, rows []TenantUsage) error {
	switch format {
	case "json":
		if rows == nil {
			rows = []TenantUsage{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "prometheus":
		return writeTenantsPrometheus(w, rows)
	default:
		return writeTenantsTable(w, rows)
	}
}

type tenantSource struct {
	parent  string
	systemd bool
}

func collectTenants(g *Global, o TenantsOptions) ([]TenantUsage, error) {
	root, err := g.stateRoot()
	if err != nil {
		return nil, err
	}
	cs, err := listContainers(g)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, t := range o.Tenants {
		want[t] = true
	}
	counts := map[string]int{}
	sources := map[string]tenantSource{}
	for _, c := range cs {
		if c.Tenant == "" || (len(want) > 0 && !want[c.Tenant]) {
			continue
		}
		counts[c.Tenant]++
		if _, ok := sources[c.Tenant]; ok {
			continue
		}
		if s, err := readSidecar(filepath.Join(root, c.ID)); err == nil && s.CgroupParent != "" {
			sources[c.Tenant] = tenantSource{s.CgroupParent, s.Systemd}
		}
	}
	// Parents without a container under this root (another engine's --root, a leftover):
	// scan the tops the operator's config and the containers name, and the default one.
	tops := append([]tenantTop(nil), defaultTenantTops...)
	if cfg, err := hardening.LoadConfig(g.ConfigPath); err == nil && cfg.Defaults.CgroupParent != "" {
		tops = append(tops, tenantTop{"/" + cfg.Defaults.CgroupParent, false}, tenantTop{hardening.SystemdEscapeDash(cfg.Defaults.CgroupParent) + ".slice", true})
	}
	for _, src := range sources {
		if src.systemd {
			if p, err := systemdSliceParent(src.parent); err == nil && p != "-.slice" {
				tops = append(tops, tenantTop{p, true})
			}
		} else if d := filepath.Dir(src.parent); d != "/" {
			tops = append(tops, tenantTop{d, false})
		}
	}
	seenTop := map[tenantTop]bool{}
	for _, t := range tops {
		if seenTop[t] {
			continue
		}
		seenTop[t] = true
		for name, src := range scanTenantTop(t.top, t.systemd) {
			if len(want) > 0 && !want[name] {
				continue
			}
			if _, ok := sources[name]; !ok {
				sources[name] = src
			}
		}
	}
	names := map[string]bool{}
	for n := range counts {
		names[n] = true
	}
	for n := range sources {
		names[n] = true
	}
	var rows []TenantUsage
	for n := range names {
		rows = append(rows, TenantUsage{Tenant: n, Containers: counts[n], CgroupVersion: 1})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Tenant < rows[j].Tenant })
	files := make([]tenantCgroupFiles, len(rows))
	for i := range rows {
		src, ok := sources[rows[i].Tenant]
		if !ok {
			continue
		}
		rows[i].Cgroup = src.parent
		inner, err := tenantParentInner(src.parent, src.systemd)
		if err != nil {
			continue
		}
		files[i] = tenantFilesFor(inner)
		if files[i].v2 {
			rows[i].CgroupVersion = 2
		}
		rows[i].Present = readTenantUsage(files[i], &rows[i])
	}
	if o.Interval > 0 {
		start := time.Now()
		before := make([]float64, len(rows))
		for i := range rows {
			before[i] = rows[i].CPUUsageSeconds
		}
		time.Sleep(o.Interval)
		el := time.Since(start).Seconds()
		for i := range rows {
			if !rows[i].Present {
				continue
			}
			if now, ok := readCPUUsage(files[i]); ok && now >= before[i] {
				used := (now - before[i]) / el
				rows[i].CPUUsed = &used
				rows[i].CPUUsageSeconds = now
			}
		}
	}
	for i := range rows {
		rows[i].Warnings = tenantWarnings(&rows[i], o.WarnAt)
		for _, w := range rows[i].Warnings {
			logrus.WithField("tenant", rows[i].Tenant).Warn(w)
		}
	}
	return rows, nil
}

// scanTenantTop lists the tenant parents under a top: "/tenantrun/<t>" or
// "tenantrun.slice/tenantrun-<t>.slice".
func scanTenantTop(top string, systemd bool) map[string]tenantSource {
	out := map[string]tenantSource{}
	inner := top
	if systemd {
		var err error
		if inner, err = systemdExpandSlice(top); err != nil {
			return out
		}
	}
	var dir string
	if cgroups.IsCgroup2UnifiedMode() {
		dir = filepath.Join("/sys/fs/cgroup", inner)
	} else if mnt, err := cgroups.FindCgroupMountpoint("", "memory"); err == nil {
		dir = filepath.Join(mnt, inner)
	} else {
		return out
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	prefix := strings.TrimSuffix(top, ".slice") + "-" // top as named (escaped) in the unit
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if systemd {
			name, ok := strings.CutSuffix(e.Name(), ".slice")
			if !ok {
				continue
			}
			if t, ok := strings.CutPrefix(name, prefix); ok && t != "" && !strings.Contains(t, "-") {
				out[systemdUnescapeDash(t)] = tenantSource{e.Name(), true}
			}
			continue
		}
		out[e.Name()] = tenantSource{filepath.Join(top, e.Name()), false}
	}
	return out
}

// readTenantUsage fills the figures; false if the parent cgroup does not exist.
func readTenantUsage(f tenantCgroupFiles, u *TenantUsage) bool {
	if f.v2 {
		d := f.unified
		if _, err := os.Stat(d); err != nil {
			return false
		}
		st := cgReadKV(filepath.Join(d, "cpu.stat"))
		u.CPUUsageSeconds = float64(st["usage_usec"]) / 1e6
		u.CPUPeriods = st["nr_periods"]
		u.CPUThrottledPeriods = st["nr_throttled"]
		u.CPUThrottledSeconds = float64(st["throttled_usec"]) / 1e6
		if fs := strings.Fields(cgReadStr(filepath.Join(d, "cpu.max"))); len(fs) == 2 && fs[0] != "max" {
			q, _ := strconv.ParseFloat(fs[0], 64)
			p, _ := strconv.ParseFloat(fs[1], 64)
			if p > 0 {
				u.CPULimit = q / p
			}
		}
		u.MemoryBytes = cgReadUint(filepath.Join(d, "memory.current"))
		u.MemoryLimitBytes = cgReadLimit(filepath.Join(d, "memory.max"))
		u.MemoryMaxBytes = cgReadUint(filepath.Join(d, "memory.peak"))
		ev := cgReadKV(filepath.Join(d, "memory.events"))
		u.MemoryLimitHits = ev["max"]
		u.OOMKills = ev["oom_kill"]
		u.Pids = cgReadUint(filepath.Join(d, "pids.current"))
		u.PidsLimit = cgReadLimit(filepath.Join(d, "pids.max"))
		u.PidsLimitHits = v2PidsLimitHits(d)
		return true
	}
	present := false
	if d := f.cpuacct; d != "" && cgExists(d) {
		present = true
		u.CPUUsageSeconds = float64(cgReadUint(filepath.Join(d, "cpuacct.usage"))) / 1e9
	}
	if d := f.cpu; d != "" && cgExists(d) {
		present = true
		st := cgReadKV(filepath.Join(d, "cpu.stat"))
		u.CPUPeriods = st["nr_periods"]
		u.CPUThrottledPeriods = st["nr_throttled"]
		u.CPUThrottledSeconds = float64(st["throttled_time"]) / 1e9
		q, err1 := strconv.ParseInt(cgReadStr(filepath.Join(d, "cpu.cfs_quota_us")), 10, 64)
		p, err2 := strconv.ParseInt(cgReadStr(filepath.Join(d, "cpu.cfs_period_us")), 10, 64)
		if err1 == nil && err2 == nil && q > 0 && p > 0 {
			u.CPULimit = float64(q) / float64(p)
		}
	}
	if d := f.memory; d != "" && cgExists(d) {
		present = true
		u.MemoryBytes = cgReadUint(filepath.Join(d, "memory.usage_in_bytes"))
		u.MemoryLimitBytes = cgReadLimit(filepath.Join(d, "memory.limit_in_bytes"))
		u.MemoryMaxBytes = cgReadUint(filepath.Join(d, "memory.max_usage_in_bytes"))
		u.MemoryLimitHits = cgReadUint(filepath.Join(d, "memory.failcnt"))
		// cgroup v1 counts an OOM kill only in the victim's own cgroup (no propagation up
		// the hierarchy, unlike v2's memory.events): sum the tenant's subtree.
		u.OOMKills = sumSubtreeKV(d, "memory.oom_control", "oom_kill")
	}
	if d := f.pids; d != "" && cgExists(d) {
		present = true
		u.Pids = cgReadUint(filepath.Join(d, "pids.current"))
		u.PidsLimit = cgReadLimit(filepath.Join(d, "pids.max"))
		// v1 counts a refused fork in the forking task's cgroup: sum the subtree.
		u.PidsLimitHits = sumSubtreeKV(d, "pids.events", "max")
	}
	return present
}

func readCPUUsage(f tenantCgroupFiles) (float64, bool) {
	if f.v2 {
		st := cgReadKV(filepath.Join(f.unified, "cpu.stat"))
		v, ok := st["usage_usec"]
		return float64(v) / 1e6, ok
	}
	if f.cpuacct == "" {
		return 0, false
	}
	s := cgReadStr(filepath.Join(f.cpuacct, "cpuacct.usage"))
	v, err := strconv.ParseUint(s, 10, 64)
	return float64(v) / 1e9, err == nil
}

// tenantWarnings lists the quotas used at or above warnAt.
func tenantWarnings(u *TenantUsage, warnAt float64) []string {
	if warnAt <= 0 || !u.Present {
		return nil
	}
	var out []string
	check := func(what string, used, limit float64, show func(float64) string) {
		if limit <= 0 {
			return
		}
		if r := used / limit; r >= warnAt {
			out = append(out, fmt.Sprintf("tenant %s: %s at %.0f%% of its quota (%s of %s, warning at %.0f%%)",
				u.Tenant, what, r*100, show(used), show(limit), warnAt*100))
		}
	}
	if u.CPUUsed != nil {
		check("cpu", *u.CPUUsed, u.CPULimit, func(v float64) string { return fmt.Sprintf("%.2f CPUs", v) })
	}
	check("memory", float64(u.MemoryBytes), float64(u.MemoryLimitBytes), tenantHumanBytes)
	check("pids", float64(u.Pids), float64(u.PidsLimit), func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) })
	return out
}

func tenantHumanBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.1fG", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1fM", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1fK", v/(1<<10))
	}
	return fmt.Sprintf("%.0fB", v)
}

func writeTenantsTable(w io.Writer, rows []TenantUsage) error {
	tw := tabwriter.NewWriter(w, 4, 1, 2, ' ', 0)
	fmt.Fprint(tw, "TENANT\tCONTAINERS\tCPU USED/LIMIT\tMEMORY USED/LIMIT\tPIDS/LIMIT\tOOM KILLS\tCPU THROTTLED\tPIDS-LIMIT HITS\tCGROUP\n")
	pct := func(used, limit float64) string {
		if limit <= 0 {
			return ""
		}
		return fmt.Sprintf(" (%.0f%%)", used/limit*100)
	}
	lim := func(limit float64, show func(float64) string) string {
		if limit <= 0 {
			return "-"
		}
		return show(limit)
	}
	cpus := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	for _, r := range rows {
		if !r.Present {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\t-\t-\t%s (absent)\n", r.Tenant, r.Containers, r.Cgroup)
			continue
		}
		cpu := fmt.Sprintf("%.1fs total/%s", r.CPUUsageSeconds, lim(r.CPULimit, cpus))
		if r.CPUUsed != nil {
			cpu = fmt.Sprintf("%s/%s%s", cpus(*r.CPUUsed), lim(r.CPULimit, cpus), pct(*r.CPUUsed, r.CPULimit))
		}
		mem := fmt.Sprintf("%s/%s%s", tenantHumanBytes(float64(r.MemoryBytes)), lim(float64(r.MemoryLimitBytes), tenantHumanBytes),
			pct(float64(r.MemoryBytes), float64(r.MemoryLimitBytes)))
		pids := fmt.Sprintf("%d/%s%s", r.Pids, lim(float64(r.PidsLimit), count), pct(float64(r.Pids), float64(r.PidsLimit)))
		thr := fmt.Sprintf("%.1fs (%d periods)", r.CPUThrottledSeconds, r.CPUThrottledPeriods)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", r.Tenant, r.Containers, cpu, mem, pids, r.OOMKills, thr, r.PidsLimitHits, r.Cgroup)
	}
	return tw.Flush()
}

// writeTenantsPrometheus writes the Prometheus text exposition format (version 0.0.4):
// one HELP and TYPE line per family, all samples of a family together. Unlimited limits
// have no sample.
func writeTenantsPrometheus(w io.Writer, rows []TenantUsage) error {
	type fam struct {
		name, typ, help string
		val             func(r *TenantUsage) (float64, bool)
	}
	always := func(f func(r *TenantUsage) float64) func(r *TenantUsage) (float64, bool) {
		return func(r *TenantUsage) (float64, bool) { return f(r), r.Present }
	}
	limit := func(f func(r *TenantUsage) float64) func(r *TenantUsage) (float64, bool) {
		return func(r *TenantUsage) (float64, bool) { v := f(r); return v, r.Present && v > 0 }
	}
	fams := []fam{
		{"tenantrun_tenant_containers", "gauge", "Containers of the tenant under this runtime root.",
			func(r *TenantUsage) (float64, bool) { return float64(r.Containers), true }},
		{"tenantrun_tenant_cgroup_present", "gauge", "1 if the tenant's parent cgroup exists.",
			func(r *TenantUsage) (float64, bool) { return promBool(r.Present), true }},
		{"tenantrun_tenant_cpu_usage_seconds_total", "counter", "CPU time used by the tenant's containers.",
			always(func(r *TenantUsage) float64 { return r.CPUUsageSeconds })},
		{"tenantrun_tenant_cpu_used_cpus", "gauge", "CPUs used over the sampling interval.",
			func(r *TenantUsage) (float64, bool) {
				if r.CPUUsed == nil {
					return 0, false
				}
				return *r.CPUUsed, r.Present
			}},
		{"tenantrun_tenant_cpu_limit_cpus", "gauge", "The tenant's aggregate CPU limit (quota/period).",
			limit(func(r *TenantUsage) float64 { return r.CPULimit })},
		{"tenantrun_tenant_cpu_periods_total", "counter", "CFS enforcement periods elapsed.",
			always(func(r *TenantUsage) float64 { return float64(r.CPUPeriods) })},
		{"tenantrun_tenant_cpu_throttled_periods_total", "counter", "CFS periods in which the tenant was throttled.",
			always(func(r *TenantUsage) float64 { return float64(r.CPUThrottledPeriods) })},
		{"tenantrun_tenant_cpu_throttled_seconds_total", "counter", "Time the tenant was throttled by its CPU limit.",
			always(func(r *TenantUsage) float64 { return r.CPUThrottledSeconds })},
		{"tenantrun_tenant_memory_usage_bytes", "gauge", "Memory charged to the tenant.",
			always(func(r *TenantUsage) float64 { return float64(r.MemoryBytes) })},
		{"tenantrun_tenant_memory_limit_bytes", "gauge", "The tenant's aggregate memory limit.",
			limit(func(r *TenantUsage) float64 { return float64(r.MemoryLimitBytes) })},
		{"tenantrun_tenant_memory_max_usage_bytes", "gauge", "Peak memory charged to the tenant.",
			always(func(r *TenantUsage) float64 { return float64(r.MemoryMaxBytes) })},
		{"tenantrun_tenant_memory_limit_hits_total", "counter", "Times the tenant's memory usage hit its limit.",
			always(func(r *TenantUsage) float64 { return float64(r.MemoryLimitHits) })},
		{"tenantrun_tenant_oom_kills_total", "counter", "Processes of the tenant killed by the OOM killer.",
			always(func(r *TenantUsage) float64 { return float64(r.OOMKills) })},
		{"tenantrun_tenant_pids", "gauge", "Tasks of the tenant.",
			always(func(r *TenantUsage) float64 { return float64(r.Pids) })},
		{"tenantrun_tenant_pids_limit", "gauge", "The tenant's aggregate pids limit.",
			limit(func(r *TenantUsage) float64 { return float64(r.PidsLimit) })},
		{"tenantrun_tenant_pids_limit_hits_total", "counter", "Forks refused by the tenant's pids limit.",
			always(func(r *TenantUsage) float64 { return float64(r.PidsLimitHits) })},
		{"tenantrun_tenant_quota_warnings", "gauge", "Quotas used at or above the warning threshold.",
			func(r *TenantUsage) (float64, bool) { return float64(len(r.Warnings)), true }},
	}
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for i := range rows {
			if v, ok := f.val(&rows[i]); ok {
				fmt.Fprintf(bw, "%s{tenant=\"%s\"} %s\n", f.name, promEscape(rows[i].Tenant), strconv.FormatFloat(v, 'f', -1, 64))
			}
		}
	}
	return bw.Flush()
}

func promBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func promEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// writeTenantsAtomic writes to a temporary file beside path and renames it over path, so a
// reader (node-exporter's textfile collector) never sees a half-written file.
func writeTenantsAtomic(path string, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	tmp := f.Name()
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o644); err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}

// --- cgroup file readers (missing files read as zero) -----------------------------------

// sumSubtreeKV sums key of file over dir and every cgroup below it (cgroup v1 event
// counters that the kernel keeps per cgroup only). Counts of containers already deleted
// are gone with their cgroups.
// v2PidsLimitHits is a v2 tenant parent's count of forks refused by a pids limit. Kernels
// without pids.events.local (Debian 12's 6.1) count a refused fork in the forking task's own
// cgroup, whichever ancestor's limit refused it: the parent's pids.events stays 0 while its
// containers' have the hits. Newer kernels count it hierarchically in the parent. The larger
// of the parent's own count and its descendants' sum is right on both.
func v2PidsLimitHits(dir string) uint64 {
	own := cgReadKV(filepath.Join(dir, "pids.events"))["max"]
	sub := sumSubtreeKV(dir, "pids.events", "max") - own
	return max(own, sub)
}

func sumSubtreeKV(dir, file, key string) uint64 {
	var sum uint64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			sum += cgReadKV(filepath.Join(p, file))[key]
		}
		return nil
	})
	return sum
}

func cgExists(p string) bool { _, err := os.Stat(p); return err == nil }

func cgReadStr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func cgReadUint(p string) uint64 {
	v, _ := strconv.ParseUint(cgReadStr(p), 10, 64)
	return v
}

// readLimit reads a limit file: "max" (v2) or a v1 "unlimited" value (≥ 2^62) read as 0.
func cgReadLimit(p string) uint64 {
	s := cgReadStr(p)
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
func cgReadKV(p string) map[string]uint64 {
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

// tenantPidsShortfall returns an error when the tenant's aggregate pids quota leaves no room
// to start another container. Without this check the start fails deep inside the init
// process (a Go runtime abort on pthread_create and "procReady not received"), which names
// neither the tenant nor the quota. Figures that cannot be read mean no error.
func tenantPidsShortfall(tenant, parent string, systemd bool) error {
	inner, err := tenantParentInner(parent, systemd)
	if err != nil {
		return nil
	}
	f := tenantFilesFor(inner)
	dir := f.pids
	if f.v2 {
		dir = f.unified
	}
	if dir == "" {
		return nil // no pids hierarchy
	}
	limit := cgReadLimit(filepath.Join(dir, "pids.max"))
	if limit == 0 {
		return nil // "max", or not there
	}
	used := cgReadUint(filepath.Join(dir, "pids.current"))
	if used+minStartPids <= limit {
		return nil
	}
	return fmt.Errorf("tenant %s has reached its process quota: %d of %d pids in use in %s, and starting a container needs about %d: "+
		"stop some of its containers or raise pids in [tenants.%s.quota] (`tenantrun tenants` shows usage)",
		tenant, used, limit, dir, minStartPids, tenant)
}

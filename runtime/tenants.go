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
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/exporter"
	"github.com/tenantrun/tenantrun/runtime/netpolicy"
	"github.com/tenantrun/tenantrun/runtime/record"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
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

// TenantUsage is one tenant's row (tenantcg.Usage: the figures of its parent cgroup).
type TenantUsage = tenantcg.Usage

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
		if s, err := record.Read(filepath.Join(root, c.ID)); err == nil && s.CgroupParent != "" {
			sources[c.Tenant] = tenantSource{s.CgroupParent, s.Systemd}
		}
	}
	// Parents without a container under this root (another engine's --root, a leftover):
	// scan the tops the operator's config and the containers name, and the default one.
	tops := append([]tenantTop(nil), defaultTenantTops...)
	countersDir := hardening.DefaultCountersDir
	cfg, cfgErr := readConfig(g.ConfigPath)
	if cfgErr != nil {
		cfg = nil
	}
	if cfg != nil && cfg.Defaults.CgroupParent != "" {
		tops = append(tops, tenantTop{"/" + cfg.Defaults.CgroupParent, false}, tenantTop{hardening.SystemdEscapeDash(cfg.Defaults.CgroupParent) + ".slice", true})
		countersDir = cfg.Defaults.CountersDir
	}
	for _, src := range sources {
		if src.systemd {
			if p, err := tenantcg.SliceParent(src.parent); err == nil && p != "-.slice" {
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
	// Tenants whose counters outlive their containers and parent (tenantcg/faults.go).
	for _, r := range tenantcg.Records(countersDir) {
		if len(want) > 0 && !want[r.Tenant] {
			continue
		}
		if _, ok := sources[r.Tenant]; !ok {
			sources[r.Tenant] = tenantSource{r.Parent, r.Systemd}
		}
	}
	names := map[string]bool{}
	for n := range counts {
		names[n] = true
	}
	for n := range sources {
		names[n] = true
	}
	if cfg != nil { // tenants with a disk quota: their bind roots hold files without a container
		for n, t := range cfg.Tenants {
			if t.Quota.HasDiskQuota() && (len(want) == 0 || want[n]) {
				names[n] = true
			}
		}
	}
	var rows []TenantUsage
	for n := range names {
		rows = append(rows, TenantUsage{Tenant: n, Containers: counts[n], CgroupVersion: 1})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Tenant < rows[j].Tenant })
	files := make([]tenantcg.Files, len(rows))
	for i := range rows {
		src, ok := sources[rows[i].Tenant]
		if !ok {
			continue
		}
		rows[i].Cgroup = src.parent
		files[i], rows[i].Present = tenantcg.ReadTenantUsage(countersDir, src.parent, src.systemd, &rows[i])
		if files[i].V2 {
			rows[i].CgroupVersion = 2
		}
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
			if now, ok := tenantcg.ReadCPU(files[i]); ok && now >= before[i] {
				used := (now - before[i]) / el
				rows[i].CPUUsed = &used
				rows[i].CPUUsageSeconds = now
			}
		}
	}
	netCounters(cs, rows)
	diskUsage(cfg, rows)
	for i := range rows {
		rows[i].Warnings = tenantWarnings(&rows[i], o.WarnAt)
		for _, w := range rows[i].Warnings {
			logrus.WithField("tenant", rows[i].Tenant).Warn(w)
		}
	}
	return rows, nil
}

// netCounters fills each row's network policy counters: every distinct network namespace
// of the tenant's running containers counted once (a pod's members share one), plus the
// host's count of the tenant's packets dropped on their way to another tenant.
func netCounters(cs []ContainerInfo, rows []TenantUsage) {
	idx := map[string]int{}
	for i := range rows {
		idx[rows[i].Tenant] = i
	}
	seen := map[uint64]bool{}
	for _, c := range cs {
		i, ok := idx[c.Tenant]
		if !ok || c.Pid <= 0 || c.Status == "stopped" {
			continue
		}
		f, err := netpolicy.OpenNetns(fmt.Sprintf("/proc/%d/ns/net", c.Pid))
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) == nil && !seen[st.Ino] {
			seen[st.Ino] = true
			if m, err := netpolicy.Counters(int(f.Fd())); err == nil && len(m) > 0 {
				if rows[i].Network == nil {
					rows[i].Network = map[string]uint64{}
					rows[i].NetworkByContainer = map[string]map[string]uint64{}
				}
				for k, v := range m {
					rows[i].Network[k] += v
				}
				rows[i].NetworkByContainer[c.ID] = m
			}
		}
		f.Close()
	}
	if crossed, err := netpolicy.Crossed(); err == nil {
		for t, v := range crossed {
			if i, ok := idx[t]; ok {
				if rows[i].Network == nil {
					rows[i].Network = map[string]uint64{}
				}
				rows[i].Network[netpolicy.CounterCrossed] += v
			}
		}
	}
}

// scanTenantTop lists the tenant parents under a top: "/tenantrun/<t>" or
// "tenantrun.slice/tenantrun-<t>.slice".
func scanTenantTop(top string, systemd bool) map[string]tenantSource {
	out := map[string]tenantSource{}
	inner := top
	if systemd {
		var err error
		if inner, err = tenantcg.ExpandSlice(top); err != nil {
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
				out[tenantcg.UnescapeDash(t)] = tenantSource{e.Name(), true}
			}
			continue
		}
		out[e.Name()] = tenantSource{filepath.Join(top, e.Name()), false}
	}
	return out
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
	check("disk", float64(u.DiskBytes), float64(u.DiskLimitBytes), tenantHumanBytes)
	check("inodes", float64(u.Inodes), float64(u.InodesLimit), func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) })
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
	// LVE-style fault columns: CPUF periods throttled by the CPU limit, PMEMF memory limit
	// hits, OOM kills, NPROCF forks refused by the pids limit, IOF seconds some task waited
	// for I/O (v2 only). They include deleted containers' (the tenant's counter record).
	fmt.Fprint(tw, "TENANT\tCONTAINERS\tCPU USED/LIMIT\tMEMORY USED/LIMIT\tPIDS/LIMIT\tIO READ/WRITTEN\tDISK/LIMIT\tINODES/LIMIT\tCPUF\tPMEMF\tOOM\tNPROCF\tIOF\tNET REFUSED\tCGROUP\n")
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
		iof := "-"
		if r.CgroupVersion == 2 {
			iof = fmt.Sprintf("%.1fs", r.IOPressureSeconds)
		}
		faults := fmt.Sprintf("%d\t%d\t%d\t%d\t%s", r.CPUThrottledPeriods, r.MemoryLimitHits, r.OOMKills, r.PidsLimitHits, iof)
		disk, inodes := "-", "-"
		if r.DiskLimitBytes > 0 || r.InodesLimit > 0 {
			disk = fmt.Sprintf("%s/%s%s", tenantHumanBytes(float64(r.DiskBytes)), lim(float64(r.DiskLimitBytes), tenantHumanBytes), pct(float64(r.DiskBytes), float64(r.DiskLimitBytes)))
			inodes = fmt.Sprintf("%d/%s%s", r.Inodes, lim(float64(r.InodesLimit), count), pct(float64(r.Inodes), float64(r.InodesLimit)))
		}
		if !r.Present {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\t%s\t%s\t%s\t%s\t%s (absent)\n", r.Tenant, r.Containers, disk, inodes, faults, netRefused(r.Network), r.Cgroup)
			continue
		}
		cpu := fmt.Sprintf("%.1fs total/%s", r.CPUUsageSeconds, lim(r.CPULimit, cpus))
		if r.CPUUsed != nil {
			cpu = fmt.Sprintf("%s/%s%s", cpus(*r.CPUUsed), lim(r.CPULimit, cpus), pct(*r.CPUUsed, r.CPULimit))
		}
		mem := fmt.Sprintf("%s/%s%s", tenantHumanBytes(float64(r.MemoryBytes)), lim(float64(r.MemoryLimitBytes), tenantHumanBytes),
			pct(float64(r.MemoryBytes), float64(r.MemoryLimitBytes)))
		pids := fmt.Sprintf("%d/%s%s", r.Pids, lim(float64(r.PidsLimit), count), pct(float64(r.Pids), float64(r.PidsLimit)))
		io := fmt.Sprintf("%s/%s", tenantHumanBytes(float64(r.IOReadBytes)), tenantHumanBytes(float64(r.IOWriteBytes)))
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Tenant, r.Containers, cpu, mem, pids, io, disk, inodes, faults, netRefused(r.Network), r.Cgroup)
	}
	return tw.Flush()
}

// netRefused sums the network counters for the table ("-" without a network policy).
func netRefused(m map[string]uint64) string {
	if m == nil {
		return "-"
	}
	var n uint64
	for _, v := range m {
		n += v
	}
	return strconv.FormatUint(n, 10)
}

// writeTenantsPrometheus writes the Prometheus text exposition format (version 0.0.4):
// one HELP and TYPE line per family (exporter.Families, the same as `metrics serve`), all
// samples of a family together. Unlimited limits have no sample.
func writeTenantsPrometheus(w io.Writer, rows []TenantUsage) error {
	bw := bufio.NewWriter(w)
	for _, f := range exporter.Families {
		typ := "gauge"
		if f.Counter {
			typ = "counter"
		}
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.Name, f.Help, f.Name, typ)
		for i := range rows {
			if v, ok := f.Value(&rows[i]); ok {
				fmt.Fprintf(bw, "%s{tenant=\"%s\"} %s\n", f.Name, promEscape(rows[i].Tenant), strconv.FormatFloat(v, 'f', -1, 64))
			}
		}
	}
	return bw.Flush()
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
	// A failed chmod or close (a write-back error: ENOSPC, EIO) must not rename a file the
	// collector would read short.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("--output: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--output: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}

// Package exporter is the Prometheus side of `tenantrun tenants`: the metric families of a
// tenant's row (one table for the textfile form and the HTTP exporter, so both always say
// the same), and `tenantrun metrics serve`, an HTTP exporter built on
// prometheus/client_golang that reads the rows on every scrape.
package exporter

import (
	"slices"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/netpolicy"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

// Family is one metric family: a sample per tenant row where Value says there is one.
type Family struct {
	Name, Help string
	Counter    bool
	Value      func(r *tenantcg.Usage) (float64, bool)
}

func always(f func(r *tenantcg.Usage) float64) func(r *tenantcg.Usage) (float64, bool) {
	return func(r *tenantcg.Usage) (float64, bool) { return f(r), r.Present }
}

// fault counters outlive the parent (the tenant's record): a sample while either is there.
func fault(f func(r *tenantcg.Usage) float64) func(r *tenantcg.Usage) (float64, bool) {
	return func(r *tenantcg.Usage) (float64, bool) { return f(r), r.Present || r.RetiredFrom != "" }
}

// limit: unlimited (0) has no sample.
func limit(f func(r *tenantcg.Usage) float64) func(r *tenantcg.Usage) (float64, bool) {
	return func(r *tenantcg.Usage) (float64, bool) { v := f(r); return v, r.Present && v > 0 }
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Families are tenantrun's per-tenant metrics, label `tenant`; counters end in _total.
var Families = func() []Family {
	fs := []Family{
		{"tenantrun_tenant_containers", "Containers of the tenant under this runtime root.", false,
			func(r *tenantcg.Usage) (float64, bool) { return float64(r.Containers), true }},
		{"tenantrun_tenant_cgroup_present", "1 if the tenant's parent cgroup exists.", false,
			func(r *tenantcg.Usage) (float64, bool) { return b2f(r.Present), true }},
		{"tenantrun_tenant_cpu_usage_seconds_total", "CPU time used by the tenant's containers.", true,
			always(func(r *tenantcg.Usage) float64 { return r.CPUUsageSeconds })},
		{"tenantrun_tenant_cpu_used_cpus", "CPUs used over the sampling interval.", false,
			func(r *tenantcg.Usage) (float64, bool) {
				if r.CPUUsed == nil {
					return 0, false
				}
				return *r.CPUUsed, r.Present
			}},
		{"tenantrun_tenant_cpu_limit_cpus", "The tenant's aggregate CPU limit (quota/period).", false,
			limit(func(r *tenantcg.Usage) float64 { return r.CPULimit })},
		{"tenantrun_tenant_cpu_periods_total", "CFS enforcement periods elapsed.", true,
			always(func(r *tenantcg.Usage) float64 { return float64(r.CPUPeriods) })},
		{"tenantrun_tenant_cpu_throttled_periods_total", "CFS periods in which the tenant was throttled.", true,
			fault(func(r *tenantcg.Usage) float64 { return float64(r.CPUThrottledPeriods) })},
		{"tenantrun_tenant_cpu_throttled_seconds_total", "Time the tenant was throttled by its CPU limit.", true,
			fault(func(r *tenantcg.Usage) float64 { return r.CPUThrottledSeconds })},
		{"tenantrun_tenant_memory_usage_bytes", "Memory charged to the tenant.", false,
			always(func(r *tenantcg.Usage) float64 { return float64(r.MemoryBytes) })},
		{"tenantrun_tenant_memory_limit_bytes", "The tenant's aggregate memory limit.", false,
			limit(func(r *tenantcg.Usage) float64 { return float64(r.MemoryLimitBytes) })},
		{"tenantrun_tenant_memory_max_usage_bytes", "Peak memory charged to the tenant.", false,
			always(func(r *tenantcg.Usage) float64 { return float64(r.MemoryMaxBytes) })},
		{"tenantrun_tenant_memory_limit_hits_total", "Times the tenant's memory usage hit its limit.", true,
			fault(func(r *tenantcg.Usage) float64 { return float64(r.MemoryLimitHits) })},
		{"tenantrun_tenant_memory_high_hits_total", "Times the tenant's memory usage went over memory.high (cgroup v2).", true,
			fault(func(r *tenantcg.Usage) float64 { return float64(r.MemoryHighHits) })},
		{"tenantrun_tenant_oom_kills_total", "Processes of the tenant killed by the OOM killer.", true,
			fault(func(r *tenantcg.Usage) float64 { return float64(r.OOMKills) })},
		{"tenantrun_tenant_pids", "Tasks of the tenant.", false,
			always(func(r *tenantcg.Usage) float64 { return float64(r.Pids) })},
		{"tenantrun_tenant_pids_limit", "The tenant's aggregate pids limit.", false,
			limit(func(r *tenantcg.Usage) float64 { return float64(r.PidsLimit) })},
		{"tenantrun_tenant_pids_limit_hits_total", "Forks refused by the tenant's pids limit.", true,
			fault(func(r *tenantcg.Usage) float64 { return float64(r.PidsLimitHits) })},
		{"tenantrun_tenant_io_read_bytes_total", "Bytes the tenant read from block devices.", true,
			always(func(r *tenantcg.Usage) float64 { return float64(r.IOReadBytes) })},
		{"tenantrun_tenant_io_written_bytes_total", "Bytes the tenant wrote to block devices.", true,
			always(func(r *tenantcg.Usage) float64 { return float64(r.IOWriteBytes) })},
		{"tenantrun_tenant_io_read_operations_total", "Block device read operations of the tenant.", true,
			always(func(r *tenantcg.Usage) float64 { return float64(r.IOReadOps) })},
		{"tenantrun_tenant_io_write_operations_total", "Block device write operations of the tenant.", true,
			always(func(r *tenantcg.Usage) float64 { return float64(r.IOWriteOps) })},
		{"tenantrun_tenant_io_pressure_seconds_total", "Time some of the tenant's tasks waited for I/O (cgroup v2 io.pressure).", true,
			func(r *tenantcg.Usage) (float64, bool) {
				return r.IOPressureSeconds, (r.Present || r.RetiredFrom != "") && r.CgroupVersion == 2
			}},
		{"tenantrun_tenant_disk_usage_bytes", "Disk space of the tenant's project on its bind roots.", false,
			func(r *tenantcg.Usage) (float64, bool) {
				return float64(r.DiskBytes), r.DiskLimitBytes > 0 || r.InodesLimit > 0
			}},
		{"tenantrun_tenant_disk_limit_bytes", "The tenant's disk quota, summed over its bind roots.", false,
			func(r *tenantcg.Usage) (float64, bool) { return float64(r.DiskLimitBytes), r.DiskLimitBytes > 0 }},
		{"tenantrun_tenant_inodes", "Inodes of the tenant's project on its bind roots.", false,
			func(r *tenantcg.Usage) (float64, bool) {
				return float64(r.Inodes), r.DiskLimitBytes > 0 || r.InodesLimit > 0
			}},
		{"tenantrun_tenant_inodes_limit", "The tenant's inode quota, summed over its bind roots.", false,
			func(r *tenantcg.Usage) (float64, bool) { return float64(r.InodesLimit), r.InodesLimit > 0 }},
		{"tenantrun_tenant_quota_warnings", "Quotas used at or above the warning threshold.", false,
			func(r *tenantcg.Usage) (float64, bool) { return float64(len(r.Warnings)), true }},
	}
	help := map[string]string{
		hardening.CounterEgressDenied:  "Outbound packets of new connections refused by the tenant's egress allowlist.",
		hardening.CounterDenySet:       "Outbound packets to the host, the gateway, link-local (metadata), multicast or broadcast, refused.",
		hardening.CounterIngressDenied: "Inbound packets of new connections to a port not in ingress_ports, dropped.",
		hardening.CounterConnCap:       "New connections refused by max_connections.",
		hardening.CounterRateCap:       "New connections refused by new_connections_per_second.",
		hardening.CounterSourceCap:     "Inbound connections refused by per_source_connections.",
		netpolicy.CounterCrossed:       "Packets dropped between this tenant's containers and another tenant's on a shared network.",
	}
	for _, c := range append(slices.Clone(hardening.NetCounters), netpolicy.CounterCrossed) {
		fs = append(fs, Family{"tenantrun_tenant_network_" + c + "_packets_total", help[c], true,
			func(r *tenantcg.Usage) (float64, bool) {
				if r.Network == nil {
					return 0, false
				}
				return float64(r.Network[c]), true
			}})
	}
	return fs
}()

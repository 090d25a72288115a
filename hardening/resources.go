package hardening

import (
	"fmt"
	"math"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// unifiedAllowed are cgroup v2 keys a bundle may set through linux.resources.unified.
var unifiedAllowed = map[string]bool{"cpu.weight": true, "io.weight": true, "cpu.idle": true}

// CgroupsPath is where a container's cgroup lives: "/<parent>/<tenant>/<id>" for
// cgroupfs, "tenantrun-<tenant>.slice:tenantrun-<tenant>:<id>" with the systemd driver
// (libcontainer names the unit "<prefix>-<id>.scope": SystemdScopeUnit).
func CgroupsPath(cfg *Config, t *Tenant, id string, systemd bool) string {
	if systemd {
		top := cfg.Defaults.CgroupParent
		return fmt.Sprintf("%s:%s:%s", SystemdTenantSlice(top, t.Name), SystemdScopePrefix(top, t.Name), id)
	}
	return fmt.Sprintf("/%s/%s/%s", cfg.Defaults.CgroupParent, t.Name, id)
}

// SystemdScopePrefix is the scope-name prefix of a tenant's containers with the systemd
// driver: "<top>-<tenant>", "-" inside top and tenant escaped as in SystemdTenantSlice.
// Scope units share one namespace on the host whatever their slice, so a prefix without
// the tenant ("tenantrun-<id>.scope") let two tenants' containers of one id (two
// --roots) collide: the second start fails with UnitExists and its rollback stops the
// first tenant's scope. Tenant names have no "\" and ids no "\" either, and only the
// two separators are unescaped dashes, so distinct (tenant, id) pairs never share a unit
// name ("a" + "b-c" is "tenantrun-a-b-c.scope", "a-b" + "c" is "tenantrun-a\x2db-c.scope").
func SystemdScopePrefix(top, tenant string) string {
	return SystemdEscapeDash(top) + "-" + SystemdEscapeDash(tenant)
}

// SystemdScopeUnit is the transient scope unit libcontainer starts for container id of
// tenant (its getUnitName: "<ScopePrefix>-<Name>.scope").
func SystemdScopeUnit(top, tenant, id string) string {
	return SystemdScopePrefix(top, tenant) + "-" + id + ".scope"
}

// SystemdTenantSlice is the systemd slice of a tenant's parent: "<top>-<tenant>.slice",
// with every "-" inside top and tenant escaped as systemd-escape does ("\x2d"). systemd
// reads an unescaped "-" as a slice boundary: tenant "a-b" would otherwise become a child
// slice of tenant "a" ("tenantrun-a.slice/tenantrun-a-b.slice"), charged to a's
// aggregate limits. The container cgroupsPath and the runtime's tenant parent both use it.
func SystemdTenantSlice(top, tenant string) string {
	return SystemdEscapeDash(top) + "-" + SystemdEscapeDash(tenant) + ".slice"
}

// SystemdEscapeDash escapes "-" in a name as systemd-escape does, for slice names.
func SystemdEscapeDash(s string) string { return strings.ReplaceAll(s, "-", `\x2d`) }

// TenantCgroupPath is the tenant's parent cgroup (cgroupfs) that carries the
// tenant-wide aggregate limits of TenantParentResources.
func TenantCgroupPath(cfg *Config, t *Tenant) string {
	return fmt.Sprintf("/%s/%s", cfg.Defaults.CgroupParent, t.Name)
}

// TenantParentResources are the tenant-wide aggregate limits (the [quota] table) the
// runtime sets on TenantCgroupPath so all of a tenant's containers together stay within it.
func TenantParentResources(t *Tenant) *specs.LinuxResources {
	q := t.Quota
	period := uint64(DefaultCPUPeriod)
	quota := int64(math.Round(q.CPUs * float64(period)))
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &q.Memory, Swap: &q.Memory},
		Pids:   &specs.LinuxPids{Limit: &q.Pids},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
	}
}

func (p *pol) enforceCgroups(s *specs.Spec, req Request) {
	want := CgroupsPath(req.Config, req.Tenant, req.ContainerID, req.SystemdCgroup)
	if s.Linux.CgroupsPath != want {
		p.decide("linux.cgroupsPath", ActionOverride, s.Linux.CgroupsPath, want, "every container lives under its tenant's cgroup")
		s.Linux.CgroupsPath = want
	}
	r, ds, refusals := clampResources(s.Linux.Resources, req.Tenant, clampEnforce)
	p.decisions = append(p.decisions, ds...) // refuse decisions included
	p.refusals = append(p.refusals, refusals...)
	s.Linux.Resources = r
}

// ClampResources clamps requested limits to the tenant's per-container maximum and
// fills missing ones from it, so no container is ever unlimited. Settings that cannot
// be clamped (realtime, unified keys outside the allowlist, rdma, ...) make it return
// refuse decisions; callers should refuse when any decision has Action refuse. It does
// not mutate r. Device rules are left as they are (Enforce owns them).
func ClampResources(r *specs.LinuxResources, t *Tenant) (*specs.LinuxResources, []Decision) {
	out, ds, _ := clampResources(r, t, clampCreate)
	return out, ds
}

// ClampUpdate is ClampResources for `update`: only the limits present in r are
// clamped (absent ones stay absent so the current values are kept), and -1/0
// ("unlimited") becomes the tenant maximum.
func ClampUpdate(r *specs.LinuxResources, t *Tenant) (*specs.LinuxResources, []Decision) {
	out, ds, _ := clampResources(r, t, clampUpdate)
	return out, ds
}

// clampMode: what clampResources is for.
type clampMode int

const (
	clampCreate  clampMode = iota // ClampResources: fill absent limits (absent.go), then clamp
	clampEnforce                  // Enforce: absent limits were filled with the rest of the spec
	clampUpdate                   // update: absent limits stay absent; device rules are dropped
)

func clampResources(in *specs.LinuxResources, t *Tenant, mode clampMode) (*specs.LinuxResources, []Decision, []Refusal) {
	p := &pol{}
	r := copyResources(in)
	q := t.Container
	const base = "linux.resources"
	if mode == clampCreate {
		p.fillAbsent(&absentCtx{res: r, t: t}, scopeResources)
	}

	// memory: limit <= quota; swap = limit (memsw) so swap cannot bypass it.
	if m := r.Memory; m != nil {
		if m.Limit != nil && (*m.Limit <= 0 || *m.Limit > q.Memory) {
			p.decide(base+".memory.limit", ActionClamp, ptrVal(m.Limit), q.Memory, "tenant per-container memory quota")
			m.Limit = ptr(q.Memory)
		}
		if m.Limit != nil {
			if m.Swap == nil || *m.Swap != *m.Limit {
				p.decide(base+".memory.swap", ActionClamp, ptrVal(m.Swap), *m.Limit, "memory+swap equals the memory limit so swap cannot bypass it")
				m.Swap = ptr(*m.Limit)
			}
			if m.Reservation != nil && (*m.Reservation < 0 || *m.Reservation > *m.Limit) {
				p.decide(base+".memory.reservation", ActionClamp, *m.Reservation, *m.Limit, "reservation above the limit")
				m.Reservation = ptr(*m.Limit)
			}
		} else if m.Swap != nil {
			p.decide(base+".memory.swap", ActionClamp, *m.Swap, nil, "swap is tied to the memory limit")
			m.Swap = nil
		}
		if m.Kernel != nil || m.KernelTCP != nil {
			p.decide(base+".memory.kernel", ActionOverride, "set", nil, "kernel memory limits are deprecated and ignored")
			m.Kernel, m.KernelTCP = nil, nil
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			p.refuse(base+".memory.disableOOMKiller", "a container without the OOM killer hangs at its limit and pins memory")
		}
		if m.Swappiness != nil && *m.Swappiness > 100 {
			p.decide(base+".memory.swappiness", ActionClamp, *m.Swappiness, 100, "swappiness range is 0..100")
			m.Swappiness = ptr(uint64(100))
		}
	}
	// pids
	if pd := r.Pids; pd != nil {
		if pd.Limit != nil && (*pd.Limit <= 0 || *pd.Limit > q.Pids) {
			p.decide(base+".pids.limit", ActionClamp, ptrVal(pd.Limit), q.Pids, "tenant per-container pids quota")
			pd.Limit = ptr(q.Pids)
		}
	}
	// cpu: quota/period <= cpus
	if c := r.CPU; c != nil {
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 || c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			p.refuse(base+".cpu.realtimeRuntime", "real-time CPU time escapes CFS quotas")
		}
		if c.Cpus != "" {
			p.refuse(base+".cpu.cpus", "cpuset pinning is not part of a tenant's quota")
		}
		if c.Mems != "" {
			p.refuse(base+".cpu.mems", "NUMA node pinning is not part of a tenant's quota")
		}
		quotaSet := c.Quota != nil && *c.Quota > 0
		if c.Quota != nil || c.Period != nil {
			period := cpuPeriod(c.Period)
			max := cpuQuotaMax(q.CPUs, period)
			if !quotaSet || *c.Quota > max || c.Period == nil || *c.Period != period {
				nq := min(max, quotaOr(c.Quota, max))
				p.decide(base+".cpu", ActionClamp, map[string]any{"quota": ptrVal(c.Quota), "period": ptrVal(c.Period)},
					map[string]any{"quota": nq, "period": period}, fmt.Sprintf("tenant per-container cpus quota %.2f", q.CPUs))
				c.Quota, c.Period = &nq, &period
			}
		}
		if c.Burst != nil && *c.Burst != 0 {
			p.decide(base+".cpu.burst", ActionClamp, *c.Burst, nil, "no CPU burst above the quota")
			c.Burst = nil
		}
		if c.Shares != nil && (*c.Shares < 2 || *c.Shares > 1024) {
			v := min(max(*c.Shares, 2), 1024)
			p.decide(base+".cpu.shares", ActionClamp, *c.Shares, v, "shares between 2 and 1024")
			c.Shares = &v
		}
	}
	if len(r.HugepageLimits) > 0 {
		for i, h := range r.HugepageLimits {
			if h.Limit > 0 {
				p.decide(fmt.Sprintf("%s.hugepageLimits[%d]", base, i), ActionClamp, h.Limit, 0, "hugepages are not part of a tenant's quota")
				r.HugepageLimits[i].Limit = 0
			}
		}
	}
	if r.Network != nil {
		p.refuse(base+".network", "net_cls class ids and priorities are host firewall and QoS inputs")
	}
	if len(r.Rdma) > 0 {
		p.refuse(base+".rdma", "RDMA devices are not available to tenants")
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 && (*b.Weight < 10 || *b.Weight > 1000) {
		p.refuse(base+".blockIO.weight", "weight must be 10..1000")
	}
	if r.BlockIO != nil {
		p.clampBlockIO(r.BlockIO, q, base)
	}
	if mode == clampUpdate && len(r.Devices) > 0 {
		// update: device rules are set once, at create, by Enforce.
		p.decide(base+".devices", ActionOverride, len(r.Devices), nil, "device rules cannot be changed by update")
		r.Devices = nil
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !unifiedAllowed[k] {
			p.refuse(base+".unified", fmt.Sprintf("%q is written verbatim to the cgroup and is not on the allowlist", k))
		}
	}
	return r, p.decisions, p.refusals
}

func quotaOr(q *int64, def int64) int64 {
	if q == nil || *q <= 0 {
		return def
	}
	return *q
}

func ptr[T any](v T) *T { return &v }

func ptrVal[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func copyResources(in *specs.LinuxResources) *specs.LinuxResources {
	if in == nil {
		return &specs.LinuxResources{}
	}
	r := *in
	if in.Memory != nil {
		m := *in.Memory
		r.Memory = &m
	}
	if in.Pids != nil {
		pd := *in.Pids
		r.Pids = &pd
	}
	if in.CPU != nil {
		c := *in.CPU
		r.CPU = &c
	}
	if in.HugepageLimits != nil {
		r.HugepageLimits = append([]specs.LinuxHugepageLimit(nil), in.HugepageLimits...)
	}
	if in.BlockIO != nil {
		r.BlockIO = copyBlockIO(in.BlockIO)
	}
	return &r
}

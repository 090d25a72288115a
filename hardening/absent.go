package hardening

import (
	"fmt"
	"math"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Absent fields (docs/security.md, invariant 5). To libcontainer or the kernel an
// absent object often means "unrestricted" or "whatever the runtime has": no
// capabilities object keeps every capability, no seccomp section is no filter, no
// memory limit is no limit, no RLIMIT_CORE or RLIMIT_MEMLOCK is the engine's
// (containerd.service: infinity). AbsentFields is the one list of such fields, each
// with the tenant-policy value it is filled with, and fillAbsent is the one place it is
// applied: Enforce (every row), EnforceProcess (the process rows) and ClampResources
// (the resource rows) call it before their rules, which then see a present field and
// check or clamp it as they would any bundle's value. A row never overrides a value
// that is present.

// absentScope says which document a row belongs to.
type absentScope int

const (
	scopeProcess   absentScope = iota // config.json's process and exec's process.json
	scopeSpec                         // the rest of config.json
	scopeResources                    // linux.resources limits (also ClampResources)
)

// absentCtx is what a row reads and fills.
type absentCtx struct {
	s    *specs.Spec           // nil for an exec process or ClampResources
	pr   *specs.Process        // may be nil (a missing process is refused elsewhere)
	base string                // JSON path of pr ("process")
	res  *specs.LinuxResources // never nil for scopeResources
	t    *Tenant
	cfg  *Config
	id   string
	host Host // for the tenant's seccomp profile (scopeSpec)
}

// AbsentRow is one field whose absence means "unrestricted" (or the host's, the
// engine's or the runtime's value) downstream.
type AbsentRow struct {
	// Path is the JSON path of the field; process rows are relative to the process
	// ("capabilities"), and Field() names them below "process".
	Path string
	// Means is what absence means to libcontainer or the kernel; Fill what the policy
	// fills it with (both for docs/security.md and `policy explain` readers).
	Means, Fill string
	scope       absentScope
	// decision: the JSON path of the decision when not Path (rlimits share theirs);
	// action "" fills quietly (only where absence already meant the same value).
	decision string
	action   Action
	reason   string
	// reasonFor, when set, is the reason (it names the tenant's value).
	reasonFor func(t *Tenant) string
	absent    func(c *absentCtx) bool
	// fill sets the field and returns the value for the decision; ok false when there
	// is nothing to fill it with (a rule later refuses, e.g. a profile that fails to load).
	fill func(c *absentCtx) (v any, ok bool)
}

// Field is the row's JSON path in config.json.
func (r AbsentRow) Field() string {
	if r.scope == scopeProcess {
		return "process." + r.Path
	}
	return r.Path
}

// hostNameMax is the kernel's HOST_NAME_MAX: sethostname refuses longer names, and a
// container id may have 128 characters.
const hostNameMax = 64

// Kernel defaults used where the tenant policy has a ceiling but no quota of its own.
const (
	defaultMemlock  = 8 << 20 // RLIMIT_MEMLOCK since Linux 5.16
	defaultMsgqueue = 819200  // RLIMIT_MSGQUEUE (MQ_BYTES_MAX)
)

// AbsentFields is the table. Order matters where one row creates another's parent
// (capabilities before its sets, the user namespace before the id mappings, memory
// limit before swap).
var AbsentFields = []AbsentRow{
	// process (config.json and exec)
	{Path: "capabilities", Means: "every capability (libcontainer changes nothing: CapBnd 000001ffffffffff)",
		Fill: "the tenant allowlist in bounding, effective, permitted; inheritable and ambient empty", scope: scopeProcess,
		action: ActionOverride, reason: "absent capabilities mean every capability to libcontainer: the tenant allowlist is set",
		absent: func(c *absentCtx) bool { return c.pr.Capabilities == nil },
		fill: func(c *absentCtx) (any, bool) {
			allow := slices.Clone(c.t.Capabilities)
			c.pr.Capabilities = &specs.LinuxCapabilities{Bounding: allow, Effective: slices.Clone(allow), Permitted: slices.Clone(allow),
				Inheritable: []string{}, Ambient: []string{}}
			return c.pr.Capabilities, true
		}},
	capSetRow("bounding", func(k *specs.LinuxCapabilities) *[]string { return &k.Bounding }),
	capSetRow("effective", func(k *specs.LinuxCapabilities) *[]string { return &k.Effective }),
	capSetRow("permitted", func(k *specs.LinuxCapabilities) *[]string { return &k.Permitted }),
	capSetRow("inheritable", func(k *specs.LinuxCapabilities) *[]string { return &k.Inheritable }),
	capSetRow("ambient", func(k *specs.LinuxCapabilities) *[]string { return &k.Ambient }),
	{Path: "noNewPrivileges", Means: "setuid and file-capability binaries raise privileges (false and absent are the same)",
		Fill: "true", scope: scopeProcess, action: ActionOverride, reason: "setuid and file-capability binaries must not raise privileges",
		absent: func(c *absentCtx) bool { return !c.pr.NoNewPrivileges },
		fill:   func(c *absentCtx) (any, bool) { c.pr.NoNewPrivileges = true; return true, true }},
	{Path: "oomScoreAdj", Means: "the engine's score, inherited (the shim's is negative)",
		Fill: "the tenant's oom_score_adj_min", scope: scopeProcess, action: ActionClamp,
		reason: "set explicitly so the container never inherits the engine's negative score",
		absent: func(c *absentCtx) bool { return c.pr.OOMScoreAdj == nil },
		fill: func(c *absentCtx) (any, bool) {
			v := c.t.OOMScoreAdjMin
			c.pr.OOMScoreAdj = &v
			return v, true
		}},
	rlimitRow("RLIMIT_NOFILE", "the tenant's nofile", "no container runs without a nofile limit",
		func(t *Tenant) uint64 { return t.Container.Nofile }),
	// RLIMIT_NPROC is not filled: linux.resources.pids.limit (below) bounds the same
	// tasks, and an NPROC equal to it fails the fork first (EAGAIN from the rlimit, not
	// the cgroup: pids.events never counts it); in a pod whose members share a user
	// namespace it would count every member's tasks against one container's limit.
	rlimitRow("RLIMIT_CORE", "0", "core dumps go to the host's core_pattern handler",
		func(*Tenant) uint64 { return 0 }),
	rlimitRow("RLIMIT_RTPRIO", "0", "a nonzero RTPRIO lets an unprivileged process take real-time scheduling",
		func(*Tenant) uint64 { return 0 }),
	rlimitRow("RLIMIT_NICE", "0 (the kernel default: nice can only be raised)", "an inherited RLIMIT_NICE lets processes take negative nice values",
		func(*Tenant) uint64 { return 0 }),
	rlimitRow("RLIMIT_MEMLOCK", "8 MiB (the kernel default), at most the tenant's memory", "no container inherits the runtime's locked-memory limit",
		func(t *Tenant) uint64 { return uint64(min(defaultMemlock, t.Container.Memory)) }),
	rlimitRow("RLIMIT_MSGQUEUE", "819200 bytes (the kernel default), at most the tenant's memory", "no container inherits the runtime's POSIX message queue limit",
		func(t *Tenant) uint64 { return uint64(min(defaultMsgqueue, t.Container.Memory)) }),
	lsmRow("apparmorProfile", "AppArmor", func(pr *specs.Process) *string { return &pr.ApparmorProfile }, func(t *Tenant) string { return t.Apparmor }),
	lsmRow("selinuxLabel", "SELinux", func(pr *specs.Process) *string { return &pr.SelinuxLabel }, func(t *Tenant) string { return t.SELinuxLabel }),

	// config.json
	{Path: "hostname", Means: "the host's hostname (a new UTS namespace starts as a copy of the host's)",
		Fill: "the container id, its first 64 bytes (only with a private uts namespace: a joined one is the pod's)", scope: scopeSpec,
		action: ActionOverride, reason: "a new UTS namespace would show the host's name",
		absent: func(c *absentCtx) bool { return c.s.Hostname == "" && privateNamespace(c.s, specs.UTSNamespace) },
		fill: func(c *absentCtx) (any, bool) {
			c.s.Hostname = c.id[:min(len(c.id), hostNameMax)]
			return c.s.Hostname, c.s.Hostname != ""
		}},
	nsRow(specs.UserNamespace, "the host's: container root is host root"),
	nsRow(specs.CgroupNamespace, "the host's cgroup tree is visible"),
	idmapRow("linux.uidMappings", func(l *specs.Linux) *[]specs.LinuxIDMapping { return &l.UIDMappings }, func(t *Tenant) IDRange { return t.UIDs }),
	idmapRow("linux.gidMappings", func(l *specs.Linux) *[]specs.LinuxIDMapping { return &l.GIDMappings }, func(t *Tenant) IDRange { return t.GIDs }),
	{Path: "linux.seccomp", Means: "no filter", Fill: "the tenant's seccomp_profile", scope: scopeSpec, action: ActionOverride,
		reason: "no seccomp filter: the tenant's profile",
		absent: func(c *absentCtx) bool { return c.s.Linux.Seccomp == nil },
		fill: func(c *absentCtx) (any, bool) {
			prof, err := c.host.SeccompProfile(c.t.SeccompProfile, c.cfg.Defaults.SeccompDir)
			if err != nil {
				return nil, false // enforceSeccomp refuses
			}
			c.s.Linux.Seccomp = prof
			return "profile " + c.t.SeccompProfile, true
		}},
	{Path: "linux.maskedPaths", Means: "nothing masked (/proc/kcore, /proc/keys, /sys/firmware readable)", Fill: "runc's defaults plus Podman's",
		scope: scopeSpec, action: ActionOverride, reason: "runc's default masks are always applied",
		absent: func(c *absentCtx) bool { return len(c.s.Linux.MaskedPaths) == 0 },
		fill: func(c *absentCtx) (any, bool) {
			c.s.Linux.MaskedPaths = slices.Clone(DefaultMaskedPaths)
			return c.s.Linux.MaskedPaths, true
		}},
	{Path: "linux.readonlyPaths", Means: "nothing read-only (/proc/sys, /proc/sysrq-trigger writable)", Fill: "runc's defaults",
		scope: scopeSpec, action: ActionOverride, reason: "runc's default read-only paths are always applied",
		absent: func(c *absentCtx) bool { return len(c.s.Linux.ReadonlyPaths) == 0 },
		fill: func(c *absentCtx) (any, bool) {
			c.s.Linux.ReadonlyPaths = slices.Clone(DefaultReadonlyPaths)
			return c.s.Linux.ReadonlyPaths, true
		}},
	{Path: "linux.rootfsPropagation", Means: "the mount namespace's propagation, copied from the host's (shared on systemd hosts)", Fill: "rprivate",
		scope: scopeSpec, action: ActionOverride, reason: "mounts never propagate between host and container",
		absent: func(c *absentCtx) bool { return c.s.Linux.RootfsPropagation == "" },
		fill:   func(c *absentCtx) (any, bool) { c.s.Linux.RootfsPropagation = "rprivate"; return "rprivate", true }},
	{Path: "linux.mountLabel", Means: "no context= on the container's mounts: the host policy's default labels", Fill: "the tenant's mount_label, when set",
		scope: scopeSpec, action: ActionOverride, reason: "absent: the tenant's SELinux mount label (mount_label)",
		absent: func(c *absentCtx) bool { return c.s.Linux.MountLabel == "" && c.t.MountLabel != "" },
		fill:   func(c *absentCtx) (any, bool) { c.s.Linux.MountLabel = c.t.MountLabel; return c.t.MountLabel, true }},
	{Path: "linux.resources.devices", Means: "every device (no cgroup device rule)", Fill: "deny all, then allow the default devices",
		scope: scopeSpec, action: ActionOverride, reason: "deny all devices, then allow only the default set",
		absent: func(c *absentCtx) bool { return len(c.res.Devices) == 0 },
		fill: func(c *absentCtx) (any, bool) {
			c.res.Devices = defaultDeviceRules(c.t.AllowFuse)
			return len(c.res.Devices), true
		}},

	// linux.resources limits
	{Path: "linux.resources.memory.limit", Means: "no memory limit", Fill: "the tenant's per-container memory",
		scope: scopeResources, action: ActionClamp, reason: "tenant per-container memory quota",
		absent: func(c *absentCtx) bool { return c.res.Memory == nil || c.res.Memory.Limit == nil },
		fill: func(c *absentCtx) (any, bool) {
			if c.res.Memory == nil {
				c.res.Memory = &specs.LinuxMemory{}
			}
			c.res.Memory.Limit = ptr(c.t.Container.Memory)
			return c.t.Container.Memory, true
		}},
	{Path: "linux.resources.memory.swap", Means: "unlimited swap on top of the memory limit", Fill: "the memory limit (memory+swap = limit)",
		scope: scopeResources, action: ActionClamp, reason: "memory+swap equals the memory limit so swap cannot bypass it",
		absent: func(c *absentCtx) bool {
			return c.res.Memory != nil && c.res.Memory.Limit != nil && c.res.Memory.Swap == nil
		},
		fill: func(c *absentCtx) (any, bool) {
			c.res.Memory.Swap = ptr(*c.res.Memory.Limit)
			return *c.res.Memory.Swap, true
		}},
	{Path: "linux.resources.pids.limit", Means: "no task limit (fork bombs)", Fill: "the tenant's per-container pids",
		scope: scopeResources, action: ActionClamp, reason: "tenant per-container pids quota",
		absent: func(c *absentCtx) bool { return c.res.Pids == nil || c.res.Pids.Limit == nil },
		fill: func(c *absentCtx) (any, bool) {
			if c.res.Pids == nil {
				c.res.Pids = &specs.LinuxPids{}
			}
			c.res.Pids.Limit = ptr(c.t.Container.Pids)
			return c.t.Container.Pids, true
		}},
	{Path: "linux.resources.cpu", Means: "no CFS quota", Fill: "quota = the tenant's cpus × period (100000 unless a valid period was given)",
		scope: scopeResources, action: ActionClamp,
		reasonFor: func(t *Tenant) string { return fmt.Sprintf("tenant per-container cpus quota %.2f", t.Container.CPUs) },
		absent:    func(c *absentCtx) bool { return c.res.CPU == nil || c.res.CPU.Quota == nil },
		fill: func(c *absentCtx) (any, bool) {
			if c.res.CPU == nil {
				c.res.CPU = &specs.LinuxCPU{}
			}
			period := cpuPeriod(c.res.CPU.Period)
			q := cpuQuotaMax(c.t.Container.CPUs, period)
			c.res.CPU.Quota, c.res.CPU.Period = &q, &period
			return map[string]any{"quota": q, "period": period}, true
		}},
}

func capSetRow(name string, set func(*specs.LinuxCapabilities) *[]string) AbsentRow {
	return AbsentRow{Path: "capabilities." + name, Means: "(libcontainer: empty)", Fill: "an explicit empty set",
		scope:  scopeProcess, // quiet: an absent set was already empty
		absent: func(c *absentCtx) bool { return c.pr.Capabilities != nil && *set(c.pr.Capabilities) == nil },
		fill:   func(c *absentCtx) (any, bool) { *set(c.pr.Capabilities) = []string{}; return []string{}, true }}
}

func rlimitRow(typ, fill, reason string, v func(*Tenant) uint64) AbsentRow {
	return AbsentRow{Path: "rlimits." + typ, Means: "the runtime's limit, inherited", Fill: fill,
		scope: scopeProcess, decision: "rlimits", action: ActionClamp, reason: reason,
		absent: func(c *absentCtx) bool {
			return !slices.ContainsFunc(c.pr.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
		},
		fill: func(c *absentCtx) (any, bool) {
			n := v(c.t)
			r := specs.POSIXRlimit{Type: typ, Hard: n, Soft: n}
			c.pr.Rlimits = append(c.pr.Rlimits, r)
			return r, true
		}}
}

func lsmRow(field, lsm string, get func(*specs.Process) *string, forced func(*Tenant) string) AbsentRow {
	return AbsentRow{Path: field, Means: "the runtime's own " + lsm + " confinement (often unconfined)", Fill: "the tenant's forced value, when set",
		scope: scopeProcess, action: ActionOverride, reason: "absent: the tenant's " + lsm + " value",
		absent: func(c *absentCtx) bool { return *get(c.pr) == "" && forced(c.t) != "" },
		fill:   func(c *absentCtx) (any, bool) { *get(c.pr) = forced(c.t); return forced(c.t), true }}
}

func nsRow(typ specs.LinuxNamespaceType, means string) AbsentRow {
	return AbsentRow{Path: "linux.namespaces." + string(typ), Means: means, Fill: "a new " + string(typ) + " namespace",
		scope: scopeSpec, decision: "linux.namespaces", action: ActionOverride, reason: fmt.Sprintf("every container gets its own %s namespace", typ),
		absent: func(c *absentCtx) bool {
			return !slices.ContainsFunc(c.s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
		},
		fill: func(c *absentCtx) (any, bool) {
			c.s.Linux.Namespaces = append(c.s.Linux.Namespaces, specs.LinuxNamespace{Type: typ})
			return string(typ), true
		}}
}

func idmapRow(path string, m func(*specs.Linux) *[]specs.LinuxIDMapping, r func(*Tenant) IDRange) AbsentRow {
	return AbsentRow{Path: path, Means: "(with a new user namespace) no mapping: libcontainer refuses, or an engine's default",
		Fill: "[{0, start, size}] of the tenant's exclusive range", scope: scopeSpec, action: ActionOverride,
		reasonFor: func(t *Tenant) string { return "user namespace with tenant " + t.Name + "'s exclusive id range" },
		absent:    func(c *absentCtx) bool { return len(*m(c.s.Linux)) == 0 && privateNamespace(c.s, specs.UserNamespace) },
		fill: func(c *absentCtx) (any, bool) {
			rg := r(c.t)
			*m(c.s.Linux) = []specs.LinuxIDMapping{{ContainerID: 0, HostID: rg.Start, Size: rg.Size}}
			return *m(c.s.Linux), true
		}}
}

// privateNamespace: the spec has a new (not joined) namespace of the type.
func privateNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ && n.Path == "" })
}

// cpuPeriod is the CFS period a quota is computed for: the bundle's when valid.
func cpuPeriod(p *uint64) uint64 {
	if p != nil && *p >= 1000 && *p <= 1000000 {
		return *p
	}
	return DefaultCPUPeriod
}

// cpuQuotaMax is the largest quota for cpus in period (at least the kernel's 1 ms).
func cpuQuotaMax(cpus float64, period uint64) int64 {
	return max(int64(math.Round(cpus*float64(period))), 1000)
}

// fillAbsent applies the rows of the given scopes: each absent field gets the
// tenant's value and a decision.
func (p *pol) fillAbsent(c *absentCtx, scopes ...absentScope) {
	for _, row := range AbsentFields {
		if !slices.Contains(scopes, row.scope) {
			continue
		}
		if row.scope == scopeProcess && c.pr == nil || row.scope == scopeSpec && c.s == nil || row.scope == scopeResources && c.res == nil {
			continue
		}
		if !row.absent(c) {
			continue
		}
		v, ok := row.fill(c)
		if !ok || row.action == "" {
			continue
		}
		path := row.Path
		if row.decision != "" {
			path = row.decision
		}
		if row.scope == scopeProcess {
			path = c.base + "." + path
		}
		reason := row.reason
		if row.reasonFor != nil {
			reason = row.reasonFor(c.t)
		}
		p.decide(path, row.action, nil, v, reason)
	}
}

package hardening

// The operator configuration: its types and built-in values (parsing: config_parse.go;
// sizes: config_sizes.go; tenant resolution and id ranges: config_tenants.go).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Built-in values (documented in docs/config.md).
const (
	DefaultTenantName     = "default"
	DefaultCgroupParent   = "tenantrun"
	DefaultSeccompProfile = "web"
	DefaultMaxEnvBytes    = 1 << 20
	DefaultCPUPeriod      = 100000
	DefaultCountersDir    = "/var/lib/tenantrun/counters"
)

// DefaultQuota is what a tenant gets for any quota key it does not set.
var DefaultQuota = Quota{Memory: 512 << 20, Pids: 256, CPUs: 1, Tmpfs: 64 << 20, Nofile: 4096}

// DefaultCapabilities is the default capability allowlist: Podman's default 11.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// DefaultEngineRoots are where engines keep rootfs and per-container files
// (hosts, resolv.conf, hostname, .containerenv, shm, secrets).
var DefaultEngineRoots = []string{
	"/var/lib/containerd", "/run/containerd",
	"/var/lib/docker", "/run/docker", "/var/run/docker",
	"/var/lib/containers", "/run/containers", "/var/run/containers", "/run/libpod",
	"/var/lib/kubelet/pods",
}

// DefaultNetnsDirs hold network namespaces that engines (CNI) create.
var DefaultNetnsDirs = []string{"/run/netns", "/var/run/netns", "/run/docker/netns", "/var/run/docker/netns"}

// Quota is a set of resource limits.
type Quota struct {
	Memory int64   // bytes
	Pids   int64   // tasks
	CPUs   float64 // CPUs
	Tmpfs  int64   // bytes per tmpfs mount
	// TmpfsInodes bounds nr_inodes of each tmpfs mount (0: one per KiB of its size, at least
	// 16384).
	TmpfsInodes uint64
	Nofile      uint64 // RLIMIT_NOFILE
	// Block I/O limits on every block device behind the container's rootfs and the
	// tenant's bind roots (each device on its own, as the kernel throttles); 0 = not
	// limited. IOWeight (10..1000, 0 = the kernel's default) is the tenant parent's share.
	IOReadBPS   uint64 // bytes/s
	IOWriteBPS  uint64
	IOReadIOPS  uint64 // operations/s
	IOWriteIOPS uint64
	IOWeight    uint16
	// Disk (bytes) and Inodes limit the tenant's files on each of its bind roots, by
	// project quota (tenantrun tenants quota apply); 0 = none. [quota] only.
	Disk   int64
	Inodes uint64
}

// HasDiskQuota says whether a disk or inode quota is set.
func (q Quota) HasDiskQuota() bool { return q.Disk > 0 || q.Inodes > 0 }

// HasIOLimits says whether any block I/O throttle is set.
func (q Quota) HasIOLimits() bool {
	return q.IOReadBPS|q.IOWriteBPS|q.IOReadIOPS|q.IOWriteIOPS != 0
}

// IDRange is a host id range [Start, Start+Size).
type IDRange struct {
	Start uint32
	Size  uint32
}

func (r IDRange) String() string { return fmt.Sprintf("%d:%d", r.Start, r.Size) }

// End is the first id after the range (64-bit, so Start+Size cannot wrap).
func (r IDRange) End() uint64 { return uint64(r.Start) + uint64(r.Size) }

// Overlaps reports whether r and o share an id.
func (r IDRange) Overlaps(o IDRange) bool {
	return uint64(r.Start) < o.End() && uint64(o.Start) < r.End()
}

// Contains reports whether [start, start+size) lies inside r.
func (r IDRange) Contains(start, size uint64) bool {
	return start >= uint64(r.Start) && start+size <= r.End()
}

// ParseIDRange reads "START:SIZE" with 32-bit numbers and nothing else. It
// is the syntax shared by uid_range, id allocation records and the
// subuid/subgid files; parseRange adds the rules a tenant's range must keep.
func ParseIDRange(s string) (IDRange, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return IDRange{}, fmt.Errorf("%q is not START:SIZE", s)
	}
	start, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	size, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if err1 != nil || err2 != nil {
		return IDRange{}, fmt.Errorf("%q is not START:SIZE with 32-bit numbers", s)
	}
	return IDRange{Start: uint32(start), Size: uint32(size)}, nil
}

// Tenant is one tenant's resolved policy.
type Tenant struct {
	Name           string
	UIDs           IDRange
	GIDs           IDRange
	BindRoots      []string
	Capabilities   []string // allowlist, CAP_ names
	SeccompProfile string
	Mode           Mode // ModeEnforce or ModeAudit (EffectiveMode says ModeTrusted too)
	Trusted        bool
	Users          []int
	Quota          Quota // tenant-wide aggregate
	Container      Quota // per-container maximum and default
	OOMScoreAdjMin int
	ForeignIDMap   string // "refuse" or "override"
	AllowFuse      bool
	// ProjectID is the tenant's project on its bind roots' filesystems (project_id; 0: its
	// uid range's first id, see Project).
	ProjectID uint32
	// LSM (hardening/lsm.go): the tenant's forced AppArmor profile, SELinux process label
	// and mount label ("" = none), and the bundle values that may be kept instead (the
	// tenant's apparmor_allowed/selinux_allowed/mount_label_allowed, else [defaults]'s).
	Apparmor          string
	SELinuxLabel      string
	MountLabel        string
	ApparmorAllowed   []string
	SELinuxAllowed    []string
	MountLabelAllowed []string
	// Network is the tenant's network policy (hardening/network.go), [defaults.network]
	// overlaid with [tenants.NAME.network].
	Network NetPolicy
	// Warnings are the tenant's early-warning thresholds ([defaults.warnings] overlaid
	// with [tenants.NAME.warnings]; the notify command is the operator's).
	Warnings Warnings
	// AutoRange: uid_range = "auto": the runtime allocates an exclusive block from
	// the operator's id pool (defaults.id_pool_user in /etc/subuid and /etc/subgid)
	// and calls AssignRange before any policy runs. Until then UIDs/GIDs are empty
	// and Enforce refuses the tenant.
	AutoRange bool
}

// Project is the tenant's project id for disk quotas: project_id, else the first id of its
// uid range (tenants' ranges never overlap, and a static range is the same on every node,
// so a network volume keeps its project from node to node).
func (t *Tenant) Project() uint32 {
	if t.ProjectID != 0 {
		return t.ProjectID
	}
	return t.UIDs.Start
}

// TrustedAnnotation declares an annotation that names the tenant, trusted only for the
// engine whose state root (--root) lies under Root.
type TrustedAnnotation struct {
	Engine string            `toml:"engine"`
	Root   string            `toml:"root"`
	Key    string            `toml:"key"`
	Map    map[string]string `toml:"map"`
}

// Defaults is the [defaults] table.
type Defaults struct {
	AuditLog string
	// AuditLogFailOpen lets containers start when the audit log cannot be written
	// (logged on stderr); by default such a create is refused.
	AuditLogFailOpen bool
	FallbackTenant   string
	SeccompDir       string
	// Hooks are the hooks a bundle may name, each exactly as the operator declared it
	// ([defaults] hooks and [[defaults.hook]]): the policy replaces a bundle hook's
	// args, env and timeout with these (docs/security.md, invariant 14).
	Hooks              []HookDecl
	CgroupParent       string
	TrustedAnnotations []TrustedAnnotation
	EngineRoots        []string
	NetnsDirs          []string
	MaxEnvBytes        int
	RefusedAnnotations []string
	IDPoolUser         string // /etc/subuid and /etc/subgid owner whose ranges "auto" tenants get blocks from
	IDBlock            uint32 // size of an allocated block
	IDAllocations      string // where allocations are persisted
	// CountersDir keeps each tenant's fault counters of cgroups that are gone (deleted
	// containers, a removed parent), so they never go down (docs/quotas.md).
	CountersDir string
	// Operator allowlists of LSM values a bundle may keep (exact match), for tenants
	// that do not set their own.
	ApparmorAllowed   []string
	SELinuxAllowed    []string
	MountLabelAllowed []string
	// Network is the network policy of tenants that set none ([defaults.network] over
	// DefaultNetPolicy).
	Network NetPolicy
	// Warnings are [defaults.warnings] over DefaultWarnings.
	Warnings Warnings
}

// DefaultHookEnv is the whole environment of a hook declared without env (the plain
// path form of [defaults] hooks included): nothing of the runtime's or the bundle's.
var DefaultHookEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// HookDecl is an allowlisted hook as the operator declared it: the only argv,
// environment and timeout it ever runs with, whatever the bundle says.
type HookDecl struct {
	Path string
	// Binary, instead of Path: the hook a bundle names as /proc/<pid>/exe of a running
	// process of this program (dockerd's libnetwork-setkey). It runs as Binary itself,
	// so the pid, which changes with every daemon restart, decides nothing.
	Binary  string
	Args    []string // argv, argv[0] included; [Path] when not declared; HookIDPlaceholder: the container id; HookHexPlaceholder: the bundle's hex word
	Env     []string // the whole environment; DefaultHookEnv when not declared
	Timeout *int     // seconds; nil: none (whatever the bundle asks)
}

// HookIDPlaceholder in a declared hook arg stands for the container id (dockerd's
// libnetwork-setkey hook takes it as an argument). The id is [A-Za-z0-9_.-] only.
const HookIDPlaceholder = "{id}"

// HookHexPlaceholder, as a whole declared hook arg, takes the bundle's argument at that
// position when it is 1 to 64 lowercase hex digits, and refuses the hook otherwise:
// dockerd's controller id, which changes with every restart and only names a socket
// below the declared exec root (a word no hook can read as an option or a path).
const HookHexPlaceholder = "{hex}"

var hexWordRe = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// ArgsFor is the argv the hook runs with for container id, given the bundle's argv:
// the declared args with HookIDPlaceholder replaced and each HookHexPlaceholder taken
// from the bundle's argument at its position. An id that would start an argument with
// "-" is an error (the hook would read it as an option), and so is a bundle argument
// that is not a hex word where one is declared.
func (h *HookDecl) ArgsFor(id string, bundle []string) ([]string, error) {
	out := make([]string, len(h.Args))
	for i, a := range h.Args {
		if a == HookHexPlaceholder {
			if i >= len(bundle) || !hexWordRe.MatchString(bundle[i]) {
				got := "none"
				if i < len(bundle) {
					got = fmt.Sprintf("%q", bundle[i])
				}
				return nil, fmt.Errorf("hook argument %d must be 1 to 64 lowercase hex digits (declared %s), got %s", i, HookHexPlaceholder, got)
			}
			out[i] = bundle[i]
			continue
		}
		if strings.HasPrefix(a, HookIDPlaceholder) && strings.HasPrefix(id, "-") {
			return nil, fmt.Errorf("container id %q would make hook argument %d start with \"-\" (an option)", id, i)
		}
		out[i] = strings.ReplaceAll(a, HookIDPlaceholder, id)
	}
	return out, nil
}

// HookDecl returns the operator's declaration of the hook at path, or nil.
func (d *Defaults) HookDecl(path string) *HookDecl {
	for i := range d.Hooks {
		if d.Hooks[i].Path == path && d.Hooks[i].Binary == "" {
			return &d.Hooks[i]
		}
	}
	return nil
}

// procExeRe is the shape of a hook path that names a process's program by pid.
var procExeRe = regexp.MustCompile(`^/proc/([1-9][0-9]{0,9})/exe$`)

// ProcExePid is the pid of a /proc/<pid>/exe hook path, or 0.
func ProcExePid(path string) int {
	m := procExeRe.FindStringSubmatch(path)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0
	}
	return n
}

// BinaryHookDecls are the declarations by binary, in the order given.
func (d *Defaults) BinaryHookDecls() []*HookDecl {
	var out []*HookDecl
	for i := range d.Hooks {
		if d.Hooks[i].Binary != "" {
			out = append(out, &d.Hooks[i])
		}
	}
	return out
}

// Config is the operator configuration.
type Config struct {
	Path     string // file it came from ("" for built-in)
	Defaults Defaults
	Tenants  map[string]*Tenant
}

// raw TOML shapes -----------------------------------------------------------

// Mode is how a tenant's bundles are treated: enforced, audited (the floor enforced, the
// rest logged), or passed through (a trusted tenant). It is recorded with each container.
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeAudit   Mode = "audit"
	ModeTrusted Mode = "trusted"
)

// EffectiveMode is the tenant's mode, ModeTrusted for a trusted tenant whatever its mode.
func (t *Tenant) EffectiveMode() Mode {
	if t.Trusted {
		return ModeTrusted
	}
	return t.Mode
}

// Policed says whether the tenant policy runs (enforce or audit), unlike a trusted tenant.
func (m Mode) Policed() bool { return m == ModeEnforce || m == ModeAudit }

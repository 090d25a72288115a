package hardening

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Built-in values (documented in docs/config.md).
const (
	DefaultTenantName     = "default"
	DefaultCgroupParent   = "tenantrun"
	DefaultSeccompProfile = "web"
	DefaultMaxEnvBytes    = 1 << 20
	DefaultCPUPeriod      = 100000
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
	Nofile uint64  // RLIMIT_NOFILE
}

// IDRange is a host id range [Start, Start+Size).
type IDRange struct {
	Start uint32
	Size  uint32
}

func (r IDRange) String() string { return fmt.Sprintf("%d:%d", r.Start, r.Size) }

func (r IDRange) end() uint64 { return uint64(r.Start) + uint64(r.Size) }

func (r IDRange) overlaps(o IDRange) bool {
	return uint64(r.Start) < o.end() && uint64(o.Start) < r.end()
}

// contains reports whether [start, start+size) lies inside r.
func (r IDRange) contains(start, size uint64) bool {
	return start >= uint64(r.Start) && start+size <= r.end()
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
	// LSM (hardening/lsm.go): the tenant's forced AppArmor profile, SELinux process label
	// and mount label ("" = none), and the bundle values that may be kept instead (the
	// tenant's apparmor_allowed/selinux_allowed/mount_label_allowed, else [defaults]'s).
	Apparmor          string
	SELinuxLabel      string
	MountLabel        string
	ApparmorAllowed   []string
	SELinuxAllowed    []string
	MountLabelAllowed []string
	// AutoRange: uid_range = "auto": the runtime allocates an exclusive block from
	// the operator's id pool (defaults.id_pool_user in /etc/subuid and /etc/subgid)
	// and calls AssignRange before any policy runs. Until then UIDs/GIDs are empty
	// and Enforce refuses the tenant.
	AutoRange bool
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
	// Operator allowlists of LSM values a bundle may keep (exact match), for tenants
	// that do not set their own.
	ApparmorAllowed   []string
	SELinuxAllowed    []string
	MountLabelAllowed []string
}

// DefaultHookEnv is the whole environment of a hook declared without env (the plain
// path form of [defaults] hooks included): nothing of the runtime's or the bundle's.
var DefaultHookEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// HookDecl is an allowlisted hook as the operator declared it: the only argv,
// environment and timeout it ever runs with, whatever the bundle says.
type HookDecl struct {
	Path    string
	Args    []string // argv, argv[0] included; [Path] when not declared; HookIDPlaceholder: the container id
	Env     []string // the whole environment; DefaultHookEnv when not declared
	Timeout *int     // seconds; nil: none (whatever the bundle asks)
}

// HookIDPlaceholder in a declared hook arg stands for the container id (dockerd's
// libnetwork-setkey hook takes it as an argument). The id is [A-Za-z0-9_.-] only.
const HookIDPlaceholder = "{id}"

// ArgsFor is the argv the hook runs with for container id: the declared args with
// HookIDPlaceholder replaced. An id that would start an argument with "-" is an error: the
// hook would read it as an option.
func (h *HookDecl) ArgsFor(id string) ([]string, error) {
	out := make([]string, len(h.Args))
	for i, a := range h.Args {
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
		if d.Hooks[i].Path == path {
			return &d.Hooks[i]
		}
	}
	return nil
}

// Config is the operator configuration.
type Config struct {
	Path     string // file it came from ("" for built-in)
	Defaults Defaults
	Tenants  map[string]*Tenant
}

// raw TOML shapes -----------------------------------------------------------

type rawQuota struct {
	Memory any      `toml:"memory"`
	Pids   *int64   `toml:"pids"`
	CPUs   *float64 `toml:"cpus"`
	Tmpfs  any      `toml:"tmpfs"`
	Nofile *int64   `toml:"nofile"`
}

type rawTenant struct {
	UIDRange       string    `toml:"uid_range"`
	GIDRange       string    `toml:"gid_range"`
	BindRoots      []string  `toml:"bind_roots"`
	Capabilities   *[]string `toml:"capabilities"`
	SeccompProfile string    `toml:"seccomp_profile"`
	Mode           string    `toml:"mode"`
	Trusted        bool      `toml:"trusted"`
	Users          []int     `toml:"users"`
	Quota          *rawQuota `toml:"quota"`
	Container      *rawQuota `toml:"container"`
	OOMScoreAdjMin *int      `toml:"oom_score_adj_min"`
	ForeignIDMap   string    `toml:"foreign_idmap"`
	AllowFuse      bool      `toml:"allow_fuse"`
	Apparmor       string    `toml:"apparmor_profile"`
	SELinuxLabel   string    `toml:"selinux_label"`
	MountLabel     string    `toml:"mount_label"`
	// Pointers: a tenant's list, even [], replaces the [defaults] one.
	ApparmorAllowed   *[]string `toml:"apparmor_allowed"`
	SELinuxAllowed    *[]string `toml:"selinux_allowed"`
	MountLabelAllowed *[]string `toml:"mount_label_allowed"`
}

type rawDefaults struct {
	AuditLog           string              `toml:"audit_log"`
	AuditLogFailOpen   bool                `toml:"audit_log_fail_open"`
	FallbackTenant     string              `toml:"fallback_tenant"`
	SeccompDir         string              `toml:"seccomp_dir"`
	Hooks              []string            `toml:"hooks"`
	Hook               []rawHook           `toml:"hook"`
	CgroupParent       string              `toml:"cgroup_parent"`
	TrustedAnnotations []TrustedAnnotation `toml:"trusted_annotations"`
	EngineRoots        *[]string           `toml:"engine_roots"`
	NetnsDirs          *[]string           `toml:"netns_dirs"`
	MaxEnvBytes        int                 `toml:"max_env_bytes"`
	RefusedAnnotations []string            `toml:"refused_annotations"`
	IDPoolUser         string              `toml:"id_pool_user"`
	IDBlock            uint32              `toml:"id_block"`
	IDAllocations      string              `toml:"id_allocations"`
	ApparmorAllowed    []string            `toml:"apparmor_allowed"`
	SELinuxAllowed     []string            `toml:"selinux_allowed"`
	MountLabelAllowed  []string            `toml:"mount_label_allowed"`
}

// rawHook is one [[defaults.hook]] table. Pointers: absent and [] differ (an empty
// args or env is refused, not defaulted).
type rawHook struct {
	Path    string    `toml:"path"`
	Args    *[]string `toml:"args"`
	Env     *[]string `toml:"env"`
	Timeout *int      `toml:"timeout"`
}

type rawConfig struct {
	Defaults rawDefaults           `toml:"defaults"`
	Tenants  map[string]*rawTenant `toml:"tenants"`
}

// BuiltinConfig is the configuration used when no file exists: one tenant "default"
// (uid/gid range 1000000:65536, DefaultQuota) that is also the fallback tenant, so
// `make demo` works with no file. Its foreign_idmap is "override": whatever mapping a
// local engine hands over is replaced by the tenant's range.
func BuiltinConfig() *Config {
	c, err := ParseConfig([]byte(`
[defaults]
fallback_tenant = "default"
[tenants.default]
uid_range = "1000000:65536"
foreign_idmap = "override"
`))
	if err != nil {
		panic(err)
	}
	return c
}

var tenantNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ParseConfig parses and validates TOML configuration text.
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		var sme *toml.StrictMissingError
		if errors.As(err, &sme) && len(sme.Errors) > 0 {
			keys := []string{}
			for _, e := range sme.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return nil, fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			key := strings.Join(de.Key(), ".")
			if key != "" {
				return nil, fmt.Errorf("key %s (line %d, column %d): %s", key, row, col, de.Error())
			}
			return nil, fmt.Errorf("line %d, column %d: %s", row, col, de.Error())
		}
		return nil, err
	}
	c := &Config{Tenants: map[string]*Tenant{}}
	d := raw.Defaults
	c.Defaults = Defaults{
		AuditLog: d.AuditLog, AuditLogFailOpen: d.AuditLogFailOpen, FallbackTenant: d.FallbackTenant, SeccompDir: d.SeccompDir,
		CgroupParent: d.CgroupParent, TrustedAnnotations: d.TrustedAnnotations,
		MaxEnvBytes: d.MaxEnvBytes, RefusedAnnotations: d.RefusedAnnotations,
		EngineRoots: DefaultEngineRoots, NetnsDirs: DefaultNetnsDirs,
		IDPoolUser: d.IDPoolUser, IDBlock: d.IDBlock, IDAllocations: d.IDAllocations,
		ApparmorAllowed: d.ApparmorAllowed, SELinuxAllowed: d.SELinuxAllowed, MountLabelAllowed: d.MountLabelAllowed,
	}
	if err := checkLSMAllowlists("defaults", c.Defaults.ApparmorAllowed, c.Defaults.SELinuxAllowed, c.Defaults.MountLabelAllowed); err != nil {
		return nil, err
	}
	if c.Defaults.IDPoolUser == "" {
		c.Defaults.IDPoolUser = "tenantrun"
	}
	if c.Defaults.IDBlock == 0 {
		c.Defaults.IDBlock = 65536
	}
	if c.Defaults.IDAllocations == "" {
		c.Defaults.IDAllocations = "/var/lib/tenantrun/id-allocations.json"
	}
	if !filepath.IsAbs(c.Defaults.IDAllocations) {
		return nil, fmt.Errorf("key defaults.id_allocations: %q must be an absolute path", c.Defaults.IDAllocations)
	}
	if d.EngineRoots != nil {
		c.Defaults.EngineRoots = *d.EngineRoots
	}
	if d.NetnsDirs != nil {
		c.Defaults.NetnsDirs = *d.NetnsDirs
	}
	if c.Defaults.CgroupParent == "" {
		c.Defaults.CgroupParent = DefaultCgroupParent
	}
	if !tenantNameRe.MatchString(c.Defaults.CgroupParent) {
		return nil, fmt.Errorf("key defaults.cgroup_parent: %q must match %s", c.Defaults.CgroupParent, tenantNameRe)
	}
	if c.Defaults.MaxEnvBytes == 0 {
		c.Defaults.MaxEnvBytes = DefaultMaxEnvBytes
	}
	if c.Defaults.MaxEnvBytes < 0 {
		return nil, fmt.Errorf("key defaults.max_env_bytes: must be positive")
	}
	hooks, err := buildHooks(d.Hooks, d.Hook)
	if err != nil {
		return nil, err
	}
	c.Defaults.Hooks = hooks
	for _, list := range []struct {
		key string
		v   []string
	}{{"defaults.engine_roots", c.Defaults.EngineRoots}, {"defaults.netns_dirs", c.Defaults.NetnsDirs}} {
		for i, p := range list.v {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return nil, fmt.Errorf("key %s[%d]: %q must be a clean absolute path other than /", list.key, i, p)
			}
		}
	}
	for i, ta := range c.Defaults.TrustedAnnotations {
		k := fmt.Sprintf("defaults.trusted_annotations[%d]", i)
		if ta.Key == "" {
			return nil, fmt.Errorf("key %s.key: missing", k)
		}
		if !filepath.IsAbs(ta.Root) || filepath.Clean(ta.Root) != ta.Root || ta.Root == "/" {
			return nil, fmt.Errorf("key %s.root: %q must be a clean absolute path other than / (the --root of the engine trusted to set %s)", k, ta.Root, ta.Key)
		}
	}
	names := make([]string, 0, len(raw.Tenants))
	for n := range raw.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t, err := buildTenant(n, raw.Tenants[n], &c.Defaults)
		if err != nil {
			return nil, err
		}
		c.Tenants[n] = t
	}
	// Exclusive ranges: no two tenants may share a host uid or gid.
	for i, a := range names {
		for _, b := range names[i+1:] {
			ta, tb := c.Tenants[a], c.Tenants[b]
			if ta.UIDs.overlaps(tb.UIDs) {
				return nil, fmt.Errorf("key tenants.%s.uid_range: %s overlaps tenants.%s.uid_range %s (ranges must be exclusive)", b, tb.UIDs, a, ta.UIDs)
			}
			if ta.GIDs.overlaps(tb.GIDs) {
				return nil, fmt.Errorf("key tenants.%s.gid_range: %s overlaps tenants.%s.gid_range %s (ranges must be exclusive)", b, tb.GIDs, a, ta.GIDs)
			}
			// Exclusive bind roots: a root inside (or equal to) another tenant's would let
			// one tenant bind the other's volumes.
			for _, ra := range ta.BindRoots {
				for _, rb := range tb.BindRoots {
					if within(ra, rb) || within(rb, ra) {
						return nil, fmt.Errorf("key tenants.%s.bind_roots: %q overlaps tenants.%s.bind_roots %q (bind roots must not nest or repeat across tenants)", b, rb, a, ra)
					}
				}
			}
			for _, u := range ta.Users {
				for _, v := range tb.Users {
					if u == v {
						return nil, fmt.Errorf("key tenants.%s.users: uid %d is also a user of tenant %s", b, u, a)
					}
				}
			}
		}
	}
	if f := c.Defaults.FallbackTenant; f != "" {
		if _, ok := c.Tenants[f]; !ok {
			return nil, fmt.Errorf("key defaults.fallback_tenant: no tenant %q", f)
		}
	}
	for i, ta := range c.Defaults.TrustedAnnotations {
		for v, tn := range ta.Map {
			if _, ok := c.Tenants[tn]; !ok {
				return nil, fmt.Errorf("key defaults.trusted_annotations[%d].map.%s: no tenant %q", i, v, tn)
			}
		}
	}
	return c, nil
}

// buildHooks turns [defaults] hooks (plain paths: argv [path], DefaultHookEnv, no
// timeout) and [[defaults.hook]] (whole declarations) into the hook allowlist. A path
// is declared once: the declaration is what every bundle hook naming it runs with.
func buildHooks(paths []string, tables []rawHook) ([]HookDecl, error) {
	var out []HookDecl
	seen := map[string]string{}
	add := func(key string, h HookDecl) error {
		if !filepath.IsAbs(h.Path) || filepath.Clean(h.Path) != h.Path {
			return fmt.Errorf("key %s: %q must be a clean absolute path", key, h.Path)
		}
		if prev, ok := seen[h.Path]; ok {
			return fmt.Errorf("key %s: hook %q is already declared by %s (one declaration per path)", key, h.Path, prev)
		}
		seen[h.Path] = key
		out = append(out, h)
		return nil
	}
	for i, p := range paths {
		if err := add(fmt.Sprintf("defaults.hooks[%d]", i), HookDecl{Path: p, Args: []string{p}, Env: slices.Clone(DefaultHookEnv)}); err != nil {
			return nil, err
		}
	}
	for i, t := range tables {
		k := fmt.Sprintf("defaults.hook[%d]", i)
		if t.Path == "" {
			return nil, fmt.Errorf("key %s.path: missing", k)
		}
		h := HookDecl{Path: t.Path, Args: []string{t.Path}, Env: slices.Clone(DefaultHookEnv), Timeout: t.Timeout}
		if t.Args != nil {
			if len(*t.Args) == 0 {
				return nil, fmt.Errorf("key %s.args: empty; give at least argv[0] (or leave args out for [path])", k)
			}
			h.Args = slices.Clone(*t.Args)
		}
		for j, a := range h.Args {
			if strings.ContainsRune(a, 0) {
				return nil, fmt.Errorf("key %s.args[%d]: contains a NUL byte", k, j)
			}
		}
		if t.Env != nil {
			// An empty environment is refused rather than kept: a nil one would make the
			// hook inherit the runtime's (the engine's) environment.
			if len(*t.Env) == 0 {
				return nil, fmt.Errorf("key %s.env: empty; give at least one NAME=value (or leave env out for %s)", k, strings.Join(DefaultHookEnv, " "))
			}
			h.Env = slices.Clone(*t.Env)
		}
		for j, e := range h.Env {
			name, _, ok := strings.Cut(e, "=")
			if !ok || name == "" || strings.ContainsRune(e, 0) {
				return nil, fmt.Errorf("key %s.env[%d]: %q is not NAME=value", k, j, e)
			}
		}
		if t.Timeout != nil && *t.Timeout <= 0 {
			return nil, fmt.Errorf("key %s.timeout: %d must be a positive number of seconds (leave it out for none)", k, *t.Timeout)
		}
		if err := add(k+".path", h); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseRange(key, s string) (IDRange, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return IDRange{}, fmt.Errorf("key %s: %q is not START:SIZE", key, s)
	}
	start, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	size, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if err1 != nil || err2 != nil {
		return IDRange{}, fmt.Errorf("key %s: %q is not START:SIZE with 32-bit numbers", key, s)
	}
	if start < 65536 {
		return IDRange{}, fmt.Errorf("key %s: start %d is below 65536 (host root and host users live there)", key, start)
	}
	if size < 1 || start+size > math.MaxUint32 {
		return IDRange{}, fmt.Errorf("key %s: size %d must be at least 1 and the range must end below 4294967295", key, size)
	}
	return IDRange{Start: uint32(start), Size: uint32(size)}, nil
}

func buildTenant(name string, r *rawTenant, d *Defaults) (*Tenant, error) {
	k := "tenants." + name
	if !tenantNameRe.MatchString(name) {
		return nil, fmt.Errorf("key %s: tenant names must match %s", k, tenantNameRe)
	}
	if r == nil {
		return nil, fmt.Errorf("key %s: empty", k)
	}
	t := &Tenant{Name: name, Trusted: r.Trusted, Users: r.Users, AllowFuse: r.AllowFuse}
	if err := buildTenantLSM(k, r, d, t); err != nil {
		return nil, err
	}
	if r.UIDRange == "" {
		return nil, fmt.Errorf("key %s.uid_range: missing (\"START:SIZE\", or \"auto\" to allocate from defaults.id_pool_user's /etc/subuid ranges)", k)
	}
	var err error
	if r.UIDRange == "auto" {
		if r.GIDRange != "" {
			return nil, fmt.Errorf("key %s.gid_range: must be absent with uid_range = \"auto\" (both come from the pool)", k)
		}
		t.AutoRange = true
	} else if t.UIDs, err = parseRange(k+".uid_range", r.UIDRange); err != nil {
		return nil, err
	}
	t.GIDs = t.UIDs
	if r.GIDRange != "" {
		if t.GIDs, err = parseRange(k+".gid_range", r.GIDRange); err != nil {
			return nil, err
		}
	}
	for i, br := range r.BindRoots {
		if !filepath.IsAbs(br) || filepath.Clean(br) != br || br == "/" {
			return nil, fmt.Errorf("key %s.bind_roots[%d]: %q must be a clean absolute path other than /", k, i, br)
		}
	}
	t.BindRoots = r.BindRoots
	t.Capabilities = DefaultCapabilities
	if r.Capabilities != nil {
		t.Capabilities = nil
		for i, c := range *r.Capabilities {
			cn := strings.ToUpper(c)
			if !strings.HasPrefix(cn, "CAP_") {
				cn = "CAP_" + cn
			}
			if !knownCap(cn) {
				return nil, fmt.Errorf("key %s.capabilities[%d]: unknown capability %q", k, i, c)
			}
			if why, bad := dangerousCaps[cn]; bad {
				return nil, fmt.Errorf("key %s.capabilities[%d]: %s cannot be granted to a tenant (%s)", k, i, cn, why)
			}
			t.Capabilities = append(t.Capabilities, cn)
		}
	}
	t.SeccompProfile = r.SeccompProfile
	if t.SeccompProfile == "" {
		t.SeccompProfile = DefaultSeccompProfile
	}
	switch r.Mode {
	case "", "enforce":
		t.Mode = ModeEnforce
	case "audit":
		t.Mode = ModeAudit
	default:
		return nil, fmt.Errorf("key %s.mode: %q must be \"enforce\" or \"audit\"", k, r.Mode)
	}
	switch r.ForeignIDMap {
	case "", "refuse":
		t.ForeignIDMap = "refuse"
	case "override":
		t.ForeignIDMap = "override"
	default:
		return nil, fmt.Errorf("key %s.foreign_idmap: %q must be \"refuse\" or \"override\"", k, r.ForeignIDMap)
	}
	for i, u := range r.Users {
		if u <= 0 {
			return nil, fmt.Errorf("key %s.users[%d]: %d must be a non-root uid", k, i, u)
		}
	}
	if r.OOMScoreAdjMin != nil {
		if *r.OOMScoreAdjMin < 0 || *r.OOMScoreAdjMin > 1000 {
			return nil, fmt.Errorf("key %s.oom_score_adj_min: %d must be in 0..1000", k, *r.OOMScoreAdjMin)
		}
		t.OOMScoreAdjMin = *r.OOMScoreAdjMin
	}
	if t.Quota, err = buildQuota(k+".quota", r.Quota, DefaultQuota); err != nil {
		return nil, err
	}
	if t.Container, err = buildQuota(k+".container", r.Container, t.Quota); err != nil {
		return nil, err
	}
	q, cq := t.Quota, t.Container
	switch {
	case cq.Memory > q.Memory:
		return nil, fmt.Errorf("key %s.container.memory: larger than the tenant quota", k)
	case cq.Pids > q.Pids:
		return nil, fmt.Errorf("key %s.container.pids: larger than the tenant quota", k)
	case cq.CPUs > q.CPUs:
		return nil, fmt.Errorf("key %s.container.cpus: larger than the tenant quota", k)
	case cq.Tmpfs > q.Tmpfs:
		return nil, fmt.Errorf("key %s.container.tmpfs: larger than the tenant quota", k)
	case cq.Nofile > q.Nofile:
		return nil, fmt.Errorf("key %s.container.nofile: larger than the tenant quota", k)
	}
	return t, nil
}

func buildQuota(k string, r *rawQuota, def Quota) (Quota, error) {
	q := def
	if r == nil {
		return q, nil
	}
	var err error
	if r.Memory != nil {
		if q.Memory, err = parseSizeValue(k+".memory", r.Memory); err != nil {
			return q, err
		}
		if q.Memory < 4<<20 {
			return q, fmt.Errorf("key %s.memory: at least 4M", k)
		}
	}
	if r.Tmpfs != nil {
		if q.Tmpfs, err = parseSizeValue(k+".tmpfs", r.Tmpfs); err != nil {
			return q, err
		}
		if q.Tmpfs < 4096 {
			return q, fmt.Errorf("key %s.tmpfs: at least 4k", k)
		}
	}
	if r.Pids != nil {
		if *r.Pids < 1 {
			return q, fmt.Errorf("key %s.pids: must be at least 1", k)
		}
		q.Pids = *r.Pids
	}
	if r.CPUs != nil {
		if *r.CPUs < 0.01 || *r.CPUs > 4096 || math.IsNaN(*r.CPUs) {
			return q, fmt.Errorf("key %s.cpus: %v must be in 0.01..4096", k, *r.CPUs)
		}
		q.CPUs = *r.CPUs
	}
	if r.Nofile != nil {
		if *r.Nofile < 16 || *r.Nofile > 1<<20 {
			return q, fmt.Errorf("key %s.nofile: %d must be in 16..1048576", k, *r.Nofile)
		}
		q.Nofile = uint64(*r.Nofile)
	}
	return q, nil
}

func parseSizeValue(k string, v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x <= 0 {
			return 0, fmt.Errorf("key %s: must be positive", k)
		}
		return x, nil
	case string:
		n, err := ParseSize(x)
		if err != nil {
			return 0, fmt.Errorf("key %s: %v", k, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("key %s: must be a size like \"128M\" or a number of bytes", k)
}

// ParseSize parses "128M", "64Mi", "1G", "65536k", "4096" (bytes, binary units).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	l := strings.ToLower(t)
	l = strings.TrimSuffix(strings.TrimSuffix(l, "b"), "i")
	if n := len(l); n > 0 {
		switch l[n-1] {
		case 'k':
			mult, l = 1<<10, l[:n-1]
		case 'm':
			mult, l = 1<<20, l[:n-1]
		case 'g':
			mult, l = 1<<30, l[:n-1]
		case 't':
			mult, l = 1<<40, l[:n-1]
		}
	}
	n, err := strconv.ParseInt(l, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// TenantRequest carries the sources a tenant cannot write.
type TenantRequest struct {
	Flag        string            // --tenant
	CallerUID   int               // the calling user's uid
	Root        string            // --root (identifies the engine)
	Annotations map[string]string // only keys declared trusted for the engine are read
}

// ResolveTenant picks the tenant from sources a tenant cannot write, in this order:
// a non-root caller's uid (rootless; --tenant may only repeat it), --tenant, an
// annotation declared trusted for the engine whose --root this is, the fallback tenant.
func (c *Config) ResolveTenant(r TenantRequest) (*Tenant, error) {
	if r.CallerUID > 0 {
		for _, n := range c.tenantNames() {
			t := c.Tenants[n]
			for _, u := range t.Users {
				if u == r.CallerUID {
					if r.Flag != "" && r.Flag != n {
						return nil, fmt.Errorf("tenant: --tenant %q does not match the calling user's tenant %q", r.Flag, n)
					}
					return t, nil
				}
			}
		}
		if r.Flag != "" {
			return nil, fmt.Errorf("tenant: uid %d may not choose tenant %q with --tenant (not in its users)", r.CallerUID, r.Flag)
		}
		if f := c.Defaults.FallbackTenant; f != "" {
			return c.Tenants[f], nil
		}
		return nil, fmt.Errorf("tenant: uid %d belongs to no tenant and no fallback_tenant is configured", r.CallerUID)
	}
	if r.Flag != "" {
		t, ok := c.Tenants[r.Flag]
		if !ok {
			return nil, fmt.Errorf("tenant: unknown tenant %q (--tenant)", r.Flag)
		}
		return t, nil
	}
	root := filepath.Clean(r.Root)
	for _, ta := range c.Defaults.TrustedAnnotations {
		if r.Root == "" || !within(root, ta.Root) {
			continue
		}
		v, ok := r.Annotations[ta.Key]
		if !ok || v == "" {
			continue
		}
		name := v
		if len(ta.Map) > 0 {
			m, ok := ta.Map[v]
			if !ok {
				continue
			}
			name = m
		}
		if t, ok := c.Tenants[name]; ok {
			return t, nil
		}
	}
	if f := c.Defaults.FallbackTenant; f != "" {
		return c.Tenants[f], nil
	}
	return nil, fmt.Errorf("tenant: no --tenant, no trusted annotation and no fallback_tenant: refusing to guess")
}

func (c *Config) tenantNames() []string {
	n := make([]string, 0, len(c.Tenants))
	for k := range c.Tenants {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// within reports whether clean absolute path p is dir or below it (component-wise).
func within(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// AssignRange gives an "auto" tenant its allocated block (uids and gids alike),
// refusing one that overlaps another tenant's range or starts below 65536.
func (c *Config) AssignRange(name string, r IDRange) error {
	t, ok := c.Tenants[name]
	if !ok || !t.AutoRange {
		return fmt.Errorf("tenant %q has no uid_range = \"auto\"", name)
	}
	if r.Start < 65536 || r.Size == 0 || uint64(r.Start)+uint64(r.Size) > math.MaxUint32 {
		return fmt.Errorf("tenant %s: allocated range %s is not usable", name, r)
	}
	for _, n := range c.tenantNames() {
		o := c.Tenants[n]
		if n == name {
			continue
		}
		if o.UIDs.overlaps(r) || o.GIDs.overlaps(r) {
			return fmt.Errorf("tenant %s: allocated range %s overlaps tenant %s (%s)", name, r, n, o.UIDs)
		}
	}
	t.UIDs, t.GIDs = r, r
	return nil
}

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

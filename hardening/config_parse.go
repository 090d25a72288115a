package hardening

// ParseConfig: the TOML file into a Config, every key checked.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

type rawQuota struct {
	Memory      any      `toml:"memory"`
	Pids        *int64   `toml:"pids"`
	CPUs        *float64 `toml:"cpus"`
	Tmpfs       any      `toml:"tmpfs"`
	TmpfsInodes *int64   `toml:"tmpfs_inodes"`
	Nofile      *int64   `toml:"nofile"`
	// Block I/O (per device, see Quota): bytes/s as a size ("20M") or a number, and
	// operations/s; the weight is a tenant share, [quota] only.
	IOReadBPS   any    `toml:"io_read_bps"`
	IOWriteBPS  any    `toml:"io_write_bps"`
	IOReadIOPS  *int64 `toml:"io_read_iops"`
	IOWriteIOPS *int64 `toml:"io_write_iops"`
	IOWeight    *int64 `toml:"io_weight"`
	// Disk space and inodes on each bind root, by project quota ([quota] only).
	Disk   any    `toml:"disk"`
	Inodes *int64 `toml:"inodes"`
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
	ProjectID      *int64    `toml:"project_id"`
	Apparmor       string    `toml:"apparmor_profile"`
	SELinuxLabel   string    `toml:"selinux_label"`
	MountLabel     string    `toml:"mount_label"`
	// Pointers: a tenant's list, even [], replaces the [defaults] one.
	ApparmorAllowed   *[]string    `toml:"apparmor_allowed"`
	SELinuxAllowed    *[]string    `toml:"selinux_allowed"`
	MountLabelAllowed *[]string    `toml:"mount_label_allowed"`
	Network           *rawNetwork  `toml:"network"`
	Warnings          *rawWarnings `toml:"warnings"`
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
	CountersDir        string              `toml:"counters_dir"`
	ApparmorAllowed    []string            `toml:"apparmor_allowed"`
	SELinuxAllowed     []string            `toml:"selinux_allowed"`
	MountLabelAllowed  []string            `toml:"mount_label_allowed"`
	Network            *rawNetwork         `toml:"network"`
	Warnings           *rawWarnings        `toml:"warnings"`
}

// rawHook is one [[defaults.hook]] table. Pointers: absent and [] differ (an empty
// args or env is refused, not defaulted).
type rawHook struct {
	Path    string    `toml:"path"`
	Binary  string    `toml:"binary"`
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
		IDPoolUser: d.IDPoolUser, IDBlock: d.IDBlock, IDAllocations: d.IDAllocations, CountersDir: d.CountersDir,
		ApparmorAllowed: d.ApparmorAllowed, SELinuxAllowed: d.SELinuxAllowed, MountLabelAllowed: d.MountLabelAllowed,
	}
	if err := checkLSMAllowlists("defaults", c.Defaults.ApparmorAllowed, c.Defaults.SELinuxAllowed, c.Defaults.MountLabelAllowed); err != nil {
		return nil, err
	}
	var err error
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
	if c.Defaults.CountersDir == "" {
		c.Defaults.CountersDir = DefaultCountersDir
	}
	if !filepath.IsAbs(c.Defaults.CountersDir) || filepath.Clean(c.Defaults.CountersDir) != c.Defaults.CountersDir || c.Defaults.CountersDir == "/" {
		return nil, fmt.Errorf("key defaults.counters_dir: %q must be a clean absolute path other than /", c.Defaults.CountersDir)
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
	if c.Defaults.Network, err = buildNetwork("defaults.network", d.Network, DefaultNetPolicy()); err != nil {
		return nil, err
	}
	if c.Defaults.Warnings, err = buildWarnings("defaults.warnings", d.Warnings, DefaultWarnings, false); err != nil {
		return nil, err
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
			if ta.UIDs.Overlaps(tb.UIDs) {
				return nil, fmt.Errorf("key tenants.%s.uid_range: %s overlaps tenants.%s.uid_range %s (ranges must be exclusive)", b, tb.UIDs, a, ta.UIDs)
			}
			if ta.GIDs.Overlaps(tb.GIDs) {
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
		p := h.Path
		if h.Binary != "" {
			p = h.Binary
		}
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("key %s: %q must be a clean absolute path", key, p)
		}
		if h.Binary == "" && ProcExePid(p) != 0 {
			return fmt.Errorf("key %s: %q names a process by its pid, which the next restart of that daemon changes: declare the program instead (binary = \"/usr/sbin/dockerd\", docs/engines.md)", key, p)
		}
		if prev, ok := seen[p]; ok {
			return fmt.Errorf("key %s: hook %q is already declared by %s (one declaration per path)", key, p, prev)
		}
		seen[p] = key
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
		switch {
		case t.Path == "" && t.Binary == "":
			return nil, fmt.Errorf("key %s.path: missing (or binary, for a hook an engine names as /proc/<pid>/exe)", k)
		case t.Path != "" && t.Binary != "":
			return nil, fmt.Errorf("key %s: path and binary both given; a declaration has one", k)
		}
		argv0 := t.Path
		if t.Binary != "" {
			argv0 = t.Binary
			if t.Args == nil {
				return nil, fmt.Errorf("key %s.args: missing; a hook declared by binary runs with the declared argv only (dockerd's: [\"libnetwork-setkey\", \"-exec-root=/run/docker\", \"{id}\", \"{hex}\"])", k)
			}
		}
		h := HookDecl{Path: t.Path, Binary: t.Binary, Args: []string{argv0}, Env: slices.Clone(DefaultHookEnv), Timeout: t.Timeout}
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
		key := k + ".path"
		if t.Binary != "" {
			key = k + ".binary"
		}
		if err := add(key, h); err != nil {
			return nil, err
		}
	}
	return out, nil
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
	if t.Network, err = buildNetwork(k+".network", r.Network, d.Network); err != nil {
		return nil, err
	}
	if t.Warnings, err = buildWarnings(k+".warnings", r.Warnings, d.Warnings, true); err != nil {
		return nil, err
	}
	if t.Network.Enabled {
		for _, c := range t.Capabilities {
			if c == "CAP_NET_RAW" {
				return nil, fmt.Errorf("key %s.capabilities: CAP_NET_RAW opens packet sockets, which bypass the network policy: drop it, or set %s.network.enabled = false", k, k)
			}
		}
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
	case q.TmpfsInodes > 0 && (cq.TmpfsInodes == 0 || cq.TmpfsInodes > q.TmpfsInodes):
		return nil, fmt.Errorf("key %s.container.tmpfs_inodes: larger than the tenant quota", k)
	}
	for _, io := range []struct {
		key      string
		cur, max uint64
	}{{"io_read_bps", cq.IOReadBPS, q.IOReadBPS}, {"io_write_bps", cq.IOWriteBPS, q.IOWriteBPS},
		{"io_read_iops", cq.IOReadIOPS, q.IOReadIOPS}, {"io_write_iops", cq.IOWriteIOPS, q.IOWriteIOPS}} {
		if io.max > 0 && io.cur > io.max {
			return nil, fmt.Errorf("key %s.container.%s: larger than the tenant quota", k, io.key)
		}
	}
	if r.Container != nil && (r.Container.Disk != nil || r.Container.Inodes != nil) {
		return nil, fmt.Errorf("key %s.container: disk and inodes are per tenant on each bind root (project quotas): set them in [%s.quota]", k, k)
	}
	if r.ProjectID != nil {
		if *r.ProjectID < 1 || *r.ProjectID > math.MaxUint32-1 {
			return nil, fmt.Errorf("key %s.project_id: %d must be in 1..4294967294", k, *r.ProjectID)
		}
		t.ProjectID = uint32(*r.ProjectID)
	}
	if r.Container != nil && r.Container.IOWeight != nil {
		return nil, fmt.Errorf("key %s.container.io_weight: the I/O weight is the tenant's share against other tenants: set it in [%s.quota]", k, k)
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
	if r.TmpfsInodes != nil {
		if *r.TmpfsInodes < 64 || *r.TmpfsInodes > 1<<32 {
			return q, fmt.Errorf("key %s.tmpfs_inodes: %d must be in 64..4294967296", k, *r.TmpfsInodes)
		}
		q.TmpfsInodes = uint64(*r.TmpfsInodes)
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
	if q.IOReadBPS, err = ioRate(k+".io_read_bps", r.IOReadBPS, q.IOReadBPS); err != nil {
		return q, err
	}
	if q.IOWriteBPS, err = ioRate(k+".io_write_bps", r.IOWriteBPS, q.IOWriteBPS); err != nil {
		return q, err
	}
	if q.IOReadIOPS, err = ioOps(k+".io_read_iops", r.IOReadIOPS, q.IOReadIOPS); err != nil {
		return q, err
	}
	if q.IOWriteIOPS, err = ioOps(k+".io_write_iops", r.IOWriteIOPS, q.IOWriteIOPS); err != nil {
		return q, err
	}
	if r.Disk != nil {
		if q.Disk, err = parseSizeValue(k+".disk", r.Disk); err != nil {
			return q, err
		}
		if q.Disk < 1<<20 {
			return q, fmt.Errorf("key %s.disk: at least 1M", k)
		}
	}
	if r.Inodes != nil {
		if *r.Inodes < 16 {
			return q, fmt.Errorf("key %s.inodes: %d must be at least 16", k, *r.Inodes)
		}
		q.Inodes = uint64(*r.Inodes)
	}
	if r.IOWeight != nil {
		if *r.IOWeight < 10 || *r.IOWeight > 1000 {
			return q, fmt.Errorf("key %s.io_weight: %d must be in 10..1000", k, *r.IOWeight)
		}
		q.IOWeight = uint16(*r.IOWeight)
	}
	return q, nil
}

// ioRate reads a bytes/s limit: a size ("20M") or a number of bytes, at least 4k/s (the
// kernel throttles in slices; below a page a second nothing useful runs).
func ioRate(k string, v any, def uint64) (uint64, error) {
	if v == nil {
		return def, nil
	}
	n, err := parseSizeValue(k, v)
	if err != nil {
		return 0, err
	}
	if n < 4096 {
		return 0, fmt.Errorf("key %s: at least 4k (bytes per second)", k)
	}
	return uint64(n), nil
}

// ioOps reads an operations/s limit.
func ioOps(k string, v *int64, def uint64) (uint64, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 {
		return 0, fmt.Errorf("key %s: %d must be at least 1 (operations per second)", k, *v)
	}
	return uint64(*v), nil
}

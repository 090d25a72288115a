package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/apparmor"
	"github.com/tenantrun/tenantrun/runtime/bindpin"
	"github.com/tenantrun/tenantrun/runtime/blkdev"
	"github.com/tenantrun/tenantrun/runtime/claims"
	"github.com/tenantrun/tenantrun/runtime/fsutil"
	"github.com/tenantrun/tenantrun/runtime/idmap"
	"github.com/tenantrun/tenantrun/runtime/idpool"
	"github.com/tenantrun/tenantrun/runtime/record"
	"github.com/tenantrun/tenantrun/runtime/safepath"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
	profiles "github.com/tenantrun/tenantrun/seccomp-profiles"
)

// prepared is a bundle after the tenant policy: the spec libcontainer will see,
// the record to keep, and the host-side setup to do before creating.
type prepared struct {
	g            *Global
	root         string
	id           string
	spec         *specs.Spec
	rec          *record.Record
	cfg          *hardening.Config
	tenant       *hardening.Tenant
	decisions    []hardening.Decision
	auditFailure error // the audit log could not be written
	unlock       func()

	adapt       hardening.Adaptation
	needIdmap   bool
	pins        []bindpin.Pin
	wd          string // the container's work directory (idmapped root, pinned binds), once chosen
	wdLock      *os.File
	nsFiles     *hardening.NSFiles // the checked namespace descriptors the spec joins, open until the init has started
	origRootfs  string             // the engine's rootfs, seen through the idmap (a /proc/self/fd path of rootAnchors' descriptor)
	rootAnchors *safepath.Anchors
	rootHandle  *safepath.Handle // root.path, opened once beneath the bundle or engine root
	rootPath    string           // root.path as the bundle gave it (for messages)
}

const maxConfigSize = 16 << 20

// idmapRoot holds the idmapped views of containers' root filesystems. It is
// kept outside every state root: libcontainer removes a state directory with a
// recursive delete, which must never walk into a mounted image.
const idmapRoot = "/run/tenantrun-rootfs"

// readBundleConfig reads the bundle's config.json once, without following a symlink
// (the bundle may lie in a directory the tenant writes): a regular file of its own,
// size-checked on the descriptor before reading, never opened if it is a FIFO or device.
// Errors name the file but never echo its content.
func readBundleConfig(bundle string) ([]byte, error) {
	dir, err := safepath.OpenDir(bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", bundle, unwrapPathErr(err))
	}
	defer dir.Close()
	buf, err := safepath.ReadRegular(dir, "config.json", maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("bundle %q: config.json: %w", bundle, unwrapPathErr(err))
	}
	return buf, nil
}

// readConfig reads and parses the operator's TOML file (the policy engine reads no files).
// A missing file gives the built-in configuration.
func readConfig(path string) (*hardening.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return hardening.BuiltinConfig(), nil
		}
		return nil, err
	}
	c, err := hardening.ParseConfig(data)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// loadConfig reads the operator's tenant policy (--config).
func loadConfig(g *Global) (*hardening.Config, error) {
	path := g.ConfigPath
	if path == "" {
		path = DefaultConfig
	}
	cfg, err := readConfig(path)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	if err := idpool.Assign(cfg); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return cfg, nil
}

// resolveTenant finds the tenant from sources a tenant cannot write.
func resolveTenant(g *Global, cfg *hardening.Config, root string, annotations map[string]string) (*hardening.Tenant, error) {
	return cfg.ResolveTenant(hardening.TenantRequest{
		Flag:        g.Tenant,
		CallerUID:   os.Getuid(),
		Root:        root,
		Annotations: annotations,
	})
}

// osHost is the real machine for the policy: namespace ownership comes from the kernel,
// a host-owned engine netns's holder from the host-wide claim records (the same for
// every --root), and the descriptors the namespace checks were made on are kept in files.
func osHost(root string, files *hardening.NSFiles) hardening.OSHost {
	return hardening.OSHost{
		Files: files,
		NetnsHolder: func(id hardening.NSID) (string, string, bool) {
			h, ok := claims.Owner("netns", netnsKey(id))
			return h.Tenant, h.Container, ok
		},
		ContainerOwner: func(id string) (string, bool) {
			if validateID(id) != nil {
				return "", false
			}
			if _, err := libcontainer.Load(root, id); err != nil {
				return "", false
			}
			t := record.TenantOf(filepath.Join(root, id))
			return t, t != ""
		},
		// The pod uid a sandbox recorded at its create (claimed host-wide for its
		// tenant, so no other tenant's sandbox can have recorded the same uid).
		ContainerPod: func(id string) (string, bool) {
			if validateID(id) != nil {
				return "", false
			}
			if _, err := libcontainer.Load(root, id); err != nil {
				return "", false
			}
			s, err := record.Read(filepath.Join(root, id))
			if err != nil || s.PodUID == "" {
				return "", false
			}
			return s.PodUID, true
		},
	}
}

// netnsKey is the claim key of a network namespace: its nsfs device and inode.
func netnsKey(id hardening.NSID) string { return fmt.Sprintf("%d-%d", id.Dev, id.Ino) }

// podUIDRe is what a recorded pod uid may look like (kubelet's are UUIDs); anything else
// is not recorded, so no member's kubelet files are accepted through it.
var podUIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// podUIDOf is the pod uid the bundle's annotations name, if it is one to record.
func podUIDOf(annotations map[string]string) string {
	for _, k := range hardening.PodUIDAnnotations {
		if v := annotations[k]; v != "" {
			if podUIDRe.MatchString(v) && !hardening.LayoutWords[v] {
				return v
			}
			return ""
		}
	}
	return ""
}

// preparePolicy decodes the bundle strictly, resolves the tenant and applies
// its policy. A refusal returns an error starting with "refused:" that names
// the JSON path of each offending field; nothing has been created yet.
func preparePolicy(g *Global, bundle, id string, console bool) (*prepared, error) {
	root, err := g.stateRoot()
	if err != nil {
		return nil, err
	}
	cfg, spec, err := loadBundle(g, root, bundle)
	if err != nil {
		return nil, err
	}
	t, err := resolveTenant(g, cfg, root, spec.Annotations)
	if err != nil {
		return nil, err
	}
	p := &prepared{g: g, root: root, id: id, cfg: cfg, tenant: t, nsFiles: hardening.NewNSFiles()}
	ok := false
	defer func() {
		if !ok {
			p.nsFiles.Close()
		}
	}()
	mode := t.EffectiveMode()
	// Audit mode keeps the floor: the bundle goes through the whole policy (tenant user
	// namespace, no host namespaces, sockets or out-of-tree binds, the tenant's cgroup
	// parent and quotas, nosuid/nodev, no_new_privs, no dangerous capability); anything
	// enforce refuses is refused. Only what lies above the floor is relaxed, and logged:
	// the seccomp profile runs as its -audit twin (denials logged, not enforced), the
	// root keeps the bundle's writability, the capability allowlist keeps the bundle's
	// own (non-dangerous) capabilities.
	pt := t
	if mode == hardening.ModeAudit {
		tc := *t
		if tc.SeccompProfile != "" && !strings.HasSuffix(tc.SeccompProfile, profiles.AuditSuffix) {
			tc.SeccompProfile += profiles.AuditSuffix
		}
		pt = &tc
	}
	host := osHost(root, p.nsFiles)
	out, decisions, err := hardening.Enforce(hardening.Request{
		Spec: spec, Bundle: bundle, ContainerID: id, Tenant: pt, Config: cfg,
		Host: host, ConsoleSocket: console, SystemdCgroup: g.SystemdCgroup,
	})
	p.decisions = decisions
	switch {
	case err != nil:
		p.writeAudit("create", "refused", err)
		if aerr := p.auditErr(); aerr != nil {
			return nil, aerr
		}
		return nil, err
	case mode != hardening.ModeTrusted && !auditLogWritable(p):
		return nil, p.auditErr()
	case mode == hardening.ModeAudit:
		relaxAudit(spec, out, &p.decisions)
		for _, d := range p.decisions {
			logrus.Warnf("audit tenant %s: container %s: %s %s: %s", t.Name, id, d.Action, d.Path, d.Reason)
		}
		if p.adapt, err = hardening.Adapt(host, spec, out, &p.decisions); err != nil {
			return nil, err
		}
	case mode == hardening.ModeTrusted:
		logrus.Warnf("tenant %s is trusted: container %s runs its bundle as given, without the tenant policy", t.Name, id)
	default:
		if p.adapt, err = hardening.Adapt(host, spec, out, &p.decisions); err != nil {
			return nil, err
		}
	}
	if out.Process == nil {
		return nil, errors.New("config.json: process: missing")
	}
	// The profile must be in the kernel before anything is set up (tenantrun-default is
	// loaded here), not found missing by the container's init.
	if err := apparmor.Prepare(out.Process.ApparmorProfile); err != nil {
		return nil, fmt.Errorf("process.apparmorProfile: %w", err)
	}
	if out.Linux == nil {
		out.Linux = &specs.Linux{}
	}
	p.spec = out
	p.rec = &record.Record{
		Tenant: t.Name, Mode: mode, PolicyDigest: hardening.PolicyDigest(cfg, t), Bundle: bundle,
		Process: out.Process, CgroupsPath: out.Linux.CgroupsPath, Systemd: g.SystemdCgroup,
		PodUID: podUIDOf(spec.Annotations),
	}
	if mode.Policed() {
		p.rec.CgroupParent = tenantParentOf(cfg, t, g.SystemdCgroup)
	}
	ok = true
	return p, nil
}

// tenantParentOf is the tenant's parent cgroup as the cgroup manager names it.
func tenantParentOf(cfg *hardening.Config, t *hardening.Tenant, systemd bool) string {
	if systemd {
		return tenantcg.SliceName(cfg.Defaults.CgroupParent, t.Name)
	}
	return hardening.TenantCgroupPath(cfg, t)
}

// idmapWorkDir is where the idmapped root of container id (under root) is
// mounted: named from the state root and the id, so gc can find leftovers.
func idmapWorkDir(root, id string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(idmapRoot, hex.EncodeToString(sum[:6])+"-"+id)
}

// setupHost does the host-side work the policy calls for before libcontainer
// creates anything: the tenant's parent cgroup with its aggregate limits, and
// the mount point of the idmapped rootfs (so a root-owned image works under the
// tenant's user namespace), which root.path is pointed at. The idmapped mount
// itself is made by mountRootfs once libcontainer.Create has given us the id:
// two creates of one id must never touch each other's mounts.
func (p *prepared) setupHost() error {
	if p.rec.Mode.Policed() {
		if err := p.openRootfs(); err != nil {
			return err
		}
	}
	devs, err := p.ioDevices()
	if err != nil {
		return err
	}
	if err := p.checkDiskQuota(); err != nil {
		return err
	}
	if p.rec.CgroupParent != "" {
		l := tenantcg.TenantLimits(p.tenant, devs)
		l.CountersDir = p.cfg.Defaults.CountersDir
		unlock, err := tenantcg.Ensure(p.rec.CgroupParent, p.rec.Systemd, l)
		if err != nil {
			return fmt.Errorf("tenant %s: parent cgroup: %w", p.tenant.Name, err)
		}
		p.unlock = unlock
	}
	if !p.rec.Mode.Policed() {
		return nil
	}
	p.needIdmap = !p.adapt.SkipIdmap && wantsIdmap(p.spec, p.adapt)
	wd := idmapWorkDir(p.root, p.id)
	p.pins = bindpin.Plan(p.spec, p.tenant.BindRoots, wd)
	p.wd = wd
	// The container's root must be able to traverse these (0711).
	if err := os.MkdirAll(p.wd, 0o711); err != nil {
		return fmt.Errorf("container work directory: %w", err)
	}
	// Held (shared) until the container has started: gc skips a busy work
	// directory, whose container may not have a state directory yet.
	if f, err := fsutil.LockDir(p.wd, unix.LOCK_SH); err == nil {
		p.wdLock = f
	}
	_ = os.Chmod(idmapRoot, 0o711)
	_ = os.Chmod(p.wd, 0o711)
	// The root (idmapped, or as it is when the engine already shifted it) is cloned from
	// the descriptor openRootfs judged, so a swap of the path after the check (a tenant
	// that can write the bundle's directory) changes nothing, and it is nosuid,nodev.
	p.origRootfs = "/proc/self/fd/" + strconv.Itoa(p.rootHandle.Fd)
	if err := os.MkdirAll(filepath.Join(p.wd, "rootfs"), 0o711); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	p.spec.Root.Path = filepath.Join(p.wd, "rootfs")
	return nil
}

// ioDevices are the block devices a tenant's I/O limits (io_* keys) apply to for this
// container: the one behind the rootfs descriptor openRootfs judged (the container runs on
// exactly it), the tenant's bind roots and the bundle's bind sources. For a policed
// container each one the bundle left without a throttle gets the tenant's per-container
// rate (the bundle's own were clamped by the policy). A tenant with limits on a host whose
// cgroups cannot throttle is refused rather than run unthrottled.
func (p *prepared) ioDevices() ([]hardening.BlockDev, error) {
	t := p.tenant
	if !t.Quota.HasIOLimits() && !t.Container.HasIOLimits() {
		return nil, nil
	}
	if err := blkdev.Available(); err != nil {
		return nil, fmt.Errorf("tenant %s has I/O limits (io_* keys in [tenants.%s.quota] or [tenants.%s.container]), but this host cannot enforce them: %v; remove the keys or run the tenant on a host that can", t.Name, t.Name, t.Name, err)
	}
	var lists [][]hardening.BlockDev
	if p.rootHandle != nil {
		d, err := blkdev.OfFd(p.rootHandle.Fd)
		if err != nil {
			return nil, fmt.Errorf("root.path: finding its block device for the tenant's I/O limits: %w", err)
		}
		lists = append(lists, d)
	}
	paths := append([]string(nil), t.BindRoots...)
	for _, m := range p.spec.Mounts {
		if bindpin.IsBind(m) && filepath.IsAbs(m.Source) {
			paths = append(paths, m.Source)
		}
	}
	for _, path := range paths {
		d, err := blkdev.OfPath(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // a bind root not made yet; a missing source fails the mount itself
		}
		if err != nil {
			return nil, fmt.Errorf("finding the block device behind %s for the tenant's I/O limits: %w", path, err)
		}
		lists = append(lists, d)
	}
	devs := blkdev.Merge(lists...)
	if p.rec.Mode.Policed() && p.spec.Linux != nil {
		if p.spec.Linux.Resources == nil {
			p.spec.Linux.Resources = &specs.LinuxResources{}
		}
		p.decisions = append(p.decisions, hardening.AddDeviceThrottles(p.spec.Linux.Resources, t, devs)...)
	}
	return devs, nil
}

// rootfsPath is root.path as an absolute, clean path (a relative one is the bundle's).
func (p *prepared) rootfsPath() string {
	rootfs := p.spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(p.rec.Bundle, rootfs)
	}
	return filepath.Clean(rootfs)
}

// openRootfs opens root.path once, below the directory the policy checked it in (the
// bundle or the engine root), without a symlink or '..' leaving it, and judges that
// descriptor: a directory; at an engine layout's rootfs position, the root of a mount
// (the engine's overlay or snapshot, never a plain directory of its storage: the policy
// asked the same of the path, this is the answer for what the runtime uses). Its device
// and inode are the key the rootfs is claimed by.
func (p *prepared) openRootfs() error {
	if p.spec.Root == nil || p.spec.Root.Path == "" {
		return errors.New("root.path: missing")
	}
	p.rootPath = p.spec.Root.Path
	rootfs := p.rootfsPath()
	base := p.rec.Bundle
	if rootfs == base || !strings.HasPrefix(rootfs, base+"/") {
		base = ""
		for _, r := range p.cfg.Defaults.EngineRoots {
			if r = filepath.Clean(r); strings.HasPrefix(rootfs, r+"/") {
				base = r
				break
			}
		}
	}
	if base == "" {
		return fmt.Errorf("root.path %q: outside the bundle and the engines' storage", p.spec.Root.Path)
	}
	anchors := safepath.NewAnchors()
	h, err := anchors.Resolve(base, strings.TrimPrefix(rootfs, base+"/"))
	if err != nil {
		anchors.Close()
		return fmt.Errorf("root.path %q: %w", p.spec.Root.Path, unwrapPathErr(err))
	}
	if h.Mode&unix.S_IFMT != unix.S_IFDIR {
		anchors.Close()
		return fmt.Errorf("root.path %q: not a directory", p.spec.Root.Path)
	}
	if hardening.EngineRootfsMountRoot(p.cfg, p.rec.Bundle, rootfs) {
		mr, err := hardening.IsMountRootFd(h.Fd)
		if err == nil && !mr {
			err = errors.New("not a mount root (the engine mounts a container's root filesystem there)")
		}
		if err != nil {
			anchors.Close()
			return fmt.Errorf("refused: root.path: %q: %w", p.spec.Root.Path, err)
		}
	}
	p.rootAnchors, p.rootHandle = anchors, h
	p.rec.RootfsKey = fmt.Sprintf("%d-%d", h.Dev, h.Ino)
	return nil
}

// claimHost claims, host-wide and for this container's tenant, what no other tenant's
// live container may share (runtime/claims): its rootfs (by the device and inode of the
// descriptor openRootfs judged: every bind mount of one directory has the same), its
// kubelet pod uid, and every host-owned engine network namespace it joins. Called once
// the id is ours (the state directory exists, so the claim is live) and before anything
// is mounted for, or started in, the container; every failure after it releases what it
// claimed (claims.ReleaseAll).
func (p *prepared) claimHost() error {
	hd := claims.Holder{Tenant: p.tenant.Name, Container: p.id, Root: p.root}
	if p.rec.RootfsKey == "" && p.rec.Mode == hardening.ModeTrusted && p.spec.Root != nil {
		p.rootPath = p.spec.Root.Path
		// A trusted tenant's bundle runs as given; its rootfs is still claimed, so no
		// other tenant takes it while it runs.
		var st unix.Stat_t
		if unix.Stat(p.rootfsPath(), &st) == nil {
			p.rec.RootfsKey = fmt.Sprintf("%d-%d", st.Dev, st.Ino)
		}
	}
	type claim struct{ kind, key, what string }
	want := []claim{
		{"rootfs", p.rec.RootfsKey, "root.path"},
		{"pod", p.rec.PodUID, "annotations"},
	}
	for _, id := range p.adapt.Netns {
		want = append(want, claim{"netns", netnsKey(id), "linux.namespaces"})
	}
	for _, c := range want {
		if c.key == "" {
			continue
		}
		err := claims.Claim(c.kind, c.key, hd)
		var cl *claims.Claimed
		if errors.As(err, &cl) {
			// The caller (the tenant's engine) learns that another tenant holds it, never
			// which one; the operator's audit log and --debug name the holder.
			held := fmt.Sprintf("%s %s is held by tenant %s (container %s)", c.kind, c.key, cl.Tenant, cl.Container)
			logrus.Debugf("tenant %s: container %s: %s", p.tenant.Name, p.id, held)
			var rerr error
			switch c.kind {
			case "rootfs":
				rerr = fmt.Errorf("refused: root.path: %q is the root filesystem of a live container of another tenant", p.rootPath)
			case "netns":
				rerr = fmt.Errorf("refused: linux.namespaces: the network namespace is held by a live container of another tenant")
			default:
				rerr = fmt.Errorf("refused: annotations: pod %s is a pod of another tenant", c.key)
			}
			p.decisions = append(p.decisions, hardening.Decision{Path: c.what, Action: hardening.ActionRefuse, Reason: held})
			p.writeAudit("create", "refused", rerr)
			return rerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
	}
	return nil
}

// claimWorkDir records the idmap work directory as this container's, once
// libcontainer.Create has made the id ours.
func (p *prepared) claimWorkDir() {
	p.rec.WorkDir = p.wd
}

// mountRootfs puts the idmapped view of the image on the mount point and pins
// the bind sources from the tenant's bind roots, first unmounting what a
// crashed create of the same id may have left there. Directories are left in
// place: a concurrent create of the same id (which lost) may be looking at them.
func (p *prepared) mountRootfs() error {
	if p.wd == "" {
		return nil
	}
	if err := bindpin.Cleanup(p.wd); err != nil {
		return err
	}
	if err := fsutil.UnmountBelow(p.wd, false); err != nil {
		return err
	}
	if p.needIdmap {
		uidMap, gidMap := p.spec.Linux.UIDMappings, p.spec.Linux.GIDMappings
		if len(p.adapt.UIDMap) > 0 { // the user namespace is joined (a pod member)
			uidMap, gidMap = p.adapt.UIDMap, p.adapt.GIDMap
		}
		_, mounts, err := idmap.Rootfs(p.origRootfs, uidMap, gidMap, p.wd)
		if err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
		p.rec.Mounts = append(p.rec.Mounts, mounts...)
	} else if p.origRootfs != "" {
		_, mounts, err := idmap.Pinned(p.origRootfs, p.wd)
		if err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
		p.rec.Mounts = append(p.rec.Mounts, mounts...)
	}
	pinned, err := bindpin.Make(p.pins)
	p.rec.Mounts = append(p.rec.Mounts, pinned...)
	if err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	return nil
}

// wantsIdmap: a user namespace whose mappings we know (a new one, or a pod
// sandbox's that hardening.Adapt joined).
func wantsIdmap(s *specs.Spec, a hardening.Adaptation) bool {
	if s.Root == nil || s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			if ns.Path == "" {
				return len(s.Linux.UIDMappings) > 0
			}
			return len(a.UIDMap) > 0
		}
	}
	return false
}

// pidsShortfall is tenantcg.PidsShortfall for this container's tenant parent (nil without one).
func (p *prepared) pidsShortfall() error {
	if p.rec.CgroupParent == "" {
		return nil
	}
	return tenantcg.PidsShortfall(p.tenant.Name, p.rec.CgroupParent, p.rec.Systemd)
}

// started is called once the container's cgroup exists and holds its init.
func (p *prepared) started() {
	p.nsFiles.Close()
	if p.rootAnchors != nil {
		p.rootAnchors.Close()
		p.rootAnchors = nil
	}
	if p.unlock != nil {
		p.unlock()
		p.unlock = nil
	}
	if p.wdLock != nil {
		p.wdLock.Close()
		p.wdLock = nil
	}
}

// cleanupHost undoes setupHost after a failed create. An unclaimed work
// directory (this create never owned the id) is shared with any concurrent
// create of the same id, which holds it locked shared from its setupHost until
// its container has started: it is removed (rmdir only, so nothing mounted
// there goes) only when no such create holds it — this one's shared lock turns
// exclusive without waiting. Otherwise a loser failing before libcontainer.Create
// (a refusal, the tenant's pids quota) could rmdir the directories the winner
// made and is about to mount onto.
func (p *prepared) cleanupHost() {
	if p.wd != "" && p.rec.WorkDir == "" && p.wdLock != nil &&
		fsutil.TryLock(p.wdLock, unix.LOCK_EX) {
		_ = os.Remove(filepath.Join(p.wd, "rootfs"))
		_ = os.Remove(p.wd)
	}
	p.started()
	cleanupRecord(&record.Record{Mounts: p.rec.Mounts, WorkDir: p.rec.WorkDir, CgroupParent: p.rec.CgroupParent, Systemd: p.rec.Systemd})
}

// auditRecord is one line of the audit log ([defaults] audit_log).
type auditRecord struct {
	Time         time.Time            `json:"time"`
	Verb         string               `json:"verb"`
	Tenant       string               `json:"tenant"`
	Container    string               `json:"container"`
	Verdict      string               `json:"verdict"` // run, refused, audit
	Mode         hardening.Mode       `json:"mode"`
	Error        string               `json:"error,omitempty"`
	Decisions    []hardening.Decision `json:"decisions"`
	PolicyDigest string               `json:"policyDigest"`
	Process      []string             `json:"args,omitempty"`
	// Network are the container's network policy counters (packets) when its namespace
	// could still be read: on delete (runtime/netpolicy).
	Network map[string]uint64 `json:"network,omitempty"`
}

func (p *prepared) writeAudit(verb, verdict string, err error) {
	p.auditFailure = writeAudit(p.cfg, p.tenant, p.id, verb, verdict, p.decisions, err)
}

// auditErr is the create's error when the audit log could not be written: an audit trail
// that silently stops is no audit trail, so the container is refused unless the operator
// set [defaults] audit_log_fail_open (then the failure is logged on stderr).
func (p *prepared) auditErr() error {
	if p.auditFailure == nil {
		return nil
	}
	if p.cfg.Defaults.AuditLogFailOpen {
		logrus.Errorf("audit log: %v (audit_log_fail_open: the container runs without its audit record)", p.auditFailure)
		return nil
	}
	return fmt.Errorf("audit log %s cannot be written, refusing to run without an audit record (set [defaults] audit_log_fail_open = true to allow): %w", p.cfg.Defaults.AuditLog, p.auditFailure)
}

// writeAudit appends one JSON line to the audit log, if one is configured.
func writeAudit(cfg *hardening.Config, t *hardening.Tenant, id, verb, verdict string, ds []hardening.Decision, err error) error {
	return writeAuditRecord(cfg, t, id, verb, verdict, ds, err, nil)
}

// writeAuditRecord is writeAudit with the container's network policy counters.
func writeAuditRecord(cfg *hardening.Config, t *hardening.Tenant, id, verb, verdict string, ds []hardening.Decision, err error, network map[string]uint64) error {
	if cfg == nil || cfg.Defaults.AuditLog == "" || t == nil {
		return nil
	}
	mode := t.EffectiveMode()
	rec := auditRecord{Time: time.Now().UTC(), Verb: verb, Tenant: t.Name, Container: id, Verdict: verdict,
		Mode: mode, Decisions: ds, PolicyDigest: hardening.PolicyDigest(cfg, t), Network: network}
	if rec.Decisions == nil {
		rec.Decisions = []hardening.Decision{}
	}
	if err != nil {
		rec.Error = err.Error()
	}
	line, merr := json.Marshal(rec)
	if merr != nil {
		return merr
	}
	if mkErr := os.MkdirAll(filepath.Dir(cfg.Defaults.AuditLog), 0o750); mkErr != nil {
		logrus.Warnf("audit log: %v", mkErr)
		return mkErr
	}
	f, oerr := os.OpenFile(cfg.Defaults.AuditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if oerr != nil {
		logrus.Warnf("audit log: %v", oerr)
		return oerr
	}
	defer f.Close()
	// One write(2) of a whole line: O_APPEND keeps concurrent lines intact.
	if _, werr := f.Write(append(line, '\n')); werr != nil {
		return werr
	}
	return nil
}

// auditLogWritable checks, before anything is created, that the audit log can be
// appended to; the failure is kept for auditErr.
func auditLogWritable(p *prepared) bool {
	path := p.cfg.Defaults.AuditLog
	if path == "" {
		return true
	}
	err := os.MkdirAll(filepath.Dir(path), 0o750)
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640); err == nil {
			f.Close()
		}
	}
	if err == nil {
		return true
	}
	p.auditFailure = err
	return p.auditErr() == nil
}

// relaxAudit undoes, in an enforced spec of an audit-mode tenant, the rewrites that lie
// above the floor: the read-only root and the capability allowlist (the bundle's own
// capabilities are kept where the policy let them through, i.e. none is dangerous).
// Each relaxation is recorded as a decision, so the audit log shows what enforce would do.
func relaxAudit(orig, out *specs.Spec, ds *[]hardening.Decision) {
	if orig.Root != nil && out.Root != nil && !orig.Root.Readonly && out.Root.Readonly {
		out.Root.Readonly = false
		*ds = append(*ds, hardening.Decision{Path: "root.readonly", Action: hardening.ActionAllow, Old: true, New: false,
			Reason: "audit mode: the root stays writable as the bundle asked (enforce makes it read-only)"})
	}
	if orig.Process != nil && orig.Process.Capabilities != nil && out.Process != nil {
		oc, nc := orig.Process.Capabilities, *orig.Process.Capabilities
		nc.Inheritable, nc.Ambient = []string{}, []string{}
		if out.Process.Capabilities == nil || !reflect.DeepEqual(*out.Process.Capabilities, nc) {
			out.Process.Capabilities = &nc
			*ds = append(*ds, hardening.Decision{Path: "process.capabilities", Action: hardening.ActionAllow, Old: oc, New: nc,
				Reason: "audit mode: the bundle's capabilities are kept (none is dangerous; enforce strips them to the tenant allowlist)"})
		}
	}
}

func audit(p *prepared, verb string) {
	verdict := "run"
	if p.rec.Mode == hardening.ModeAudit {
		verdict = "audit"
	}
	p.writeAudit(verb, verdict, nil)
}

// decodeSpec decodes config.json strictly; errors name the file (refusals
// keep their "refused:" form, which engines and operators grep for).
func decodeSpec(bundle string, data []byte) (*specs.Spec, error) {
	if err := checkUTF8(data); err != nil {
		return nil, fmt.Errorf("bundle %q: config.json: %w", bundle, err)
	}
	spec, err := hardening.DecodeSpec(data)
	if err != nil {
		var re *hardening.RefusedError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("bundle %q: config.json: %w", bundle, err)
	}
	return spec, nil
}

func decodeProcess(data []byte) (*specs.Process, error) {
	if err := checkUTF8(data); err != nil {
		return nil, fmt.Errorf("process.json: %w", err)
	}
	p, err := hardening.DecodeProcess(data)
	if err != nil {
		var re *hardening.RefusedError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("process.json: %w", err)
	}
	return p, nil
}

// loadBundle reads the operator config and decodes the bundle's config.json
// strictly. A trusted tenant's bundle is validated, not filtered: fields this
// runtime does not know are ignored, as the runtime spec requires. When only
// the decode fails, cfg is returned with the error (policy explain renders it).
func loadBundle(g *Global, root, bundle string) (*hardening.Config, *specs.Spec, error) {
	data, err := readBundleConfig(bundle)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	spec, err := decodeSpec(bundle, data)
	if err != nil {
		if spec = trustedLenient(g, cfg, root, data, err); spec == nil {
			return cfg, nil, err
		}
	}
	return cfg, spec, nil
}

// trustedLenient decodes a bundle the strict decoder refused for unknown
// fields, and returns it only if it belongs to a trusted tenant.
func trustedLenient(g *Global, cfg *hardening.Config, root string, data []byte, strictErr error) *specs.Spec {
	var re *hardening.RefusedError
	if !errors.As(strictErr, &re) {
		return nil
	}
	for _, r := range re.Refusals {
		if !strings.Contains(r.Reason, "unknown field") {
			return nil
		}
	}
	var spec specs.Spec
	if json.Unmarshal(data, &spec) != nil {
		return nil
	}
	t, err := resolveTenant(g, cfg, root, spec.Annotations)
	if err != nil || !t.Trusted {
		return nil
	}
	logrus.Warnf("trusted tenant %s: ignoring fields this runtime does not know: %v", t.Name, re.Paths())
	return &spec
}

// checkUTF8 refuses documents that are not valid UTF-8: JSON requires it, and
// Go's decoder would otherwise silently replace bad bytes in strings.
func checkUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	off := 0
	for off < len(data) {
		r, n := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		off += n
	}
	return fmt.Errorf("invalid UTF-8 at byte offset %d (JSON must be UTF-8)", off)
}

// containerTenant reloads the policy and the tenant a container was created for.
func containerTenant(g *Global, h *handle) (*hardening.Config, *hardening.Tenant, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	if h.rec == nil {
		return nil, nil, fmt.Errorf("container %q has no tenantrun record; refusing to guess its tenant", h.id)
	}
	t, ok := cfg.Tenants[h.rec.Tenant]
	if !ok {
		return nil, nil, fmt.Errorf("container %q belongs to tenant %q, which the configuration no longer has", h.id, h.rec.Tenant)
	}
	return cfg, t, nil
}

// policyForExec gives an exec process the same treatment as the init process.
func policyForExec(g *Global, h *handle, p *specs.Process, console bool) (*specs.Process, error) {
	cfg, t, err := containerTenant(g, h)
	if err != nil {
		return nil, err
	}
	spec := &specs.Spec{Process: h.rec.Process}
	if cc := h.c.Config(); len(cc.UIDMappings) > 0 {
		spec.Linux = &specs.Linux{}
		for _, m := range cc.UIDMappings {
			spec.Linux.UIDMappings = append(spec.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: uint32(m.ContainerID), HostID: uint32(m.HostID), Size: uint32(m.Size)})
		}
		for _, m := range cc.GIDMappings {
			spec.Linux.GIDMappings = append(spec.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: uint32(m.ContainerID), HostID: uint32(m.HostID), Size: uint32(m.Size)})
		}
	}
	out, ds, err := hardening.EnforceProcess(hardening.ProcessRequest{
		Process: p, ContainerID: h.id, Tenant: t, Config: cfg, ConsoleSocket: console, Spec: spec,
	})
	switch {
	case err != nil:
		writeAudit(cfg, t, h.id, "exec", "refused", ds, err)
		return nil, err
	case h.rec.Mode == hardening.ModeAudit:
		// The floor holds for exec too: only the capability allowlist is relaxed.
		if p.Capabilities != nil && out.Capabilities != nil {
			nc := *p.Capabilities
			nc.Inheritable, nc.Ambient = []string{}, []string{}
			out.Capabilities = &nc
		}
		writeAudit(cfg, t, h.id, "exec", "audit", ds, nil)
		if err := apparmor.Prepare(out.ApparmorProfile); err != nil {
			return nil, fmt.Errorf("process.apparmorProfile: %w", err)
		}
		return out, nil
	case h.rec.Mode == hardening.ModeTrusted:
		writeAudit(cfg, t, h.id, "exec", "run", ds, nil)
		return p, nil
	}
	writeAudit(cfg, t, h.id, "exec", "run", ds, nil)
	if err := apparmor.Prepare(out.ApparmorProfile); err != nil {
		return nil, fmt.Errorf("process.apparmorProfile: %w", err)
	}
	return out, nil
}

// clampUpdate applies the tenant's per-container maximum to an update.
func clampUpdate(g *Global, h *handle, r *specs.LinuxResources) (*specs.LinuxResources, error) {
	cfg, t, err := containerTenant(g, h)
	if err != nil {
		return nil, err
	}
	if h.rec.Mode == hardening.ModeTrusted {
		return r, nil
	}
	out, ds := hardening.ClampUpdate(r, t)
	var refusals []hardening.Refusal
	for _, d := range ds {
		if d.Action == hardening.ActionRefuse {
			refusals = append(refusals, hardening.Refusal{Path: d.Path, Reason: d.Reason})
		} else {
			logrus.Infof("update %s: %s %s: %v → %v (%s)", h.id, d.Action, d.Path, d.Old, d.New, d.Reason)
		}
	}
	if len(refusals) > 0 {
		err := &hardening.RefusedError{Refusals: refusals}
		writeAudit(cfg, t, h.id, "update", "refused", ds, err)
		return nil, err
	}
	writeAudit(cfg, t, h.id, "update", "run", ds, nil)
	return out, nil
}

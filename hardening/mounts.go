package hardening

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// flagOptions are mount options (flags) allowed on any mount type we accept.
var flagOptions = map[string]bool{
	"ro": true, "rw": true, "nosuid": true, "nodev": true, "noexec": true, "exec": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nostrictatime": true, "noatime": true,
	"atime": true, "nodiratime": true, "diratime": true, "sync": true, "async": true, "dirsync": true,
	"lazytime": true, "nolazytime": true, "silent": true, "loud": true, "private": true, "rprivate": true,
	"rro": true, "rrw": true, "rnosuid": true, "rnodev": true, "rnoexec": true, "rrelatime": true,
	"rnoatime": true, "rstrictatime": true, "rnodiratime": true,
}

// dataOptions are key=value options allowed per filesystem type.
var dataOptions = map[string][]string{
	"tmpfs":  {"size", "mode", "nr_inodes", "nr_blocks", "uid", "gid", "huge"},
	"proc":   {"hidepid", "subset"},
	"devpts": {"mode", "ptmxmode", "gid", "uid", "max"},
	"mqueue": {},
	"sysfs":  {},
	"cgroup": {},
	"bind":   {},
}

// engineFileDests are the destinations of engines' per-container files.
var engineFileDests = map[string]FileKind{
	"/etc/hostname": KindFile, "/etc/hosts": KindFile, "/etc/resolv.conf": KindFile,
	"/run/.containerenv": KindFile, "/dev/termination-log": KindFile, "/dev/shm": KindDir,
}

// engineFileDest: the destinations of engines' per-container files, and of secrets
// (kubelet service-account tokens, podman secrets) below /run/secrets, /var/run/secrets.
func engineFileDest(d string) (FileKind, bool) {
	if k, ok := engineFileDests[d]; ok {
		return k, true
	}
	for _, p := range []string{"/run/secrets", "/var/run/secrets"} {
		if within(d, p) {
			return KindOther, true
		}
	}
	return KindOther, false
}

// scratch tmpfs mounts every container gets.
var scratchDirs = []struct{ dest, mode string }{{"/tmp", "1777"}, {"/run", "755"}, {"/var/tmp", "1777"}}

// MaxMounts bounds how many mounts a bundle may ask for: engines use a few
// dozen; thousands only cost the host time and memory at every start.
const MaxMounts = 256

func (p *pol) enforceMounts(s *specs.Spec, req Request) {
	if len(s.Mounts) > MaxMounts {
		p.refuse("mounts", fmt.Sprintf("%d mounts requested; at most %d are allowed", len(s.Mounts), MaxMounts))
		return
	}
	t := req.Tenant
	tmpMax := min(t.Container.Tmpfs, t.Container.Memory)
	inodeMax := t.TmpfsInodeMax(tmpMax)
	procs := 0
	for i := range s.Mounts {
		m := &s.Mounts[i]
		ip := fmt.Sprintf("mounts[%d]", i)
		if m.UIDMappings != nil || m.GIDMappings != nil {
			p.refuse(ip+".uidMappings", "per-mount id mappings map host files into the container; the runtime sets idmaps itself")
		}
		// Destination.
		d := m.Destination
		if !strings.HasPrefix(d, "/") {
			p.refuse(ip+".destination", fmt.Sprintf("%q must be absolute", d))
			continue
		}
		if slices.Contains(strings.Split(d, "/"), "..") {
			p.refuse(ip+".destination", fmt.Sprintf("%q contains '..'", d))
			continue
		}
		if c := path.Clean(d); c != d {
			p.decide(ip+".destination", ActionOverride, d, c, "clean path")
			m.Destination, d = c, c
		}
		if d == "/" {
			p.refuse(ip+".destination", "a mount over the container's /")
			continue
		}
		// Type.
		typ := m.Type
		if typ == "" {
			if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
				typ = "bind"
			} else {
				p.refuse(ip+".type", "missing type")
				continue
			}
		}
		switch typ {
		case "bind":
			p.checkBindDest(ip, d)
			p.checkBind(ip, m, req)
		case "tmpfs":
			if sysDest(d) || (underDev(d) && d != "/dev" && d != "/dev/shm") {
				p.refuse(ip+".destination", fmt.Sprintf("tmpfs over %s hides kernel or device files", d))
			}
		case "proc":
			procs++
			if d != "/proc" || procs > 1 {
				p.refuse(ip+".destination", "procfs only once, at /proc (an extra procfs is unmasked)")
			}
		case "sysfs":
			if d != "/sys" {
				p.refuse(ip+".destination", "sysfs only at /sys")
			}
		case "cgroup", "cgroup2":
			if d != "/sys/fs/cgroup" {
				p.refuse(ip+".destination", "cgroup filesystems only at /sys/fs/cgroup")
			}
		case "devpts":
			if d != "/dev/pts" {
				p.refuse(ip+".destination", "devpts only at /dev/pts")
			}
		case "mqueue":
			if d != "/dev/mqueue" {
				p.refuse(ip+".destination", "mqueue only at /dev/mqueue")
			}
		default:
			p.refuse(ip+".type", fmt.Sprintf("filesystem type %q is not allowed (only bind, tmpfs, proc, sysfs, devpts, mqueue, cgroup)", m.Type))
			continue
		}
		p.checkOptions(ip, m, typ, tmpMax, inodeMax)
	}
	// Scratch tmpfs on /tmp, /run, /var/tmp unless the bundle mounts something there.
	for _, sd := range scratchDirs {
		found := false
		for _, m := range s.Mounts {
			if m.Destination == sd.dest {
				found = true
				break
			}
		}
		if found {
			continue
		}
		nm := specs.Mount{Destination: sd.dest, Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=" + sd.mode, "size=" + formatSize(tmpMax), "nr_inodes=" + strconv.FormatInt(inodeMax, 10)}}
		// After the last mount of a parent (a /var volume), before the first mount below
		// (podman's /run/.containerenv) that follows it.
		start := 0
		for j, m := range s.Mounts {
			if m.Destination != sd.dest && within(sd.dest, m.Destination) {
				start = j + 1
			}
		}
		at := len(s.Mounts)
		for j := start; j < len(s.Mounts); j++ {
			if within(s.Mounts[j].Destination, sd.dest) {
				at = j
				break
			}
		}
		s.Mounts = slices.Insert(s.Mounts, at, nm)
		p.decide(fmt.Sprintf("mounts[%d]", at), ActionOverride, nil, nm, "scratch space is a size-limited tmpfs (the root is read-only)")
	}
}

func sysDest(d string) bool  { return within(d, "/proc") || within(d, "/sys") }
func underDev(d string) bool { return within(d, "/dev") }

func (p *pol) checkBindDest(ip, d string) {
	switch {
	case sysDest(d):
		p.refuse(ip+".destination", fmt.Sprintf("bind over %s exposes or hides kernel interfaces (CVE-2019-16884)", d))
	case underDev(d) && d != "/dev/shm" && d != "/dev/termination-log":
		p.refuse(ip+".destination", fmt.Sprintf("bind under /dev: %s", d))
	}
}

// checkBind: the source must lie inside one of the tenant's bind_roots (resolved
// without leaving it) or be an engine's per-container file; never a socket.
func (p *pol) checkBind(ip string, m *specs.Mount, req Request) {
	src := m.Source
	if src == "" {
		p.refuse(ip+".source", "missing")
		return
	}
	abs := src
	if !path.IsAbs(abs) {
		abs = path.Join(req.Bundle, abs)
	}
	abs = path.Clean(abs)
	try := func(root string, want FileKind) (bool, string) {
		rel := strings.TrimPrefix(strings.TrimPrefix(abs, root), "/")
		resolved, kind, err := req.Host.ResolveBeneath(root, rel)
		if err != nil {
			return false, fmt.Sprintf("%q does not resolve inside %s: %v", src, root, err)
		}
		if kind == KindSocket {
			return false, fmt.Sprintf("%q is a socket (host daemons' sockets are never bind-mounted)", src)
		}
		if kind != KindDir && kind != KindFile {
			return false, fmt.Sprintf("%q is a %s", src, kind)
		}
		if want != KindOther && kind != want {
			return false, fmt.Sprintf("%q is a %s, expected a %s for %s", src, kind, want, m.Destination)
		}
		if resolved != src {
			p.decide(ip+".source", ActionOverride, src, resolved, "resolved inside "+root)
			m.Source = resolved
		}
		return true, ""
	}
	for _, r := range req.Tenant.BindRoots {
		if within(abs, r) {
			if ok, why := try(r, KindOther); !ok {
				p.refuse(ip+".source", why)
			}
			return
		}
	}
	if want, ok := engineFileDest(m.Destination); ok {
		for _, r := range req.Config.Defaults.EngineRoots {
			if abs != r && within(abs, r) {
				if ok, why := try(r, want); !ok {
					p.refuse(ip+".source", why)
				} else if why := p.ownEngineFile(uniq(abs, m.Source), req); why != "" {
					p.refuse(ip+".source", why)
				}
				return
			}
		}
	}
	p.refuse(ip+".source", fmt.Sprintf("%q is outside tenant %s's bind_roots %v", src, req.Tenant.Name, req.Tenant.BindRoots))
}

// sandboxAnnotations name the pod sandbox whose per-container files a pod member uses.
var sandboxAnnotations = []string{"io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"}

// PodUIDAnnotations name the pod (kubelet's directory) of a CRI container; the runtime
// records a sandbox's so that members' kubelet files can be checked against it.
var PodUIDAnnotations = []string{"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// checkOptions allows known options, refuses propagation other than private,
// idmaps and unknown data, forces nosuid,nodev (not on the /dev tmpfs and devpts,
// which hold device nodes), keeps sysfs and cgroup read-only and clamps tmpfs sizes.
func (p *pol) checkOptions(ip string, m *specs.Mount, typ string, tmpMax, maxInodes int64) {
	kind := typ
	if kind == "cgroup2" {
		kind = "cgroup"
	}
	// Options are read as the kernel reads them: an element holding commas is several
	// options (libcontainer passes it on as mount data), and for tmpfs the last of
	// size=/nr_blocks= (two spellings of one limit, 0 = unlimited) wins, as does the last
	// nr_inodes= (0 = unlimited). The bounds are checked on that result and written back
	// as one size= and one nr_inodes=.
	opts := splitOptions(m.Options)
	var sizeLimit, inodeLimit int64 = -1, -1 // -1: not given; 0: unlimited or unparsable
	if typ == "tmpfs" {
		for _, o := range opts {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "size":
				sizeLimit = tmpfsBytes(v, 1)
			case "nr_blocks":
				sizeLimit = tmpfsBytes(v, 4096)
			case "nr_inodes":
				inodeLimit = tmpfsBytes(v, 1)
			}
		}
	}
	out := make([]string, 0, len(opts)+3)
	clamped := false
	hasRO, hasPriv := false, false
	for _, o := range opts {
		k, v, isData := strings.Cut(o, "=")
		if typ == "tmpfs" && (k == "size" || k == "nr_blocks" || k == "nr_inodes") {
			continue // re-added once below, bounded
		}
		switch {
		case o == "suid" || o == "dev" || o == "rsuid" || o == "rdev":
			continue
		case o == "bind" || o == "rbind":
			if typ != "bind" {
				p.refuse(ip+".options", fmt.Sprintf("%q on a %s mount", o, typ))
			}
		case o == "shared" || o == "rshared" || o == "slave" || o == "rslave" || o == "unbindable" || o == "runbindable":
			p.refuse(ip+".options", fmt.Sprintf("propagation %q leaks mounts between host and container; only private", o))
			continue
		case o == "idmap" || o == "ridmap" || k == "idmap" || k == "ridmap":
			p.refuse(ip+".options", "idmapped mounts are set by the runtime, not the bundle")
			continue
		case o == "tmpcopyup":
			// libcontainer's copy-up runs before pivot_root and walks the destination in
			// the rootfs by name (filepath.Walk, following intermediate components): a
			// tenant that can write the rootfs swaps a subdirectory for a symlink to a host
			// directory and gets the host files copied in (docs/security.md, invariant 15).
			// Dropped, not refused, so engines' default --tmpfs options keep working: the
			// tmpfs starts empty.
			p.decide(ip+".options", ActionOverride, o, nil, "tmpcopyup dropped: the copy before pivot_root follows paths by name in the tenant-writable rootfs; the tmpfs starts empty")
			continue
		case o == "newinstance" && typ == "devpts":
		case isData:
			if !slices.Contains(dataOptions[kind], k) {
				p.refuse(ip+".options", fmt.Sprintf("option %q is not allowed on %s", o, typ))
				continue
			}
			if base := map[string]int{"mode": 8, "ptmxmode": 8, "uid": 10, "gid": 10, "max": 10}[k]; base != 0 {
				if _, err := strconv.ParseUint(v, base, 32); err != nil {
					p.refuse(ip+".options", fmt.Sprintf("option %q: a number is required", o))
					continue
				}
			}
		case flagOptions[o]:
			if (o == "rw" || o == "rrw") && (kind == "sysfs" || kind == "cgroup") {
				p.refuse(ip+".options", fmt.Sprintf("%s mounted read-write (CVE-2022-0492 release_agent, device rules)", typ))
				continue
			}
		default:
			p.refuse(ip+".options", fmt.Sprintf("unknown mount option %q", o))
			continue
		}
		if o == "ro" || o == "rro" {
			hasRO = true
		}
		if o == "private" || o == "rprivate" {
			hasPriv = true
		}
		out = append(out, o)
	}
	add := func(o string) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	add("nosuid")
	if !(typ == "devpts" || (typ == "tmpfs" && m.Destination == "/dev")) {
		add("nodev")
	}
	if (kind == "sysfs" || kind == "cgroup") && !hasRO {
		add("ro")
	}
	if typ == "bind" && !hasPriv {
		add("rprivate")
	}
	if typ == "tmpfs" {
		size := sizeLimit
		if size <= 0 || size > tmpMax {
			if sizeLimit >= 0 {
				p.decide(ip+".options", ActionClamp, sizeLimit, "size="+formatSize(tmpMax), "tmpfs size limited by the tenant's tmpfs quota (size=/nr_blocks= read as the kernel does: the last wins, 0 is unlimited; tmpfs pages are charged to the container's memory)")
				clamped = true
			}
			size = tmpMax
		}
		add("size=" + formatSize(size))
		inodes := inodeLimit
		if inodes <= 0 || inodes > maxInodes {
			inodes = maxInodes
		}
		add("nr_inodes=" + strconv.FormatInt(inodes, 10))
	}
	if !slices.Equal(out, m.Options) {
		if !clamped || len(out) != len(m.Options) {
			p.decide(ip+".options", ActionOverride, m.Options, out, "nosuid,nodev on every mount, private propagation, read-only sysfs/cgroup, sized tmpfs")
		}
		m.Options = out
	}
}

// TmpfsInodeMax is the inode bound of the tenant's tmpfs mounts of the given size: its
// tmpfs_inodes, else TmpfsInodes(size).
func (t *Tenant) TmpfsInodeMax(size int64) int64 {
	if t.Container.TmpfsInodes > 0 {
		return int64(t.Container.TmpfsInodes)
	}
	return TmpfsInodes(size)
}

// TmpfsInodes is the inode bound of a tmpfs of the given size: one inode per KiB, at
// least 16384 (nr_inodes=0 would be unlimited: inodes cost kernel memory outside size=).
func TmpfsInodes(size int64) int64 {
	return max(16384, size>>10)
}

// splitOptions splits option elements that hold several comma-separated options.
func splitOptions(in []string) []string {
	out := make([]string, 0, len(in))
	for _, o := range in {
		for _, part := range strings.Split(o, ",") {
			if part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// tmpfsBytes reads a tmpfs size-like value (k/m/g/t suffixes) times unit; 0 for
// "unlimited", a percentage (of host RAM, unknown here) or anything unparsable, all of
// which the caller bounds.
func tmpfsBytes(v string, unit int64) int64 {
	if strings.HasSuffix(v, "%") {
		return 0
	}
	n, err := ParseSize(v)
	if err != nil || n > math.MaxInt64/unit {
		return 0
	}
	return n * unit
}

func formatSize(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprintf("%d", n)
}

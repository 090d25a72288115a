package hardening

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runc/libcontainer/apparmor"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"

	profiles "github.com/tenantrun/tenantrun/seccomp-profiles"
	"golang.org/x/sys/unix"
)

// OSHost is the real Host: all of the package's I/O is in this file.
type OSHost struct {
	// ProcRoot is where procfs is mounted ("/proc" when empty).
	ProcRoot string
	// NetnsHolder, set by the runtime from its host-wide claim records, says which
	// tenant's container holds a host-owned network namespace. Nil: none does.
	NetnsHolder func(id NSID) (tenant, container string, found bool)
	// Files, when set, keeps open every namespace NamespaceOwner checked (and its owning
	// user namespace), so the container is given exactly those (see NSFiles).
	Files *NSFiles
	// ContainerOwner, set by the runtime from its state, says which tenant a container
	// id (a pod sandbox's) belongs to. Nil: unknown.
	ContainerOwner func(id string) (tenant string, found bool)
	// ContainerPod, set by the runtime, gives the pod uid recorded for a sandbox id.
	ContainerPod func(id string) (uid string, found bool)
}

var nsProcName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc",
	specs.UTSNamespace: "uts", specs.MountNamespace: "mnt", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// ResolveBeneath opens rel under root with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS),
// so neither '..' nor a symlink (absolute or relative) can leave root, then reports the
// real path of what it opened and its type.
func (h OSHost) ResolveBeneath(root, rel string) (string, FileKind, error) {
	fd, err := openBeneath(root, rel)
	if err != nil {
		return "", KindOther, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", KindOther, err
	}
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", KindOther, err
	}
	return real, kindOf(st.Mode), nil
}

// openBeneath opens rel under root (O_PATH) with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_MAGICLINKS): neither '..' nor a symlink can leave root, and root's own last
// component is not followed if it is a symlink.
func openBeneath(root, rel string) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rfd)
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if err == unix.EXDEV {
			return -1, fmt.Errorf("escapes %s (symlink or '..')", root)
		}
		return -1, err
	}
	return fd, nil
}

func kindOf(mode uint32) FileKind {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return KindDir
	case unix.S_IFREG:
		return KindFile
	case unix.S_IFSOCK:
		return KindSocket
	case unix.S_IFLNK:
		return KindSymlink
	case unix.S_IFCHR, unix.S_IFBLK:
		return KindDevice
	}
	return KindOther
}

// namespaceInode stats a namespace file (following the /proc magic link) and checks it
// is an nsfs inode. Only for the host's own namespaces (/proc/1, /proc/self).
func namespaceInode(path string) (NSID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return NSID{}, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return NSID{}, err
	}
	if fs.Type != unix.NSFS_MAGIC {
		return NSID{}, fmt.Errorf("%s is not a namespace file", path)
	}
	return NSID{Dev: st.Dev, Ino: st.Ino}, nil
}

// HostNamespaces identifies the host's namespaces of a type: /proc/1/ns/<type> (not
// readable on every machine: PID 1 may refuse ptrace-read access even to root) and
// the runtime's own /proc/self/ns/<type> (engines run the runtime in the host's
// namespaces; joining the runtime's own namespace is joining the host's).
func (h OSHost) HostNamespaces(t specs.LinuxNamespaceType) ([]NSID, error) {
	n, ok := nsProcName[t]
	if !ok {
		return nil, fmt.Errorf("unknown namespace type %q", t)
	}
	proc := h.ProcRoot
	if proc == "" {
		proc = "/proc"
	}
	var ids []NSID
	var firstErr error
	for _, p := range []string{"1", "self"} {
		id, err := namespaceInode(filepath.Join(proc, p, "ns", n))
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, firstErr
	}
	return ids, nil
}

// ContainerTenant asks the runtime's state through ContainerOwner.
func (h OSHost) ContainerTenant(id string) (string, bool) {
	if h.ContainerOwner == nil {
		return "", false
	}
	return h.ContainerOwner(id)
}

// ContainerPodUID asks the runtime's state through ContainerPod.
func (h OSHost) ContainerPodUID(id string) (string, bool) {
	if h.ContainerPod == nil {
		return "", false
	}
	return h.ContainerPod(id)
}

// ioctl(2) requests of nsfs (linux/nsfs.h).
const (
	nsGetUserns = 0xb701 // a descriptor of the owning user namespace
	nsGetParent = 0xb702 // a descriptor of a user (or pid) namespace's parent
	nsGetNstype = 0xb703 // the CLONE_NEW* type of the namespace
)

var nsCloneFlag = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.MountNamespace: unix.CLONE_NEWNS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

func (h OSHost) procRoot() string {
	if h.ProcRoot == "" {
		return "/proc"
	}
	return h.ProcRoot
}

// NamespaceOwner asks the kernel about the namespace at p (docs/security.md, invariant 3).
// The path is opened once (O_PATH, checked to be nsfs, then re-opened read-only through
// that descriptor, so a FIFO or device is never opened); NS_GET_NSTYPE must be nsType;
// NS_GET_USERNS gives the owning user namespace (for a user namespace, the namespace
// itself counts). A user namespace other than the host's has its mappings read from a
// process inside it, pinned by pidfd and its /proc directory descriptor (see
// readVerified): a reused pid is another process, read as such. A network namespace
// owned by the host gets the list of threads in it and the claim record's holder.
// With Files set, both descriptors stay open there for the runtime.
func (h OSHost) NamespaceOwner(p string, nsType specs.LinuxNamespaceType) (NSOwner, error) {
	flag, ok := nsCloneFlag[nsType]
	if !ok {
		return NSOwner{}, fmt.Errorf("unknown namespace type %q", nsType)
	}
	pfd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return NSOwner{}, err
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(pfd, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		unix.Close(pfd)
		return NSOwner{}, fmt.Errorf("%s is not a namespace file", p)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	unix.Close(pfd)
	if err != nil {
		return NSOwner{}, err
	}
	nsf := os.NewFile(uintptr(fd), p)
	var userf *os.File
	kept := false
	defer func() {
		if !kept {
			nsf.Close()
			if userf != nil {
				userf.Close()
			}
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return NSOwner{}, err
	}
	o := NSOwner{ID: NSID{Dev: st.Dev, Ino: st.Ino}}
	typ, err := unix.IoctlRetInt(fd, nsGetNstype)
	if err != nil {
		return NSOwner{}, fmt.Errorf("NS_GET_NSTYPE: %w", err)
	}
	if typ != flag {
		return NSOwner{}, fmt.Errorf("%s is not a %s namespace", p, nsType)
	}
	var ufd int
	if nsType == specs.UserNamespace {
		ufd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	} else {
		ufd, err = unix.IoctlRetInt(fd, nsGetUserns)
		if err == unix.EPERM {
			return NSOwner{}, fmt.Errorf("its owning user namespace lies outside the runtime's")
		}
	}
	if err != nil {
		return NSOwner{}, fmt.Errorf("NS_GET_USERNS: %w", err)
	}
	userf = os.NewFile(uintptr(ufd), p+" (owning user namespace)")
	if err := unix.Fstat(ufd, &st); err != nil {
		return NSOwner{}, err
	}
	o.UserNS = NSID{Dev: st.Dev, Ino: st.Ino}
	hostUser, err := h.HostNamespaces(specs.UserNamespace)
	if err != nil {
		return NSOwner{}, fmt.Errorf("cannot identify the host's user namespace: %w", err)
	}
	o.HostUserNS = slices.Contains(hostUser, o.UserNS)
	proc := h.procRoot()
	switch {
	case !o.HostUserNS:
		if o.UIDMap, o.GIDMap, err = userNSMappings(proc, o.UserNS, hintPid(p)); err != nil {
			return NSOwner{}, err
		}
		pfd, err := unix.IoctlRetInt(ufd, nsGetParent)
		if err != nil {
			return NSOwner{}, fmt.Errorf("NS_GET_PARENT of its owning user namespace: %w", err)
		}
		var pst unix.Stat_t
		err = unix.Fstat(pfd, &pst)
		unix.Close(pfd)
		if err != nil {
			return NSOwner{}, err
		}
		o.Nested = !slices.Contains(hostUser, NSID{Dev: pst.Dev, Ino: pst.Ino})
	case nsType == specs.NetworkNamespace:
		if o.Procs, err = threadsIn(proc, "net", o.ID); err != nil {
			return NSOwner{}, err
		}
		if h.NetnsHolder != nil {
			o.Holder, o.HolderContainer, _ = h.NetnsHolder(o.ID)
		}
	}
	if h.Files != nil {
		h.Files.add(p, nsf, userf, o)
		kept = true
	}
	return o, nil
}

// NetnsPinned looks for an entry directly below one of dirs whose nsfs identity is id
// (an engine's netns mount, e.g. /run/netns/cni-…).
func (h OSHost) NetnsPinned(id NSID, dirs []string) (string, bool) {
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			var st unix.Stat_t
			if unix.Stat(p, &st) == nil && (NSID{Dev: st.Dev, Ino: st.Ino}) == id {
				var fs unix.Statfs_t
				if unix.Statfs(p, &fs) == nil && fs.Type == unix.NSFS_MAGIC {
					return p, true
				}
			}
		}
	}
	return "", false
}

// hintPid is the pid of a /proc/<pid>/ns/... path, tried first (it is only a hint: its
// user namespace is checked like any other process's).
func hintPid(p string) int {
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return 0
	}
	n, _, _ := strings.Cut(rest, "/")
	pid, err := strconv.Atoi(n)
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// userNSMappings reads the uid_map and gid_map of user namespace want from a process in
// it (the hint first, then every process in /proc).
func userNSMappings(proc string, want NSID, hint int) (uid, gid []specs.LinuxIDMapping, err error) {
	try := func(pid int) bool {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(proc, strconv.Itoa(pid), "ns", "user"), &st) != nil || (NSID{Dev: st.Dev, Ino: st.Ino}) != want {
			return false
		}
		data, ok := readVerified(proc, pid, "user", want, "uid_map", "gid_map")
		if !ok {
			return false
		}
		u, err1 := parseIDMap(data[0])
		g, err2 := parseIDMap(data[1])
		if err1 != nil || err2 != nil {
			return false
		}
		uid, gid = u, g
		return true
	}
	if hint > 0 && try(hint) {
		return uid, gid, nil
	}
	pids, err := procPids(proc)
	if err != nil {
		return nil, nil, err
	}
	for _, pid := range pids {
		if pid != hint && try(pid) {
			return uid, gid, nil
		}
	}
	return nil, nil, fmt.Errorf("no process is in its user namespace %s, whose mapping therefore cannot be read", want)
}

func procPids(proc string) ([]int, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// readVerified reads files of process pid's /proc directory while the process is in
// namespace want (ns/<nsName>). The process is pinned with pidfd_open, its directory is
// opened, and the pidfd's process is then checked to be still alive: a pid is reused
// only after its process is gone, so the directory is that process's, and reads through
// it never reach another process. The namespace is checked before and after the reads.
func readVerified(proc string, pid int, nsName string, want NSID, files ...string) ([][]byte, bool) {
	// Before Linux 5.3 there is no pidfd: the directory descriptor alone still never
	// reaches another process (reads through it fail once its process is gone).
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == unix.ENOSYS:
		pidfd = -1
	case err != nil:
		return nil, false
	default:
		defer unix.Close(pidfd)
	}
	alive := func() bool { return pidfd < 0 || unix.PidfdSendSignal(pidfd, 0, nil, 0) == nil }
	dfd, err := unix.Open(filepath.Join(proc, strconv.Itoa(pid)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(dfd)
	if !alive() {
		return nil, false
	}
	in := func() bool {
		var st unix.Stat_t
		return unix.Fstatat(dfd, "ns/"+nsName, &st, 0) == nil && (NSID{Dev: st.Dev, Ino: st.Ino}) == want
	}
	if !in() {
		return nil, false
	}
	out := make([][]byte, len(files))
	for i, f := range files {
		b, err := readAt(dfd, f)
		if err != nil {
			return nil, false
		}
		out[i] = b
	}
	if !in() || !alive() {
		return nil, false
	}
	return out, true
}

func readAt(dfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<16))
}

// parseIDMap parses a /proc/<pid>/uid_map or gid_map (as read from the host's user
// namespace: host ids).
func parseIDMap(b []byte) ([]specs.LinuxIDMapping, error) {
	var m []specs.LinuxIDMapping
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("bad id map line %q", line)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bad id map line %q", line)
			}
			v[i] = uint32(n)
		}
		m = append(m, specs.LinuxIDMapping{ContainerID: v[0], HostID: v[1], Size: v[2]})
	}
	return m, nil
}

// threadsIn lists every thread whose ns/<nsName> is want, with its host ids. Each
// process's directory is opened once and its threads are read below that descriptor
// (a thread directory found there belongs to that thread group).
func threadsIn(proc, nsName string, want NSID) ([]NSProc, error) {
	pids, err := procPids(proc)
	if err != nil {
		return nil, err
	}
	var out []NSProc
	for _, pid := range pids {
		dfd, err := unix.Open(filepath.Join(proc, strconv.Itoa(pid), "task"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // gone
		}
		d := os.NewFile(uintptr(dfd), "task")
		tids, _ := d.Readdirnames(-1)
		for _, tid := range tids {
			var st unix.Stat_t
			if unix.Fstatat(dfd, tid+"/ns/"+nsName, &st, 0) != nil || (NSID{Dev: st.Dev, Ino: st.Ino}) != want {
				continue
			}
			b, err := readAt(dfd, tid+"/status")
			if err != nil {
				continue // exited meanwhile
			}
			pr := NSProc{PID: pid}
			if n, err := strconv.Atoi(tid); err == nil {
				pr.PID = n
			}
			for _, line := range strings.Split(string(b), "\n") {
				k, v, _ := strings.Cut(line, ":")
				if k != "Uid" && k != "Gid" {
					continue
				}
				for _, x := range strings.Fields(v) {
					n, err := strconv.ParseUint(x, 10, 32)
					if err != nil {
						continue
					}
					if k == "Uid" {
						pr.UIDs = append(pr.UIDs, uint32(n))
					} else {
						pr.GIDs = append(pr.GIDs, uint32(n))
					}
				}
			}
			out = append(out, pr)
		}
		d.Close()
	}
	return out, nil
}

// NSFiles holds the namespace descriptors OSHost.NamespaceOwner checked, by the path it
// was asked about: the runtime points the spec at them (Ref, OwnerRef), so no path is
// resolved again after its check, and closes them once the container has started. They
// are O_CLOEXEC: the container's init (exec'd by libcontainer) never has them.
type NSFiles struct {
	mu     sync.Mutex
	byPath map[string]nsEntry
}

type nsEntry struct {
	ns, user *os.File
	owner    NSOwner
}

// NewNSFiles returns an empty set.
func NewNSFiles() *NSFiles { return &NSFiles{byPath: map[string]nsEntry{}} }

func (f *NSFiles) add(p string, ns, user *os.File, o NSOwner) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.byPath[p]; ok {
		old.ns.Close()
		old.user.Close()
	}
	f.byPath[p] = nsEntry{ns: ns, user: user, owner: o}
}

// fdRef is a path that opens the runtime's own descriptor from any process (libcontainer
// opens namespace paths in its init child, whose /proc/self is not the runtime).
func fdRef(file *os.File) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), file.Fd())
}

// Ref is the path of the checked descriptor of the namespace asked about as p.
func (f *NSFiles) Ref(p string) (string, bool) {
	if f == nil {
		return "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.byPath[p]
	if !ok {
		return "", false
	}
	return fdRef(e.ns), true
}

// OwnerRef is the path of the descriptor of the user namespace that decided p (its
// owner; for a user namespace, itself), and what the kernel said.
func (f *NSFiles) OwnerRef(p string) (string, NSOwner, bool) {
	if f == nil {
		return "", NSOwner{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.byPath[p]
	if !ok {
		return "", NSOwner{}, false
	}
	return fdRef(e.user), e.owner, true
}

// Close closes every descriptor.
func (f *NSFiles) Close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, e := range f.byPath {
		e.ns.Close()
		e.user.Close()
		delete(f.byPath, p)
	}
}

// MountRoot opens rel below root as ResolveBeneath does and asks the kernel, on that
// descriptor, whether it is the root of a mount.
func (h OSHost) MountRoot(root, rel string) (bool, error) {
	fd, err := openBeneath(root, rel)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	return IsMountRootFd(fd)
}

// IsMountRootFd says whether the descriptor (O_PATH is enough) is the root of a mount:
// statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8). A kernel that does not report the attribute
// is an error, never a yes.
func IsMountRootFd(fd int) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, fmt.Errorf("statx: %w", err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, fmt.Errorf("the kernel does not report whether a directory is a mount root (statx STATX_ATTR_MOUNT_ROOT, Linux 5.8)")
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// LSMEnabled asks the kernel, as libcontainer does when it applies the value:
// AppArmor is enabled when securityfs has it and its module parameter says Y;
// SELinux when selinuxfs is mounted and the kernel enforces or audits it.
func (h OSHost) LSMEnabled(lsm string) bool {
	switch lsm {
	case "apparmor":
		return apparmor.IsEnabled()
	case "selinux":
		return selinux.GetEnabled()
	}
	return false
}

// SeccompProfile loads the profile from the operator's seccomp_dir or the embedded set.
func (h OSHost) SeccompProfile(name, dir string) (*specs.LinuxSeccomp, error) {
	return profiles.Load(name, dir)
}

// CheckedNamespace is the descriptor NamespaceOwner kept in Files for path, and its owner's.
func (h OSHost) CheckedNamespace(path string) (string, string, NSOwner, bool) {
	ref, ok := h.Files.Ref(path)
	if !ok {
		return "", "", NSOwner{}, false
	}
	uref, o, _ := h.Files.OwnerRef(path)
	return ref, uref, o, true
}

// ProcExeIs stats /proc/<pid>/exe (the kernel's link to the program the process runs)
// and binary, and compares device and inode. Nothing is executed through the pid: the
// caller runs binary itself, so the process may die or its pid be reused at any time
// after this without effect.
func (h OSHost) ProcExeIs(pid int, binary string) (bool, error) {
	var exe, bin unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("%s/%d/exe", h.procRoot(), pid), &exe); err != nil {
		return false, err
	}
	if err := unix.Stat(binary, &bin); err != nil {
		return false, err
	}
	return exe.Dev == bin.Dev && exe.Ino == bin.Ino, nil
}

// SysSubmounts reads the mount table: the mount points below /sys other than the cgroup
// hierarchies (covered by the container's own cgroup mount), shallowest first. When the
// table cannot be read it fails closed on what every host has.
func (h OSHost) SysSubmounts() []string {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter("/sys/"))
	if err != nil {
		// Fail closed on what is known to be there on every host.
		return []string{"/sys/kernel/security", "/sys/kernel/debug", "/sys/kernel/tracing", "/sys/fs/bpf",
			"/sys/fs/fuse/connections", "/sys/kernel/config", "/sys/fs/pstore", "/sys/firmware/efi/efivars"}
	}
	var out []string
	for _, m := range infos {
		mp := m.Mountpoint
		if mp == "/sys/fs/cgroup" || strings.HasPrefix(mp, "/sys/fs/cgroup/") {
			continue
		}
		if !slices.Contains(out, mp) {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) < len(out[j]) || len(out[i]) == len(out[j]) && out[i] < out[j] })
	return out
}

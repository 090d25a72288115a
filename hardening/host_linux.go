package hardening

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// OSHost is the real Host: all of the package's I/O is in this file.
type OSHost struct {
	// ProcRoot is where procfs is mounted ("/proc" when empty).
	ProcRoot string
	// NamespaceOwner, set by the runtime from its state, says which tenant's
	// container owns a namespace (path and its identity). Nil: no container owns any.
	NamespaceOwner func(path string, id NSID) (tenant string, found bool)
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
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", KindOther, fmt.Errorf("open %s: %w", root, err)
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
			return "", KindOther, fmt.Errorf("escapes %s (symlink or '..')", root)
		}
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

// NamespaceInode stats a namespace file (following the /proc magic link) and checks it
// is an nsfs inode.
func (h OSHost) NamespaceInode(path string) (NSID, error) {
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
		id, err := h.NamespaceInode(filepath.Join(proc, p, "ns", n))
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

// NamespaceTenant asks the runtime's state through NamespaceOwner.
func (h OSHost) NamespaceTenant(path string, id NSID) (string, bool) {
	if h.NamespaceOwner == nil {
		return "", false
	}
	return h.NamespaceOwner(path, id)
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

// MountRoot opens rel below root as ResolveBeneath does and asks the kernel, on that
// descriptor, whether it is the root of a mount.
func (h OSHost) MountRoot(root, rel string) (bool, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", root, err)
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
			return false, fmt.Errorf("escapes %s (symlink or '..')", root)
		}
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

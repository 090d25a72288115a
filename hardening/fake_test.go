package hardening

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	profiles "github.com/tenantrun/tenantrun/seccomp-profiles"
)

// FakeHost is a Host whose facts come from maps, for the package's tests:
// Kinds lists existing paths, Links symlinks (absolute targets escape any root, as
// RESOLVE_BENEATH would), anything below a Prefixes entry exists (a directory when its
// base name is rootfs, merged, shm or secrets, else a file; a socket when in Sockets),
// NS maps namespace files to identities, HostNS the host's; NSOwners is what the kernel
// says about a namespace (absent: owned by the host's user namespace, nobody in it);
// Containers and PodUIDs are the runtime's state.
type FakeHost struct {
	Kinds      map[string]FileKind // existing paths
	Links      map[string]string   // symlinks: path -> target
	Prefixes   map[string]bool     // anything below these exists
	Sockets    map[string]bool     // sockets below prefixes
	NS         map[string]NSID     // namespace files
	HostNS     map[specs.LinuxNamespaceType]NSID
	NSOwners   map[NSID]NSOwner  // namespace -> owner, mappings, threads, holder
	Containers map[string]string // container id -> tenant
	PodUIDs    map[string]string // sandbox id -> pod uid
	// MountRoots are mount roots among Kinds; below a Prefixes entry, a directory named
	// merged or rootfs is one (where the captured engines mounted it) unless PlainDirs
	// lists it.
	MountRoots map[string]bool
	PlainDirs  map[string]bool
	// NoLSM lists the LSMs ("apparmor", "selinux") the host does not enforce; all
	// others it does.
	NoLSM map[string]bool
	// Profiles are seccomp profiles by name, in place of the operator's seccomp_dir.
	Profiles map[string]*specs.LinuxSeccomp
	// SysMounts are the host's submounts of /sys (SysSubmounts).
	SysMounts []string
	// ProcExe is the program each pid runs (ProcExeIs).
	ProcExe map[int]string
}

// ProcExeIs compares ProcExe's entry for pid with binary.
func (h *FakeHost) ProcExeIs(pid int, binary string) (bool, error) {
	exe, ok := h.ProcExe[pid]
	if !ok {
		return false, fmt.Errorf("no process %d", pid)
	}
	return exe == binary, nil
}

// CheckedNamespace answers for the paths in NS (as if NamespaceOwner had checked every
// one of them) with the references "checked:<path>" and "owner:<path>".
func (h *FakeHost) CheckedNamespace(p string) (string, string, NSOwner, bool) {
	o, err := h.NamespaceOwner(p, "")
	if err != nil {
		return "", "", NSOwner{}, false
	}
	return "checked:" + p, "owner:" + p, o, true
}

// SysSubmounts returns SysMounts.
func (h *FakeHost) SysSubmounts() []string { return h.SysMounts }

// SeccompProfile is the embedded profile of that name (no operator directory is read),
// or Profiles' entry when it has one.
func (h *FakeHost) SeccompProfile(name, _ string) (*specs.LinuxSeccomp, error) {
	if p, ok := h.Profiles[name]; ok {
		return p, nil
	}
	return profiles.Load(name, "")
}

// LSMEnabled is true unless NoLSM lists lsm.
func (h *FakeHost) LSMEnabled(lsm string) bool { return !h.NoLSM[lsm] }

// MountRoot resolves rel as ResolveBeneath does and looks the result up in MountRoots,
// PlainDirs and Prefixes.
func (h *FakeHost) MountRoot(root, rel string) (bool, error) {
	cur, kind, err := h.ResolveBeneath(root, rel)
	if err != nil {
		return false, err
	}
	switch {
	case h.PlainDirs[cur]:
		return false, nil
	case h.MountRoots[cur]:
		return true, nil
	}
	if _, listed := h.Kinds[cur]; listed || kind != KindDir {
		return false, nil
	}
	b := path.Base(cur)
	return b == "merged" || b == "rootfs", nil
}

// ContainerPodUID looks the sandbox up in PodUIDs.
func (h *FakeHost) ContainerPodUID(id string) (string, bool) {
	u, ok := h.PodUIDs[id]
	return u, ok
}

// ContainerTenant looks the id up in Containers.
func (h *FakeHost) ContainerTenant(id string) (string, bool) {
	t, ok := h.Containers[id]
	return t, ok
}

var fakeDirNames = map[string]bool{"rootfs": true, "merged": true, "shm": true, "secrets": true}

// ResolveBeneath walks rel below root through Links, as openat2 RESOLVE_BENEATH would.
func (h *FakeHost) ResolveBeneath(root, rel string) (string, FileKind, error) {
	cur := root
	parts := strings.Split(rel, "/")
	for i := 0; i < len(parts); i++ {
		el := parts[i]
		if el == "" || el == "." {
			continue
		}
		if el == ".." {
			if cur == root {
				return "", KindOther, fmt.Errorf("escapes %s (symlink or '..')", root)
			}
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, el)
		if tgt, ok := h.Links[next]; ok {
			if path.IsAbs(tgt) {
				return "", KindOther, fmt.Errorf("escapes %s (symlink or '..')", root)
			}
			parts = append(strings.Split(tgt, "/"), parts[i+1:]...)
			i = -1
			continue
		}
		cur = next
	}
	if k, ok := h.Kinds[cur]; ok {
		return cur, k, nil
	}
	for p := range h.Prefixes {
		if within(cur, p) && cur != p {
			if h.Sockets[cur] {
				return cur, KindSocket, nil
			}
			if fakeDirNames[path.Base(cur)] {
				return cur, KindDir, nil
			}
			return cur, KindFile, nil
		}
	}
	return "", KindOther, fmt.Errorf("%s: %w", cur, fs.ErrNotExist)
}

// NamespaceOwner looks the path up in NS and the identity in NSOwners.
func (h *FakeHost) NamespaceOwner(p string, _ specs.LinuxNamespaceType) (NSOwner, error) {
	id, ok := h.NS[p]
	if !ok {
		return NSOwner{}, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	o, ok := h.NSOwners[id]
	if !ok {
		o = NSOwner{HostUserNS: true}
	}
	o.ID = id
	return o, nil
}

// HostNamespaces returns HostNS[t].
func (h *FakeHost) HostNamespaces(t specs.LinuxNamespaceType) ([]NSID, error) {
	return []NSID{h.HostNS[t]}, nil
}

// NetnsPinned finds a path in NS directly below one of dirs with identity id.
func (h *FakeHost) NetnsPinned(id NSID, dirs []string) (string, bool) {
	for p, x := range h.NS {
		for _, d := range dirs {
			if x == id && path.Dir(p) == path.Clean(d) {
				return p, true
			}
		}
	}
	return "", false
}

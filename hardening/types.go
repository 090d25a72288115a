// Package hardening is tenantrun's policy engine: it turns whatever an engine or a tenant
// put into a bundle's config.json (or an exec process.json) into a spec that satisfies the
// tenant's policy, or refuses it. Rules are pure functions over specs.Spec; the only I/O
// goes through the Host interface (see host_linux.go for the real one).
package hardening

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Action is what a rule did with a field.
type Action string

const (
	// ActionOverride replaced the value with the safe one.
	ActionOverride Action = "override"
	// ActionClamp lowered (or filled) a value to the tenant's limit.
	ActionClamp Action = "clamp"
	// ActionRefuse refused the bundle because of this field.
	ActionRefuse Action = "refuse"
	// ActionAllow records a value that was checked and kept (only for noteworthy cases).
	ActionAllow Action = "allow"
)

// Decision records one thing the policy did: the JSON path of the field, the action,
// the old and new value and why.
type Decision struct {
	Path   string `json:"path"`
	Action Action `json:"action"`
	Old    any    `json:"old,omitempty"`
	New    any    `json:"new,omitempty"`
	Reason string `json:"reason"`
}

// Refusal is one refused field.
type Refusal struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`

	// Refusals of one kind that come by the dozen (every capability of a privileged
	// config, in three sets; every host device) share a group, so the message can list
	// them in one clause: groupPath heads the clause, group says what is wrong with the
	// members, item names this one.
	groupPath, group, item string
}

// RefusedError is returned when a bundle or process is refused. Its message starts
// with "refused:" and names the JSON path of every offending field.
type RefusedError struct {
	Refusals []Refusal
}

func (e *RefusedError) Error() string {
	return "refused: " + strings.Join(summarizeRefusals(e.Refusals), "; ")
}

const (
	// groupAtLeast refusals of one group are summarised in one clause; fewer keep their
	// own clause with the full reason.
	groupAtLeast = 4
	// groupListed members are named in a group's clause, the rest counted.
	groupListed = 12
	// maxClauses bounds the message (containerd shows it to the user in one line); the
	// audit log and `tenantrun policy explain` list every refusal.
	maxClauses = 40
)

// Group kinds: the clause text after the count.
const (
	groupCaps    = "capabilities that are never granted to a tenant"
	groupDevices = "devices that are not default devices"
)

// summarizeRefusals is the message's clauses: "path: reason" for each refusal, except
// that a large group (a privileged-shaped config refuses ~30 capabilities in each of
// three sets and every host device) becomes one clause per path listing its members,
// and sets refusing the same members share a clause. Every refused path still appears.
func summarizeRefusals(rs []Refusal) []string {
	type key struct{ path, kind string }
	members := map[key][]string{}
	for _, r := range rs {
		if r.group != "" {
			k := key{r.groupPath, r.group}
			members[k] = append(members[k], r.item)
		}
	}
	var clauses []string
	byList := map[string]int{} // kind + members -> index of the clause naming them
	done := map[key]bool{}
	for _, r := range rs {
		k := key{r.groupPath, r.group}
		if r.group == "" || len(members[k]) < groupAtLeast {
			clauses = append(clauses, r.Path+": "+r.Reason)
			continue
		}
		if done[k] {
			continue
		}
		done[k] = true
		items := members[k]
		sig := r.group + "\x00" + strings.Join(items, "\x00")
		if i, ok := byList[sig]; ok {
			// Same members refused in another set: name this path in that clause.
			head, tail, _ := strings.Cut(clauses[i], ": ")
			clauses[i] = head + ", " + r.groupPath + ": " + tail
			continue
		}
		listed := items
		more := ""
		if len(listed) > groupListed {
			listed, more = listed[:groupListed], fmt.Sprintf(" and %d more", len(items)-groupListed)
		}
		byList[sig] = len(clauses)
		clauses = append(clauses, fmt.Sprintf("%s: %d %s (%s%s)", r.groupPath, len(items), r.group, strings.Join(listed, ", "), more))
	}
	if len(clauses) > maxClauses {
		n := len(clauses) - maxClauses
		clauses = append(clauses[:maxClauses], fmt.Sprintf("and %d more (tenantrun policy explain and the audit log list every one)", n))
	}
	return clauses
}

// Paths lists the refused JSON paths.
func (e *RefusedError) Paths() []string {
	out := make([]string, 0, len(e.Refusals))
	for _, r := range e.Refusals {
		out = append(out, r.Path)
	}
	return out
}

// Request is the input of Enforce.
type Request struct {
	Spec          *specs.Spec
	Bundle        string // absolute bundle directory
	ContainerID   string
	Tenant        *Tenant
	Config        *Config
	Host          Host
	ConsoleSocket bool // the engine passed --console-socket
	SystemdCgroup bool // --systemd-cgroup
}

// ProcessRequest is the input of EnforceProcess (exec's process.json).
type ProcessRequest struct {
	Process       *specs.Process
	ContainerID   string
	Tenant        *Tenant
	Config        *Config
	ConsoleSocket bool
	// Spec is the container's (already enforced) config, if the runtime has it; used to
	// check ids against the container's mappings. May be nil.
	Spec *specs.Spec
}

// FileKind is what a resolved path is.
type FileKind int

const (
	KindOther FileKind = iota
	KindDir
	KindFile
	KindSocket
	KindSymlink
	KindDevice
)

func (k FileKind) String() string {
	switch k {
	case KindDir:
		return "directory"
	case KindFile:
		return "regular file"
	case KindSocket:
		return "socket"
	case KindSymlink:
		return "symlink"
	case KindDevice:
		return "device"
	}
	return "special file"
}

// Host is everything the policy needs to know about the machine. All I/O of the
// package goes through it, so rules are testable with a fake.
type Host interface {
	// ResolveBeneath resolves rel inside root without ever leaving root (symlinks
	// included, as openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS does) and returns the
	// resolved absolute path and what it is. An escape or a missing path is an error.
	ResolveBeneath(root, rel string) (resolved string, kind FileKind, err error)
	// HostNamespaces identifies the host's namespaces of an OCI type: /proc/1/ns/<type>
	// where readable, and the runtime's own (/proc/self/ns/<type>: engines run the
	// runtime in the host's namespaces). An error only if none can be identified.
	HostNamespaces(nsType specs.LinuxNamespaceType) ([]NSID, error)
	// NamespaceOwner asks the kernel about the namespace at path, which must be an nsfs
	// file of type nsType: its identity, the user namespace that decides whose it is
	// (its owner; for a user namespace, itself) with that user namespace's mappings, and
	// for a network namespace owned by the host, who is in it and who holds it.
	NamespaceOwner(path string, nsType specs.LinuxNamespaceType) (NSOwner, error)
	// NetnsPinned says where in dirs (entries directly below them: the engines' netns
	// mounts) the network namespace id is mounted, if anywhere: a pod member names its
	// infra container's /proc/<pid>/ns/net, which is the engine's netns by identity.
	NetnsPinned(id NSID, dirs []string) (path string, found bool)
	// ContainerTenant says which tenant the container (sandbox) id belongs to, from the
	// runtime's state; found is false when the runtime does not know the id.
	ContainerTenant(id string) (tenant string, found bool)
	// ContainerPodUID is the pod uid the runtime recorded when the sandbox id was created
	// (its PodUIDAnnotations), for checking kubelet's per-pod files of its members.
	ContainerPodUID(id string) (uid string, found bool)
	// MountRoot says whether rel below root (resolved as ResolveBeneath does) is the root
	// of a mount (statx STATX_ATTR_MOUNT_ROOT): where an engine mounts a container's root
	// filesystem (an overlay's merged directory, a task's rootfs), unlike a plain directory
	// of its storage (an upper dir, an image layer) at the same position.
	MountRoot(root, rel string) (bool, error)
	// LSMEnabled says whether the host enforces the LSM ("apparmor" or "selinux"): a
	// profile or label is only handed on where the kernel applies it.
	LSMEnabled(lsm string) bool
	// SeccompProfile is the named profile: the operator's <dir>/<name>.json when dir has
	// it, else the embedded one (seccomp-profiles), "<name>-audit" derived from <name>.
	SeccompProfile(name, dir string) (*specs.LinuxSeccomp, error)
	// CheckedNamespace is, for a namespace path NamespaceOwner checked, a reference
	// that opens exactly the descriptor it checked and one for the user namespace that
	// owns it (the path is never resolved again), with what the kernel said; ok is false
	// for a path NamespaceOwner never checked.
	CheckedNamespace(path string) (ref, ownerRef string, owner NSOwner, ok bool)
	// ProcExeIs says whether the program process pid runs (/proc/<pid>/exe) is the very
	// file at binary (same device and inode): a hook an engine names by its daemon's pid
	// (dockerd's /proc/<pid>/exe) is trusted by what runs there, never by the pid.
	ProcExeIs(pid int, binary string) (bool, error)
	// SysSubmounts lists the host's mount points below /sys other than the cgroup
	// hierarchies, shallowest first: what a recursive bind of the host's /sys brings.
	SysSubmounts() []string
}

// NSID identifies a namespace (device and inode of the nsfs file).
type NSID struct {
	Dev uint64
	Ino uint64
}

func (n NSID) String() string { return fmt.Sprintf("%d:%d", n.Dev, n.Ino) }

// NSOwner is what the kernel says about a namespace a bundle joins.
type NSOwner struct {
	ID NSID // the namespace
	// UserNS is the user namespace that decides: the namespace's owner (NS_GET_USERNS), or
	// for a user namespace the namespace itself.
	UserNS NSID
	// HostUserNS: UserNS is the host's (initial) user namespace.
	HostUserNS bool
	// UIDMap and GIDMap are UserNS's mappings in host ids (unset when HostUserNS).
	UIDMap, GIDMap []specs.LinuxIDMapping
	// Nested: UserNS's parent is not the host's user namespace (NS_GET_PARENT): it was made
	// inside another user namespace, by a process in a container, not by a runtime.
	Nested bool
	// Procs are the threads now in the namespace, with their host ids; filled only for a
	// network namespace owned by the host.
	Procs []NSProc
	// Holder is the tenant (and HolderContainer its container) that the host-wide claim
	// record names for a host-owned network namespace; empty when none.
	Holder, HolderContainer string
}

// NSProc is one thread in a namespace and its host uids and gids (real, effective,
// saved, filesystem).
type NSProc struct {
	PID        int
	UIDs, GIDs []uint32
}

package runtime

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/hardening"
)

// adaptation is what the runtime changes in an enforced spec because of host
// facts the pure policy cannot see: which container owns a namespace that the
// bundle joins, and what the engine already did to the rootfs. Every change is
// recorded as a policy decision (it shows in `policy explain` and the audit log).
type adaptation struct {
	skipIdmap bool                   // the engine already shifted the rootfs to its mapping
	uidMap    []specs.LinuxIDMapping // mappings for the idmapped rootfs when the userns is joined
	gidMap    []specs.LinuxIDMapping
	netns     []string // claim keys (<dev>-<ino>) of the host-owned engine netns joined
}

// adaptSpec adjusts an enforced spec (enforce and audit mode) for pods, engine
// networks and engine-chosen mappings. orig is the bundle as the engine wrote it; files
// holds the namespace descriptors the policy's ownership checks were made on.
func adaptSpec(root string, orig, s *specs.Spec, t *hardening.Tenant, files *hardening.NSFiles, ds *[]hardening.Decision) (adaptation, error) {
	var a adaptation
	if s.Linux == nil {
		return a, nil
	}
	decide := func(path string, old, new any, why string) {
		*ds = append(*ds, hardening.Decision{Path: path, Action: hardening.ActionOverride, Old: old, New: new, Reason: why})
	}
	// An engine-supplied mapping inside the tenant's range was kept by the
	// policy: podman --uidmap / --userns=auto already chowned the layers for it,
	// so the rootfs must be used as it is.
	if orig.Linux != nil && len(orig.Linux.UIDMappings) > 0 && reflect.DeepEqual(orig.Linux.UIDMappings, s.Linux.UIDMappings) {
		a.skipIdmap = true
	}

	// Every joined namespace is joined through the descriptor the kernel's ownership
	// check was made on (docs/security.md, invariant 3): the path is never resolved
	// again, so a reused pid or a replaced bind mount cannot change what is joined.
	// Pods: a container that joins namespaces of a container of the same tenant (a CRI
	// sandbox, a podman infra container) must join its user namespace too; in a fresh
	// user namespace it cannot mount proc over the pod's pid namespace. The user
	// namespace is the one the kernel says owns the joined namespace (NS_GET_USERNS),
	// which the policy found to be the tenant's.
	userIdx := -1
	var joinedNet bool
	ownerRef, ownerOf := "", ""
	var owner hardening.NSOwner
	for i := range s.Linux.Namespaces {
		ns := &s.Linux.Namespaces[i]
		if ns.Type == specs.UserNamespace {
			userIdx = i
		}
		if ns.Path == "" {
			continue
		}
		ref, ok := files.Ref(ns.Path)
		uref, o, _ := files.OwnerRef(ns.Path)
		if !ok {
			return a, fmt.Errorf("linux.namespaces[%d].path %q: not checked against the kernel", i, ns.Path)
		}
		if ns.Type == specs.NetworkNamespace {
			joinedNet = true
			if o.HostUserNS {
				a.netns = append(a.netns, netnsKey(o.ID))
			}
		}
		if ns.Type != specs.UserNamespace && !o.HostUserNS && ownerRef == "" {
			ownerRef, ownerOf, owner = uref, ns.Path, o
		}
		decide(fmt.Sprintf("linux.namespaces[%d].path", i), ns.Path, ref,
			"joined through the descriptor whose owner the kernel was asked about (NS_GET_USERNS), never by its path again")
		ns.Path = ref
	}
	if userIdx >= 0 && s.Linux.Namespaces[userIdx].Path == "" && ownerRef != "" {
		if sameIDMap(owner.UIDMap, s.Linux.UIDMappings) && sameIDMap(owner.GIDMap, s.Linux.GIDMappings) {
			a.uidMap, a.gidMap = s.Linux.UIDMappings, s.Linux.GIDMappings
			s.Linux.Namespaces[userIdx].Path = ownerRef
			decide(fmt.Sprintf("linux.namespaces[%d].path", userIdx), "", ownerRef,
				fmt.Sprintf("a pod member joins the user namespace %s that owns %s (a same-tenant sandbox's), through its descriptor", owner.UserNS, ownerOf))
			s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
		}
	}

	// A network namespace made by the engine (CNI) is owned by the host's user
	// namespace: a fresh sysfs cannot be mounted for it from the container's.
	// Use a recursively read-only bind of the host's sysfs instead (a non-recursive one
	// is refused over its locked submounts), with the host's network devices and the
	// host's submounts of /sys masked.
	if joinedNet {
		replaced := false
		for i := range s.Mounts {
			m := &s.Mounts[i]
			if m.Type != "sysfs" {
				continue
			}
			old := *m
			m.Type, m.Source = "bind", "/sys"
			m.Options = []string{"rbind", "rro", "nosuid", "noexec", "nodev", "rprivate"}
			decide(fmt.Sprintf("mounts[%d]", i), old.Type, "bind /sys (ro)",
				"the joined network namespace belongs to the engine: sysfs is bound (recursively read-only) from the host, its network devices masked")
			for _, p := range []string{"/sys/class/net", "/sys/devices/virtual/net"} {
				if !contains(s.Linux.MaskedPaths, p) {
					s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, p)
				}
			}
			replaced = true
		}
		if replaced {
			// The recursive bind brings the host's submounts of /sys along: its cgroup
			// hierarchies (every tenant's containers, their usage and limits), securityfs,
			// debugfs, bpf. The container sees at most its own cgroups: a cgroup mount of its
			// own namespace at /sys/fs/cgroup (added if the bundle has none), and every
			// other host submount of /sys masked.
			masked := hostSysSubmounts()
			for _, p := range masked {
				if !contains(s.Linux.MaskedPaths, p) {
					s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, p)
				}
			}
			if !hasMountAt(s.Mounts, "/sys/fs/cgroup") {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
					Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
				decide(fmt.Sprintf("mounts[%d]", len(s.Mounts)-1), nil, "cgroup /sys/fs/cgroup (ro)",
					"the bound host sysfs must not show the host's cgroup hierarchies: the container's own cgroup namespace is mounted over them")
			}
			if len(masked) > 0 {
				decide("linux.maskedPaths", nil, masked, "the host's submounts of /sys come along with the recursive bind: masked")
			}
		}
	}

	// Docker asks for net.ipv4.ping_group_range "0 2147483647", which a user
	// namespace of 65536 ids cannot take: clamp it to the mapped gids.
	if v, ok := s.Linux.Sysctl["net.ipv4.ping_group_range"]; ok {
		if nv, changed := clampPingRange(v, mappedSize(s.Linux.GIDMappings, a.gidMap)); changed {
			s.Linux.Sysctl["net.ipv4.ping_group_range"] = nv
			*ds = append(*ds, hardening.Decision{Path: "linux.sysctl.net.ipv4.ping_group_range", Action: hardening.ActionClamp,
				Old: v, New: nv, Reason: "a group range wider than the container's mapped gids is refused by the kernel"})
		}
	}
	return a, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// sameIDMap says whether two mappings are the same extents.
func sameIDMap(a, b []specs.LinuxIDMapping) bool {
	return len(a) > 0 && reflect.DeepEqual(a, b)
}

func mappedSize(ms ...[]specs.LinuxIDMapping) uint64 {
	for _, m := range ms {
		if len(m) > 0 {
			var top uint64
			for _, x := range m {
				if e := uint64(x.ContainerID) + uint64(x.Size); e > top {
					top = e
				}
			}
			return top
		}
	}
	return 0
}

func clampPingRange(v string, size uint64) (string, bool) {
	f := strings.Fields(v)
	if size == 0 || len(f) != 2 {
		return v, false
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 64)
	hi, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || hi < size {
		return v, false
	}
	hi = size - 1
	if lo > hi {
		lo = hi
	}
	return fmt.Sprintf("%d %d", lo, hi), true
}

// hostSysSubmounts lists the mount points below /sys on the host, other than the cgroup
// hierarchies (covered by the container's own cgroup mount), shallowest first.
var hostSysSubmounts = func() []string {
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

func hasMountAt(ms []specs.Mount, dest string) bool {
	for _, m := range ms {
		if strings.TrimRight(m.Destination, "/") == dest {
			return true
		}
	}
	return false
}

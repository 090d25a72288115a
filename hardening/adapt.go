package hardening

// The adaptation of an enforced spec to what the engine already set up: the
// namespaces it joins and the rootfs it shifted.

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Adaptation is what Adapt tells the runtime to do on the host beyond the spec.
type Adaptation struct {
	SkipIdmap bool                   // the engine already shifted the rootfs to its mapping
	UIDMap    []specs.LinuxIDMapping // mappings for the idmapped rootfs when the userns is joined
	GIDMap    []specs.LinuxIDMapping
	Netns     []NSID // the host-owned engine network namespaces joined (claimed host-wide)
	// NetSysctls are written by the runtime, from the host, into the joined host-owned
	// network namespace before the container starts: the container's init cannot (it has
	// no capability in the host's user namespace, which owns the namespace).
	NetSysctls map[string]string
}

// Adapt adjusts a spec Enforce returned (enforce and audit mode) for pods, engine
// networks and engine-chosen mappings: every joined namespace is joined through the
// descriptor Host.NamespaceOwner checked, a pod member joins its sandbox's user
// namespace, a sysfs under an engine's network namespace becomes a read-only bind with
// the host's submounts masked, and Docker's ping range is clamped to the mapped gids.
// orig is the bundle as the engine wrote it. Every change is appended to ds as a
// decision (it shows in `policy explain` and the audit log). The host facts come from
// h (CheckedNamespace, SysSubmounts), so the rule runs against FakeHost in tests.
func Adapt(h Host, orig, s *specs.Spec, ds *[]Decision) (Adaptation, error) {
	var a Adaptation
	if s.Linux == nil {
		return a, nil
	}
	decide := func(path string, old, new any, why string) {
		*ds = append(*ds, Decision{Path: path, Action: ActionOverride, Old: old, New: new, Reason: why})
	}
	// An engine-supplied mapping inside the tenant's range was kept by the
	// policy: podman --uidmap / --userns=auto already chowned the layers for it,
	// so the rootfs must be used as it is.
	if orig.Linux != nil && len(orig.Linux.UIDMappings) > 0 && reflect.DeepEqual(orig.Linux.UIDMappings, s.Linux.UIDMappings) {
		a.SkipIdmap = true
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
	var owner NSOwner
	for i := range s.Linux.Namespaces {
		ns := &s.Linux.Namespaces[i]
		if ns.Type == specs.UserNamespace {
			userIdx = i
		}
		if ns.Path == "" {
			continue
		}
		ref, uref, o, ok := h.CheckedNamespace(ns.Path)
		if !ok {
			return a, fmt.Errorf("linux.namespaces[%d].path %q: not checked against the kernel", i, ns.Path)
		}
		if ns.Type == specs.NetworkNamespace {
			joinedNet = true
			if o.HostUserNS {
				a.Netns = append(a.Netns, o.ID)
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
			a.UIDMap, a.GIDMap = s.Linux.UIDMappings, s.Linux.GIDMappings
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
				if !slices.Contains(s.Linux.MaskedPaths, p) {
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
			masked := h.SysSubmounts()
			for _, p := range masked {
				if !slices.Contains(s.Linux.MaskedPaths, p) {
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

	// In a network namespace the host's user namespace owns (podman's, CNI's), the container
	// has no capability: its init cannot write the net sysctls the policy allowed, and a
	// server cannot bind a port below 1024 although the tenant grants CAP_NET_BIND_SERVICE
	// (runc's containers can, without a user namespace). The runtime writes them from the
	// host instead, and opens the low ports to a process that holds that capability.
	if len(a.Netns) > 0 {
		set := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(s.Linux.Sysctl)) { // decisions in a stable order
			if v := s.Linux.Sysctl[k]; strings.HasPrefix(k, "net.") && k != "net.ipv4.ping_group_range" {
				set[k] = v
				delete(s.Linux.Sysctl, k)
				decide("linux.sysctl."+k, v, "written by the runtime", "the joined network namespace belongs to the host's user namespace: the container cannot write it, the runtime does, before the start")
			}
		}
		const portStart = "net.ipv4.ip_unprivileged_port_start"
		if _, given := set[portStart]; !given && s.Process != nil && s.Process.Capabilities != nil && slices.Contains(s.Process.Capabilities.Bounding, "CAP_NET_BIND_SERVICE") {
			set[portStart] = "0"
			decide("linux.sysctl."+portStart, nil, "0 (written by the runtime)",
				"CAP_NET_BIND_SERVICE cannot take effect in a network namespace of the host's user namespace: ports below 1024 are opened in this namespace instead")
		}
		if len(set) > 0 {
			a.NetSysctls = set
		}
	}

	// Docker asks for net.ipv4.ping_group_range "0 2147483647", which a user
	// namespace of 65536 ids cannot take: clamp it to the mapped gids.
	if v, ok := s.Linux.Sysctl["net.ipv4.ping_group_range"]; ok {
		if nv, changed := clampPingRange(v, mappedSize(s.Linux.GIDMappings, a.GIDMap)); changed {
			s.Linux.Sysctl["net.ipv4.ping_group_range"] = nv
			*ds = append(*ds, Decision{Path: "linux.sysctl.net.ipv4.ping_group_range", Action: ActionClamp,
				Old: v, New: nv, Reason: "a group range wider than the container's mapped gids is refused by the kernel"})
		}
	}
	return a, nil
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

func hasMountAt(ms []specs.Mount, dest string) bool {
	for _, m := range ms {
		if strings.TrimRight(m.Destination, "/") == dest {
			return true
		}
	}
	return false
}

package hardening

import (
	"fmt"
	"path"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var requiredNamespaces = []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace}

var knownNamespaces = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.IPCNamespace: true, specs.UTSNamespace: true,
	specs.MountNamespace: true, specs.UserNamespace: true, specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

// enforceNamespaces refuses host namespaces (missing entries or paths to the host's)
// and paths that are not the same tenant's or an engine-created network namespace;
// adds user and cgroup namespaces.
func (p *pol) enforceNamespaces(s *specs.Spec, req Request) {
	l := s.Linux
	have := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		ip := fmt.Sprintf("linux.namespaces[%d]", i)
		if !knownNamespaces[ns.Type] {
			p.refuse(ip+".type", fmt.Sprintf("unknown namespace type %q", ns.Type))
			continue
		}
		if have[ns.Type] {
			p.refuse(ip+".type", fmt.Sprintf("namespace %s listed twice", ns.Type))
			continue
		}
		have[ns.Type] = true
		if ns.Path != "" {
			if r := p.checkNamespacePath(ns, req); r != "" {
				p.refuse(ip+".path", r)
			}
		}
	}
	for _, t := range requiredNamespaces {
		if !have[t] {
			p.refuse("linux.namespaces", fmt.Sprintf("no %s namespace: the container would share the host's", t))
		}
	}
	if l.TimeOffsets != nil && !have[specs.TimeNamespace] {
		p.refuse("linux.timeOffsets", "time offsets without a time namespace would change the host clock view")
	}
}

// checkNamespacePath decides a joined namespace by what the kernel says about it
// (docs/security.md, invariant 3): its owning user namespace's mappings must lie inside
// the tenant's exclusive ranges; a namespace owned by the host's user namespace is only
// an engine-made network namespace (below netns_dirs, or mounted there) that no thread of
// other ids is in and that the host-wide claim record gives to no other tenant.
func (p *pol) checkNamespacePath(ns specs.LinuxNamespace, req Request) string {
	np := ns.Path
	if !path.IsAbs(np) || path.Clean(np) != np {
		return fmt.Sprintf("%q must be a clean absolute path", np)
	}
	o, err := req.Host.NamespaceOwner(np, ns.Type)
	if err != nil {
		return fmt.Sprintf("cannot identify namespace %q: %v", np, err)
	}
	hostIDs, err := req.Host.HostNamespaces(ns.Type)
	if err != nil || len(hostIDs) == 0 {
		return fmt.Sprintf("cannot identify the host's %s namespace: %v", ns.Type, err)
	}
	if slices.Contains(hostIDs, o.ID) {
		return fmt.Sprintf("%q is the host's %s namespace", np, ns.Type)
	}
	t := req.Tenant
	if !o.HostUserNS {
		what := "its owning user namespace"
		if ns.Type == specs.UserNamespace {
			what = "the user namespace"
		}
		if why := mappingOutside(o.UIDMap, t.UIDs, "uid"); why != "" {
			return fmt.Sprintf("%q: %s %s is not tenant %s's: %s", np, what, o.UserNS, t.Name, why)
		}
		if why := mappingOutside(o.GIDMap, t.GIDs, "gid"); why != "" {
			return fmt.Sprintf("%q: %s %s is not tenant %s's: %s", np, what, o.UserNS, t.Name, why)
		}
		// A user namespace made inside a container gives the process that made it every
		// capability over the network namespaces it owns: it could rewrite the tenant's
		// network policy (docs/network.md). Only a runtime's (the host's child) counts.
		if ns.Type == specs.NetworkNamespace && o.Nested && t.Network.Enabled && !t.Trusted {
			return fmt.Sprintf("%q belongs to user namespace %s, which was made inside a container (its parent is not the host's): the tenant holds CAP_NET_ADMIN there and could rewrite its network policy", np, o.UserNS)
		}
		p.joinedSameTenant = true
		return ""
	}
	engine := false
	if ns.Type == specs.NetworkNamespace {
		for _, d := range req.Config.Defaults.NetnsDirs {
			if path.Dir(np) == path.Clean(d) {
				engine = true
			}
		}
		if !engine {
			// Another name (a pod member's /proc/<infra pid>/ns/net) of a namespace the
			// engine mounted in netns_dirs: the same namespace, by its identity.
			_, engine = req.Host.NetnsPinned(o.ID, req.Config.Defaults.NetnsDirs)
		}
	}
	if !engine {
		return fmt.Sprintf("%q is owned by the host's user namespace and is not an engine-created network namespace (netns_dirs)", np)
	}
	if o.Holder != "" && o.Holder != t.Name {
		return fmt.Sprintf("%q is held by another tenant's container (%s)", np, o.HolderContainer)
	}
	for _, pr := range o.Procs {
		for _, u := range pr.UIDs {
			if !t.UIDs.Contains(uint64(u), 1) {
				return fmt.Sprintf("%q has process %d running as host uid %d, outside tenant %s's range %s", np, pr.PID, u, t.Name, t.UIDs)
			}
		}
		for _, g := range pr.GIDs {
			if !t.GIDs.Contains(uint64(g), 1) {
				return fmt.Sprintf("%q has process %d running as host gid %d, outside tenant %s's range %s", np, pr.PID, g, t.Name, t.GIDs)
			}
		}
	}
	return "" // created by the engine (CNI) for this container or its pod
}

// mappingOutside says why a user namespace's mapping is not inside r ("" if it is).
func mappingOutside(m []specs.LinuxIDMapping, r IDRange, kind string) string {
	if len(m) == 0 {
		return "no " + kind + " mapping"
	}
	for _, e := range m {
		if e.Size == 0 || !r.Contains(uint64(e.HostID), uint64(e.Size)) {
			return fmt.Sprintf("%s mapping %d %d %d lies outside %s", kind, e.ContainerID, e.HostID, e.Size, r)
		}
	}
	return ""
}

// enforceIDMaps gives the container the tenant's exclusive id range. An engine's
// mapping is kept only if it lies inside that range; one that maps host root is
// refused; any other is refused or overridden per the tenant's foreign_idmap.
func (p *pol) enforceIDMaps(s *specs.Spec, t *Tenant) {
	l := s.Linux
	joined := false
	for _, ns := range l.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path != "" {
			joined = true
		}
	}
	if joined {
		// Joining a same-tenant user namespace (checked in enforceNamespaces): its
		// mappings are already the tenant's; the spec must not carry its own.
		if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
			p.decide("linux.uidMappings", ActionOverride, l.UIDMappings, nil, "a joined user namespace brings its own mapping")
			l.UIDMappings, l.GIDMappings = nil, nil
		}
		return
	}
	l.UIDMappings = p.idmap("linux.uidMappings", l.UIDMappings, t.UIDs, t)
	l.GIDMappings = p.idmap("linux.gidMappings", l.GIDMappings, t.GIDs, t)
}

func (p *pol) idmap(jp string, m []specs.LinuxIDMapping, r IDRange, t *Tenant) []specs.LinuxIDMapping {
	// Absent mappings were filled with want by the absent-field table (absent.go).
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: r.Start, Size: r.Size}}
	inside := true
	for _, e := range m {
		if e.Size == 0 {
			p.refuse(jp, "mapping of size 0")
			return m
		}
		if e.HostID == 0 || (uint64(e.HostID) <= 0 && uint64(e.HostID)+uint64(e.Size) > 0) {
			p.refuse(jp, fmt.Sprintf("maps host id 0 (%d %d %d)", e.ContainerID, e.HostID, e.Size))
			return m
		}
		if uint64(e.ContainerID)+uint64(e.Size) > 1<<32-1 {
			p.refuse(jp, "container range overflows")
			return m
		}
		if !r.Contains(uint64(e.HostID), uint64(e.Size)) {
			inside = false
		}
	}
	if inside {
		return m
	}
	if t.ForeignIDMap == "override" {
		p.decide(jp, ActionOverride, m, want, "the engine's mapping lies outside tenant "+t.Name+"'s range "+r.String())
		return want
	}
	p.refuse(jp, fmt.Sprintf("mapping %v lies outside tenant %s's exclusive range %s", m, t.Name, r))
	return m
}

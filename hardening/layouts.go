package hardening

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Engine storage is trusted by position, never by shape. An engine keeps each container's
// files at a fixed place in its storage, named by the container's id (or its pod
// sandbox's, or its pod's uid): a path is accepted as this container's only when it
// matches one of these layouts, relative to one of the configured engine_roots, with the
// id at the id's position. "Some component equals the id" is not enough: a container
// named "overlay" would own the whole image store.

// idSlot says what stands at a layout's id position.
type idSlot int

const (
	slotID      idSlot = iota // this container's id
	slotSandbox               // its pod sandbox's id (CRI), or its own when it is the sandbox
	slotPodUID                // its pod's uid (kubelet)
	slotLayer                 // an engine layer id (64 hex digits): the rootfs, checked by the runtime
	slotNS                    // a containerd namespace name
)

// layout is a path pattern: literal components, one slot, and whether anything may follow.
type layout struct {
	engine string
	parts  []string // literal components; "" marks the slot
	slot   idSlot
	// more: components after the pattern are required (files under the container's
	// directory), never the directory itself.
	more bool
	// mountRoot: the engine mounts the container's root filesystem here (an overlay on
	// merged, the snapshot on a task's rootfs): the path must be the root of a mount, never
	// a plain directory of the storage (another container's upper dir, an image layer).
	mountRoot bool
}

// fileLayouts are where engines keep per-container files (hosts, hostname, resolv.conf,
// .containerenv, shm, secrets, kubelet's etc-hosts and termination logs). A pattern may
// start at the engine root's own last component or anywhere below it (operators name
// engine roots at different depths: /var/lib/containers or …/storage), and every place
// in the path where one matches must name this container.
var fileLayouts = []layout{
	{"podman", []string{"overlay-containers", "", "userdata"}, slotID, true, false},
	{"docker", []string{"containers", ""}, slotID, true, false},
	{"cri", []string{"sandboxes", ""}, slotSandbox, true, false},
	{"kubelet", []string{"pods", ""}, slotPodUID, true, false},
}

// rootLayouts are where engines mount a container's root filesystem outside its bundle;
// they end the path. Each is a mount root where the engine made it: c/storage (podman)
// mounts the container's overlay on overlay/<layer>/merged, dockerd's overlay2 driver on
// overlay2/<id>/merged, containerd's shim the snapshot on the task's rootfs.
var rootLayouts = []layout{
	{"podman", []string{"overlay", "", "merged"}, slotLayer, false, true},
	{"docker", []string{"overlay2", "", "merged"}, slotLayer, false, true},
	{"containerd", []string{"io.containerd.runtime.v2.task", "", "", "rootfs"}, slotNS, false, true},
	{"containerd", []string{"io.containerd.runtime.v1.linux", "", "", "rootfs"}, slotNS, false, true},
}

// LayoutWords are the components of engine layouts. A container id or sandbox id equal to
// one of them is refused: it would name engine directories instead of a container's.
var LayoutWords = map[string]bool{
	"overlay": true, "overlay2": true, "overlay-containers": true, "overlay-layers": true, "overlay-images": true,
	"containers": true, "storage": true, "userdata": true, "sandboxes": true, "pods": true, "kubelet": true,
	"lib": true, "var": true, "run": true, "merged": true, "diff": true, "work": true, "mounts": true, "secrets": true,
	"shm": true, "volumes": true, "plugins": true, "image": true, "images": true, "layers": true, "snapshots": true,
	"rootfs": true, "libpod": true, "docker": true, "containerd": true, "netns": true, "tmp": true,
	"io.containerd.grpc.v1.cri": true, "io.containerd.runtime.v2.task": true, "io.containerd.runtime.v1.linux": true,
	"io.containerd.snapshotter.v1.overlayfs": true, "io.containerd.content.v1.content": true,
	"k8s.io": true, "moby": true, "default": true, "etc-hosts": true, "volume-subpaths": true,
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// match returns the value at the layout's slot when comps (from the pattern's start to
// the end of the path) fit the layout.
func (l layout) match(comps []string) (string, bool) {
	if len(comps) < len(l.parts) || (l.more && len(comps) == len(l.parts)) || (!l.more && len(comps) != len(l.parts)) {
		return "", false
	}
	slot := ""
	slots := 0
	for i, want := range l.parts {
		if want != "" {
			if comps[i] != want {
				return "", false
			}
			continue
		}
		slots++
		// A containerd task layout has the namespace first, then the id.
		if l.slot == slotNS && slots == 1 {
			continue
		}
		slot = comps[i]
	}
	if slot == "" || LayoutWords[slot] {
		return "", false
	}
	return slot, true
}

type layoutHit struct {
	l     layout
	value string
	root  string // the engine root it was found below
}

// layoutMatches finds every place where one of layouts fits p (a clean absolute path)
// below one of roots, starting no higher than the root's own last component.
func layoutMatches(p string, roots []string, layouts []layout) []layoutHit {
	var hits []layoutHit
	for _, r := range roots {
		r = path.Clean(r)
		if p == r || !within(p, r) {
			continue
		}
		comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
		start := len(strings.Split(strings.TrimPrefix(r, "/"), "/")) - 1
		if r == "/" {
			start = 0
		}
		for i := start; i < len(comps); i++ {
			for _, l := range layouts {
				if v, ok := l.match(comps[i:]); ok {
					hits = append(hits, layoutHit{l, v, r})
				}
			}
		}
		if len(hits) > 0 {
			return hits
		}
	}
	return hits
}

// checkEngineRoot: a root.path in engine storage (outside the bundle) must be this
// container's rootfs at a known layout position, and the root of a mount where the layout
// says the engine mounts it: a plain directory at that position (an image layer's or
// another container's directory the tenant named by its shape) is refused. For
// layer-named layouts (podman, docker) the id is not in the path; the runtime also claims
// the rootfs host-wide (runtime/claims), so no other tenant's live container uses it.
func checkEngineRoot(abs string, req Request) string {
	hits := layoutMatches(abs, req.Config.Defaults.EngineRoots, rootLayouts)
	if len(hits) != 1 {
		return fmt.Sprintf("%q is in engine storage but not at a container rootfs position of a known engine layout (e.g. overlay/<layer>/merged, or the task directory of this container)", abs)
	}
	l, v := hits[0].l, hits[0].value
	switch l.slot {
	case slotLayer:
		if !hex64.MatchString(v) {
			return fmt.Sprintf("%q: %q is not an engine layer id", abs, v)
		}
	case slotNS:
		if v != req.ContainerID {
			return fmt.Sprintf("%q is the rootfs of container %s, not of %s", abs, v, req.ContainerID)
		}
	}
	if l.mountRoot {
		root := path.Clean(hits[0].root)
		rel := strings.TrimPrefix(strings.TrimPrefix(abs, root), "/")
		mr, err := req.Host.MountRoot(root, rel)
		if err != nil {
			return fmt.Sprintf("%q: cannot tell whether it is the engine's mount: %v", abs, err)
		}
		if !mr {
			return fmt.Sprintf("%q is at the %s rootfs position but is not a mount root: the engine mounts a container's root filesystem there, a plain directory of its storage is no container's rootfs", abs, l.engine)
		}
	}
	return ""
}

// EngineRootfsMountRoot says whether root.path abs (clean, absolute), outside the bundle,
// is at a rootfs layout position where the engine mounts it: the runtime checks again,
// on the descriptor it opened and uses, that it is a mount root.
func EngineRootfsMountRoot(cfg *Config, bundle, abs string) bool {
	if bundle != "" && (abs == path.Clean(bundle) || within(abs, path.Clean(bundle))) {
		return false
	}
	hits := layoutMatches(abs, cfg.Defaults.EngineRoots, rootLayouts)
	return len(hits) == 1 && hits[0].l.mountRoot
}

// ownEngineFile: an engine file (resolved path, and the path asked for) must lie at the
// position of this container's id, of its pod sandbox's when the runtime's state says
// that sandbox is the same tenant's (or, when the runtime does not know it, when the spec
// joins one of the tenant's own namespaces), or of its pod's uid for a member of one of
// the tenant's pods.
func (p *pol) ownEngineFile(paths []string, req Request) string {
	for _, fp := range paths {
		if why := p.ownEngineFile1(fp, req); why != "" {
			return why
		}
	}
	return ""
}

func (p *pol) ownEngineFile1(fp string, req Request) string {
	hits := layoutMatches(fp, req.Config.Defaults.EngineRoots, fileLayouts)
	if len(hits) == 0 {
		return fmt.Sprintf("%q is not at a per-container position of a known engine layout (overlay-containers/<id>/userdata/…, containers/<id>/…, sandboxes/<sandbox>/…, pods/<uid>/…)", fp)
	}
	for _, h := range hits {
		if why := p.ownLayoutHit(fp, h.l, h.value, req); why != "" {
			return why
		}
	}
	return ""
}

func (p *pol) ownLayoutHit(fp string, l layout, v string, req Request) string {
	switch l.slot {
	case slotID:
		if v == req.ContainerID {
			return ""
		}
		// A pod member uses its pod's infra container's files (podman pods): accepted when
		// it joins a namespace the kernel says is the tenant's and the runtime's host-wide
		// record has that container as the same tenant's.
		if owner, found := req.Host.ContainerTenant(v); found && owner == req.Tenant.Name && p.joinedSameTenant {
			return ""
		}
		return fmt.Sprintf("%q is an engine file of container %s, not of %s", fp, v, req.ContainerID)
	case slotSandbox:
		if v == req.ContainerID {
			return "" // the sandbox itself
		}
		for _, k := range sandboxAnnotations {
			if req.Spec.Annotations[k] != v || !validContainerID(v) || LayoutWords[v] {
				continue
			}
			owner, found := req.Host.ContainerTenant(v)
			if found && owner == req.Tenant.Name || !found && p.joinedSameTenant {
				return ""
			}
			return fmt.Sprintf("%q belongs to sandbox %s, which is not one of tenant %s's", fp, v, req.Tenant.Name)
		}
		return fmt.Sprintf("%q belongs to sandbox %s, which is not this container's pod", fp, v)
	case slotPodUID:
		// The pod uid in the bundle is the bundle's word: it counts only when it is the
		// uid recorded for the pod's sandbox, a same-tenant container the runtime knows.
		for _, k := range sandboxAnnotations {
			sb := req.Spec.Annotations[k]
			if sb == "" || !validContainerID(sb) || LayoutWords[sb] || !p.joinedSameTenant {
				continue
			}
			owner, found := req.Host.ContainerTenant(sb)
			uid, ok := req.Host.ContainerPodUID(sb)
			if found && owner == req.Tenant.Name && ok && uid == v {
				return ""
			}
		}
		return fmt.Sprintf("%q belongs to pod %s, which is not a pod of tenant %s this container joins", fp, v, req.Tenant.Name)
	}
	return fmt.Sprintf("%q is not a per-container engine file", fp)
}

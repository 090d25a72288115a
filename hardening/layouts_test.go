package hardening

import (
	"errors"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Invariant (docs/security.md, "engine storage"): a path in engine storage is this
// container's only at a fixed layout position naming its own id (its sandbox's, its pod's);
// the shape of the path ("a component equals the id") never counts.

func enforceEngine(t *testing.T, id string, mut func(s *specs.Spec)) error {
	t.Helper()
	cfg := engineTestConfig(t)
	s := baseSpec(t)
	if mut != nil {
		mut(s)
	}
	_, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/" + id, ContainerID: id, Tenant: cfg.Tenants["default"], Config: cfg, Host: newFakeHost()})
	return err
}

func bindFrom(dest, src string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind"}})
	}
}

func TestLayoutWordsAsIDs(t *testing.T) {
	words := make([]string, 0, len(LayoutWords))
	for w := range LayoutWords {
		words = append(words, w)
	}
	sort.Strings(words)
	for _, w := range words {
		if !validContainerID(w) {
			continue
		}
		// The id itself, with an engine file at the path that names the word.
		for _, src := range []string{"/tmp/clients/podman/storage/" + w, "/tmp/clients/podman/storage/overlay", "/tmp/clients/" + w + "/hosts", "/tmp/clients/docker/data/" + w + "/" + w + "/hosts"} {
			err := enforceEngine(t, w, bindFrom("/etc/hosts", src))
			if err == nil || !strings.Contains(err.Error(), "containerID") {
				t.Errorf("id %q binding %s: want the id refused, got %v", w, src, err)
			}
		}
		// The word as a sandbox id, for a bundle that joins one of the tenant's namespaces.
		err := enforceEngine(t, "c1", func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-id": w}
			s.Linux.Namespaces[2].Path = "/proc/4298/ns/ipc"
			bindFrom("/etc/resolv.conf", "/tmp/ctrd/root/sandboxes/"+w+"/resolv.conf")(s)
			bindFrom("/run/secrets/x", "/tmp/ctrd/root/"+w)(s)
		})
		if err == nil {
			t.Errorf("sandbox id %q accepted", w)
		}
	}
}

func TestEngineFilePositions(t *testing.T) {
	const me = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	const victim = "0000000000000000000000000000000000000000000000000000000000000001"
	cases := []struct {
		name, id, src string
		ok            bool
	}{
		{"podman own", me, "/tmp/clients/podman/run/overlay-containers/" + me + "/userdata/hosts", true},
		{"podman own resolv.conf", me, "/tmp/clients/podman/storage/overlay-containers/" + me + "/userdata/resolv.conf", true},
		{"podman victim", me, "/tmp/clients/podman/run/overlay-containers/" + victim + "/userdata/hosts", false},
		{"podman own dir itself", me, "/tmp/clients/podman/run/overlay-containers/" + me + "/userdata", false},
		{"podman id dir", me, "/tmp/clients/podman/run/overlay-containers/" + me, false},
		{"podman store", me, "/tmp/clients/podman/storage/overlay", false},
		{"docker own", me, "/tmp/clients/docker/data/containers/" + me + "/hosts", true},
		{"docker victim", me, "/tmp/clients/docker/data/containers/" + victim + "/hosts", false},
		{"docker victim under own-named dir", me, "/tmp/clients/docker/data/containers/" + me + "/../" + victim + "/hosts", false},
		{"id as a later component", me, "/tmp/clients/docker/data/containers/" + victim + "/" + me, false},
		{"id as an earlier component", me, "/tmp/clients/docker/data/" + me + "/containers/" + victim + "/hosts", false},
		{"own id nested under victim", me, "/tmp/clients/docker/data/containers/" + victim + "/containers/" + me + "/hosts", false},
		{"cri sandbox is me", me, "/tmp/ctrd/root/io.containerd.grpc.v1.cri/sandboxes/" + me + "/hosts", true},
		{"cri sandbox not mine", me, "/tmp/ctrd/root/io.containerd.grpc.v1.cri/sandboxes/" + victim + "/hosts", false},
		{"no layout", me, "/tmp/clients/" + me + "/hosts", false},
		{"kubelet without sandbox", me, "/tmp/clients/kubelet/pods/" + me + "/etc-hosts", false},
	}
	for _, c := range cases {
		err := enforceEngine(t, c.id, bindFrom("/etc/hosts", c.src))
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: %s accepted", c.name, c.src)
		}
	}
}

func TestEngineRootPositions(t *testing.T) {
	const layer = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	cases := []struct {
		name, root string
		ok         bool
	}{
		{"podman merged", "/tmp/clients/podman/storage/overlay/" + layer + "/merged", true},
		{"docker merged", "/tmp/clients/docker/data/overlay2/" + layer + "/merged", true},
		{"podman diff", "/tmp/clients/podman/storage/overlay/" + layer + "/diff", false},
		{"podman layer dir", "/tmp/clients/podman/storage/overlay/" + layer, false},
		{"podman store", "/tmp/clients/podman/storage/overlay", false},
		{"not a layer id", "/tmp/clients/podman/storage/overlay/c1/merged", false},
		{"containerd task of me", "/tmp/ctrd/state/io.containerd.runtime.v2.task/k8s.io/c1/rootfs", true},
		{"containerd task of another", "/tmp/ctrd/state/io.containerd.runtime.v2.task/k8s.io/victim/rootfs", false},
		{"engine root itself", "/tmp/clients", false},
		{"engine volume", "/tmp/clients/docker/data/volumes/v/_data", false},
	}
	for _, c := range cases {
		err := enforceEngine(t, "c1", func(s *specs.Spec) { s.Root.Path = c.root })
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "root.path")) {
			t.Errorf("%s: %s: want root.path refused, got %v", c.name, c.root, err)
		}
	}
}

// A rootfs at a layout position must be the engine's mount there: a plain directory at
// the same path shape (another container's upper dir, an image layer's directory renamed
// or named by a tenant) is refused, and so is a path the Host cannot judge.
func TestEngineRootMustBeMountRoot(t *testing.T) {
	const layer = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	cases := []struct {
		name, root string
		mount      bool // what the Host says
		ok         bool
	}{
		{"podman merged mounted", "/tmp/clients/podman/storage/overlay/" + layer + "/merged", true, true},
		{"podman merged plain", "/tmp/clients/podman/storage/overlay/" + layer + "/merged", false, false},
		{"docker merged plain", "/tmp/clients/docker/data/overlay2/" + layer + "/merged", false, false},
		{"containerd task rootfs mounted", "/tmp/ctrd/state/io.containerd.runtime.v2.task/k8s.io/c1/rootfs", true, true},
		{"containerd task rootfs plain", "/tmp/ctrd/state/io.containerd.runtime.v2.task/k8s.io/c1/rootfs", false, false},
		{"containerd v1 rootfs plain", "/tmp/ctrd/state/io.containerd.runtime.v1.linux/default/c1/rootfs", false, false},
	}
	for _, c := range cases {
		cfg := engineTestConfig(t)
		s := baseSpec(t)
		s.Root.Path = c.root
		h := newFakeHost()
		if c.mount {
			h.MountRoots = map[string]bool{c.root: true}
		} else {
			h.PlainDirs = map[string]bool{c.root: true}
		}
		_, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg, Host: h})
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "root.path") || !strings.Contains(err.Error(), "not a mount root")) {
			t.Errorf("%s: want root.path refused as not a mount root, got %v", c.name, err)
		}
		if want := true; EngineRootfsMountRoot(cfg, hostileBundleParent+"/c1", c.root) != want {
			t.Errorf("%s: EngineRootfsMountRoot = false", c.name)
		}
	}
	// Inside the bundle, the bundle's own rootfs is not judged by the layouts.
	cfg := engineTestConfig(t)
	if EngineRootfsMountRoot(cfg, "/tmp/ctrd/state/io.containerd.runtime.v2.task/k8s.io/c1", "/tmp/ctrd/state/io.containerd.runtime.v2.task/k8s.io/c1/rootfs") {
		t.Error("a rootfs inside its bundle was judged by the layouts")
	}
	// A Host that cannot tell refuses.
	s := baseSpec(t)
	s.Root.Path = "/tmp/clients/podman/storage/overlay/" + layer + "/merged"
	_, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg, Host: errMountHost{newFakeHost()}})
	if err == nil || !strings.Contains(err.Error(), "cannot tell") {
		t.Errorf("a Host that cannot tell: want refused, got %v", err)
	}
}

type errMountHost struct{ *FakeHost }

func (errMountHost) MountRoot(root, rel string) (bool, error) {
	return false, errors.New("no statx")
}

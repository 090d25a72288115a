package hardening

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const hostileBundleParent = "/tmp/hostile-run.test/bundles"

// newFakeHost mirrors the hostile runner's fixtures and the engine-config captures.
func newFakeHost() *FakeHost {
	h := &FakeHost{
		Kinds: map[string]FileKind{
			"/srv/tenants/t1":                      KindDir,
			"/srv/tenants/t1/data":                 KindDir,
			"/srv/tenants/t1/data/hello.txt":       KindFile,
			"/srv/tenants/t1/canary":               KindDir,
			"/srv/tenants/t2":                      KindDir,
			"/srv/tenants/t10":                     KindDir,
			"/run/tenantrun-test/outside":          KindDir,
			"/run/tenantrun-test/fake-docker.sock": KindSocket,
			"/var/run/docker.sock":                 KindSocket,
			"/srv/tenants/t1/sock":                 KindSocket,
			"/tmp/hostile-run.test/etc":            KindDir,
		},
		Links: map[string]string{
			"/srv/tenants/t1/link-out":  "/run/tenantrun-test/outside",
			"/srv/tenants/t1/linkdir":   "/run/tenantrun-test",
			"/srv/tenants/t1/link-sock": "/run/tenantrun-test/fake-docker.sock",
			"/srv/tenants/t1/rel-up":    "../../..",
		},
		Prefixes: map[string]bool{hostileBundleParent: true, "/tmp/ctrd": true, "/tmp/clients": true},
		Sockets: map[string]bool{
			"/tmp/ctrd/ctrd.sock":             true,
			"/tmp/clients/docker/docker.sock": true,
		},
		NS:       map[string]NSID{},
		HostNS:   map[specs.LinuxNamespaceType]NSID{},
		NSOwners: map[NSID]NSOwner{},
		Containers: map[string]string{
			"00158cf3156d2818cf3cd85aa5f4ed92b009ea5585799234d41ebae65a024c30": "default", // CRI sandbox web-0
			"be5d09b1020f0e513ffd6190cd310d218820b22eeb73b50994259ed458ae68e1": "default", // CRI sandbox priv-0
			"54f8118c2ac9cb5128592bae9fe76d8f40d5df755b62aa62ae58197a70e9c9a1": "default", // podman pod infra
			"0ther5a4db0x": "t2",
		},
		PodUIDs: map[string]string{
			"00158cf3156d2818cf3cd85aa5f4ed92b009ea5585799234d41ebae65a024c30": "0b6d5a1c-1111-4222-8333-944455556666",
		},
	}
	types := map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.MountNamespace: "mnt", specs.UserNamespace: "user", specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time"}
	ino := uint64(4026531800)
	// Sandboxes of the default tenant (CRI, podman pods: its range in the engine configs
	// is 1000000:65536) and one of t2 (400000:65536 in t1Config): each pid's namespaces
	// are owned by its own user namespace with that tenant's mapping.
	owners := map[string]NSOwner{}
	for _, pid := range []string{"4298", "28428", "5230", "7777"} {
		ino++
		start := uint32(1000000)
		if pid == "7777" {
			start = 400000
		}
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: start, Size: 65536}}
		owners[pid] = NSOwner{UserNS: NSID{Dev: 4, Ino: ino}, UIDMap: m, GIDMap: m}
	}
	for t, n := range types {
		ino++
		id := NSID{Dev: 4, Ino: ino}
		h.HostNS[t] = id
		h.NS["/proc/1/ns/"+n] = id
		if t == specs.PIDNamespace {
			h.NS["/run/tenantrun-test/host-pidns"] = id
		}
		if t == specs.NetworkNamespace {
			h.NS["/tmp/clients/docker/exec/netns/default"] = id
		}
		for pid, o := range owners {
			sid := o.UserNS
			if t != specs.UserNamespace {
				ino++
				sid = NSID{Dev: 4, Ino: ino}
			}
			h.NS["/proc/"+pid+"/ns/"+n] = sid
			h.NSOwners[sid] = o
		}
	}
	for _, p := range []string{
		"/var/run/netns/cni-ec9eeae7-4d4a-2f3e-0630-47cda8301dac",
		"/run/netns/netns-baed6457-75c6-1fd1-6681-82da0786297b",
	} {
		ino++
		h.NS[p] = NSID{Dev: 4, Ino: ino}
	}
	return h
}

// engineNetns registers every /run/netns path of a spec as an engine-created netns.
func (h *FakeHost) engineNetns(s *specs.Spec) {
	if s.Linux == nil {
		return
	}
	for _, ns := range s.Linux.Namespaces {
		if _, ok := h.NS[ns.Path]; !ok && (strings.HasPrefix(ns.Path, "/run/netns/") || strings.HasPrefix(ns.Path, "/var/run/netns/")) {
			h.NS[ns.Path] = NSID{Dev: 4, Ino: uint64(5000000 + len(h.NS))}
		}
	}
}

func requireTool(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if v := strings.ToLower(os.Getenv("CI")); v == "true" || v == "1" {
		t.Fatalf("prerequisite missing (CI=true): %s", why)
	}
	t.Skipf("prerequisite missing: %s", why)
}

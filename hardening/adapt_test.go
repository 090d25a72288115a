package hardening

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Adapt, on the real host, points every joined namespace at the descriptor the policy checked, gives a pod
// member the owning user namespace's descriptor, lists host-owned netns to claim, and
// refuses a path that was never checked.
func TestAdaptJoinsCheckedDescriptors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a user namespace with a mapping)")
	}
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 3800000, Size: 65536}}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWIPC,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 3800000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 3800000, Size: 65536}},
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("user namespaces: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	files := NewNSFiles()
	defer files.Close()
	h := OSHost{Files: files}
	ipc := fmt.Sprintf("/proc/%d/ns/ipc", cmd.Process.Pid)
	if _, err := h.NamespaceOwner(ipc, specs.IPCNamespace); err != nil {
		t.Fatal(err)
	}
	if _, err := h.NamespaceOwner("/proc/self/ns/net", specs.NetworkNamespace); err != nil {
		t.Fatal(err)
	}
	s := &specs.Spec{Linux: &specs.Linux{
		Namespaces:  []specs.LinuxNamespace{{Type: specs.IPCNamespace, Path: ipc}, {Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"}, {Type: specs.UserNamespace}},
		UIDMappings: m, GIDMappings: m,
	}}
	var ds []Decision
	a, err := Adapt(h, &specs.Spec{}, s, &ds)
	if err != nil {
		t.Fatal(err)
	}
	pfx := fmt.Sprintf("/proc/%d/fd/", os.Getpid())
	for _, ns := range s.Linux.Namespaces {
		if !strings.HasPrefix(ns.Path, pfx) {
			t.Errorf("%s joined by %q, not by the checked descriptor", ns.Type, ns.Path)
		}
	}
	var want, got unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), &want) != nil || unix.Stat(s.Linux.Namespaces[2].Path, &got) != nil || want.Ino != got.Ino {
		t.Errorf("the member's user namespace is not the owner of the joined ipc namespace")
	}
	if len(s.Linux.UIDMappings) != 0 || len(a.UIDMap) == 0 {
		t.Errorf("mappings: spec %v, idmap %v", s.Linux.UIDMappings, a.UIDMap)
	}
	var net unix.Stat_t
	_ = unix.Stat("/proc/self/ns/net", &net)
	if len(a.Netns) != 1 || a.Netns[0] != (NSID{Dev: uint64(net.Dev), Ino: net.Ino}) {
		t.Errorf("netns to claim: %v", a.Netns)
	}
	s2 := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UTSNamespace, Path: "/proc/self/ns/uts"}}}}
	if _, err := Adapt(h, &specs.Spec{}, s2, &ds); err == nil {
		t.Error("a namespace path the policy never checked was passed on")
	}
}

// The rules of Adapt against FakeHost: an engine netns turns sysfs into a read-only bind
// with the host's network devices and /sys submounts masked and the container's own
// cgroup mount added; a pod member joins the owning user namespace only when its
// mappings are the owner's; an engine-chosen mapping skips the idmapped rootfs; Docker's
// ping range is clamped to the mapped gids; a path never checked is refused.
func TestAdaptRules(t *testing.T) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 3800000, Size: 65536}}
	sandboxNet, sandboxUser := NSID{Dev: 4, Ino: 100}, NSID{Dev: 4, Ino: 101}
	engineNet := NSID{Dev: 4, Ino: 200}
	h := &FakeHost{
		NS: map[string]NSID{"/proc/9/ns/net": sandboxNet, "/run/netns/cni-1": engineNet},
		NSOwners: map[NSID]NSOwner{
			sandboxNet: {UserNS: sandboxUser, UIDMap: m, GIDMap: m},
		},
		SysMounts: []string{"/sys/kernel/security", "/sys/fs/bpf"},
	}
	spec := func(netPath string) *specs.Spec {
		return &specs.Spec{
			Mounts: []specs.Mount{{Destination: "/sys", Type: "sysfs", Source: "sysfs"}},
			Linux: &specs.Linux{
				Namespaces:  []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: netPath}, {Type: specs.UserNamespace}},
				UIDMappings: m, GIDMappings: m,
				Sysctl: map[string]string{"net.ipv4.ping_group_range": "0 2147483647"},
			}}
	}

	// An engine (CNI) netns, owned by the host's user namespace.
	s := spec("/run/netns/cni-1")
	var ds []Decision
	a, err := Adapt(h, &specs.Spec{}, s, &ds)
	if err != nil {
		t.Fatal(err)
	}
	if s.Linux.Namespaces[0].Path != "checked:/run/netns/cni-1" {
		t.Errorf("netns joined by %q, not by the checked descriptor", s.Linux.Namespaces[0].Path)
	}
	if len(a.Netns) != 1 || a.Netns[0] != engineNet {
		t.Errorf("netns to claim: %v", a.Netns)
	}
	if s.Linux.Namespaces[1].Path != "" || len(a.UIDMap) != 0 {
		t.Errorf("a host-owned netns made the container join a user namespace: %+v", a)
	}
	if sys := s.Mounts[0]; sys.Type != "bind" || sys.Source != "/sys" || !slices.Contains(sys.Options, "rro") {
		t.Errorf("sysfs under an engine netns: %+v", sys)
	}
	for _, p := range []string{"/sys/class/net", "/sys/devices/virtual/net", "/sys/kernel/security", "/sys/fs/bpf"} {
		if !slices.Contains(s.Linux.MaskedPaths, p) {
			t.Errorf("%s not masked: %v", p, s.Linux.MaskedPaths)
		}
	}
	if !hasMountAt(s.Mounts, "/sys/fs/cgroup") {
		t.Error("no cgroup mount of the container's own over the bound host sysfs")
	}
	if got := s.Linux.Sysctl["net.ipv4.ping_group_range"]; got != "0 65535" {
		t.Errorf("ping_group_range = %q", got)
	}
	if len(ds) == 0 {
		t.Error("changes made without decisions")
	}
	if a.SkipIdmap {
		t.Error("an idmap skip without an engine mapping")
	}

	// A pod member joining its sandbox's netns, with the sandbox's mappings: it joins
	// the owning user namespace too, and its rootfs is mapped with them.
	s = spec("/proc/9/ns/net")
	ds = nil
	if a, err = Adapt(h, &specs.Spec{}, s, &ds); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Namespaces[1].Path != "owner:/proc/9/ns/net" || len(s.Linux.UIDMappings) != 0 || len(a.UIDMap) == 0 {
		t.Errorf("pod member: user ns %q, mappings %v, idmap %v", s.Linux.Namespaces[1].Path, s.Linux.UIDMappings, a.UIDMap)
	}
	if len(a.Netns) != 0 {
		t.Errorf("a tenant-owned netns is claimed as an engine's: %v", a.Netns)
	}
	// Other mappings than the owner's: the user namespace is not joined.
	s = spec("/proc/9/ns/net")
	other := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 3900000, Size: 65536}}
	s.Linux.UIDMappings, s.Linux.GIDMappings = other, other
	if a, err = Adapt(h, &specs.Spec{}, s, &ds); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Namespaces[1].Path != "" || len(a.UIDMap) != 0 {
		t.Errorf("joined a user namespace whose mappings differ: %q", s.Linux.Namespaces[1].Path)
	}

	// The engine chose the mapping and kept it: its rootfs is already shifted.
	s = spec("/run/netns/cni-1")
	if a, err = Adapt(h, &specs.Spec{Linux: &specs.Linux{UIDMappings: m}}, s, &ds); err != nil || !a.SkipIdmap {
		t.Errorf("engine mapping: skip %v, %v", a.SkipIdmap, err)
	}

	// In the engine's (host-owned) netns the net sysctls move to the runtime, and a
	// process with CAP_NET_BIND_SERVICE gets the low ports opened; the ping range stays.
	s = spec("/run/netns/cni-1")
	s.Linux.Sysctl["net.ipv4.ip_local_port_range"] = "40000 40100"
	s.Linux.Sysctl["kernel.shmmax"] = "1"
	s.Process = &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_NET_BIND_SERVICE"}}}
	if a, err = Adapt(h, &specs.Spec{}, s, &ds); err != nil {
		t.Fatal(err)
	}
	if a.NetSysctls["net.ipv4.ip_local_port_range"] != "40000 40100" || a.NetSysctls["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("net sysctls for the runtime: %v", a.NetSysctls)
	}
	if _, left := s.Linux.Sysctl["net.ipv4.ip_local_port_range"]; left || s.Linux.Sysctl["kernel.shmmax"] != "1" || s.Linux.Sysctl["net.ipv4.ping_group_range"] == "" {
		t.Errorf("sysctls left to libcontainer: %v", s.Linux.Sysctl)
	}
	// In a tenant-owned netns (a pod member's) libcontainer writes them as before.
	s = spec("/proc/9/ns/net")
	s.Linux.Sysctl["net.ipv4.ip_local_port_range"] = "40000 40100"
	s.Process = &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_NET_BIND_SERVICE"}}}
	if a, err = Adapt(h, &specs.Spec{}, s, &ds); err != nil || len(a.NetSysctls) != 0 {
		t.Errorf("tenant-owned netns: %v %v", a.NetSysctls, err)
	}

	// A path NamespaceOwner never checked.
	if _, err := Adapt(h, &specs.Spec{}, spec("/proc/1/ns/net"), &ds); err == nil {
		t.Error("a namespace path never checked was passed on")
	}
}

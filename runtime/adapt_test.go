package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
)

// adaptSpec points every joined namespace at the descriptor the policy checked, gives a pod
// member the owning user namespace's descriptor, lists host-owned netns to claim, and
// refuses a path that was never checked.
func TestAdaptSpecJoinsCheckedDescriptors(t *testing.T) {
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
	files := hardening.NewNSFiles()
	defer files.Close()
	h := hardening.OSHost{Files: files}
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
	var ds []hardening.Decision
	a, err := adaptSpec("", &specs.Spec{}, s, &hardening.Tenant{Name: "t"}, files, &ds)
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
	if len(s.Linux.UIDMappings) != 0 || len(a.uidMap) == 0 {
		t.Errorf("mappings: spec %v, idmap %v", s.Linux.UIDMappings, a.uidMap)
	}
	var net unix.Stat_t
	_ = unix.Stat("/proc/self/ns/net", &net)
	if len(a.netns) != 1 || a.netns[0] != fmt.Sprintf("%d-%d", net.Dev, net.Ino) {
		t.Errorf("netns to claim: %v", a.netns)
	}
	s2 := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UTSNamespace, Path: "/proc/self/ns/uts"}}}}
	if _, err := adaptSpec("", &specs.Spec{}, s2, &hardening.Tenant{Name: "t"}, files, &ds); err == nil {
		t.Error("a namespace path the policy never checked was passed on")
	}
}

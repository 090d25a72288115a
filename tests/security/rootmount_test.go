package security

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 11 (docs/security.md, "mounts"): every mount of a container, its root included
// and whichever path made it, is nosuid,nodev, and the root is cloned from the descriptor
// the policy judged. Seen before: a bundle carrying its own mapping inside the tenant's range
// (as podman --userns=auto does) turned the idmapped root off, and libcontainer bound the
// bundle's directory as mounted on the host: a character device node in the image opened
// the host's console.
func TestRootIsNodevNosuidOnEveryPath(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	h.UseConfig("[tenants.rm]\nuid_range = \"3800000:65536\"\n")
	h.RT.Tenant = "rm"
	check := `awk '$5 == "/"' /proc/self/mountinfo | tail -1; ` +
		`if echo x > /opt/null2 2>/dev/null; then echo DEVICE-OPENED; else echo device-refused; fi; ` +
		`if head -c1 /opt/zero2 >/dev/null 2>&1; then echo ZERO-OPENED; fi; echo END`
	for name, mapping := range map[string]bool{"idmapped root": false, "engine-shifted root (own mapping)": true} {
		b := h.Bundle(tu.WithShell(check), tu.WithSpec(func(s *specs.Spec) {
			if mapping {
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 3800000, Size: 65536}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 3800000, Size: 65536}}
			}
		}))
		for _, d := range []struct {
			name         string
			major, minor uint32
		}{{"null2", 1, 3}, {"zero2", 1, 5}} {
			p := filepath.Join(b.Rootfs(), "opt", d.name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(p, 0o666)
		}
		id := h.ID("rootmount")
		r := h.RT.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
		h.RT.Run(t, "delete", "--force", id)
		if r.Code != 0 || !strings.Contains(r.Stdout, "END") {
			t.Errorf("%s: %s", name, r)
			continue
		}
		root := strings.SplitN(r.Stdout, "\n", 2)[0]
		f := strings.Fields(root)
		if len(f) < 6 || !strings.Contains(f[5], "nosuid") || !strings.Contains(f[5], "nodev") {
			t.Errorf("%s: the root mount is not nosuid,nodev: %q", name, root)
		}
		if strings.Contains(r.Stdout, "OPENED") {
			t.Errorf("%s: a device node in the image opened a host device:\n%s", name, r.Stdout)
		}
	}
}

// Invariant 12 (docs/security.md, "mounts"): a container that joins a network namespace, and
// so gets the host's sysfs bound instead of a fresh one, sees no cgroup hierarchy but its
// own and none of the host's other submounts of /sys. Seen before: the recursive bind of
// /sys showed every tenant's cgroups (names, memory usage, limits).
func TestJoinedNetnsSysfsShowsNoHostCgroups(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	if _, err := exec.LookPath("ip"); err != nil {
		tu.Require(t, false, "ip(8) is needed to make an engine netns")
	}
	h.UseConfig("[tenants.sa]\nuid_range = \"3900000:65536\"\n[tenants.sb]\nuid_range = \"4000000:65536\"\n")
	victim := h.ID("sysfs-victim")
	rtB := *h.RT
	rtB.Tenant = "sb"
	vb := h.Bundle(tu.WithArgs("sleep", "300"))
	h.Leaks.AddID(victim)
	if r := rtB.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "-d", "--bundle", vb.Dir, victim); r.Code != 0 {
		t.Fatalf("victim: %s", r)
	}
	defer rtB.Run(t, "delete", "--force", victim)
	name := "trt-" + strings.TrimPrefix(tu.NewID(), "trt")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	rtA := *h.RT
	rtA.Tenant = "sa"
	for _, keepCgroupMount := range []bool{true, false} {
		b := h.Bundle(tu.WithShell(`find /sys/fs/cgroup -maxdepth 4 -type d 2>/dev/null | grep -c . ; `+
			`find /sys/fs/cgroup -maxdepth 6 -name '*`+victim+`*' 2>/dev/null; `+
			`grep -o ' /sys[^ ]*' /proc/self/mountinfo | sort -u; echo END`),
			tu.WithSpec(func(s *specs.Spec) {
				for i, ns := range s.Linux.Namespaces {
					if ns.Type == specs.NetworkNamespace {
						s.Linux.Namespaces[i].Path = "/run/netns/" + name
					}
				}
				if !keepCgroupMount {
					var ms []specs.Mount
					for _, m := range s.Mounts {
						if m.Type != "cgroup" && m.Type != "cgroup2" {
							ms = append(ms, m)
						}
					}
					s.Mounts = ms
				}
			}))
		id := h.ID("sysfs")
		r := rtA.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
		rtA.Run(t, "delete", "--force", id)
		what := fmt.Sprintf("joined engine netns, bundle cgroup mount kept=%v", keepCgroupMount)
		if r.Code != 0 || !strings.Contains(r.Stdout, "END") {
			t.Errorf("%s: %s", what, r)
			continue
		}
		if strings.Contains(r.Stdout, victim) {
			t.Errorf("%s: another tenant's container is visible under /sys/fs/cgroup:\n%s", what, r.Stdout)
		}
		if strings.Contains(r.Stdout, "/tenantrun") {
			t.Errorf("%s: the host's tenant cgroup parents are visible:\n%s", what, r.Stdout)
		}
		t.Logf("%s:\n%s", what, r.Stdout)
	}
}

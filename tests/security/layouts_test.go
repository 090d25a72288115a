package security

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant (docs/security.md, "engine storage"): engine storage is trusted by position and
// by what the engine made there, never by shape. A rootfs at an engine layout position must
// be the root of a mount (where the engine mounts a container's overlay), and a rootfs that
// a live container of another tenant uses is refused from any --root (runtime/claims, keyed
// by the device and inode of the opened rootfs, which every bind of one directory shares).
// Ids and sandbox ids that are layout words are refused.

const (
	layoutsT1Base = 3600000
	layoutsT2Base = 3700000
)

// layoutsHarness: tenants t1 and t2 and an engine root under the test's base directory.
func layoutsHarness(t *testing.T) (*tu.H, string) {
	t.Helper()
	tu.TenantrunOnly(t)
	h := tu.New(t)
	eng := tu.TempDir(t, "engine")
	h.UseConfig(fmt.Sprintf(`
[defaults]
engine_roots = [%q]
[tenants.t1]
uid_range = "%d:65536"
[tenants.t2]
uid_range = "%d:65536"
`, eng, layoutsT1Base, layoutsT2Base))
	return h, eng
}

func layoutsAs(h *tu.H, tenant, root string) *tu.Runtime {
	rt := *h.RT
	rt.Tenant = tenant
	if root != "" {
		rt.Root = root
	}
	return &rt
}

func layerID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// engineMount bind-mounts src on dir (made first), as an engine mounts a container's
// overlay on its merged directory; unmounted when the test ends, before the leak check.
func engineMount(t *testing.T, src, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", src, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

func withRoot(p string) tu.BundleOption {
	return tu.WithSpec(func(s *specs.Spec) { s.Root.Path = p })
}

func wantRefused(t *testing.T, what string, r *tu.Result, words ...string) {
	t.Helper()
	if r.Code == 0 || strings.Contains(r.Stdout, "STARTED") || !strings.Contains(r.Stderr, "refused:") {
		t.Errorf("%s: want refused, got %s", what, r)
		return
	}
	for _, w := range words {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("%s: the refusal does not say %q: %s", what, w, r.Stderr)
		}
	}
}

// t1 names t2's live container's rootfs (the engine's mount at overlay/<layer>/merged, or a
// second engine mount of the same directory at another layer's position): refused from the
// same --root and from another one; t2 itself may reuse it; once t2's containers are gone
// (deleted, a failed create rolled back, delete --force) no claim is left and t1 may use it.
func TestRootfsOfAnotherTenantsLiveContainer(t *testing.T) {
	h, eng := layoutsHarness(t)
	t2 := layoutsAs(h, "t2", "")
	other := tu.TempDir(t, "state2")
	h.Leaks.AddStateRoot(other)
	t1 := layoutsAs(h, "t1", "")
	t1other := layoutsAs(h, "t1", other)

	img := h.Bundle() // the "image": its rootfs is what the engine mounts
	merged := filepath.Join(eng, "storage", "overlay", layerID(t), "merged")
	alias := filepath.Join(eng, "storage", "overlay", layerID(t), "merged")
	engineMount(t, img.Rootfs(), merged)
	engineMount(t, img.Rootfs(), alias)

	b2 := h.Bundle(tu.WithShell("sleep 1000"), withRoot(merged))
	c2 := h.ID("t2")
	if r := t2.Run(t, "run", "-d", "--bundle", b2.Dir, c2); r.Code != 0 {
		t.Fatalf("t2 on its engine rootfs: %s", r)
	}
	h.WaitStatus(c2, "running", 10*time.Second)
	if cl := tu.ClaimsOf(h.RT.Root, c2); len(cl) != 1 || !strings.HasPrefix(cl[0], "rootfs-") {
		t.Errorf("t2's live container claims %v, want its rootfs", cl)
	}

	for _, c := range []struct {
		name string
		rt   *tu.Runtime
		root string
	}{
		{"same --root", t1, merged},
		{"another --root", t1other, merged},
		{"another engine mount of the same directory", t1other, alias},
	} {
		b1 := h.Bundle(tu.WithShell("echo STARTED; cat /etc/passwd"), withRoot(c.root))
		id := h.ID("t1")
		r := c.rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b1.Dir, id)
		wantRefused(t, "t1 on t2's live rootfs, "+c.name, r, "root.path", "another tenant")
		if strings.Contains(r.Stderr, c2) {
			t.Errorf("%s: the refusal names the other tenant's container: %s", c.name, r.Stderr)
		}
		if cl := tu.ClaimsOf(c.rt.Root, id); len(cl) > 0 {
			t.Errorf("%s: the refused create left claims %v", c.name, cl)
		}
	}

	// Same tenant: shared, from another --root too.
	t2other := layoutsAs(h, "t2", other)
	b3 := h.Bundle(tu.WithShell("echo SHARED"), withRoot(alias))
	c3 := h.ID("t2b")
	if r := t2other.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b3.Dir, c3); r.Code != 0 || !strings.Contains(r.Stdout, "SHARED") {
		t.Errorf("t2 reusing its own live rootfs: %s", r)
	}
	if cl := tu.ClaimsOf(other, c3); len(cl) > 0 {
		t.Errorf("t2's foreground run left claims %v", cl)
	}
	// A create of t2 that fails after claiming (no such program) rolls its claim back.
	b4 := h.Bundle(tu.WithArgs("/no/such/program"), withRoot(merged))
	c4 := h.ID("t2fail")
	if r := t2other.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "create", "--bundle", b4.Dir, c4); r.Code == 0 {
		t.Errorf("create of a missing program succeeded: %s", r)
		t2other.Run(t, "delete", "--force", c4)
	}
	if cl := tu.ClaimsOf(other, c4); len(cl) > 0 {
		t.Errorf("a failed create left claims %v", cl)
	}

	// delete --force of the running container: no claim left, and t1 may now use it.
	if r := t2.Run(t, "delete", "--force", c2); r.Code != 0 {
		t.Fatalf("delete --force: %s", r)
	}
	if cl := tu.ClaimsOf(h.RT.Root, c2); len(cl) > 0 {
		t.Errorf("delete --force left claims %v", cl)
	}
	b5 := h.Bundle(tu.WithShell("echo FREED"), withRoot(merged))
	c5 := h.ID("t1free")
	if r := t1other.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b5.Dir, c5); r.Code != 0 || !strings.Contains(r.Stdout, "FREED") {
		t.Errorf("t1 on the rootfs once t2's container is gone: %s", r)
	}
}

// A plain directory at a rootfs layout position (an image layer's or another container's
// directory the tenant names by its shape) is no container's rootfs: refused, and nothing of
// the directory is touched (no mount point made in it).
func TestRootfsAtLayoutPositionMustBeAMount(t *testing.T) {
	h, eng := layoutsHarness(t)
	t1 := layoutsAs(h, "t1", "")
	img := h.Bundle()
	id := h.ID("t1")
	layer := filepath.Join(eng, "storage", "overlay", layerID(t))
	task := filepath.Join(eng, "state", "io.containerd.runtime.v2.task", "default", id)
	docker := filepath.Join(eng, "docker", "overlay2", layerID(t))
	for _, d := range []string{layer + "/diff", layer + "/merged", task + "/rootfs", docker + "/merged"} {
		if err := tu.CopyRootfs(img.Rootfs(), d); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, root, why string }{
		{"podman merged, a plain directory", layer + "/merged", "not a mount root"},
		{"docker merged, a plain directory", docker + "/merged", "not a mount root"},
		{"containerd task rootfs of this id, a plain directory", task + "/rootfs", "not a mount root"},
		{"an image layer's diff", layer + "/diff", "not at a container rootfs position"},
		{"the layer directory", layer, "not at a container rootfs position"},
	} {
		b := h.Bundle(tu.WithShell("echo STARTED"), withRoot(c.root))
		r := t1.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b.Dir, id)
		wantRefused(t, c.name, r, "root.path", c.why)
		if _, err := os.Stat(filepath.Join(c.root, "proc", ".tenantrun")); err == nil {
			t.Errorf("%s: something was made in it", c.name)
		}
	}
}

// Every layout word as the container id, and as the pod sandbox id, is refused; nothing is
// left under --root (the words are not put in the leak scope: "run" or "tmp" would match
// every mount on the machine).
func TestLayoutWordsAsIDsRefused(t *testing.T) {
	h, _ := layoutsHarness(t)
	t1 := layoutsAs(h, "t1", "")
	b := h.Bundle(tu.WithShell("echo STARTED"))
	words := make([]string, 0, len(hardening.LayoutWords))
	for w := range hardening.LayoutWords {
		words = append(words, w)
	}
	sort.Strings(words)
	for _, w := range words {
		r := t1.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "create", "--bundle", b.Dir, w)
		wantRefused(t, "container id "+w, r, "containerID")
		if r.Code == 0 {
			t1.Run(t, "delete", "--force", w)
		}
	}
	for _, w := range words {
		sb := h.Bundle(tu.WithShell("echo STARTED"), tu.WithSpec(func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-id": w, "io.kubernetes.cri.container-type": "container"}
		}))
		id := h.ID("sb")
		r := t1.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "create", "--bundle", sb.Dir, id)
		wantRefused(t, "sandbox id "+w, r, "annotations")
	}
}

// A pod uid is recorded by the sandbox that names it and claimed for its tenant: another
// tenant's sandbox naming the same pod is refused while the first lives, and a member's
// kubelet file (pods/<uid>/etc-hosts) is accepted only for its own sandbox's recorded pod.
func TestPodUIDRecordedAndClaimed(t *testing.T) {
	h, eng := layoutsHarness(t)
	t1, t2 := layoutsAs(h, "t1", ""), layoutsAs(h, "t2", "")
	uid := "0b6d5a1c-" + layerID(t)[:4] + "-4222-8333-944455556666"
	otherUID := "1c7e6b2d-" + layerID(t)[:4] + "-4222-8333-944455556666"
	sb := h.ID("sb")
	sandbox := func(id, pod string) tu.BundleOption {
		return tu.WithSpec(func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": id,
				"io.kubernetes.cri.sandbox-uid": pod}
		})
	}
	b := h.Bundle(tu.WithShell("sleep 1000"), sandbox(sb, uid))
	if r := t1.Run(t, "run", "-d", "--bundle", b.Dir, sb); r.Code != 0 {
		t.Fatalf("t1's sandbox: %s", r)
	}
	st := h.WaitStatus(sb, "running", 10*time.Second)
	data, err := os.ReadFile(filepath.Join(h.RT.Root, sb, "tenantrun.json"))
	if err != nil {
		t.Fatal(err)
	}
	var side struct {
		PodUID string `json:"podUID"`
	}
	if json.Unmarshal(data, &side) != nil || side.PodUID != uid {
		t.Errorf("the sandbox's record has pod uid %q, want %q", side.PodUID, uid)
	}
	// Another tenant's sandbox of the same pod, from another --root.
	other := tu.TempDir(t, "state2")
	h.Leaks.AddStateRoot(other)
	t2.Root = other
	sb2 := h.ID("sb2")
	b2 := h.Bundle(tu.WithShell("echo STARTED"), sandbox(sb2, uid))
	wantRefused(t, "t2's sandbox of t1's pod", t2.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b2.Dir, sb2), "pod")

	// A member of t1's pod (joins the sandbox's namespaces) binding kubelet's per-pod file.
	for _, pod := range []string{uid, otherUID} {
		f := filepath.Join(eng, "kubelet", "pods", pod, "etc-hosts")
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		tu.WriteFile(t, f, "127.0.0.1 localhost\n")
	}
	member := func(pod string) *tu.Bundle {
		return h.Bundle(tu.WithShell("echo STARTED"), tu.WithSpec(func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": sb,
				"io.kubernetes.cri.sandbox-uid": uid}
			for i, ns := range s.Linux.Namespaces {
				switch ns.Type {
				case specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace:
					s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", st.Pid, map[specs.LinuxNamespaceType]string{specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.NetworkNamespace: "net"}[ns.Type])
				}
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosts", Type: "bind",
				Source: filepath.Join(eng, "kubelet", "pods", pod, "etc-hosts"), Options: []string{"rbind", "ro"}})
		}))
	}
	if r := t1.Run(t, "policy", "check", "--bundle", member(uid).Dir, "--id", h.ID("m")); r.Code != 0 {
		t.Errorf("t1's pod member binding its own pod's etc-hosts: %s", r)
	}
	if r := t1.Run(t, "policy", "check", "--bundle", member(otherUID).Dir, "--id", h.ID("m")); r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "pod") {
		t.Errorf("t1's pod member binding another pod's etc-hosts: want refused, got %s", r)
	}

	// Once the sandbox is gone, so is its claim: t2 may have that pod uid.
	if r := t1.Run(t, "delete", "--force", sb); r.Code != 0 {
		t.Fatal(r)
	}
	if cl := tu.ClaimsOf(h.RT.Root, sb); len(cl) > 0 {
		t.Errorf("delete --force left claims %v", cl)
	}
	if r := t2.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b2.Dir, sb2); r.Code != 0 || !strings.Contains(r.Stdout, "STARTED") {
		t.Errorf("t2's sandbox once t1's is gone: %s", r)
	}
}

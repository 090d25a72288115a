package engines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPodman(t *testing.T) {
	requireEngines(t, "podman")
	e := podmanEngine()
	t.Run("run-probe-network", func(t *testing.T) { e.testRunProbe(t, true) })
	t.Run("run-probe", func(t *testing.T) { e.testRunProbe(t, false) })
	t.Run("lifecycle", e.testLifecycle)
	t.Run("kill", e.testKill)
	t.Run("read-only-app", e.testReadOnlyApp)
	t.Run("refusals", func(t *testing.T) { e.testRefusals(t, true) })
	t.Run("forged-annotation", func(t *testing.T) { e.testForgedAnnotation(t, "--annotation") })
	t.Run("pod", func(t *testing.T) { testPodmanPod(t, e) })
	t.Run("uidmap", func(t *testing.T) { testPodmanUIDMap(t, e) })
	t.Run("cross-tenant-join", func(t *testing.T) { e.testCrossTenantJoin(t) })
	t.Run("policy", e.testPolicy)
	t.Run("fds", e.testFDs)
	t.Run("network-isolation", e.testNetworkIsolation)
}

// testPodmanUIDMap: an engine-chosen mapping is kept only inside the tenant's own range; the
// range of another tenant is refused.
func testPodmanUIDMap(t *testing.T, e *dockerish) {
	t.Run("other-tenant-range", func(t *testing.T) {
		leakCheck(t, e.runtimeRoots(t, e.runtime)...)
		r := e.call(t, append(append([]string{"run", "--rm", "--runtime", e.runtime, "--uidmap", "0:400000:65536", "--gidmap", "0:400000:65536"}, e.netNone...), busybox, "true")...)
		checkRefused(t, "podman --uidmap <beta's range> as alpha", r, `linux\.uidMappings`)
	})
	t.Run("own-range", func(t *testing.T) {
		leakCheck(t, e.runtimeRoots(t, e.runtime)...)
		r := e.call(t, append(append([]string{"run", "--rm", "--runtime", e.runtime, "--uidmap", "0:300000:65536", "--gidmap", "0:300000:65536"}, e.netNone...), busybox, "sh", "-c", probeScript)...)
		if r.code != 0 {
			t.Fatalf("podman --uidmap inside alpha's range: %s", r)
		}
		checkHardened(t, "podman --uidmap <alpha's range>", "alpha", parseProbe(t, r.stdout))
	})
}

// testPodmanPod: a pod's infra container (catatonit) and a member joining its network, ipc and
// uts namespaces, both under tenant alpha (podman's global --runtime covers the infra container).
func testPodmanPod(t *testing.T, e *dockerish) {
	lc := leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	pod := randName("tr-pod")
	t.Cleanup(func() { e.call(t, "pod", "rm", "-f", "-t", "0", pod) })
	e.must(t, "--runtime", e.runtime, "pod", "create", "--name", pod, "--network", "none")
	r := e.must(t, "pod", "inspect", "--format", "{{.Id}}", pod)
	podID := strings.TrimSpace(r.stdout)
	lc.AddID(podID)
	// podman 4.3.1 (cgroupfs, v1 hybrid) leaves libpod_parent/<pod id> in the name=systemd and
	// unified hierarchies after `pod rm`, with runc too: not the runtime's; removed here.
	t.Cleanup(func() {
		for _, h := range []string{"systemd", "unified"} {
			d := filepath.Join("/sys/fs/cgroup", h, "libpod_parent", podID)
			if os.Remove(d) == nil {
				t.Logf("removed podman's leftover cgroup %s", d)
			}
		}
	})
	r = e.call(t, "--runtime", e.runtime, "run", "--rm", "--pod", pod, busybox, "sh", "-c", probeScript)
	if r.code != 0 {
		t.Fatalf("pod member: %s", r)
	}
	checkHardened(t, "podman pod member", "alpha", parseProbe(t, r.stdout))
	e.must(t, "pod", "rm", "-f", "-t", "0", pod)
}

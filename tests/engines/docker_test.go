package engines

import "testing"

func TestDocker(t *testing.T) {
	requireEngines(t, "containerd", "docker")
	e := dockerEngine()
	t.Run("run-probe", func(t *testing.T) { e.testRunProbe(t, false) })
	t.Run("lifecycle", e.testLifecycle)
	t.Run("kill", e.testKill)
	t.Run("read-only-app", e.testReadOnlyApp)
	// docker --privileged cannot run on this machine even with runc (it asks for
	// CAP_SYS_RESOURCE), so only the host socket is tried here.
	t.Run("refusals", func(t *testing.T) { e.testRefusals(t, false) })
	t.Run("cross-tenant-join", func(t *testing.T) { e.testCrossTenantJoin(t) })
	t.Run("policy", e.testPolicy)
	t.Run("network-isolation", e.testNetworkIsolation)
	// docker labels are not OCI annotations; docker 20.10 has no --annotation: nothing to forge.
}

package engines

import "testing"

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
}

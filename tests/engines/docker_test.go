package engines

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

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
	t.Run("restart", func(t *testing.T) { testDockerRestart(t, e) })
	// docker labels are not OCI annotations; docker 20.10 has no --annotation: nothing to forge.
}

// testDockerRestart: dockerd gets a new pid and a new controller id at every restart, and
// both are in the prestart hook it gives every container (/proc/<pid>/exe libnetwork-setkey
// … <controller id>). The hook is declared by binary (hack/engines/tenantrun.toml.in), so
// docker run works before and after a restart with the config file left as it was.
func testDockerRestart(t *testing.T, e *dockerish) {
	if !hardened(t) {
		t.Skip("the hook declaration is tenantrun's; runc runs any hook")
	}
	cfg := filepath.Join(engRun, "tenantrun.toml")
	before, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(cfg)
	pidFile := filepath.Join(engRun, "dockerd.pid")
	runOnce := func(when string) {
		r := e.call(t, "run", "--rm", "--runtime", e.runtime, "--network", "none", busybox, "echo", "hello "+when)
		if r.code != 0 || !strings.Contains(r.stdout, "hello "+when) {
			t.Fatalf("docker run %s the restart: %s", when, r)
		}
	}
	runOnce("before")
	old, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(old)))
	if pid <= 0 {
		t.Fatalf("dockerd's pid file %s: %q", pidFile, old)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i > 300 {
			t.Fatalf("dockerd (pid %d) did not stop in 30 s", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	up := exec.Command(filepath.Join(testutil.RepoRoot(), "hack", "engines", "up.sh"), "docker")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("hack/engines/up.sh docker: %v\n%s", err, out)
	}
	now, _ := os.ReadFile(pidFile)
	t.Logf("dockerd restarted: pid %s -> %s", strings.TrimSpace(string(old)), strings.TrimSpace(string(now)))
	if strings.TrimSpace(string(now)) == strings.TrimSpace(string(old)) {
		t.Fatalf("dockerd kept its pid %s: the restart proves nothing", old)
	}
	runOnce("after")
	after, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(cfg); string(got) != string(content) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the restart needed a new tenantrun config (%s changed)", cfg)
	}
}

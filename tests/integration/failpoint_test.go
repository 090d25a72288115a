package integration

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Failpoints (issue 10): with TENANTRUN_FAILPOINT=<phase> the runtime SIGKILLs itself at that
// phase. After each, `delete --force ID` (and `tenantrun gc` for orphans whose state is gone)
// must leave no state dir, cgroup (every hierarchy, tenant parents included), mount or process,
// and the id must be reusable.
var failpointPhases = []string{
	"create:after-policy",
	"create:after-claim",
	"create:after-libcontainer-create",
	"create:after-start",
	"start:before-exec",
	"exec:after-start",
	"delete:before-destroy",
}

func TestFailpoints(t *testing.T) {
	tu.TenantrunOnly(t) // runc has no failpoints
	for _, phase := range failpointPhases {
		t.Run(strings.ReplaceAll(phase, ":", "_"), func(t *testing.T) {
			h := tu.New(t)
			h.GC = true
			b := h.Bundle(tu.WithShell(sleeper))
			id := h.ID("fp")
			fp := tu.Call{Env: []string{"TENANTRUN_FAILPOINT=" + phase}, Timeout: 30 * time.Second}
			var r *tu.Result
			switch verb := strings.SplitN(phase, ":", 2)[0]; verb {
			case "create":
				r = h.RT.RunCall(t, fp, "create", "--bundle", b.Dir, id)
			case "start":
				h.Create(id, b)
				r = h.RT.RunCall(t, fp, "start", id)
			case "exec":
				h.RunDetached(id, b)
				r = h.RT.RunCall(t, fp, "exec", id, "sleep", "1001")
			case "delete":
				h.RunDetached(id, b)
				r = h.RT.RunCall(t, fp, "delete", "--force", id)
			}
			if r.Signal != syscall.SIGKILL {
				t.Errorf("the runtime did not die by SIGKILL at failpoint %s (TENANTRUN_FAILPOINT not honoured?): %s", phase, r)
			}
			// Whatever the phase left: a running container, a created one whose start never
			// happened, a stopped one, or state that never got written.
			if st, err := h.TryState(id); err == nil {
				t.Logf("after %s the container is %q (pid %d)", phase, st.Status, st.Pid)
				h.Leaks.ObservePID(st.Pid)
			} else {
				t.Logf("after %s there is no state for the container", phase)
			}
			del := h.R("delete", "--force", id)
			t.Logf("delete --force after %s: exit %d %q", phase, del.Code, firstLine(del.Stderr))
			if del.Panicked() || del.TimedOut {
				t.Errorf("delete --force after %s: %s", phase, del)
			}
			gc := h.R("gc")
			if gc.Code != 0 {
				t.Errorf("gc after %s: %s", phase, gc)
			}
			// Recovery is complete now, not eventually: check before reusing the id.
			h.Leaks.Check(t)
			if t.Failed() {
				return
			}
			// The id is reusable.
			h.RunDetached(id, b)
			if out := h.Sh(id, "echo reused"); out != "reused" {
				t.Errorf("exec into the reused id: %q", out)
			}
			h.Delete(id)
		})
	}
}

// The product binary has no failpoints (they are built with -tags failpoints into
// bin/tenantrun-failpoints only): TENANTRUN_FAILPOINT does nothing to it.
func TestProductBinaryHasNoFailpoints(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell("echo ran"))
	id := h.ID("nofp")
	cmd := exec.Command(tu.BinPath(), append(h.RT.GlobalArgs(), "run", "--bundle", b.Dir, id)...)
	cmd.Env = append(os.Environ(), "TENANTRUN_FAILPOINT=create:after-policy,create:after-start,leak-fd")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ran" {
		t.Fatalf("%s with TENANTRUN_FAILPOINT: %v\n%s", tu.BinPath(), err, out)
	}
}

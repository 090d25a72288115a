package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

const sleeper = "sleep 1000"

func TestCreateStartSplit(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("split")
	pidFile := filepath.Join(tu.TempDir(t, "pid"), "init.pid")
	start := time.Now()
	h.Create(id, b, "--pid-file", pidFile) // checks "created"
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("create took %v", d)
	}
	st := h.State(id)
	if st.Pid <= 0 {
		t.Fatalf("created container has no pid: %s", st.Raw())
	}
	if p := tu.ReadPidFile(t, pidFile); p != st.Pid {
		t.Errorf("--pid-file says %d, state says %d", p, st.Pid)
	}
	h.OK("start", id)
	st = h.WaitStatus(id, "running", 10*time.Second)
	if st.Pid <= 0 {
		t.Fatalf("running container has no pid: %s", st.Raw())
	}
	// A second start of a running container is an error.
	if r := h.R("start", id); r.Code == 0 {
		t.Errorf("second start succeeded: %s", r)
	}
	h.OK("kill", id, "KILL")
	h.WaitStatus(id, "stopped", 10*time.Second)
	h.OK("delete", id)
	if r := h.R("state", id); r.Code == 0 {
		t.Errorf("state after delete succeeded: %s", r)
	}
}

func TestRunForegroundExitCode(t *testing.T) {
	h := tu.New(t)
	for _, tc := range []struct {
		script string
		code   int
		out    string
	}{
		{"echo hello", 0, "hello"},
		{"exit 3", 3, ""},
		{"echo partial; exit 42", 42, "partial"},
	} {
		b := h.Bundle(tu.WithShell(tc.script))
		id := h.ID("fg")
		r := h.R("run", "--bundle", b.Dir, id)
		if r.Code != tc.code {
			t.Errorf("run %q: exit %d, want %d\n%s", tc.script, r.Code, tc.code, r)
		}
		if tc.out != "" && !strings.Contains(r.Stdout, tc.out) {
			t.Errorf("run %q: stdout %q, want %q", tc.script, r.Stdout, tc.out)
		}
		// A foreground run leaves a stopped container until it is deleted (runc's contract
		// without --rm)... or none at all; either way delete must leave nothing.
		_ = h.R("delete", "--force", id)
	}
}

func TestRunKilledBySignalExitCode(t *testing.T) {
	h := tu.New(t)
	// The container's init cannot be SIGKILLed from inside its own pid namespace: kill it from
	// outside while the foreground run waits for it.
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("sig")
	done := make(chan *tu.Result, 1)
	go func() { done <- h.RT.Run(t, "run", "--bundle", b.Dir, id) }()
	h.WaitStatus(id, "running", 10*time.Second) // the foreground run reached running
	h.OK("kill", id, "KILL")
	r := <-done
	if r.Code != 128+9 {
		t.Errorf("run of a container killed by SIGKILL: exit %d, want 137\n%s", r.Code, r)
	}
	_ = h.R("delete", "--force", id)
}

func TestRunDetachedAndState(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("detach")
	start := time.Now()
	h.OK("run", "-d", "--bundle", b.Dir, id)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("run -d took %v", d)
	}
	st := h.WaitStatus(id, "running", 10*time.Second)
	h.Leaks.ObservePID(st.Pid)
	var m map[string]any
	if err := json.Unmarshal([]byte(st.Raw()), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ociVersion", "id", "status", "pid", "bundle"} {
		if _, ok := m[k]; !ok {
			t.Errorf("state JSON lacks %q: %s", k, st.Raw())
		}
	}
	if st.ID != id {
		t.Errorf("state id %q, want %q", st.ID, id)
	}
	if filepath.Clean(st.Bundle) != b.Dir {
		t.Errorf("state bundle %q, want %q", st.Bundle, b.Dir)
	}
	if !strings.HasPrefix(st.OCIVersion, "1.") {
		t.Errorf("state ociVersion %q", st.OCIVersion)
	}
	h.Delete(id)
}

func TestKillByNameAndNumber(t *testing.T) {
	h := tu.New(t)
	// PID 1 of a pid namespace ignores signals it has no handler for: trap TERM and USR1.
	// The handlers must be installed before the signal is sent: the script says when.
	script := `trap "exit 0" TERM; trap "echo usr1 > /tmp/usr1" USR1; touch /tmp/ready; while :; do sleep 0.1; done`
	for _, tc := range []struct{ name, sig string }{
		{"name", "TERM"},
		{"signame", "SIGTERM"},
		{"number", "15"},
		{"kill9", "9"},
		{"killname", "KILL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tu.New(t)
			b := h.Bundle(tu.WithShell(script))
			id := h.ID("kill")
			h.RunDetached(id, b)
			h.WaitFile(id, "/tmp/ready")
			h.OK("kill", id, tc.sig)
			h.WaitStatus(id, "stopped", 10*time.Second)
			h.OK("delete", id)
		})
	}
	// A non-fatal signal is delivered and handled.
	b := h.Bundle(tu.WithShell(script))
	id := h.ID("usr1")
	h.RunDetached(id, b)
	h.WaitFile(id, "/tmp/ready")
	h.OK("kill", id, "USR1")
	deadline := time.Now().Add(5 * time.Second)
	for h.Sh(id, "cat /tmp/usr1 2>/dev/null || true") != "usr1" {
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 was not delivered to the container's init")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := h.State(id); st.Status != "running" {
		t.Errorf("after USR1: %s", st.Status)
	}
	// Default signal is TERM.
	h.OK("kill", id)
	h.WaitStatus(id, "stopped", 10*time.Second)
	h.OK("delete", id)
	// Unknown signal names are an error.
	b2 := h.Bundle(tu.WithShell(sleeper))
	id2 := h.ID("badsig")
	h.RunDetached(id2, b2)
	if r := h.R("kill", id2, "NOSUCHSIG"); r.Code == 0 {
		t.Errorf("kill with an unknown signal succeeded: %s", r)
	}
	h.Delete(id2)
}

func TestKillAll(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("killall")
	st := h.RunDetached(id, b)
	// Extra processes: a detached exec and children of it.
	h.OK("exec", "-d", id, "sh", "-c", "sleep 1001 & sleep 1002 & wait")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps := h.OK("ps", "--format", "json", id)
		var pids []int
		_ = json.Unmarshal([]byte(ps.Stdout), &pids)
		if len(pids) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected 4 processes, ps says %s", ps.Stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.OK("kill", "--all", id, "KILL")
	h.WaitStatus(id, "stopped", 10*time.Second)
	if tu.ProcAlive(st.Pid) {
		t.Errorf("init pid %d still alive after kill --all", st.Pid)
	}
	h.OK("delete", id)
}

func TestDeleteForceRunning(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("force")
	st := h.RunDetached(id, b)
	// Plain delete of a running container is refused.
	if r := h.R("delete", id); r.Code == 0 {
		t.Errorf("delete of a running container succeeded without --force: %s", r)
	}
	h.OK("delete", "--force", id)
	if r := h.R("state", id); r.Code == 0 {
		t.Errorf("state after delete --force: %s", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tu.ProcAlive(st.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("init pid %d alive after delete --force", st.Pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// delete --force of a created (never started) container.
	id2 := h.ID("forcecreated")
	h.Create(id2, b)
	h.OK("delete", "--force", id2)
}

// A foreground run forwards the signals it gets to the container and returns its exit code.
func TestRunForwardsSignals(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(`trap "exit 7" TERM; trap "echo got-usr1" USR1; touch /tmp/ready; while :; do sleep 0.1; done`))
	id := h.ID("fwd")
	var proc *os.Process
	started := make(chan struct{})
	done := make(chan *tu.Result, 1)
	go func() {
		done <- h.RT.RunCall(t, tu.Call{OnStart: func(p *os.Process) { proc = p; close(started) }}, "run", "--bundle", b.Dir, id)
	}()
	<-started
	h.WaitStatus(id, "running", 10*time.Second) // the foreground run reached running
	h.WaitFile(id, "/tmp/ready")
	_ = proc.Signal(syscall.SIGUSR1)
	time.Sleep(300 * time.Millisecond)
	_ = proc.Signal(syscall.SIGTERM)
	var r *tu.Result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after SIGTERM was forwarded")
	}
	if r.Code != 7 {
		t.Errorf("run after a forwarded SIGTERM: exit %d, want 7 (the trap's)\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stdout, "got-usr1") {
		t.Errorf("SIGUSR1 was not forwarded: stdout %q", r.Stdout)
	}
	_ = h.R("delete", "--force", id)
}

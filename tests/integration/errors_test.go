package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// expectError checks a refused invocation: the exit status (want; 0 means any non-zero),
// no panic or goroutine dump, within the timeout, nothing from the container on stdout, and
// (for tenantrun; runc's messages are its own) every one of msg in stderr, case-insensitively.
func expectError(t *testing.T, r *tu.Result, want int, msg ...string) {
	t.Helper()
	switch {
	case r.TimedOut:
		t.Errorf("timed out: %s", r)
	case r.Signal != 0:
		t.Errorf("killed by a signal: %s", r)
	case want == 0 && r.Code == 0, want != 0 && r.Code != want:
		t.Errorf("exit %d, want %d: %s", r.Code, want, r)
	case r.Panicked():
		t.Errorf("panic or goroutine dump in output: %s", r)
	case strings.Contains(r.Stdout, "STARTED"):
		t.Errorf("the container ran: %s", r)
	case strings.TrimSpace(r.Stderr) == "":
		t.Errorf("no error message: %s", r)
	}
	if tu.IsRunc() {
		return
	}
	low := strings.ToLower(r.Stderr)
	for _, m := range msg {
		if !strings.Contains(low, strings.ToLower(m)) {
			t.Errorf("error message does not mention %q: %q", m, r.Stderr)
		}
	}
}

const startedScript = "echo STARTED"

func TestErrorMalformedConfig(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(startedScript))
	b.WriteRaw([]byte(`{"ociVersion": "1.2.0", "process": {"args": ["sh", `))
	for _, verb := range []string{"create", "run"} {
		id := h.ID("malformed")
		expectError(t, h.R(verb, "--bundle", b.Dir, id), 1, "config.json")
		if r := h.R("state", id); r.Code == 0 {
			t.Errorf("%s of a malformed config left a container: %s", verb, r)
		}
	}
	// Missing config.json in an existing bundle.
	b2 := h.Bundle()
	tu.Remove(t, b2.ConfigPath())
	expectError(t, h.R("create", "--bundle", b2.Dir, h.ID("noconfig")), 1, "config.json")
}

func TestErrorMissingBundle(t *testing.T) {
	h := tu.New(t)
	missing := tu.TempDir(t, "gone") + "/no-such-bundle"
	for _, verb := range []string{"create", "run"} {
		expectError(t, h.R(verb, "--bundle", missing, h.ID("nobundle")), 1, missing)
	}
	// A bundle whose rootfs is missing.
	b := h.Bundle(tu.WithShell(startedScript))
	tu.RemoveAll(t, b.Rootfs())
	expectError(t, h.R("run", "--bundle", b.Dir, h.ID("norootfs")), 1, "rootfs")
}

func TestErrorUnknownID(t *testing.T) {
	h := tu.New(t)
	id := h.ID("unknown")
	for _, args := range [][]string{
		{"state", id}, {"start", id}, {"kill", id, "KILL"}, {"delete", id},
		{"pause", id}, {"resume", id}, {"ps", id}, {"update", "--pids-limit", "10", id},
		{"events", "--stats", id},
	} {
		r := h.RT.RunCall(t, tu.Call{Timeout: 15 * time.Second}, args...)
		expectError(t, r, 1, id)
	}
	// exec: runc exits 255 for its own failures; any non-zero status will do.
	expectError(t, h.Exec(id, "true"), 0, id)
	// Invalid ids are refused before anything touches the disk.
	for _, bad := range []string{"../escape", "a/b", "..", ""} {
		r := h.R("state", bad)
		if r.Code == 0 || r.Panicked() {
			t.Errorf("state %q: %s", bad, r)
		}
	}
	b := h.Bundle(tu.WithShell(startedScript))
	for _, bad := range []string{"../escape", "a/b", ".."} {
		expectError(t, h.R("create", "--bundle", b.Dir, bad), 0)
	}
}

func TestErrorDuplicateID(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("dup")
	st := h.RunDetached(id, b)
	b2 := h.Bundle(tu.WithShell(startedScript))
	for _, verb := range []string{"create", "run"} {
		expectError(t, h.R(verb, "--bundle", b2.Dir, id), 1, id, "exist")
	}
	// The first container is untouched.
	if st2 := h.State(id); st2.Status != "running" || st2.Pid != st.Pid || st2.Bundle != b.Dir {
		t.Errorf("first container changed by a duplicate create: %s", st2.Raw())
	}
	h.Delete(id)
	// The id is free again.
	h.RunDetached(id, b2.WithArgsRewrite(t, "sh", "-c", sleeper))
	h.Delete(id)
}

// Errors land in --log as JSON lines {"level":"error","msg":...}: containerd shows the user
// the last of them.
func TestErrorLogJSON(t *testing.T) {
	h := tu.New(t)
	logFile := filepath.Join(tu.TempDir(t, "log"), "log.json")
	id := h.ID("logjson")
	globals := append(h.RT.GlobalArgs(), "--log", logFile, "--log-format", "json")
	r := h.RT.RunCall(t, tu.Call{Globals: globals}, "state", id)
	if r.Code == 0 {
		t.Fatalf("state of an unknown id succeeded: %s", r)
	}
	b := h.Bundle()
	b.WriteRaw([]byte(`{"ociVersion": `))
	r = h.RT.RunCall(t, tu.Call{Globals: globals}, "create", "--bundle", b.Dir, h.ID("logjson2"))
	if r.Code == 0 {
		t.Fatalf("create of a malformed bundle succeeded: %s", r)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("no log file: %v", err)
	}
	var errs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if m["level"] == "error" {
			errs = append(errs, m)
		}
	}
	if len(errs) < 2 {
		t.Fatalf("want an error line per failed call, log:\n%s", data)
	}
	if msg, _ := errs[0]["msg"].(string); !strings.Contains(msg, id) && !strings.Contains(msg, "does not exist") {
		t.Errorf("first error line does not name the problem: %v", errs[0])
	}
	if msg, _ := errs[len(errs)-1]["msg"].(string); msg == "" {
		t.Errorf("last error line has no msg: %v", errs[len(errs)-1])
	}
}

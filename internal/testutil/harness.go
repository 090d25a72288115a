package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// H bundles what an integration test needs: a runtime with its own state root, a leak
// checker registered for the end of the test, bundles and container ids that are cleaned up.
//
// Cleanup order at the end of a test: force-delete every id the test used (a safety net; a
// test should delete its own containers), then the leak check, then the scratch dir removal.
type H struct {
	T     testing.TB
	RT    *Runtime
	Leaks *LeakChecker

	mu  sync.Mutex
	ids []string
	// GC makes the cleanup also run `<runtime> gc` (tenantrun's orphan collector).
	GC bool
}

// New prepares a harness: root is required, the runtime binary must exist.
func New(t testing.TB) *H {
	t.Helper()
	RequireRoot(t)
	h := &H{T: t}
	h.RT = NewRuntime(t) // registers the scratch dir removal first: it runs last
	h.Leaks = NewLeakChecker(LeakScope{StateRoots: []string{h.RT.Root}, Paths: []string{TestBase(t)}})
	if h.RT.PrivateTenant != "" {
		// Its parent cgroup (<parent>/<tenant>) must be gone once the test's containers are.
		h.Leaks.AddID(h.RT.PrivateTenant)
	}
	t.Cleanup(func() { h.Leaks.Check(t) })
	t.Cleanup(h.cleanupContainers)
	return h
}

func (h *H) cleanupContainers() {
	h.mu.Lock()
	ids := append([]string(nil), h.ids...)
	h.mu.Unlock()
	for _, id := range ids {
		if _, err := h.TryState(id); err != nil {
			continue
		}
		r := h.RT.RunCall(h.T, Call{Timeout: 30 * time.Second}, "delete", "--force", id)
		h.T.Logf("cleanup: container %s was left by the test; delete --force: exit %d", id, r.Code)
	}
	if h.GC && !IsRunc() {
		if r := h.RT.RunCall(h.T, Call{Timeout: 30 * time.Second}, "gc"); r.Code != 0 {
			h.T.Logf("cleanup: gc: %s", r)
		}
	}
}

// NewID returns a fresh container id (unique on this machine) and puts it in the leak scope.
func NewID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "trt" + hex.EncodeToString(b)
}

// ID returns a fresh id tagged with name and tracks it (cleanup and leak scope).
func (h *H) ID(name string) string {
	id := NewID()
	if name != "" {
		id += "-" + name
	}
	h.Track(id)
	return id
}

// Track puts an id the test made itself in the cleanup and the leak scope.
func (h *H) Track(ids ...string) {
	h.mu.Lock()
	h.ids = append(h.ids, ids...)
	h.mu.Unlock()
	h.Leaks.AddID(ids...)
}

// Bundle creates a bundle (see NewBundle) and puts its path in the leak scope.
func (h *H) Bundle(opts ...BundleOption) *Bundle {
	h.T.Helper()
	b := NewBundle(h.T, opts...)
	h.Leaks.AddPath(b.Dir)
	return b
}

// UseConfig writes content as the runtime's --config file (tenants, quotas) and
// points the harness's runtime at it.
func (h *H) UseConfig(content string) {
	h.T.Helper()
	cfg := filepath.Join(TempDir(h.T, "cfg"), "config.toml")
	WriteFile(h.T, cfg, content)
	h.RT.Config = cfg
}

// R runs the runtime with the harness's global flags.
func (h *H) R(args ...string) *Result {
	h.T.Helper()
	return h.RT.Run(h.T, args...)
}

// OK runs the runtime and fails the test unless it exits 0.
func (h *H) OK(args ...string) *Result {
	h.T.Helper()
	r := h.RT.Run(h.T, args...)
	if r.Code != 0 {
		h.T.Fatalf("expected success: %s", r)
	}
	return r
}

// Create runs `create --bundle B id` and checks the state says "created".
func (h *H) Create(id string, b *Bundle, extra ...string) {
	h.T.Helper()
	args := append([]string{"create", "--bundle", b.Dir}, extra...)
	h.OK(append(args, id)...)
	st := h.State(id)
	if st.Status != "created" {
		h.T.Fatalf("after create: status %q, want created", st.Status)
	}
	h.Leaks.ObservePID(st.Pid)
}

// RunDetached runs `run -d --bundle B id` and waits for "running".
func (h *H) RunDetached(id string, b *Bundle, extra ...string) State {
	h.T.Helper()
	args := append([]string{"run", "-d", "--bundle", b.Dir}, extra...)
	h.OK(append(args, id)...)
	st := h.WaitStatus(id, "running", 10*time.Second)
	h.Leaks.ObservePID(st.Pid)
	return st
}

// State is the OCI state as the runtime prints it.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
	raw         string
}

// Raw is the JSON as printed.
func (s State) Raw() string { return s.raw }

// State runs `state id` and parses it; it fails the test on any error.
func (h *H) State(id string) State {
	h.T.Helper()
	st, err := h.TryState(id)
	if err != nil {
		h.T.Fatal(err)
	}
	return st
}

// TryState is State without failing.
func (h *H) TryState(id string) (State, error) {
	r := h.RT.Run(h.T, "state", id)
	if r.Code != 0 {
		return State{}, fmt.Errorf("state %s: %s", id, r)
	}
	var st State
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		return State{}, fmt.Errorf("state %s: not JSON: %v\n%s", id, err, r)
	}
	st.raw = r.Stdout
	return st, nil
}

// WaitStatus polls `state` until the status is want.
func (h *H) WaitStatus(id, want string, timeout time.Duration) State {
	h.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := h.TryState(id)
		if err == nil && st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("container %s: status %q (err %v), want %q within %v", id, st.Status, err, want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Exec runs `exec id cmd...` and returns the result.
func (h *H) Exec(id string, cmd ...string) *Result {
	h.T.Helper()
	return h.R(append([]string{"exec", id}, cmd...)...)
}

// ExecWith runs `exec flags... id cmd...` (flags go before the id, as urfave/cli wants).
func (h *H) ExecWith(flags []string, id string, cmd ...string) *Result {
	h.T.Helper()
	args := append(append([]string{"exec"}, flags...), id)
	return h.R(append(args, cmd...)...)
}

// ExecOK is Exec that must succeed; it returns stdout.
func (h *H) ExecOK(id string, args ...string) string {
	h.T.Helper()
	r := h.Exec(id, args...)
	if r.Code != 0 {
		h.T.Fatalf("exec failed: %s", r)
	}
	return r.Stdout
}

// Sh runs `exec id sh -c script` and returns stdout (must succeed).
func (h *H) Sh(id, script string) string {
	h.T.Helper()
	return strings.TrimSpace(h.ExecOK(id, "sh", "-c", script))
}

// Delete runs `delete --force id` and fails the test on error.
func (h *H) Delete(id string) {
	h.T.Helper()
	h.OK("delete", "--force", id)
}

// WaitFile polls (through exec) until path exists inside the container.
func (h *H) WaitFile(id, path string) {
	h.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := h.Exec(id, "test", "-e", path); r.Code == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("container %s: %s did not appear", id, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds one runtime invocation.
var DefaultTimeout = 60 * time.Second

// Runtime runs the runtime binary with a per-test state root.
type Runtime struct {
	Bin    string // the binary (TENANTRUN_BIN, default <repo>/bin/tenantrun)
	Root   string // --root
	Config string // --config (tenantrun only; empty: not passed)
	Tenant string // --tenant (tenantrun only; empty: not passed)
	// PrivateTenant is the tenant of the generated Config (see PrivateTenantConfig), "" if none.
	PrivateTenant string
	Env           []string      // extra environment for every call
	Timeout       time.Duration // per call; 0: DefaultTimeout
	OutDir        string        // where stdout/stderr files go
}

// Result is what one invocation did.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	Code     int            // exit status; -1 when killed by a signal or not started
	Signal   syscall.Signal // the signal that killed it, 0 otherwise
	TimedOut bool
	Duration time.Duration
	MaxRSSKB int64 // peak resident memory of the runtime process
	Err      error // start error, if any
}

// String summarises a result for failure messages.
func (r *Result) String() string {
	s := fmt.Sprintf("%s -> exit %d", strings.Join(r.Args, " "), r.Code)
	if r.Signal != 0 {
		s += fmt.Sprintf(" (signal %v)", r.Signal)
	}
	if r.TimedOut {
		s += " (TIMED OUT)"
	}
	if r.Err != nil {
		s += fmt.Sprintf(" (err %v)", r.Err)
	}
	return s + fmt.Sprintf(" in %v\nstdout: %q\nstderr: %q", r.Duration.Round(time.Millisecond), clip(r.Stdout), clip(r.Stderr))
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:1000] + " … " + s[len(s)-1000:]
	}
	return s
}

// Panicked reports whether the runtime's output shows a Go panic or a goroutine dump.
func (r *Result) Panicked() bool {
	for _, s := range []string{r.Stdout, r.Stderr} {
		if strings.Contains(s, "panic:") || strings.Contains(s, "goroutine ") || strings.Contains(s, "runtime error:") {
			return true
		}
	}
	return false
}

// BinPath is the runtime under test: $TENANTRUN_BIN or <repo>/bin/tenantrun.
func BinPath() string {
	if b := os.Getenv("TENANTRUN_BIN"); b != "" {
		return b
	}
	return filepath.Join(RepoRoot(), "bin", "tenantrun")
}

// FailpointBinPath is the binary built with -tags failpoints (make build-failpoints), the
// one a call that sets TENANTRUN_FAILPOINT runs: the product binary has no failpoints.
// $TENANTRUN_FAILPOINT_BIN overrides it.
func FailpointBinPath() string {
	if b := os.Getenv("TENANTRUN_FAILPOINT_BIN"); b != "" {
		return b
	}
	return filepath.Join(RepoRoot(), "bin", "tenantrun-failpoints")
}

// failpointCall says whether env asks for a failpoint.
func failpointCall(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "TENANTRUN_FAILPOINT=") {
			return true
		}
	}
	return false
}

var (
	kindOnce sync.Once
	isRunc   bool
)

// IsRunc reports whether the binary under test is runc (a baseline: no --config/--tenant,
// no tenant policy).
func IsRunc() bool {
	kindOnce.Do(func() {
		bin := BinPath()
		if filepath.Base(bin) == "runc" {
			isRunc = true
			return
		}
		out, _ := exec.Command(bin, "--version").Output()
		isRunc = strings.HasPrefix(string(out), "runc version")
	})
	return isRunc
}

// TenantrunOnly skips a test that checks tenantrun's policy when the binary is runc. It never
// fails under CI: running the suite against runc is a deliberate baseline choice, not a missing
// prerequisite.
func TenantrunOnly(t testing.TB) {
	t.Helper()
	if IsRunc() {
		t.Skip("checks tenantrun's policy; the binary under test is runc")
	}
}

// NewRuntime returns a runner for BinPath() with a fresh state root under the test's base dir.
// --config and --tenant come from $TENANTRUN_TEST_CONFIG and $TENANTRUN_TEST_TENANT.
func NewRuntime(t testing.TB) *Runtime {
	t.Helper()
	bin := BinPath()
	st, err := os.Stat(bin)
	Require(t, err == nil && st.Mode()&0o111 != 0, "runtime binary "+bin+" (run `make build`, or set TENANTRUN_BIN)")
	r := &Runtime{Bin: bin, Root: TempDir(t, "state"), OutDir: TempDir(t, "out")}
	if !IsRunc() {
		r.Config = os.Getenv("TENANTRUN_TEST_CONFIG")
		r.Tenant = os.Getenv("TENANTRUN_TEST_TENANT")
		if r.Config == "" && os.Getenv("TENANTRUN_TEST_PRIVATE_TENANT") != "0" {
			r.PrivateTenant = NewID() + "-tenant"
			r.Config = filepath.Join(TempDir(t, "cfg"), "config.toml")
			if err := os.WriteFile(r.Config, []byte(PrivateTenantConfig(r.PrivateTenant)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
}

// PrivateTenantConfig is tenantrun's built-in configuration (one tenant, uid/gid range
// 1000000:65536, default quota, foreign_idmap override, fallback for every bundle) under
// another tenant name. Tests use it so that their containers get exactly the default policy
// while their tenant parent cgroup and its aggregate quota are their own: on a shared machine
// someone else's containers can fill the "default" tenant's pids or memory.
func PrivateTenantConfig(name string) string {
	return fmt.Sprintf("[defaults]\nfallback_tenant = %q\n[tenants.%q]\nuid_range = \"1000000:65536\"\nforeign_idmap = \"override\"\n", name, name)
}

// SystemdCgroupEnv selects the systemd cgroup driver for every call: "1" adds
// --systemd-cgroup to GlobalArgs (hack/vm runs the suites both ways on a systemd host).
const SystemdCgroupEnv = "TENANTRUN_TEST_SYSTEMD_CGROUP"

// SystemdCgroup reports whether the tests drive the runtime with --systemd-cgroup.
func SystemdCgroup() bool { return os.Getenv(SystemdCgroupEnv) == "1" }

// GlobalArgs are the global flags put before the verb.
func (r *Runtime) GlobalArgs() []string {
	a := []string{"--root", r.Root}
	if SystemdCgroup() {
		a = append(a, "--systemd-cgroup")
	}
	if r.Config != "" {
		a = append(a, "--config", r.Config)
	}
	if r.Tenant != "" {
		a = append(a, "--tenant", r.Tenant)
	}
	return a
}

// Call describes one invocation beyond its arguments.
type Call struct {
	Stdin   io.Reader
	Env     []string
	Timeout time.Duration
	Dir     string
	// Globals replaces GlobalArgs() when non-nil.
	Globals []string
	// Stdio, when set, is the runtime's stdin, stdout and stderr (e.g. a pty slave); Stdout
	// and Stderr of the result stay empty then.
	Stdio *os.File
	// OnStart, when set, is called with the runtime's process once it has started (to signal
	// it while it runs); the call still waits for it to exit.
	OnStart func(p *os.Process)
	// ExtraFiles are passed to the runtime as fds 3, 4, ... (as an engine passes
	// descriptors for --preserve-fds).
	ExtraFiles []*os.File
}

// Run runs `bin <globals> args...` and waits for it (bounded by the timeout). Stdout and
// stderr go to files, not pipes, so a container that inherits them (create, run -d) does not
// keep the call from returning.
func (r *Runtime) Run(t testing.TB, args ...string) *Result {
	t.Helper()
	return r.RunCall(t, Call{}, args...)
}

// RunCall is Run with stdin, extra environment or another timeout.
func (r *Runtime) RunCall(t testing.TB, c Call, args ...string) *Result {
	t.Helper()
	globals := c.Globals
	if globals == nil {
		globals = r.GlobalArgs()
	}
	full := append(append([]string(nil), globals...), args...)
	bin := r.Bin
	if failpointCall(c.Env) && !IsRunc() {
		bin = FailpointBinPath()
		if _, err := os.Stat(bin); err != nil {
			Require(t, false, fmt.Sprintf("%s (make build-failpoints): a call with TENANTRUN_FAILPOINT needs the failpoints build", bin))
		}
	}
	res := &Result{Args: append([]string{filepath.Base(bin)}, full...), Code: -1}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = r.Timeout
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	outDir := r.OutDir
	if outDir == "" {
		outDir = os.TempDir()
	}
	stdout, err := os.CreateTemp(outDir, "stdout-")
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.CreateTemp(outDir, "stderr-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdout.Close()
		stderr.Close()
		os.Remove(stdout.Name())
		os.Remove(stderr.Name())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Stdin = c.Stdin
	if c.Stdio != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdio, c.Stdio, c.Stdio
	}
	cmd.Dir = c.Dir
	cmd.ExtraFiles = c.ExtraFiles
	cmd.Env = append(append(os.Environ(), r.Env...), c.Env...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Start()
	if err == nil {
		if c.OnStart != nil {
			c.OnStart(cmd.Process)
		}
		err = cmd.Wait()
	}
	res.Duration = time.Since(start)
	if ctx.Err() == context.DeadlineExceeded {
		res.TimedOut = true
	}
	if cmd.ProcessState != nil {
		res.Code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSSKB = ru.Maxrss
		}
	} else if err != nil {
		res.Err = err
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && res.Err == nil && !res.TimedOut {
		res.Err = err
	}
	res.Stdout = readAll(stdout.Name())
	res.Stderr = readAll(stderr.Name())
	return res
}

// RunStdin runs with data on stdin.
func (r *Runtime) RunStdin(t testing.TB, stdin []byte, args ...string) *Result {
	t.Helper()
	return r.RunCall(t, Call{Stdin: bytes.NewReader(stdin)}, args...)
}

func readAll(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

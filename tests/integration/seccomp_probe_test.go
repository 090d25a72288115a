package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// The calls hack/rootfs/probe tries; issue 6 requires every one to fail in a tenant container.
var probeCalls = []string{
	"mount", "umount2", "unshare", "setns", "ptrace", "bpf", "keyctl", "add_key", "kexec_load",
	"init_module", "finit_module", "perf_event_open", "userfaultfd", "io_uring_setup",
	"open_by_handle_at", "clone_newuser", "socket_af_packet", "personality_linux32", "clone3",
	"int80_getpid", "x32_getpid",
}

// probeBinary builds (make; cheap when up to date) the static probe and returns its path.
func probeBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(tu.RepoRoot(), "hack", "rootfs", "probe")
	out, err := exec.Command("make", "-s", "-C", dir).CombinedOutput()
	tu.Require(t, err == nil, "building the static probe (gcc, libc6-dev for libc.a): "+strings.TrimSpace(string(out)))
	return filepath.Join(dir, "tenantrun-probe")
}

// probeLines maps NAME -> the rest of its line ("denied EPERM", "ALLOWED (...)").
func probeLines(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.Contains(k, " ") {
			m[k] = v
		}
	}
	return m
}

func checkAllDenied(t *testing.T, out string) {
	t.Helper()
	lines := probeLines(out)
	for _, c := range probeCalls {
		v, ok := lines[c]
		switch {
		case !ok:
			t.Errorf("probe printed no line for %s", c)
		case !strings.HasPrefix(v, "denied"):
			t.Errorf("%s: %s, want denied", c, v)
		}
	}
	// clone3 must fail with ENOSYS (so libc falls back to clone), not EPERM.
	if v := lines["clone3"]; v != "denied ENOSYS" {
		t.Errorf("clone3: %q, want \"denied ENOSYS\"", v)
	}
}

// TestSeccompProbeInContainer: under the default (web) profile every dangerous call the probe
// tries fails inside a tenant container, and the container's init really has a filter.
func TestSeccompProbeInContainer(t *testing.T) {
	probe := probeBinary(t)
	h := tu.New(t)
	tu.TenantrunOnly(t)
	b := h.Bundle(tu.WithShell("grep -E '^Seccomp' /proc/self/status; exec /usr/local/bin/tenantrun-probe"))
	if err := os.MkdirAll(filepath.Join(b.Rootfs(), "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	tu.CopyFile(t, probe, filepath.Join(b.Rootfs(), "usr/local/bin/tenantrun-probe"), 0o755)
	id := h.ID("probe")
	r := h.RT.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
	t.Logf("probe in container:\n%s", r.Stdout)
	defer h.R("delete", "--force", id)
	if r.Code != 0 {
		t.Errorf("probe exit %d (non-zero: something was allowed, or the run failed)\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stdout, "Seccomp:\t2") {
		t.Errorf("container process is not in seccomp filter mode:\n%s", r.Stdout)
	}
	checkAllDenied(t, r.Stdout)
}

// TestSeccompProbeDetectsUnconfined: the probe itself can tell an allowed call from a denied one
// (run unconfined as host root, its calls reach the kernel and are reported ALLOWED). Its
// arguments are chosen so that nothing happens when they do.
func TestSeccompProbeDetectsUnconfined(t *testing.T) {
	tu.RequireRoot(t)
	probe := probeBinary(t)
	out, err := exec.Command(probe).CombinedOutput()
	if err == nil {
		t.Fatalf("unconfined probe exited 0; it cannot detect allowed calls:\n%s", out)
	}
	lines := probeLines(string(out))
	for _, c := range []string{"mount", "unshare", "setns", "socket_af_packet", "personality_linux32", "clone_newuser"} {
		if !strings.HasPrefix(lines[c], "ALLOWED") {
			t.Errorf("unconfined %s: %q, want ALLOWED", c, lines[c])
		}
	}
}

// TestSeccompToolEnforceProbe: `tenantrun seccomp test --enforce web` on the host, as root
// (which holds every capability): every call is still denied, so the denial is the profile's
// doing, not a missing capability; and the tool names each denied syscall.
func TestSeccompToolEnforceProbe(t *testing.T) {
	tu.RequireRoot(t)
	tu.TenantrunOnly(t)
	probe := probeBinary(t)
	bin := tu.BinPath()
	tu.RequireFile(t, bin, "runtime binary (make build)")
	if out, err := exec.Command(bin, "seccomp", "list").CombinedOutput(); err != nil {
		tu.Require(t, false, "the binary has no `seccomp` command (cmd/tenantrun main.go must list seccompCommand): "+strings.TrimSpace(string(out)))
	}
	cmd := exec.Command(bin, "seccomp", "test", "--enforce", "web", "--", probe)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Errorf("seccomp test --enforce web -- probe: %v", err)
	}
	checkAllDenied(t, string(out))
	for _, name := range []string{"mount", "umount2", "unshare", "setns", "ptrace", "bpf", "keyctl", "add_key",
		"kexec_load", "init_module", "finit_module", "perf_event_open", "userfaultfd", "io_uring_setup",
		"open_by_handle_at", "clone", "socket", "personality", "clone3"} {
		found := false
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == name {
				found = true
			}
		}
		if !found {
			t.Errorf("the report does not list %s as denied", name)
		}
	}
	// Audit mode lets the calls through (and still reports them): the probe then fails.
	out, err = exec.Command(bin, "seccomp", "test", "web", "--", probe).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "would be denied") {
		t.Errorf("audit mode: want the probe to see allowed calls and a report, got err=%v\n%s", err, out)
	}
}

// TestSeccompProfilePerTenant: the tenant's seccomp_profile is what the container gets:
// "strict" denies everything the probe tries; "web-audit" (web with SCMP_ACT_LOG as default)
// lets the probe's calls reach the kernel, and the kernel logs them (read back with
// `tenantrun seccomp log`; the kernel's printk rate limit may drop records, so that part
// only logs).
func TestSeccompProfilePerTenant(t *testing.T) {
	probe := probeBinary(t)
	tu.TenantrunOnly(t)
	h := tu.New(t)
	h.UseConfig(`
[tenants.sstrict]
uid_range = "3100000:65536"
seccomp_profile = "strict"
[tenants.saudit]
uid_range = "3200000:65536"
seccomp_profile = "web-audit"
`)
	b := h.Bundle(tu.WithArgs("/usr/local/bin/tenantrun-probe"))
	if err := os.MkdirAll(filepath.Join(b.Rootfs(), "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	tu.CopyFile(t, probe, filepath.Join(b.Rootfs(), "usr/local/bin/tenantrun-probe"), 0o755)

	run := func(tenant string) *tu.Result {
		rt := *h.RT
		rt.Tenant = tenant
		id := h.ID(tenant)
		r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
		rt.Run(t, "delete", "--force", id)
		return r
	}

	r := run("sstrict")
	if r.Code != 0 {
		t.Errorf("strict: probe exit %d\n%s", r.Code, r)
	}
	checkAllDenied(t, r.Stdout)

	since := time.Now()
	r = run("saudit")
	if r.Code == 0 {
		t.Fatalf("web-audit: the probe found nothing allowed; the audit profile was not applied\n%s", r)
	}
	lines := probeLines(r.Stdout)
	for _, c := range []string{"setns", "unshare", "umount2", "bpf"} {
		if !strings.HasPrefix(lines[c], "ALLOWED") {
			t.Errorf("web-audit: %s: %q, want ALLOWED (logged, not denied)", c, lines[c])
		}
	}
	// explicit deny rules stay in force in audit mode
	if lines["clone3"] != "denied ENOSYS" {
		t.Errorf("web-audit: clone3 %q, want denied ENOSYS", lines["clone3"])
	}
	out, err := exec.Command(h.RT.Bin, "seccomp", "log", "--since", (time.Since(since) + 2*time.Second).Round(time.Second).String()).CombinedOutput()
	if err != nil {
		t.Logf("seccomp log: %v %s", err, out)
	} else if !strings.Contains(string(out), "comm=tenantrun-probe") {
		t.Logf("seccomp log shows no record of the probe (kernel rate limit?):\n%s", out)
	} else {
		t.Logf("seccomp log:\n%s", out)
	}
}

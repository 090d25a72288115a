package security

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 8 (docs/security.md): no mode lowers the floor. A tenant in audit mode runs
// in its own user namespace inside its range (never host 0), under seccomp, with
// no_new_privs and nosuid, and a bundle enforce refuses is refused.
func TestAuditModeKeepsTheFloor(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	logDir := tu.TestBase(t) + "/auditlog"
	h.UseConfig(`
[defaults]
audit_log = "` + logDir + `/audit.jsonl"
[tenants.canary]
uid_range = "3300000:65536"
mode = "audit"
`)
	rt := *h.RT
	rt.Tenant = "canary"
	b := h.Bundle(tu.WithShell(`cat /proc/self/uid_map; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; touch /rootfs-write && echo ROOT-WRITABLE`),
		tu.WithSpec(func(s *specs.Spec) { s.Process.Capabilities = nil; s.Root.Readonly = false }))
	id := h.ID("canary")
	r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
	rt.Run(t, "delete", "--force", id)
	if r.Code != 0 {
		t.Fatalf("audit-mode run: %s", r)
	}
	f := strings.Fields(strings.SplitN(r.Stdout, "\n", 2)[0])
	if len(f) != 3 || f[0] != "0" || f[1] != "3300000" {
		t.Errorf("uid_map %q: want the tenant's range (0 3300000 65536)", f)
	}
	if !strings.Contains(r.Stdout, "Seccomp:\t2") || !strings.Contains(r.Stdout, "NoNewPrivs:\t1") {
		t.Errorf("audit mode ran without seccomp or no_new_privs:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "ROOT-WRITABLE") {
		t.Errorf("audit mode should keep the bundle's writable root (a relaxation above the floor):\n%s", r.Stdout)
	}
	// A bundle enforce refuses (a host namespace, a dangerous capability) is refused.
	for name, mut := range map[string]func(*specs.Spec){
		"host pid namespace": func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.PIDNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		},
		"CAP_SYS_ADMIN": func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		},
	} {
		b := h.Bundle(tu.WithShell("echo STARTED"), tu.WithSpec(mut))
		id := h.ID("canary-bad")
		r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
		if r.Code == 0 || strings.Contains(r.Stdout, "STARTED") || !strings.Contains(r.Stderr, "refused:") {
			t.Errorf("%s in audit mode: want refused, got %s", name, r)
		}
	}
	// An audit log that cannot be written refuses the create.
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logDir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	id = h.ID("canary-nolog")
	b = h.Bundle(tu.WithShell("echo STARTED"))
	r = rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
	if r.Code == 0 || strings.Contains(r.Stdout, "STARTED") || !strings.Contains(r.Stderr, "audit log") {
		t.Errorf("unwritable audit log: want the create refused naming the audit log, got %s", r)
	}
}

// Invariant 2 (docs/security.md): config.json is read once, never through a symlink, never
// a FIFO or device, never a file with other links; a refusal never echoes a host file.
func TestConfigJSONIsNeverFollowed(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	secret := filepath.Join(tu.TestBase(t), "secret.json")
	if err := os.WriteFile(secret, []byte(`{"db_password_is_hunter2": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(cfg string) error{
		"symlink to a host file": func(cfg string) error { return os.Symlink(secret, cfg) },
		"relative symlink":       func(cfg string) error { return os.Symlink("../../"+filepath.Base(secret), cfg) },
		"hard link":              func(cfg string) error { return os.Link(secret, cfg) },
		"fifo":                   func(cfg string) error { return mkfifo(cfg) },
		"directory":              func(cfg string) error { return os.Mkdir(cfg, 0o755) },
	} {
		b := h.Bundle(tu.WithShell("echo STARTED"))
		cfg := b.ConfigPath()
		if err := os.Remove(cfg); err != nil {
			t.Fatal(err)
		}
		if err := plant(cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		id := h.ID("cfg")
		r := h.RT.RunCall(t, tu.Call{Timeout: 15 * time.Second}, "run", "--bundle", b.Dir, id)
		if r.Code == 0 || strings.Contains(r.Stdout, "STARTED") || r.Duration > 10*time.Second {
			t.Errorf("%s: want a prompt refusal, got %s", name, r)
		}
		if strings.Contains(r.Stderr, "hunter2") {
			t.Errorf("%s: the refusal echoed the host file: %s", name, r.Stderr)
		}
		if !strings.Contains(r.Stderr, "config.json") {
			t.Errorf("%s: the error does not name config.json: %s", name, r.Stderr)
		}
		_ = os.RemoveAll(cfg)
	}
}

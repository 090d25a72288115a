package integration

import (
	"strings"
	"testing"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// TestDefaultPolicyApplied runs one container with no --config at all (the built-in
// configuration and its "default" tenant, as `make demo` does) and checks from inside that the
// hardening is in force: user namespace with the tenant's range, read-only root, writable /tmp,
// seccomp filter, no_new_privs, no inheritable or ambient capabilities.
func TestDefaultPolicyApplied(t *testing.T) {
	tu.TenantrunOnly(t)
	for _, builtin := range []bool{true, false} {
		name := "private-tenant"
		if builtin {
			name = "builtin-config"
		}
		t.Run(name, func(t *testing.T) {
			h := tu.New(t)
			if builtin {
				h.RT.Config = "/nonexistent/tenantrun-test/config.toml" // missing file: built-in defaults
			}
			b := h.Bundle(tu.WithShell(`cat /proc/self/uid_map; ` +
				`touch /rootfs-write 2>/dev/null && echo ROOT-WRITABLE; ` +
				`touch /tmp/x && echo TMP-OK; ` +
				`grep -E '^(Seccomp|NoNewPrivs|CapInh|CapAmb):' /proc/self/status`))
			id := h.ID("policy")
			r := h.R("run", "--bundle", b.Dir, id)
			if r.Code != 0 {
				t.Fatalf("run under the default policy: %s", r)
			}
			out := r.Stdout
			fields := strings.Fields(strings.SplitN(out, "\n", 2)[0])
			if len(fields) != 3 || fields[0] != "0" || fields[1] == "0" {
				t.Errorf("uid_map %q: want container root mapped to an unprivileged host range", fields)
			}
			if builtin && (len(fields) != 3 || fields[1] != "1000000") {
				t.Errorf("built-in tenant uid_map %q, want 0 1000000 65536", fields)
			}
			for _, want := range []string{"TMP-OK", "Seccomp:\t2", "NoNewPrivs:\t1", "CapInh:\t0000000000000000", "CapAmb:\t0000000000000000"} {
				if !strings.Contains(out, want) {
					t.Errorf("inside the container: %q missing from\n%s", want, out)
				}
			}
			if strings.Contains(out, "ROOT-WRITABLE") {
				t.Errorf("the root filesystem is writable")
			}
			_ = h.R("delete", "--force", id)
		})
	}
}

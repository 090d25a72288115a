package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
	"github.com/tenantrun/tenantrun/runtime/apparmor"
)

const appArmorConfig = `
[tenants.aa]
uid_range = "3400000:65536"
apparmor_profile = "tenantrun-default"

[tenants.plain]
uid_range = "3500000:65536"

[tenants.missing]
uid_range = "3600000:65536"
apparmor_profile = "tenantrun-no-such-profile"
`

// The probe: the process's own AppArmor label, then a copy of busybox in the /tmp
// scratch tmpfs (which is exec-able) run from there.
const appArmorProbe = `cat /proc/self/attr/apparmor/current 2>/dev/null || cat /proc/self/attr/current
cp /bin/busybox /tmp/busybox && echo COPIED
/tmp/busybox true && echo EXEC-OK || echo EXEC-DENIED`

// TestAppArmorDefaultProfile: a tenant with apparmor_profile = "tenantrun-default" runs
// confined by the profile tenantrun ships and loads itself, in the container's process
// and in an exec'd one; the profile denies exec from the /tmp scratch, which the same
// container without the profile may do, so the denial is the profile's alone. A profile
// that is not loaded is refused before anything starts.
//
// It needs a host with AppArmor: `make test-vm` runs it in the guest, which sets
// TENANTRUN_TEST_REQUIRE_APPARMOR=1 so that it fails there instead of skipping. On a
// host without AppArmor it shows the other half: a tenant's profile is refused, naming
// the field.
func TestAppArmorDefaultProfile(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	h.UseConfig(appArmorConfig)
	if !apparmor.Enabled() { // what the runtime itself asks (libcontainer's check)
		if os.Getenv("TENANTRUN_TEST_REQUIRE_APPARMOR") == "1" {
			t.Fatal("TENANTRUN_TEST_REQUIRE_APPARMOR=1 but this host does not enforce AppArmor")
		}
		h.RT.Tenant = "aa"
		b := h.Bundle(tu.WithShell("echo ran"))
		id := h.ID("aa-nohost")
		r := h.R("run", "--bundle", b.Dir, id)
		if r.Code == 0 || !strings.Contains(r.Stderr, "process.apparmorProfile") || !strings.Contains(r.Stderr, "needs AppArmor, which this host does not enforce") {
			t.Fatalf("no AppArmor here: a tenant's profile must be refused naming process.apparmorProfile: %s", r)
		}
		t.Skip("the enforcing half needs AppArmor: make test-vm runs it (the refusal on a host without AppArmor passed)")
	}

	b := h.Bundle(tu.WithShell(appArmorProbe))
	h.RT.Tenant = "plain"
	r := h.OK("run", "--bundle", b.Dir, h.ID("aa-plain"))
	if !strings.Contains(r.Stdout, "unconfined") || !strings.Contains(r.Stdout, "EXEC-OK") {
		t.Fatalf("without a profile the copy in /tmp runs (the control): %s", r)
	}

	h.RT.Tenant = "aa"
	r = h.OK("run", "--bundle", b.Dir, h.ID("aa-default"))
	if !strings.Contains(r.Stdout, "tenantrun-default (enforce)") {
		t.Fatalf("the container's process is not under tenantrun-default: %s", r)
	}
	if !strings.Contains(r.Stdout, "COPIED") || !strings.Contains(r.Stdout, "EXEC-DENIED") || strings.Contains(r.Stdout, "EXEC-OK") {
		t.Fatalf("tenantrun-default must let /tmp be written and deny executing from it: %s", r)
	}
	if out, err := exec.Command("sh", "-c", "grep -h 'tenantrun-default (enforce)' /sys/kernel/security/apparmor/profiles").CombinedOutput(); err != nil {
		t.Fatalf("the kernel does not list tenantrun-default: %v %s", err, out)
	}

	// An exec'd process is confined too.
	db := h.Bundle(tu.WithShell("exec sleep 1000"))
	id := h.ID("aa-exec")
	h.RunDetached(id, db)
	ex := h.Exec(id, "sh", "-c", appArmorProbe)
	if ex.Code != 0 || !strings.Contains(ex.Stdout, "tenantrun-default (enforce)") || !strings.Contains(ex.Stdout, "EXEC-DENIED") {
		t.Fatalf("exec: want the process under tenantrun-default and exec from /tmp denied: %s", ex)
	}
	h.OK("delete", "--force", id)
	if out, err := exec.Command("sh", "-c", `dmesg 2>/dev/null | grep 'apparmor="DENIED"' | grep 'profile="tenantrun-default"' | tail -n 3`).CombinedOutput(); err == nil && len(out) > 0 {
		t.Logf("kernel log:\n%s", out)
	}

	// A profile the host does not have: refused before anything is set up.
	h.RT.Tenant = "missing"
	r = h.R("run", "--bundle", b.Dir, h.ID("aa-missing"))
	if r.Code == 0 || !strings.Contains(r.Stderr, "process.apparmorProfile") || !strings.Contains(r.Stderr, `"tenantrun-no-such-profile" is not loaded on this host`) {
		t.Fatalf("a profile that is not loaded must be refused naming the field: %s", r)
	}
}

package runtime

import (
	"strings"
	"testing"

	"github.com/opencontainers/cgroups/systemd"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

// With the systemd driver a container's cgroupsPath names its tenant's slice; for a tenant
// with "-" in its name that slice must be the tenant parent tenantrun creates (same
// escaping), not a slice nested in another tenant's.
func TestSystemdContainerUnderTenantSlice(t *testing.T) {
	for _, tenant := range []string{"t1", "a-b", "a-b-c"} {
		cfg := &hardening.Config{Defaults: hardening.Defaults{CgroupParent: "tenantrun"}}
		ten := &hardening.Tenant{Name: tenant}
		slice, _, _ := strings.Cut(hardening.CgroupsPath(cfg, ten, "c1", true), ":")
		parent := tenantParentOf(cfg, ten, true)
		if slice != parent {
			t.Errorf("tenant %q: container slice %q, tenant parent %q", tenant, slice, parent)
		}
		got, err := systemd.ExpandSlice(slice)
		want, _ := tenantcg.ParentInner(parent, true)
		if err != nil || got != want {
			t.Errorf("tenant %q: slice %q expands to %q (%v), want %q", tenant, slice, got, err, want)
		}
		if strings.Count(got, "/") != 2 {
			t.Errorf("tenant %q: %q is not a direct child of the top slice", tenant, got)
		}
	}
}

// Orphan cleanup (cleanupRecord) derives a systemd container's scope unit from the
// recorded cgroupsPath as libcontainer does, so the unit it stops is the one create
// started (tenant in the name, finding 7), and a record without the tenant in its prefix
// (before that change, when two tenants' ids could share a unit) is left alone.
func TestCgroupConfigOfRecordedPath(t *testing.T) {
	cfg := &hardening.Config{Defaults: hardening.Defaults{CgroupParent: "tenantrun"}}
	for _, tenant := range []string{"t1", "a-b"} {
		p := hardening.CgroupsPath(cfg, &hardening.Tenant{Name: tenant}, "c1", true)
		cg, err := cgroupConfigOf(p, true, tenant)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if cg.Path != "" || cg.Parent != tenantcg.SliceName("tenantrun", tenant) || cg.Name != "c1" {
			t.Errorf("%s: %+v", p, cg)
		}
		// libcontainer's getUnitName.
		if got, want := cg.ScopePrefix+"-"+cg.Name+".scope", hardening.SystemdScopeUnit("tenantrun", tenant, "c1"); got != want {
			t.Errorf("%s: unit %q, want %q", p, got, want)
		}
		if _, err := cgroupConfigOf(p, true, "other"); err == nil {
			t.Errorf("%s accepted for another tenant", p)
		}
	}
	for _, p := range []string{"tenantrun-t1.slice:tenantrun:c1", "tenantrun-t1.slice:c1", "/tenantrun/t1/c1", "::"} {
		if cg, err := cgroupConfigOf(p, true, "t1"); err == nil {
			t.Errorf("%q accepted: %+v", p, cg)
		}
	}
	if cg, err := cgroupConfigOf("/tenantrun/t1/c1", false, "t1"); err != nil || cg.Path != "/tenantrun/t1/c1" || cg.Systemd {
		t.Errorf("cgroupfs: %+v %v", cg, err)
	}
}

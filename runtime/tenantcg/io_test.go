package tenantcg

import (
	"testing"

	"github.com/tenantrun/tenantrun/hardening"
)

// The tenant's aggregate I/O throttles go to its parent on every device this create
// found, only for the limits it has (v2's io.max refuses a rate of 0), and the limits stay
// comparable, so an unchanged parent is still skipped by its stamp.
func TestTenantLimitsIO(t *testing.T) {
	tn := &hardening.Tenant{Quota: hardening.Quota{Memory: 1 << 30, Pids: 100, CPUs: 1, IOWriteBPS: 12 << 20, IOReadIOPS: 500, IOWeight: 300}}
	devs := []hardening.BlockDev{{Major: 254, Minor: 0, Name: "vda"}, {Major: 7, Minor: 3, Name: "loop3"}, {Major: 7, Minor: 3, Name: "loop3"}}
	l := TenantLimits(tn, devs)
	if l.IO.Devices != "254:0,7:3" || l.BlkioWeight != 300 {
		t.Fatalf("%+v", l)
	}
	if l != TenantLimits(tn, devs[1:]) && l == TenantLimits(tn, devs[:1]) {
		t.Fatal("limits do not compare by their devices")
	}
	r := tenantResources(l, false)
	if len(r.BlkioThrottleWriteBpsDevice) != 2 || len(r.BlkioThrottleReadIOPSDevice) != 2 || len(r.BlkioThrottleReadBpsDevice) != 0 || len(r.BlkioThrottleWriteIOPSDevice) != 0 {
		t.Fatalf("throttles %+v", r)
	}
	if d := r.BlkioThrottleWriteBpsDevice[0]; d.Major != 254 || d.Minor != 0 || d.Rate != 12<<20 {
		t.Fatalf("%+v", d)
	}
	if r.BlkioWeight != 0 {
		t.Fatal("a weight written where no weight file exists")
	}
	// No I/O keys: nothing about I/O.
	tn.Quota = hardening.Quota{Memory: 1 << 30}
	if l := TenantLimits(tn, devs); l.IO != (IOLimits{}) || len(tenantResources(l, true).BlkioThrottleWriteBpsDevice) != 0 {
		t.Fatalf("%+v", l)
	}
}

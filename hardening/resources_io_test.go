package hardening

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const ioTenantTOML = `
[tenants.a]
uid_range = "100000:65536"
[tenants.a.quota]
io_read_bps = "40M"
io_write_bps = "20M"
io_read_iops = 2000
io_write_iops = 1000
io_weight = 200
[tenants.a.container]
io_write_bps = "10M"
`

func TestIOQuotaKeys(t *testing.T) {
	c, err := ParseConfig([]byte(ioTenantTOML))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Tenants["a"]
	want := Quota{IOReadBPS: 40 << 20, IOWriteBPS: 20 << 20, IOReadIOPS: 2000, IOWriteIOPS: 1000, IOWeight: 200}
	if q := a.Quota; q.IOReadBPS != want.IOReadBPS || q.IOWriteBPS != want.IOWriteBPS || q.IOReadIOPS != want.IOReadIOPS || q.IOWriteIOPS != want.IOWriteIOPS || q.IOWeight != want.IOWeight {
		t.Fatalf("quota %+v", q)
	}
	// The container table inherits what it does not set, as with every other key.
	if q := a.Container; q.IOWriteBPS != 10<<20 || q.IOReadBPS != 40<<20 || q.IOWriteIOPS != 1000 {
		t.Fatalf("container %+v", q)
	}
	if !a.Container.HasIOLimits() || (Quota{}).HasIOLimits() {
		t.Fatal("HasIOLimits")
	}
	// No I/O key: not limited (unlike memory, I/O has no built-in default).
	c, _ = ParseConfig([]byte("[tenants.b]\nuid_range = \"100000:65536\""))
	if c.Tenants["b"].Quota.HasIOLimits() {
		t.Fatal("a tenant without io keys is limited")
	}

	bad := []struct{ name, toml, want string }{
		{"container above tenant", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\nio_write_bps = \"10M\"\n[tenants.a.container]\nio_write_bps = \"20M\"", "tenants.a.container.io_write_bps"},
		{"rate too small", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\nio_read_bps = 100", "tenants.a.quota.io_read_bps"},
		{"rate not a size", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\nio_read_bps = \"fast\"", "tenants.a.quota.io_read_bps"},
		{"iops zero", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\nio_write_iops = 0", "tenants.a.quota.io_write_iops"},
		{"weight range", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\nio_weight = 5000", "tenants.a.quota.io_weight"},
		{"weight per container", "[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.container]\nio_weight = 100", "tenants.a.container.io_weight"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(b.toml))
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("want an error naming %q, got %v", b.want, err)
			}
		})
	}
}

func throttle(major, minor int64, rate uint64) specs.LinuxThrottleDevice {
	return specs.LinuxThrottleDevice{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: rate}
}

// The invariant: no throttle in the result is above the tenant's rate or 0 (no limit),
// whatever the bundle asked, and the input is not changed.
func TestBlockIOClampedNeverAbove(t *testing.T) {
	c, err := ParseConfig([]byte(ioTenantTOML))
	if err != nil {
		t.Fatal(err)
	}
	tn := c.Tenants["a"]
	in := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{throttle(7, 0, 1<<40), throttle(8, 0, 0), throttle(254, 0, 1<<20)},
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{throttle(7, 0, 1<<40)},
		ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{throttle(7, 0, 0)},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{throttle(7, 0, 999999)},
	}}
	for _, f := range []func(*specs.LinuxResources, *Tenant) (*specs.LinuxResources, []Decision){ClampResources, ClampUpdate} {
		out, ds := f(in, tn)
		b := out.BlockIO
		check := func(name string, l []specs.LinuxThrottleDevice, max uint64) {
			for _, d := range l {
				if d.Rate == 0 || d.Rate > max {
					t.Errorf("%s %d:%d rate %d above the tenant's %d", name, d.Major, d.Minor, d.Rate, max)
				}
			}
		}
		check("write bps", b.ThrottleWriteBpsDevice, 10<<20)
		check("read bps", b.ThrottleReadBpsDevice, 40<<20)
		check("read iops", b.ThrottleReadIOPSDevice, 2000)
		check("write iops", b.ThrottleWriteIOPSDevice, 1000)
		if b.ThrottleWriteBpsDevice[2].Rate != 1<<20 {
			t.Errorf("a lower throttle was changed: %d", b.ThrottleWriteBpsDevice[2].Rate)
		}
		n := 0
		for _, d := range ds {
			if d.Action == ActionClamp && strings.Contains(d.Path, "blockIO") {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d clamp decisions, want 5: %+v", n, ds)
		}
	}
	if in.BlockIO.ThrottleWriteBpsDevice[0].Rate != 1<<40 || in.BlockIO.ThrottleReadIOPSDevice[0].Rate != 0 {
		t.Fatal("the input was changed")
	}

	// Enforce clamps a bundle's throttles the same way.
	out, _, err := run(t, func(s *specs.Spec) {
		s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{throttle(7, 0, 0)}}
	}, func(r *Request) {
		t1 := *r.Tenant
		t1.Container.IOWriteBPS = 10 << 20
		r.Tenant = &t1
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := out.Linux.Resources.BlockIO.ThrottleWriteBpsDevice[0].Rate; r != 10<<20 {
		t.Fatalf("Enforce left a bundle throttle of 0 (no limit) at %d", r)
	}
}

func TestAddDeviceThrottles(t *testing.T) {
	c, _ := ParseConfig([]byte(ioTenantTOML))
	tn := c.Tenants["a"]
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{throttle(7, 0, 1<<20)}}}
	devs := []BlockDev{{Major: 7, Minor: 0, Name: "loop0"}, {Major: 254, Minor: 0, Name: "vda"}}
	ds := AddDeviceThrottles(r, tn, devs)
	b := r.BlockIO
	if len(b.ThrottleWriteBpsDevice) != 2 || b.ThrottleWriteBpsDevice[0].Rate != 1<<20 || b.ThrottleWriteBpsDevice[1] != throttle(254, 0, 10<<20) {
		t.Fatalf("write bps %+v", b.ThrottleWriteBpsDevice)
	}
	for name, l := range map[string][]specs.LinuxThrottleDevice{"read bps": b.ThrottleReadBpsDevice, "read iops": b.ThrottleReadIOPSDevice, "write iops": b.ThrottleWriteIOPSDevice} {
		if len(l) != 2 {
			t.Fatalf("%s: %+v", name, l)
		}
	}
	if len(ds) != 7 {
		t.Fatalf("%d decisions: %+v", len(ds), ds)
	}
	// A tenant without limits gets nothing.
	c, _ = ParseConfig([]byte("[tenants.b]\nuid_range = \"100000:65536\""))
	r = &specs.LinuxResources{}
	if ds := AddDeviceThrottles(r, c.Tenants["b"], devs); ds != nil || r.BlockIO != nil {
		t.Fatal("throttles for a tenant without I/O limits")
	}
}

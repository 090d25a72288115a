package hardening

// Block I/O limits (the io_* quota keys).
//
// Invariant: while a tenant has an I/O limit, no container of it issues block I/O above
// that limit on any device behind its rootfs or its tenant's bind roots, whatever the
// bundle asks: a bundle's own throttle may be lower, never higher, and a throttle of 0
// (the OCI "no limit") counts as asking for no limit. The clamp below keeps the bundle's
// entries within the tenant's; AddDeviceThrottles adds an entry for every backing device
// the runtime found (from the descriptors it starts the container on) and the bundle
// left out. The kernel throttles each device on its own, so the limit is per device.

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BlockDev is a block device the I/O controller throttles (a whole disk, a loop or a
// device-mapper device; never a partition, which the kernel refuses).
type BlockDev struct {
	Major, Minor int64
	Name         string // for messages ("vda", "loop3", "dm-0")
}

func (d BlockDev) String() string { return fmt.Sprintf("%s (%d:%d)", d.Name, d.Major, d.Minor) }

// ioLimit is one of the four throttles: the spec's list and the tenant's rate.
type ioLimit struct {
	field string // under linux.resources.blockIO
	key   string // the quota key
	list  *[]specs.LinuxThrottleDevice
	max   uint64
}

func ioLimits(b *specs.LinuxBlockIO, q Quota) []ioLimit {
	return []ioLimit{
		{"throttleReadBpsDevice", "io_read_bps", &b.ThrottleReadBpsDevice, q.IOReadBPS},
		{"throttleWriteBpsDevice", "io_write_bps", &b.ThrottleWriteBpsDevice, q.IOWriteBPS},
		{"throttleReadIOPSDevice", "io_read_iops", &b.ThrottleReadIOPSDevice, q.IOReadIOPS},
		{"throttleWriteIOPSDevice", "io_write_iops", &b.ThrottleWriteIOPSDevice, q.IOWriteIOPS},
	}
}

// clampBlockIO keeps every throttle the bundle (or update) asks for at or below the
// tenant's per-container rate; 0 ("not limited") becomes the rate. b is the caller's copy.
func (p *pol) clampBlockIO(b *specs.LinuxBlockIO, q Quota, base string) {
	for _, l := range ioLimits(b, q) {
		if l.max == 0 {
			continue
		}
		for i := range *l.list {
			d := &(*l.list)[i]
			if d.Rate == 0 || d.Rate > l.max {
				p.decide(fmt.Sprintf("%s.blockIO.%s[%d]", base, l.field, i), ActionClamp, d.Rate, l.max,
					"tenant per-container "+l.key)
				d.Rate = l.max
			}
		}
	}
}

// AddDeviceThrottles gives r (the enforced spec's resources, changed in place) a throttle
// at the tenant's per-container rate for every device in devs that has none yet, for each
// limit the tenant has. The runtime calls it with the devices behind the container's
// rootfs and the tenant's bind roots; entries already there were clamped by Enforce.
func AddDeviceThrottles(r *specs.LinuxResources, t *Tenant, devs []BlockDev) []Decision {
	q := t.Container
	if !q.HasIOLimits() || len(devs) == 0 {
		return nil
	}
	if r.BlockIO == nil {
		r.BlockIO = &specs.LinuxBlockIO{}
	}
	var ds []Decision
	for _, l := range ioLimits(r.BlockIO, q) {
		if l.max == 0 {
			continue
		}
		for _, d := range devs {
			found := false
			for _, e := range *l.list {
				if e.Major == d.Major && e.Minor == d.Minor {
					found = true
					break
				}
			}
			if found {
				continue
			}
			*l.list = append(*l.list, specs.LinuxThrottleDevice{
				LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: d.Major, Minor: d.Minor}, Rate: l.max})
			ds = append(ds, Decision{Path: "linux.resources.blockIO." + l.field, Action: ActionOverride,
				New:    fmt.Sprintf("%d:%d %d", d.Major, d.Minor, l.max),
				Reason: fmt.Sprintf("tenant per-container %s on %s, which backs the container's files", l.key, d.Name)})
		}
	}
	return ds
}

func copyBlockIO(in *specs.LinuxBlockIO) *specs.LinuxBlockIO {
	b := *in
	b.WeightDevice = append([]specs.LinuxWeightDevice(nil), in.WeightDevice...)
	b.ThrottleReadBpsDevice = append([]specs.LinuxThrottleDevice(nil), in.ThrottleReadBpsDevice...)
	b.ThrottleWriteBpsDevice = append([]specs.LinuxThrottleDevice(nil), in.ThrottleWriteBpsDevice...)
	b.ThrottleReadIOPSDevice = append([]specs.LinuxThrottleDevice(nil), in.ThrottleReadIOPSDevice...)
	b.ThrottleWriteIOPSDevice = append([]specs.LinuxThrottleDevice(nil), in.ThrottleWriteIOPSDevice...)
	return &b
}

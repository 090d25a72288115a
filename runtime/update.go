package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/docker/go-units"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// UpdateOptions are the flags of `update`. Nil pointers mean "not given".
// Size flags accept units (e.g. 512M).
type UpdateOptions struct {
	ID                string
	Resources         string // --resources FILE, or "-" for stdin (OCI LinuxResources JSON)
	BlkioWeight       *uint16
	CPUPeriod         *uint64
	CPUQuota          *int64
	CPUShares         *uint64
	CPURtPeriod       *uint64
	CPURtRuntime      *int64
	CpusetCpus        *string
	CpusetMems        *string
	Memory            *string
	MemoryReservation *string
	MemorySwap        *string
	PidsLimit         *int64
	Stdin             io.Reader
}

// Update changes a container's resource limits. The request is clamped by the
// container's tenant quota exactly like at create: an update can never raise a
// container above its tenant's per-container maximum.
func Update(g *Global, o UpdateOptions) error {
	h, err := open(g, o.ID)
	if err != nil {
		return err
	}
	defer h.close()
	r := &specs.LinuxResources{}
	if o.Resources != "" {
		var data []byte
		if o.Resources == "-" {
			in := o.Stdin
			if in == nil {
				in = os.Stdin
			}
			data, err = io.ReadAll(io.LimitReader(in, 1<<20))
		} else {
			data, err = os.ReadFile(o.Resources)
		}
		if err != nil {
			return fmt.Errorf("--resources: %w", err)
		}
		if err := json.Unmarshal(data, r); err != nil {
			return fmt.Errorf("--resources: invalid JSON: %w", err)
		}
	}
	if err := mergeUpdateFlags(r, o); err != nil {
		return err
	}
	r, err = clampUpdate(g, h, r)
	if err != nil {
		return err
	}
	cfg := h.c.Config()
	res := cfg.Cgroups.Resources
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			res.Memory = *m.Limit
		}
		if m.Reservation != nil {
			res.MemoryReservation = *m.Reservation
		}
		if m.Swap != nil {
			res.MemorySwap = *m.Swap
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil {
			res.CpuShares = *c.Shares
		}
		if c.Quota != nil {
			res.CpuQuota = *c.Quota
		}
		if c.Period != nil {
			res.CpuPeriod = *c.Period
		}
		if c.RealtimePeriod != nil {
			res.CpuRtPeriod = *c.RealtimePeriod
		}
		if c.RealtimeRuntime != nil {
			res.CpuRtRuntime = *c.RealtimeRuntime
		}
		if c.Cpus != "" {
			res.CpusetCpus = c.Cpus
		}
		if c.Mems != "" {
			res.CpusetMems = c.Mems
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		v := *p.Limit
		res.PidsLimit = &v
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		res.BlkioWeight = *b.Weight
	}
	return h.c.Set(cfg)
}

func mergeUpdateFlags(r *specs.LinuxResources, o UpdateOptions) error {
	size := func(flag string, v *string) (*int64, error) {
		if v == nil {
			return nil, nil
		}
		if *v == "-1" {
			x := int64(-1)
			return &x, nil
		}
		n, err := units.RAMInBytes(*v)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", flag, *v, err)
		}
		return &n, nil
	}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	for _, f := range []struct {
		name string
		v    *string
		set  func(*int64)
	}{
		{"memory", o.Memory, func(n *int64) { mem().Limit = n }},
		{"memory-reservation", o.MemoryReservation, func(n *int64) { mem().Reservation = n }},
		{"memory-swap", o.MemorySwap, func(n *int64) { mem().Swap = n }},
	} {
		n, err := size(f.name, f.v)
		if err != nil {
			return err
		}
		if n != nil {
			f.set(n)
		}
	}
	if o.CPUPeriod != nil {
		cpu().Period = o.CPUPeriod
	}
	if o.CPUQuota != nil {
		cpu().Quota = o.CPUQuota
	}
	if o.CPUShares != nil {
		cpu().Shares = o.CPUShares
	}
	if o.CPURtPeriod != nil {
		cpu().RealtimePeriod = o.CPURtPeriod
	}
	if o.CPURtRuntime != nil {
		cpu().RealtimeRuntime = o.CPURtRuntime
	}
	if o.CpusetCpus != nil {
		cpu().Cpus = *o.CpusetCpus
	}
	if o.CpusetMems != nil {
		cpu().Mems = *o.CpusetMems
	}
	if o.PidsLimit != nil {
		r.Pids = &specs.LinuxPids{Limit: o.PidsLimit}
	}
	if o.BlkioWeight != nil {
		r.BlockIO = &specs.LinuxBlockIO{Weight: o.BlkioWeight}
	}
	return nil
}

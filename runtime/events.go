package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/types"
)

// Events prints container events as JSON lines: with stats, one "stats" event
// and return; otherwise a "stats" event every interval and an "oom" event
// whenever the kernel OOM-kills in the container, until it stops.
func Events(g *Global, id string, interval time.Duration, statsOnce bool, w io.Writer) error {
	if interval <= 0 {
		return fmt.Errorf("--interval must be greater than 0")
	}
	h, err := open(g, id)
	if err != nil {
		return err
	}
	c := h.c
	h.close() // events runs for a long time: never hold the lock
	enc := json.NewEncoder(w)
	emit := func() error {
		st, err := c.Stats()
		if err != nil {
			return err
		}
		return enc.Encode(types.Event{Type: "stats", ID: id, Data: convertStats(st.CgroupStats)})
	}
	if statsOnce {
		return emit()
	}
	oom, err := c.NotifyOOM()
	if err != nil {
		oom = nil // no OOM notifications on this cgroup setup: stats only
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if st, err := c.Status(); err != nil || st == libcontainer.Stopped {
			return nil
		}
		select {
		case _, ok := <-oom:
			if !ok {
				oom = nil
				continue
			}
			if err := enc.Encode(types.Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		case <-tick.C:
			if err := emit(); err != nil {
				return nil // the container went away between the check and the read
			}
		}
	}
}

func convertStats(cg *cgroups.Stats) *types.Stats {
	s := &types.Stats{}
	if cg == nil {
		return s
	}
	cu := cg.CpuStats.CpuUsage
	s.CPU.Usage = types.CpuUsage{Total: cu.TotalUsage, Percpu: cu.PercpuUsage, PercpuKernel: cu.PercpuUsageInKernelmode,
		PercpuUser: cu.PercpuUsageInUsermode, Kernel: cu.UsageInKernelmode, User: cu.UsageInUsermode}
	t := cg.CpuStats.ThrottlingData
	s.CPU.Throttling = types.Throttling{Periods: t.Periods, ThrottledPeriods: t.ThrottledPeriods, ThrottledTime: t.ThrottledTime}
	mem := func(e cgroups.MemoryData) types.MemoryEntry {
		return types.MemoryEntry{Limit: e.Limit, Usage: e.Usage, Max: e.MaxUsage, Failcnt: e.Failcnt}
	}
	s.Memory = types.Memory{Cache: cg.MemoryStats.Cache, Usage: mem(cg.MemoryStats.Usage), Swap: mem(cg.MemoryStats.SwapUsage),
		Kernel: mem(cg.MemoryStats.KernelUsage), KernelTCP: mem(cg.MemoryStats.KernelTCPUsage), Raw: cg.MemoryStats.Stats}
	s.Pids = types.Pids{Current: cg.PidsStats.Current, Limit: cg.PidsStats.Limit}
	conv := func(in []cgroups.BlkioStatEntry) []types.BlkioEntry {
		var out []types.BlkioEntry
		for _, e := range in {
			out = append(out, types.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
		}
		return out
	}
	b := cg.BlkioStats
	s.Blkio = types.Blkio{IoServiceBytesRecursive: conv(b.IoServiceBytesRecursive), IoServicedRecursive: conv(b.IoServicedRecursive),
		IoQueuedRecursive: conv(b.IoQueuedRecursive), IoServiceTimeRecursive: conv(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive: conv(b.IoWaitTimeRecursive), IoMergedRecursive: conv(b.IoMergedRecursive),
		IoTimeRecursive: conv(b.IoTimeRecursive), SectorsRecursive: conv(b.SectorsRecursive)}
	s.Hugetlb = map[string]types.Hugetlb{}
	for k, v := range cg.HugetlbStats {
		s.Hugetlb[k] = types.Hugetlb{Usage: v.Usage, Max: v.MaxUsage, Failcnt: v.Failcnt}
	}
	return s
}

package runtime

// Early warnings: each tenant's figures against its [warnings] thresholds, fired at most
// once per period per tenant and limit into the log, the audit log and the operator's
// notify command (runtime/notify). `metrics serve` checks them every --interval.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/notify"
)

// warningEvents are the thresholds rows cross; prev (the previous check, may be nil) gives
// the CPU periods of the interval.
func warningEvents(cfg *hardening.Config, prev, rows []TenantUsage, now time.Time) []notify.Event {
	before := map[string]*TenantUsage{}
	for i := range prev {
		before[prev[i].Tenant] = &prev[i]
	}
	var out []notify.Event
	for i := range rows {
		r := &rows[i]
		w := cfg.Defaults.Warnings
		if t, ok := cfg.Tenants[r.Tenant]; ok {
			w = t.Warnings
		}
		ev := func(limit string, used, quota, threshold float64, show func(float64) string) {
			if threshold <= 0 || quota <= 0 || used/quota < threshold {
				return
			}
			out = append(out, notify.Event{Time: now.UTC(), Tenant: r.Tenant, Limit: limit, Used: used, Quota: quota,
				Ratio: used / quota, Threshold: threshold,
				Message: fmt.Sprintf("tenant %s: %s at %.0f%% of its quota (%s of %s, warning at %.0f%%)",
					r.Tenant, limit, used/quota*100, show(used), show(quota), threshold*100)})
		}
		if r.Present {
			ev("memory", float64(r.MemoryBytes), float64(r.MemoryLimitBytes), w.Memory, tenantHumanBytes)
			ev("pids", float64(r.Pids), float64(r.PidsLimit), w.Pids, func(v float64) string { return fmt.Sprintf("%.0f", v) })
		}
		// Disk and inodes: on the bind roots, with or without a running container.
		ev("disk", float64(r.DiskBytes), float64(r.DiskLimitBytes), w.Disk, tenantHumanBytes)
		ev("inodes", float64(r.Inodes), float64(r.InodesLimit), w.Inodes, func(v float64) string { return fmt.Sprintf("%.0f", v) })
		if p, ok := before[r.Tenant]; ok && r.Present && r.CPUPeriods > p.CPUPeriods && r.CPUThrottledPeriods >= p.CPUThrottledPeriods {
			share := float64(r.CPUThrottledPeriods-p.CPUThrottledPeriods) / float64(r.CPUPeriods-p.CPUPeriods)
			ev("cpu_throttled", share, 1, w.CPUThrottled, func(v float64) string { return fmt.Sprintf("%.0f%% of the periods", v*100) })
		}
	}
	return out
}

// checkWarnings fires the warnings that are due.
func checkWarnings(cfg *hardening.Config, prev, rows []TenantUsage, now time.Time) {
	dir := cfg.Defaults.CountersDir
	w := cfg.Defaults.Warnings
	for _, ev := range warningEvents(cfg, prev, rows, now) {
		period := w.Period
		if t, ok := cfg.Tenants[ev.Tenant]; ok {
			period = t.Warnings.Period
		}
		due, err := notify.Due(dir, ev.Tenant, ev.Limit, period, now)
		if err != nil {
			logrus.Warnf("warnings: %v", err)
			continue
		}
		if !due {
			continue
		}
		logrus.WithField("tenant", ev.Tenant).Warn(ev.Message)
		writeWarningAudit(cfg, ev)
		if err := notify.Send(dir, w.Notify, w.NotifyTimeout, w.NotifyPerMinute, ev); err != nil {
			if errors.Is(err, notify.ErrRateLimited) {
				logrus.Warn(err)
			} else {
				logrus.Warnf("warnings: %v", err)
			}
		}
	}
}

// writeWarningAudit appends the warning to the audit log ([defaults] audit_log), verb
// "warning".
func writeWarningAudit(cfg *hardening.Config, ev notify.Event) {
	if cfg.Defaults.AuditLog == "" {
		return
	}
	rec := struct {
		Time    time.Time    `json:"time"`
		Verb    string       `json:"verb"`
		Tenant  string       `json:"tenant"`
		Verdict string       `json:"verdict"`
		Warning notify.Event `json:"warning"`
	}{ev.Time, "warning", ev.Tenant, "warn", ev}
	line, _ := json.Marshal(rec)
	if err := os.MkdirAll(filepath.Dir(cfg.Defaults.AuditLog), 0o750); err != nil {
		logrus.Warnf("audit log: %v", err)
		return
	}
	f, err := os.OpenFile(cfg.Defaults.AuditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		logrus.Warnf("audit log: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		logrus.Warnf("audit log: %v", err)
	}
}

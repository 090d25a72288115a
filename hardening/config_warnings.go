package hardening

// [defaults.warnings] and [tenants.NAME.warnings]: early warnings before a tenant hits its
// limits (docs/quotas.md), checked by `tenantrun metrics serve`.

import (
	"fmt"
	"math"
	"path/filepath"
	"time"
)

// Warnings are the thresholds (fractions of the tenant's aggregate quota; 0 = off) and how
// a warning reaches the operator.
type Warnings struct {
	Memory       float64 // memory in use / memory quota
	Pids         float64 // tasks / pids quota
	CPUThrottled float64 // share of the CPU periods of the last interval the tenant was throttled in
	Disk         float64 // disk space / disk quota (project quota on the bind roots)
	Inodes       float64 // inodes / inode quota
	Period       time.Duration
	// Notify is the operator's command ([defaults.warnings] only): each warning is a JSON
	// object on its stdin. Nil: audit log and log only.
	Notify          []string
	NotifyTimeout   time.Duration
	NotifyPerMinute int // at most this many commands a minute, all tenants together
}

// DefaultWarnings: 90 % of memory, pids, disk or inodes, half of the CPU periods throttled; once an hour
// per tenant and limit; a notify command gets 10 s, and 10 run a minute at most.
var DefaultWarnings = Warnings{Memory: 0.9, Pids: 0.9, CPUThrottled: 0.5, Disk: 0.9, Inodes: 0.9, Period: time.Hour,
	NotifyTimeout: 10 * time.Second, NotifyPerMinute: 10}

type rawWarnings struct {
	Memory          *float64  `toml:"memory"`
	Pids            *float64  `toml:"pids"`
	CPUThrottled    *float64  `toml:"cpu_throttled"`
	Disk            *float64  `toml:"disk"`
	Inodes          *float64  `toml:"inodes"`
	Period          string    `toml:"period"`
	Notify          *[]string `toml:"notify"`
	NotifyTimeout   string    `toml:"notify_timeout"`
	NotifyPerMinute *int      `toml:"notify_per_minute"`
}

func buildWarnings(k string, r *rawWarnings, base Warnings, tenant bool) (Warnings, error) {
	w := base
	if r == nil {
		return w, nil
	}
	for _, f := range []struct {
		key string
		v   *float64
		dst *float64
	}{{"memory", r.Memory, &w.Memory}, {"pids", r.Pids, &w.Pids}, {"cpu_throttled", r.CPUThrottled, &w.CPUThrottled},
		{"disk", r.Disk, &w.Disk}, {"inodes", r.Inodes, &w.Inodes}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > 1 || math.IsNaN(*f.v) {
			return w, fmt.Errorf("key %s.%s: %v must be a fraction in 0..1 (0 turns it off)", k, f.key, *f.v)
		}
		*f.dst = *f.v
	}
	if r.Period != "" {
		d, err := time.ParseDuration(r.Period)
		if err != nil || d < time.Minute {
			return w, fmt.Errorf("key %s.period: %q must be a duration of at least 1m (like \"1h\")", k, r.Period)
		}
		w.Period = d
	}
	if tenant && (r.Notify != nil || r.NotifyTimeout != "" || r.NotifyPerMinute != nil) {
		return w, fmt.Errorf("key %s: notify, notify_timeout and notify_per_minute are the operator's: set them in [defaults.warnings]", k)
	}
	if r.Notify != nil {
		if len(*r.Notify) == 0 || !filepath.IsAbs((*r.Notify)[0]) {
			return w, fmt.Errorf("key %s.notify: must be a command with an absolute path first, like [\"/usr/local/bin/notify\"]", k)
		}
		w.Notify = append([]string(nil), *r.Notify...)
	}
	if r.NotifyTimeout != "" {
		d, err := time.ParseDuration(r.NotifyTimeout)
		if err != nil || d <= 0 || d > 10*time.Minute {
			return w, fmt.Errorf("key %s.notify_timeout: %q must be a duration up to 10m (like \"10s\")", k, r.NotifyTimeout)
		}
		w.NotifyTimeout = d
	}
	if r.NotifyPerMinute != nil {
		if *r.NotifyPerMinute < 1 || *r.NotifyPerMinute > 600 {
			return w, fmt.Errorf("key %s.notify_per_minute: %d must be in 1..600", k, *r.NotifyPerMinute)
		}
		w.NotifyPerMinute = *r.NotifyPerMinute
	}
	return w, nil
}

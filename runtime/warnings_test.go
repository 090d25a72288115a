package runtime

import (
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/hardening"
)

func TestWarningEvents(t *testing.T) {
	cfg, err := hardening.ParseConfig([]byte(`
[defaults.warnings]
memory = 0.8
[tenants.a]
uid_range = "100000:65536"
[tenants.b]
uid_range = "200000:65536"
[tenants.b.warnings]
memory = 0          # off
cpu_throttled = 0.25
`))
	if err != nil {
		t.Fatal(err)
	}
	prev := []TenantUsage{{Tenant: "a", Present: true, CPUPeriods: 100, CPUThrottledPeriods: 10}, {Tenant: "b", Present: true, CPUPeriods: 100, CPUThrottledPeriods: 10}}
	rows := []TenantUsage{
		{Tenant: "a", Present: true, MemoryBytes: 85, MemoryLimitBytes: 100, Pids: 95, PidsLimit: 100, CPUPeriods: 200, CPUThrottledPeriods: 50},
		{Tenant: "b", Present: true, MemoryBytes: 99, MemoryLimitBytes: 100, Pids: 1, PidsLimit: 100, CPUPeriods: 200, CPUThrottledPeriods: 40},
		{Tenant: "c", Present: false, MemoryBytes: 99, MemoryLimitBytes: 100},
		{Tenant: "d", Present: true, MemoryBytes: 99}, // no limit: nothing to warn about
	}
	evs := warningEvents(cfg, prev, rows, time.Unix(0, 0))
	got := map[string]bool{}
	for _, e := range evs {
		got[e.Tenant+"/"+e.Limit] = true
		if e.Message == "" || e.Ratio < e.Threshold {
			t.Errorf("%+v", e)
		}
	}
	// a: memory 85% ≥ 80%, pids 95% ≥ 90% (the default), CPU 40% throttled < 50% (default).
	// b: memory off, CPU 30% throttled ≥ 25%.
	want := map[string]bool{"a/memory": true, "a/pids": true, "b/cpu_throttled": true}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if _, err := hardening.ParseConfig([]byte("[tenants.a]\nuid_range = \"100000:65536\"\n[tenants.a.warnings]\nnotify = [\"/bin/true\"]")); err == nil {
		t.Fatal("a tenant set the operator's notify command")
	}
	if _, err := hardening.ParseConfig([]byte("[defaults.warnings]\nmemory = 1.5")); err == nil {
		t.Fatal("a threshold above 1")
	}
}

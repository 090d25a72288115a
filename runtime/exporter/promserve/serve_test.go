package promserve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

func rows() ([]tenantcg.Usage, error) {
	used := 0.25
	return []tenantcg.Usage{
		{Tenant: "shop", Present: true, CgroupVersion: 2, Containers: 3, CPUUsageSeconds: 12.5, CPUUsed: &used, CPULimit: 2,
			MemoryBytes: 100 << 20, MemoryLimitBytes: 256 << 20, OOMKills: 2, PidsLimit: 64, Pids: 10, IOWriteBytes: 4096,
			Network: map[string]uint64{"egress_denied": 7}},
		{Tenant: "gone", Present: false, RetiredFrom: "/var/lib/tenantrun/counters/x.json", PidsLimitHits: 5},
	}, nil
}

// The families pass client_golang's linter (Prometheus naming and help conventions).
func TestMetricsLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(rows))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// Served over HTTP to a real client, in both formats a scraper asks for.
func TestServeHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	reg := Registry(rows)
	go func() { done <- Serve(ctx, "127.0.0.1:0", reg, func(a net.Addr) { addr <- a }) }()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatal(err)
	}
	for _, accept := range []string{"text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"} {
		req, _ := http.NewRequest("GET", "http://"+a.String()+"/metrics", nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s %s", accept, resp.Status, body)
		}
		text := string(body)
		for _, want := range []string{`tenantrun_tenant_oom_kills_total{tenant="shop"} 2`, `tenantrun_tenant_pids_limit_hits_total{tenant="gone"} 5`,
			`tenantrun_tenant_network_egress_denied_packets_total{tenant="shop"} 7`, `tenantrun_tenants_scrape_ok 1`, "go_goroutines"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: no %q in\n%s", accept, want, text)
			}
		}
		if strings.Contains(text, `tenantrun_tenant_memory_usage_bytes{tenant="gone"}`) {
			t.Errorf("%s: a usage sample for a tenant whose cgroup is gone", accept)
		}
		if strings.HasPrefix(accept, "text/plain") {
			p := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := p.TextToMetricFamilies(strings.NewReader(text))
			if err != nil {
				t.Fatalf("parsing the text format: %v", err)
			}
			if f := fams["tenantrun_tenant_memory_limit_bytes"]; f == nil || len(f.Metric) != 1 || f.Metric[0].GetGauge().GetValue() != 256<<20 {
				t.Errorf("memory limit family: %v", f)
			}
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("shutdown: %v", err)
	}
}

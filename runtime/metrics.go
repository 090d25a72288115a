package runtime

// `tenantrun metrics serve` (the HTTP exporter) and `tenantrun tenants --watch`.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// DefaultMetricsListen is the exporter's address (loopback; node-exporter has 9100).
const DefaultMetricsListen = "127.0.0.1:9464"

// MetricsSource checks the configuration as every scrape will read it and returns what a
// scrape calls: every tenant's row, as `tenants --format json` has it (without the CPU
// sampling: Prometheus computes rates from the counters).
func MetricsSource(g *Global) (func() ([]TenantUsage, error), error) {
	if _, err := loadConfig(g); err != nil {
		return nil, err
	}
	return func() ([]TenantUsage, error) { return collectTenants(g, TenantsOptions{}) }, nil
}

// WarnLoop checks every tenant against its warning thresholds every interval until ctx is
// done (`metrics serve`).
func WarnLoop(ctx context.Context, g *Global, every time.Duration) { warnLoop(ctx, g, every) }

// warnLoop checks every tenant against its warning thresholds each interval (the CPU share
// over the interval itself) and fires what is due.
func warnLoop(ctx context.Context, g *Global, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev []TenantUsage
	for {
		cfg, err := loadConfig(g)
		if err != nil {
			logrus.Warnf("warnings: %v", err)
		} else if rows, err := collectTenants(g, TenantsOptions{}); err == nil {
			checkWarnings(cfg, prev, rows, time.Now())
			prev = rows
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Watch redraws the `tenants` table every interval until SIGINT or SIGTERM: a terminal
// view like lvetop, no Grafana needed.
func Watch(g *Global, o TenantsOptions, w io.Writer) error {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	for {
		rows, err := collectTenants(g, o) // samples CPU over the interval
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\x1b[H\x1b[2J%s  every %v (Ctrl-C to stop)\n\n", time.Now().Format(time.TimeOnly), o.Interval)
		if err := writeTenantsTable(w, rows); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Package promserve is `tenantrun metrics serve`'s HTTP side on prometheus/client_golang.
// It is linked only into bin/tenantrun-metrics: client_golang's package initialisation
// (its default registry, procfs, protobuf descriptors; about 0.6 ms) would otherwise be
// paid by every create, start and exec.
package promserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/tenantrun/tenantrun/runtime/exporter"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

// Source reads every tenant's row (what `tenants --format json` prints).
type Source func() ([]tenantcg.Usage, error)

// Collector reads the rows on every scrape: the figures are the cgroups' at that moment.
type Collector struct {
	src   Source
	descs []*prometheus.Desc
	up    *prometheus.Desc
}

// NewCollector makes the collector of src's rows.
func NewCollector(src Source) *Collector {
	c := &Collector{src: src,
		up: prometheus.NewDesc("tenantrun_tenants_scrape_ok", "1 if the tenants' figures could be read on this scrape.", nil, nil)}
	for _, f := range exporter.Families {
		c.descs = append(c.descs, prometheus.NewDesc(f.Name, f.Help, []string{"tenant"}, nil))
	}
	return c
}

// Describe sends every family's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.up
}

// Collect reads the rows and sends a sample per tenant and family.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	rows, err := c.src()
	if err != nil {
		logrus.Warnf("metrics: reading the tenants: %v", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for i, f := range exporter.Families {
		typ := prometheus.GaugeValue
		if f.Counter {
			typ = prometheus.CounterValue
		}
		for j := range rows {
			if v, ok := f.Value(&rows[j]); ok {
				ch <- prometheus.MustNewConstMetric(c.descs[i], typ, v, rows[j].Tenant)
			}
		}
	}
}

// Registry is the exporter's: the tenants, and the exporter process's own Go and process
// metrics.
func Registry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves /metrics (Prometheus text or OpenMetrics, as the scraper asks) and a short
// page at / that names it.
func Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "tenantrun tenant metrics: /metrics")
	})
	return mux
}

// Serve listens on addr and serves Handler until ctx is done (then shuts down, waiting up
// to 5 s for scrapes in flight). ready, if not nil, is called with the bound address.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(reg), ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	}
}

package main

import (
	"os"
	"time"

	"github.com/urfave/cli"

	"github.com/tenantrun/tenantrun/runtime"
)

// tenantsCommand: `tenantrun tenants` — per-tenant usage against the tenant's aggregate
// limits (like CloudLinux's lvetop). See docs/quotas.md.
var tenantsCommand = cli.Command{
	Name:      "tenants",
	Usage:     "show each tenant's usage against its aggregate quota (CPU, memory, pids, OOM kills, throttling)",
	ArgsUsage: "[TENANT...]",
	Description: `Figures come from each tenant's parent cgroup (/tenantrun/<tenant>, or
tenantrun-<tenant>.slice with --systemd-cgroup); containers are counted under --root.
A quota used at or above --warn-at is logged as a warning. --format prometheus writes
the Prometheus text format; with --output FILE the file is replaced atomically, for
node-exporter's textfile collector.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: "table, json or prometheus"},
		cli.Float64Flag{Name: "warn-at", Value: runtime.DefaultWarnAt, Usage: "warn when a quota is used at or above this fraction (0 disables)"},
		cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "CPU sampling window for the current CPU use (0: cumulative CPU only)"},
		cli.StringFlag{Name: "output, o", Usage: "write to this file (atomically) instead of stdout"},
	},
	Action: func(c *cli.Context) error {
		g := &runtime.Global{
			Root:          c.GlobalString("root"),
			Log:           c.GlobalString("log"),
			LogFormat:     c.GlobalString("log-format"),
			Debug:         c.GlobalBool("debug"),
			SystemdCgroup: c.GlobalBool("systemd-cgroup"),
			ConfigPath:    c.GlobalString("config"),
			Tenant:        c.GlobalString("tenant"),
		}
		return runtime.Tenants(g, runtime.TenantsOptions{
			Format:   c.String("format"),
			WarnAt:   c.Float64("warn-at"),
			Interval: c.Duration("interval"),
			Output:   c.String("output"),
			Tenants:  c.Args(),
		}, os.Stdout)
	},
}

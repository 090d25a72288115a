package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

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
node-exporter's textfile collector. --watch redraws the table every --interval until
Ctrl-C, like lvetop. Fault counters (CPUF, PMEMF, OOM, NPROCF, IOF) include deleted
containers' (docs/quotas.md).`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: "table, json or prometheus"},
		cli.BoolFlag{Name: "watch, w", Usage: "redraw the table every --interval (2s if 0) until Ctrl-C"},
		cli.Float64Flag{Name: "warn-at", Value: runtime.DefaultWarnAt, Usage: "warn when a quota is used at or above this fraction (0 disables)"},
		cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "CPU sampling window for the current CPU use (0: cumulative CPU only)"},
		cli.StringFlag{Name: "output, o", Usage: "write to this file (atomically) instead of stdout"},
	},
	Subcommands: []cli.Command{
		{
			Name:  "quota",
			Usage: "disk-space and inode quotas on the tenants' bind roots (project quotas)",
			Subcommands: []cli.Command{
				{
					Name:      "apply",
					Usage:     "put each tenant's disk and inodes ([tenants.NAME.quota]) on its bind roots; idempotent",
					ArgsUsage: "[TENANT...]",
					Description: `Every file and directory below each bind root gets the tenant's project id
(project_id, else the first id of its uid_range), directories the inherit flag so new
files stay the tenant's, and the filesystem the project's limits. The filesystem must
enforce project quotas: XFS mounted with prjquota, or ext4 made with -O quota,project
and mounted with prjquota. Without TENANT, every tenant with disk or inodes. create
refuses to bind a root of such a tenant that does not carry the quota.`,
					Action: func(c *cli.Context) error {
						g := &runtime.Global{Root: c.GlobalString("root"), ConfigPath: c.GlobalString("config")}
						return runtime.TenantsQuotaApply(g, c.Args(), os.Stdout)
					},
				},
			},
		},
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
		o := runtime.TenantsOptions{
			Format:   c.String("format"),
			WarnAt:   c.Float64("warn-at"),
			Interval: c.Duration("interval"),
			Output:   c.String("output"),
			Tenants:  c.Args(),
		}
		if c.Bool("watch") {
			if o.Output != "" || (o.Format != "" && o.Format != "table") {
				return cli.NewExitError("--watch draws the table on the terminal: it takes neither --output nor --format "+o.Format, 1)
			}
			return runtime.Watch(g, o, os.Stdout)
		}
		return runtime.Tenants(g, o, os.Stdout)
	},
}

// metricsCommand: `tenantrun metrics serve` — the Prometheus exporter.
var metricsCommand = cli.Command{
	Name:  "metrics",
	Usage: "export every tenant's usage, limits and fault counters to Prometheus",
	Subcommands: []cli.Command{
		{
			Name:  "serve",
			Usage: "serve /metrics over HTTP (Prometheus text or OpenMetrics) and check the warning thresholds",
			Description: `Every scrape reads the tenants' figures afresh (the rows of tenantrun tenants, the
same tenantrun_tenant_* families as --format prometheus), plus the exporter's own Go and
process metrics. Every --interval it checks each tenant against its [warnings]
thresholds and sends what is due to the log, the audit log and the notify command
(docs/quotas.md). It runs until SIGINT or SIGTERM; contrib/tenantrun-metrics.service
runs it under systemd. The address is loopback by default: put a reverse proxy or a
firewall rule in front before listening elsewhere.`,
			Flags: []cli.Flag{
				cli.StringFlag{Name: "listen, l", Value: runtime.DefaultMetricsListen, Usage: "host:port to listen on"},
				cli.DurationFlag{Name: "interval", Value: 30 * time.Second, Usage: "how often the warning thresholds are checked (0: never)"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return cli.NewExitError("metrics serve takes no arguments", 1)
				}
				// The exporter is a binary of its own beside this one (client_golang stays
				// out of the runtime's start-up): run it in this process's place.
				exe, err := os.Executable()
				if err != nil {
					return cli.NewExitError(err.Error(), 1)
				}
				bin := filepath.Join(filepath.Dir(exe), "tenantrun-metrics")
				args := []string{bin, "--root", c.GlobalString("root"), "--config", c.GlobalString("config"),
					"--listen", c.String("listen"), "--interval", c.Duration("interval").String()}
				if c.GlobalBool("systemd-cgroup") {
					args = append(args, "--systemd-cgroup")
				}
				if c.GlobalBool("debug") {
					args = append(args, "--debug")
				}
				if err := unix.Exec(bin, args, os.Environ()); err != nil {
					return cli.NewExitError(fmt.Sprintf("metrics serve runs %s: %v (it is built and installed beside tenantrun: make build)", bin, err), 1)
				}
				return nil
			},
		},
	},
}

// tenantrun-metrics is `tenantrun metrics serve`: tenantrun execs it from its own directory.
// It is a binary of its own so that prometheus/client_golang is linked (and initialised)
// only here, never in the runtime every engine runs for each container.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime"
	"github.com/tenantrun/tenantrun/runtime/exporter/promserve"
)

var version = "dev"

func main() {
	app := cli.NewApp()
	app.Name = "tenantrun-metrics"
	app.Usage = "serve every tenant's usage, limits and fault counters to Prometheus (tenantrun metrics serve)"
	app.Version = version
	app.Description = `Every scrape of /metrics reads the tenants' figures afresh (the rows of tenantrun
tenants, the same tenantrun_tenant_* families as --format prometheus), plus the
exporter's own Go and process metrics. Every --interval it checks each tenant against
its [warnings] thresholds and sends what is due to the log, the audit log and the notify
command (docs/quotas.md). It runs until SIGINT or SIGTERM. The address is loopback by
default: put a reverse proxy or a firewall rule in front before listening elsewhere.`
	app.Flags = []cli.Flag{
		cli.StringFlag{Name: "root", Value: runtime.DefaultRoot, Usage: "tenantrun's state root (where containers are counted)"},
		cli.StringFlag{Name: "config", Value: runtime.DefaultConfig, Usage: "tenant policy file (TOML)", EnvVar: "TENANTRUN_CONFIG"},
		cli.BoolFlag{Name: "systemd-cgroup", Usage: "the containers use the systemd cgroup driver"},
		cli.BoolFlag{Name: "debug", Usage: "debug logging"},
		cli.StringFlag{Name: "listen, l", Value: runtime.DefaultMetricsListen, Usage: "host:port to listen on"},
		cli.DurationFlag{Name: "interval", Value: 30 * time.Second, Usage: "how often the warning thresholds are checked (0: never)"},
	}
	app.Action = func(c *cli.Context) error {
		if c.NArg() != 0 {
			return cli.NewExitError("tenantrun metrics serve takes no arguments", 1)
		}
		if c.Bool("debug") {
			logrus.SetLevel(logrus.DebugLevel)
		}
		if c.Duration("interval") < 0 {
			return cli.NewExitError(fmt.Sprintf("--interval %v: must not be negative", c.Duration("interval")), 1)
		}
		g := &runtime.Global{Root: c.String("root"), ConfigPath: c.String("config"), SystemdCgroup: c.Bool("systemd-cgroup")}
		src, err := runtime.MetricsSource(g)
		if err != nil {
			return cli.NewExitError(err.Error(), 1)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
		defer stop()
		if d := c.Duration("interval"); d > 0 {
			go runtime.WarnLoop(ctx, g, d)
		}
		ready := func(a net.Addr) { logrus.Infof("metrics: serving http://%s/metrics", a) }
		if err := promserve.Serve(ctx, c.String("listen"), promserve.Registry(src), ready); err != nil {
			return cli.NewExitError(err.Error(), 1)
		}
		return nil
	}
	if err := app.Run(os.Args); err != nil {
		os.Exit(1)
	}
}

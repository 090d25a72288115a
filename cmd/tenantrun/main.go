// Command tenantrun is an OCI runtime for multi-tenant hosting: a drop-in
// replacement for runc that rewrites or refuses every bundle by the tenant's
// policy before runc's libcontainer sees it. This package only parses flags
// and calls package runtime.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"

	"github.com/tenantrun/tenantrun/runtime"
)

// Set by the Makefile with -ldflags.
var (
	version   = "dev"
	gitCommit = ""
)

const usage = `an OCI runtime for multi-tenant hosting

tenantrun is called by container engines exactly as they call runc
(containerd's runc shim, Podman --runtime, Docker --add-runtime). Before a
container starts, every bundle is rewritten or refused by its tenant's policy:
a forced user namespace with the tenant's own host ID range, a read-only root
with tmpfs scratch, a capability allowlist, a web-workload seccomp profile,
no host namespaces, sockets, devices or hooks, and cgroup limits from the
tenant's quota (per container and for the tenant as a whole).

The tenant comes from --tenant, from the calling user, or from an annotation
the operator declared trusted for an engine (see docs/config.md); the policy
lives in --config (TOML). A refused bundle exits non-zero with an error that
starts with "refused:" and names the JSON path of the field.

Try it:  tenantrun policy explain --bundle DIR   (what would be changed, and why)`

func main() {
	app := cli.NewApp()
	app.Name = "tenantrun"
	app.Usage = usage
	app.Version = version
	if gitCommit != "" {
		app.Version += "\ncommit: " + gitCommit
	}
	app.Version += "\nspec: " + specs.Version
	g := &runtime.Global{}
	app.Flags = []cli.Flag{
		cli.BoolFlag{Name: "debug", Usage: "enable debug logging (includes a per-phase timing of create)", Destination: &g.Debug},
		cli.StringFlag{Name: "log", Usage: "write the log to this file (default: stderr); engines read its last JSON error line", Destination: &g.Log},
		cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json", Destination: &g.LogFormat},
		cli.StringFlag{Name: "root", Value: runtime.DefaultRoot, Usage: "directory for container state (tmpfs recommended)", Destination: &g.Root},
		cli.BoolFlag{Name: "systemd-cgroup", Usage: "use the systemd cgroup driver (tenant parents become tenantrun-<tenant>.slice)", Destination: &g.SystemdCgroup},
		cli.StringFlag{Name: "config", Value: runtime.DefaultConfig, Usage: "tenant policy file (TOML); built-in defaults when the file is absent", EnvVar: "TENANTRUN_CONFIG", Destination: &g.ConfigPath},
		cli.StringFlag{Name: "tenant", Usage: "tenant to run as (set by the operator's engine wiring, never by a tenant)", Destination: &g.Tenant},
		cli.StringFlag{Name: "criu", Hidden: true, Usage: "ignored (runc compatibility)"},
		cli.BoolFlag{Name: "rootless", Hidden: true, Usage: "ignored (runc compatibility)"},
	}
	app.Before = func(*cli.Context) error { return runtime.SetupLogging(g) }
	app.Commands = commands(g)
	cli.ErrWriter = os.Stderr
	if err := app.Run(os.Args); err != nil {
		var ee *runtime.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.Code)
		}
		runtime.ReportError(g, err)
		os.Exit(1)
	}
}

// checkArgs enforces the number of positional arguments of a verb.
func checkArgs(c *cli.Context, n int, exact bool) error {
	if exact && c.NArg() != n || !exact && c.NArg() < n {
		word := "exactly"
		if !exact {
			word = "at least"
		}
		return fmt.Errorf("%s: %s %d argument(s) required, got %d (see '%s --help')", c.Command.Name, word, n, c.NArg(), c.Command.FullName())
	}
	return nil
}

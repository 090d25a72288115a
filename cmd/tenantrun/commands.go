package main

import (
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli"

	"github.com/tenantrun/tenantrun/runtime"
)

func createFlags() []cli.Flag {
	return []cli.Flag{
		cli.StringFlag{Name: "bundle, b", Value: "", Usage: "path to the bundle directory (default: current directory)"},
		cli.StringFlag{Name: "console-socket", Usage: "AF_UNIX socket that receives the pty master when process.terminal is true"},
		cli.StringFlag{Name: "pid-file", Usage: "write the container's init pid to this file"},
		cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot_root (for ramdisk roots)"},
		cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring"},
		cli.IntFlag{Name: "preserve-fds", Usage: "pass this many extra file descriptors (fds 3..N+2) to the container; each must have been passed to tenantrun by its caller"},
		cli.StringFlag{Name: "pidfd-socket", Hidden: true, Usage: "not supported"},
	}
}

func createOpts(c *cli.Context) runtime.CreateOptions {
	return runtime.CreateOptions{
		ID:            c.Args().First(),
		Bundle:        c.String("bundle"),
		PidFile:       c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"),
		NoPivot:       c.Bool("no-pivot"),
		NoNewKeyring:  c.Bool("no-new-keyring"),
		PreserveFDs:   c.Int("preserve-fds"),
	}
}

func commands(g *runtime.Global) []cli.Command {
	return []cli.Command{
		{
			Name:      "create",
			Usage:     "create a container (its process waits for `start`)",
			ArgsUsage: "<container-id>",
			Description: `The bundle's config.json is checked and rewritten by the tenant's policy;
a refused bundle creates nothing.`,
			Flags: createFlags(),
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Create(g, createOpts(c))
			},
		},
		{
			Name:      "start",
			Usage:     "start the user process of a created container",
			ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Start(g, c.Args().First())
			},
		},
		{
			Name:      "run",
			Usage:     "create and start a container (foreground: returns its exit code)",
			ArgsUsage: "<container-id>",
			Flags:     append(createFlags(), cli.BoolFlag{Name: "detach, d", Usage: "return once the container runs"}),
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Run(g, createOpts(c), c.Bool("detach"))
			},
		},
		{
			Name:      "state",
			Usage:     "print the OCI state of a container as JSON",
			ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.State(g, c.Args().First(), os.Stdout)
			},
		},
		{
			Name:        "kill",
			Usage:       "send a signal to a container's init (default SIGTERM)",
			ArgsUsage:   "<container-id> [signal]",
			Description: `The signal may be a name (KILL, SIGKILL) or a number (9).`,
			Flags: []cli.Flag{
				cli.BoolFlag{Name: "all, a", Usage: "send the signal to every process of the container"},
			},
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, false); err != nil {
					return err
				}
				return runtime.Kill(g, c.Args().First(), c.Args().Get(1), c.Bool("all"))
			},
		},
		{
			Name:      "delete",
			Usage:     "remove a container and everything set up for it",
			ArgsUsage: "<container-id>",
			Flags: []cli.Flag{
				cli.BoolFlag{Name: "force, f", Usage: "kill the container first if it is running"},
			},
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Delete(g, c.Args().First(), c.Bool("force"))
			},
		},
		{
			Name:      "exec",
			Usage:     "run a new process in a running container (through the same tenant policy)",
			ArgsUsage: "<container-id> <command> [args...]",
			Flags: []cli.Flag{
				cli.StringFlag{Name: "process, p", Usage: "process.json describing the process (engines use this)"},
				cli.StringSliceFlag{Name: "env, e", Usage: "add an environment variable (KEY=VALUE)"},
				cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
				cli.StringFlag{Name: "user, u", Usage: "uid[:gid] in the container"},
				cli.StringSliceFlag{Name: "additional-gids, g", Usage: "additional gids"},
				cli.BoolFlag{Name: "tty, t", Usage: "allocate a pty (needs --console-socket)"},
				cli.BoolFlag{Name: "detach, d", Usage: "return once the process has started"},
				cli.StringFlag{Name: "pid-file", Usage: "write the process pid to this file"},
				cli.StringFlag{Name: "console-socket", Usage: "AF_UNIX socket that receives the pty master"},
				cli.IntFlag{Name: "preserve-fds", Usage: "pass this many extra file descriptors (fds 3..N+2) to the process; each must have been passed to tenantrun by its caller"},
				cli.StringSliceFlag{Name: "cap, c", Usage: "add a capability (still subject to the tenant policy)"},
				cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs (always set by the policy)"},
				cli.StringFlag{Name: "apparmor", Hidden: true},
				cli.StringFlag{Name: "process-label", Hidden: true},
				cli.StringFlag{Name: "cgroup", Hidden: true},
				cli.BoolFlag{Name: "ignore-paused", Hidden: true},
				cli.StringFlag{Name: "pidfd-socket", Hidden: true},
			},
			SkipArgReorder: true,
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, false); err != nil {
					return err
				}
				return runtime.Exec(g, runtime.ExecOptions{
					ID:            c.Args().First(),
					ProcessFile:   c.String("process"),
					Args:          c.Args().Tail(),
					Env:           c.StringSlice("env"),
					Cwd:           c.String("cwd"),
					User:          c.String("user"),
					AdditionalGID: c.StringSlice("additional-gids"),
					Tty:           c.Bool("tty"),
					Detach:        c.Bool("detach"),
					PidFile:       c.String("pid-file"),
					ConsoleSocket: c.String("console-socket"),
					PreserveFDs:   c.Int("preserve-fds"),
					Caps:          c.StringSlice("cap"),
					NoNewPrivs:    c.Bool("no-new-privs"),
				})
			},
		},
		{
			Name:      "ps",
			Usage:     "list the processes of a container",
			ArgsUsage: "<container-id> [ps options]",
			Flags: []cli.Flag{
				cli.StringFlag{Name: "format, f", Value: "table", Usage: "table or json (json: host pids)"},
			},
			SkipArgReorder: true,
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, false); err != nil {
					return err
				}
				return runtime.Ps(g, c.Args().First(), c.String("format"), c.Args().Tail(), os.Stdout)
			},
		},
		{
			Name:  "list",
			Usage: "list the containers under --root",
			Flags: []cli.Flag{
				cli.StringFlag{Name: "format, f", Value: "table", Usage: "table or json"},
				cli.BoolFlag{Name: "quiet, q", Usage: "print container ids only"},
			},
			Action: func(c *cli.Context) error {
				return runtime.List(g, c.String("format"), c.Bool("quiet"), os.Stdout)
			},
		},
		{
			Name:      "pause",
			Usage:     "freeze every process of a container",
			ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Pause(g, c.Args().First())
			},
		},
		{
			Name:      "resume",
			Usage:     "thaw a paused container",
			ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Resume(g, c.Args().First())
			},
		},
		{
			Name:      "events",
			Usage:     "print container events (stats, oom) as JSON lines",
			ArgsUsage: "<container-id>",
			Flags: []cli.Flag{
				cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats events"},
				cli.BoolFlag{Name: "stats", Usage: "print one stats event and exit"},
			},
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return runtime.Events(g, c.Args().First(), c.Duration("interval"), c.Bool("stats"), os.Stdout)
			},
		},
		{
			Name:      "update",
			Usage:     "change a container's resource limits (clamped to the tenant quota)",
			ArgsUsage: "<container-id>",
			Description: `Give limits as flags, or as OCI linux.resources JSON with --resources FILE
("-" reads stdin, as containerd does). Sizes accept units: 512M, 1G.`,
			Flags: []cli.Flag{
				cli.StringFlag{Name: "resources, r", Usage: "OCI LinuxResources JSON file, or - for stdin"},
				cli.StringFlag{Name: "blkio-weight", Usage: "block I/O weight (10-1000)"},
				cli.StringFlag{Name: "cpu-period", Usage: "CFS period (µs)"},
				cli.StringFlag{Name: "cpu-quota", Usage: "CFS quota (µs) per period"},
				cli.StringFlag{Name: "cpu-share", Usage: "CPU shares"},
				cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period (refused by the policy)"},
				cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime (refused by the policy)"},
				cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (0-3, 0,1)"},
				cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
				cli.StringFlag{Name: "memory", Usage: "memory limit"},
				cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
				cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit"},
				cli.StringFlag{Name: "pids-limit", Usage: "maximum number of processes"},
				cli.StringFlag{Name: "kernel-memory", Hidden: true},
				cli.StringFlag{Name: "kernel-memory-tcp", Hidden: true},
				cli.StringFlag{Name: "l3-cache-schema", Hidden: true},
				cli.StringFlag{Name: "mem-bw-schema", Hidden: true},
			},
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				o := runtime.UpdateOptions{ID: c.Args().First(), Resources: c.String("resources")}
				var err error
				str := func(name string) *string {
					if !c.IsSet(name) {
						return nil
					}
					v := c.String(name)
					return &v
				}
				u64 := func(name string) *uint64 {
					if err != nil || !c.IsSet(name) {
						return nil
					}
					v, e := strconv.ParseUint(c.String(name), 10, 64)
					if e != nil {
						err = flagErr(name, c.String(name))
					}
					return &v
				}
				i64 := func(name string) *int64 {
					if err != nil || !c.IsSet(name) {
						return nil
					}
					v, e := strconv.ParseInt(c.String(name), 10, 64)
					if e != nil {
						err = flagErr(name, c.String(name))
					}
					return &v
				}
				o.CPUPeriod, o.CPUQuota, o.CPUShares = u64("cpu-period"), i64("cpu-quota"), u64("cpu-share")
				o.CPURtPeriod, o.CPURtRuntime = u64("cpu-rt-period"), i64("cpu-rt-runtime")
				o.CpusetCpus, o.CpusetMems = str("cpuset-cpus"), str("cpuset-mems")
				o.Memory, o.MemoryReservation, o.MemorySwap = str("memory"), str("memory-reservation"), str("memory-swap")
				o.PidsLimit = i64("pids-limit")
				if w := u64("blkio-weight"); w != nil {
					v := uint16(*w)
					o.BlkioWeight = &v
				}
				if err != nil {
					return err
				}
				return runtime.Update(g, o)
			},
		},
		{
			Name:  "features",
			Usage: "print the runtime-spec features document (JSON)",
			Action: func(c *cli.Context) error {
				return runtime.Features(version, gitCommit, os.Stdout)
			},
		},
		{
			Name:  "spec",
			Usage: "write a starter config.json that passes the default tenant policy",
			Flags: []cli.Flag{
				cli.StringFlag{Name: "bundle, b", Usage: "directory to write config.json into"},
				cli.BoolFlag{Name: "rootless", Usage: "a config for rootless use"},
			},
			Action: func(c *cli.Context) error {
				return runtime.Spec(c.String("bundle"), c.Bool("rootless"))
			},
		},
		{
			Name:  "policy",
			Usage: "judge a bundle by its tenant's policy without creating anything",
			Subcommands: []cli.Command{
				{
					Name:  "explain",
					Usage: "print every decision (path, action, old → new, why) and the rewritten config",
					Flags: policyFlags(true),
					Action: func(c *cli.Context) error {
						return runtime.PolicyExplain(g, policyOpts(c), os.Stdout)
					},
				},
				{
					Name:  "check",
					Usage: "exit 0 if the bundle would run, 1 (with the refusal) if not",
					Flags: policyFlags(false),
					Action: func(c *cli.Context) error {
						return runtime.PolicyCheck(g, policyOpts(c), os.Stdout)
					},
				},
			},
		},
		{
			Name:  "config",
			Usage: "check the operator configuration (--config) before putting it in place",
			Subcommands: []cli.Command{
				{
					Name:  "check",
					Usage: "load --config as create does: exit 0 listing the tenants, or 1 with the error naming the bad key",
					Description: "Every create, exec and policy command loads the configuration this way; a file that\n" +
						"fails here makes all of them fail. Check a new file first:\n" +
						"  tenantrun --config /etc/tenantrun/config.toml.new config check && mv config.toml.new config.toml",
					Action: func(c *cli.Context) error {
						if err := checkArgs(c, 0, true); err != nil {
							return err
						}
						return runtime.ConfigCheck(g, os.Stdout)
					},
				},
			},
		},
		{
			Name:  "gc",
			Usage: "remove what crashed invocations left behind (unloadable state, idmapped roots)",
			Action: func(c *cli.Context) error {
				return runtime.GC(g, os.Stdout)
			},
		},
		tenantsCommand,
		metricsCommand,
		seccompCommand,
		{
			Name:   "init",
			Usage:  "internal: the container's first process (run by libcontainer)",
			Hidden: true,
			Action: func(c *cli.Context) error {
				return cli.NewExitError("tenantrun init is internal: libcontainer runs it", 1)
			},
		},
		{
			Name:  "version",
			Usage: "print the version",
			Action: func(c *cli.Context) error {
				cli.ShowVersion(c)
				return nil
			},
		},
	}
}

func flagErr(name, v string) error {
	return &flagError{name, v}
}

type flagError struct{ name, v string }

func (e *flagError) Error() string {
	return "--" + e.name + " " + strconv.Quote(e.v) + ": not a number"
}

func policyFlags(explain bool) []cli.Flag {
	f := []cli.Flag{
		cli.StringFlag{Name: "bundle, b", Usage: "bundle directory (default: current directory)"},
		cli.StringFlag{Name: "id", Usage: "container id to judge the bundle as"},
		cli.BoolFlag{Name: "console-socket", Usage: "judge as if the engine passed --console-socket"},
	}
	if explain {
		f = append(f, cli.StringFlag{Name: "format, f", Value: "text", Usage: "text or json"})
	}
	return f
}

func policyOpts(c *cli.Context) runtime.PolicyOptions {
	return runtime.PolicyOptions{Bundle: c.String("bundle"), ID: c.String("id"), Format: c.String("format"), ConsoleSocket: c.Bool("console-socket")}
}

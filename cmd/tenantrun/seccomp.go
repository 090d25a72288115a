package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli"

	"github.com/tenantrun/tenantrun/runtime"
	"github.com/tenantrun/tenantrun/runtime/seccomptool"
)

var seccompProfileDirFlag = cli.StringFlag{
	Name:   "profile-dir",
	Value:  seccomptool.DefaultProfileDir,
	EnvVar: "TENANTRUN_SECCOMP_DIR",
	Usage:  "operator profile directory (<name>.json; shadows embedded names)",
}

// seccompCommand: `tenantrun seccomp list|show|check|test|log`. See docs/seccomp.md.
var seccompCommand = cli.Command{
	Name:  "seccomp",
	Usage: "list, inspect, validate and try seccomp profiles",
	Subcommands: []cli.Command{
		{
			Name:   "list",
			Usage:  "list the embedded and operator profiles with their allowed-syscall counts",
			Flags:  []cli.Flag{seccompProfileDirFlag},
			Action: func(c *cli.Context) error { return seccomptool.List(os.Stdout, c.String("profile-dir")) },
		},
		{
			Name:      "show",
			Usage:     "print a profile as tenantrun applies it (validated JSON), or its allowed names",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{seccompProfileDirFlag, cli.BoolFlag{Name: "names", Usage: "print only the allowed syscall names"}},
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, true); err != nil {
					return err
				}
				return seccomptool.Show(os.Stdout, c.Args().First(), c.String("profile-dir"), c.Bool("names"))
			},
		},
		{
			Name:      "check",
			Usage:     "validate a profile file (OCI or Docker format) and compile it",
			ArgsUsage: "FILE...",
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, false); err != nil {
					return err
				}
				var errs []error
				for _, f := range c.Args() {
					if err := seccomptool.Check(os.Stdout, f); err != nil {
						errs = append(errs, err)
					}
				}
				return errors.Join(errs...)
			},
		},
		{
			Name:  "test",
			Usage: "run a command on the host under a profile and report the syscalls it was denied",
			Description: `Runs CMD (no container) with PROFILE's filter, every denial turned into a user-space
   notification answered by tenantrun: by default the call is allowed and recorded (audit),
   with --enforce it fails as the profile says. The report covers CMD and all its children.
   PROFILE is an embedded name, a name in --profile-dir, or a path to a .json file.
   Exit status: CMD's.   Example:
     tenantrun seccomp test --rootfs /var/cache/tenantrun-test/debian-web web -- python3 -c 'print(1)'`,
			ArgsUsage: "PROFILE -- CMD [ARG...]",
			Flags: []cli.Flag{
				seccompProfileDirFlag,
				cli.BoolFlag{Name: "enforce", Usage: "deny the calls (as in a container) instead of allowing and recording them"},
				cli.StringFlag{Name: "rootfs", Usage: "chroot into this directory before loading the filter (e.g. a bundle's rootfs)"},
				cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
				cli.DurationFlag{Name: "linger", Value: 2 * time.Second, Usage: "after CMD exits, how long to keep serving processes it left running"},
			},
			Action: func(c *cli.Context) error {
				args := []string(c.Args())
				if len(args) < 2 {
					return fmt.Errorf("usage: tenantrun seccomp test [--enforce] [--rootfs DIR] PROFILE -- CMD [ARG...]")
				}
				profile, cmd := args[0], args[1:]
				if cmd[0] == "--" {
					cmd = cmd[1:]
				}
				res, err := seccomptool.Test(seccomptool.TestOptions{
					Profile: profile, ProfileDir: c.String("profile-dir"), Enforce: c.Bool("enforce"),
					Rootfs: c.String("rootfs"), Linger: c.Duration("linger"), Args: cmd, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
				})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(os.Stderr)
					enc.SetIndent("", "  ")
					_ = enc.Encode(res)
				} else {
					seccomptool.PrintReport(os.Stderr, res, c.Bool("enforce"))
				}
				if res.ExitCode != 0 {
					return &runtime.ExitError{Code: res.ExitCode}
				}
				return nil
			},
		},
		{
			Name:  "log",
			Usage: "print seccomp records (SCMP_ACT_LOG of audit-mode tenants, kills) from the kernel log",
			Flags: []cli.Flag{
				cli.DurationFlag{Name: "since", Usage: "only records newer than this (e.g. 10m); default: the whole buffer"},
				cli.BoolFlag{Name: "follow, f", Usage: "keep printing new records"},
			},
			Action: func(c *cli.Context) error {
				return seccomptool.Log(os.Stdout, seccomptool.LogOptions{Since: c.Duration("since"), Follow: c.Bool("follow")})
			},
		},
		{
			Name:            "__exec",
			Hidden:          true,
			SkipFlagParsing: true,
			Usage:           "internal: the helper `seccomp test` runs",
			Action: func(c *cli.Context) error {
				args := []string(c.Args())
				if len(args) > 0 && args[0] == "--" {
					args = args[1:]
				}
				err := seccomptool.ExecHelper(args)
				fmt.Fprintln(os.Stderr, "tenantrun seccomp:", err)
				os.Exit(127)
				return nil
			},
		},
	},
}

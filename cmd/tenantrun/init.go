package main

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime in the re-executed
	// `tenantrun init` child; without it the parent reads EOF from the pipe.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	// Registers the device-rule managers for cgroup v1/v2.
	_ "github.com/opencontainers/cgroups/devices"
)

// libcontainer re-executes this binary as `tenantrun init` inside the new
// namespaces; hand over before anything else runs. Init never returns.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

//go:build failpoints

package runtime

import (
	"errors"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Failpoints are built only into the test binary (go build -tags failpoints:
// bin/tenantrun-failpoints, `make build-failpoints`); the product has the no-ops of
// failpoint_off.go. FailpointEnv names the environment variable that makes tenantrun kill
// itself (SIGKILL, no cleanup) when it reaches a named phase. Reliability tests use it
// to prove that `delete --force` and `tenantrun gc` leave nothing behind after
// a crash at any point. Several phases may be given, comma-separated.
const FailpointEnv = "TENANTRUN_FAILPOINT"

// Failpoints lists every phase a test can name.
var Failpoints = []string{
	"create:after-policy",
	"create:after-claim",
	"create:after-libcontainer-create",
	"create:after-start",
	"start:before-exec",
	"exec:after-start",
	"delete:before-destroy",
	"leak-fd",     // not a kill: opens the host's / without close-on-exec just before a spawn, to prove fds.Audit refuses
	"no-nftables", // not a kill: the network policy finds no nf_tables, as on a host without the module
}

func failpoint(phase string) {
	v := os.Getenv(FailpointEnv)
	if v == "" {
		return
	}
	for _, p := range strings.Split(v, ",") {
		if strings.TrimSpace(p) == phase {
			logrus.Warnf("failpoint %s: killing tenantrun", phase)
			_ = unix.Kill(os.Getpid(), unix.SIGKILL)
			select {} // SIGKILL is not catchable; never return
		}
	}
}

// failpointLeakFD, under the "leak-fd" failpoint, opens the host's / without
// O_CLOEXEC: the descriptor audit before every spawn must refuse to go on.
func failpointLeakFD() {
	v := os.Getenv(FailpointEnv)
	for _, p := range strings.Split(v, ",") {
		if strings.TrimSpace(p) == "leak-fd" {
			if fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
				logrus.Warnf("failpoint leak-fd: fd %d is the host's / without close-on-exec", fd)
			}
		}
	}
}

// failpointNoNftables, under the "no-nftables" failpoint, is the error of a host whose
// kernel has no nf_tables.
func failpointNoNftables() error {
	for _, p := range strings.Split(os.Getenv(FailpointEnv), ",") {
		if strings.TrimSpace(p) == "no-nftables" {
			return errors.New("failpoint no-nftables: protocol not supported")
		}
	}
	return nil
}

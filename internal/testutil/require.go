// Package testutil holds the helpers shared by tenantrun's integration tests: a busybox rootfs
// fixture, OCI bundles, a runner for the runtime binary, a console-socket receiver and a leak
// checker that proves a test left no state dir, cgroup, mount or process behind.
//
// Prerequisites that are missing skip a test, except when the environment says CI=true: there a
// missing prerequisite is a failure, so CI can never pass by skipping everything.
package testutil

import (
	"os"
	"strings"
	"testing"
)

// CI reports whether the tests run under CI (env CI=true or 1).
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Require skips the test when cond is false, or fails it when running under CI.
func Require(t testing.TB, cond bool, why string) {
	t.Helper()
	if cond {
		return
	}
	if CI() {
		t.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %s", why)
	}
	t.Skipf("prerequisite missing: %s", why)
}

// RequireRoot needs euid 0 (real containers, cgroups, mounts).
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "must run as root (real containers)")
}

// RequireFile needs an existing path.
func RequireFile(t testing.TB, path, why string) {
	t.Helper()
	_, err := os.Stat(path)
	Require(t, err == nil, path+": "+why)
}

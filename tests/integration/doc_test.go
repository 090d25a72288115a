// Package integration drives the runtime binary (bin/tenantrun, or $TENANTRUN_BIN such as
// /usr/sbin/runc for a baseline) as a real OCI runtime: real namespaces, cgroups, mounts.
// Run as root: go test -tags seccomp -p 1 ./tests/integration/...
//
// Every test uses testutil.New, which gives it its own --root and a leak check at the end
// (state dir empty; no cgroup dir in any hierarchy, mount or process mentioning the test's
// container ids or paths).
//
// Knobs: TENANTRUN_BIN, TENANTRUN_TEST_CONFIG / TENANTRUN_TEST_TENANT (--config / --tenant),
// CI=true (missing prerequisites fail), LOAD_WORKERS / LOAD_ITERS / LOAD_TENANTS / LOAD_FULL=1
// (the concurrent lifecycle load test).
package integration

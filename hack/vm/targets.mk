# The nested-VM host (hack/vm): the test binaries of this checkout run inside a Debian 12 guest
# with systemd as PID 1, pure cgroup v2 and AppArmor as the LSM, under both cgroup drivers.
# Knobs: hack/vm/run.sh's header (TENANTRUN_VM_*).
test-vm: deps ## the whole integration and security suites, the hostile corpus and podman in a nested Debian 12 VM (systemd, pure cgroup v2, AppArmor), cgroupfs + systemd drivers (about 80 minutes under TCG, the web compatibility sweep about 18 of them per driver)
	GO='$(GO)' GOTAGS='$(GOTAGS)' BINTAGS='$(BINTAGS)' LDFLAGS='$(LDFLAGS)' SHARED='$(abspath $(SHARED))' hack/vm/run.sh

# What `make test` (CI) runs in the VM, under both drivers: the tests whose subject is the host
# (cgroup v2 files and the tenant parent, the systemd slice, AppArmor, idmapped mounts, the web
# stack under seccomp); the hostile corpus and podman with systemd (cgroupfs on v1 runs on the host,
# both on v2 in `make test-vm`). TENANTRUN_SKIP_VM=1 skips it locally.
VM_CI_RUN ?= ^(TestAppArmorDefaultProfile|TestTenantAggregateMemory|TestTenantAggregatePids|TestTenantUpdateCannotRaise|TestNoisyNeighbour|TestTenantParentConcurrentCreateDelete|TestUpdateMemoryAndPids|TestEventsStats|TestDefaultPolicyApplied|TestIdmapPlainRootfs|TestWebServersUnderWebProfile|TestJoinedNetnsSysfsShowsNoHostCgroups|TestRootIsNodevNosuidOnEveryPath|TestTenantIOThrottle|TestTenantDiskQuota|TestMetricsServeAndWarnings|TestNetPolicyEgress|TestNetPolicyTenantIsolation|TestEngineNetnsLowPortsAndSysctls)$$
test-vm-ci: deps ## the VM checks `make test` runs: host-facing tests, hostile corpus, podman; both drivers (TENANTRUN_SKIP_VM=1 skips outside CI)
	@if [ "$$TENANTRUN_SKIP_VM" = 1 ]; then \
	  if [ "$$CI" = true ]; then echo "test-vm-ci: TENANTRUN_SKIP_VM=1 is not honoured under CI=true"; exit 1; fi; \
	  echo "test-vm-ci: skipped (TENANTRUN_SKIP_VM=1)"; exit 0; fi; \
	TENANTRUN_VM_RUN='$(VM_CI_RUN)' TENANTRUN_VM_SUITES='integration security hostile:systemd podman:systemd' TENANTRUN_VM_OUT='$(CURDIR)/bin/vm-ci' \
	TENANTRUN_VM_TIMEOUT=$${TENANTRUN_VM_TIMEOUT:-1800} \
	GO='$(GO)' GOTAGS='$(GOTAGS)' BINTAGS='$(BINTAGS)' LDFLAGS='$(LDFLAGS)' SHARED='$(abspath $(SHARED))' hack/vm/run.sh

vm-image: ## build the test-vm guest image (once per recipe; cached in /var/cache/tenantrun-vm)
	hack/vm/build-image.sh

.PHONY: test-vm test-vm-ci vm-image

# Tenant quota targets (runtime/tenantcgroup.go, runtime/tenants.go, tests/integration/quota_test.go).
test-quotas: deps build ## tenant quotas: parent-cgroup and tenants tests (root on a real kernel) + integration quota tests incl. the noisy neighbour (NOISY=0 skips it)
	nice $(GO) test -tags '$(GOTAGS)' -count=1 -run 'Tenant|Systemd|CandidateDirs|ScanTenant' ./runtime/ ./runtime/tenantcg/
	nice $(GO) test -tags '$(GOTAGS)' -count=1 -p 1 -timeout 10m -v -run 'TestTenant|TestNoisyNeighbour' ./tests/integration/

tenants: build ## show every tenant's usage against its aggregate quota (bin/tenantrun tenants)
	bin/tenantrun tenants

quotas-v2-prepare: ## build bin/v2-check (static tenantrun + runtime.test + busybox rootfs) for `hack/quotas/v2-check.sh run` on a cgroup v2 host
	hack/quotas/v2-check.sh prepare

.PHONY: test-quotas tenants quotas-v2-prepare

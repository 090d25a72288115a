# Tenant quota targets (runtime/tenantcgroup.go, runtime/tenants.go, tests/integration/quota_test.go).
test-quotas: deps build ## tenant quotas: parent-cgroup, counters, I/O devices, project quota, notify and exporter tests + the integration quota, I/O, disk-quota and metrics tests incl. both noisy neighbours (NOISY=0 skips the CPU/memory one)
	nice $(GO) test -tags '$(GOTAGS)' -count=1 -run 'Tenant|Systemd|CandidateDirs|ScanTenant|Counters|Warning' ./runtime/ ./runtime/tenantcg/
	nice $(GO) test -tags '$(GOTAGS)' -count=1 ./runtime/blkdev/ ./runtime/projquota/ ./runtime/notify/ ./runtime/exporter/...
	nice $(GO) test -tags '$(GOTAGS)' -count=1 -p 1 -timeout 10m -v -run 'TestTenant|TestNoisyNeighbour|TestIONoisyNeighbour|TestMetricsServe' ./tests/integration/

tenants: build ## show every tenant's usage against its aggregate quota (bin/tenantrun tenants)
	bin/tenantrun tenants

quotas-v2-prepare: ## build bin/v2-check (static tenantrun + runtime.test + busybox rootfs) for `hack/quotas/v2-check.sh run` on a cgroup v2 host
	hack/quotas/v2-check.sh prepare

.PHONY: test-quotas tenants quotas-v2-prepare

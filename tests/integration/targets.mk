# Integration-test targets (tests/integration, internal/testutil). Included by the top Makefile
# once its include pattern covers tests/*/targets.mk.
INTEGRATION_GOTEST = $(GO) test -tags '$(GOTAGS)' -count=1 -p 1

integration-runc: ## integration suite against Debian's runc (baseline; policy-only tests skip)
	TENANTRUN_BIN=/usr/sbin/runc $(INTEGRATION_GOTEST) -timeout 30m ./tests/integration/...

integration-load: build ## the 8x500 concurrent lifecycle load over 10 generated tenants (LOAD_FULL=1)
	LOAD_FULL=1 $(INTEGRATION_GOTEST) -timeout 60m -run TestLoadConcurrentLifecycles -v ./tests/integration/

integration-faults: build build-failpoints ## failpoints, concurrency races, bad input and CVE attacks (issue 10)
	$(INTEGRATION_GOTEST) -timeout 30m -run 'TestFailpoints|TestConcurrent|TestDeleteRacing|TestBadInput|TestCVE|TestProcWrites' -v ./tests/integration/

test-compat: deps build rootfs-web ## the web compatibility sweep: real web stacks under the default tenant, and what web would deny each (also in make integration)
	$(INTEGRATION_GOTEST) -timeout 20m -run 'TestWebCompat|TestWebServersUnderWebProfile' -v ./tests/integration/

testutil-selftest: ## self-tests of the shared test helpers (leak checker, console socket)
	$(GO) test -count=1 ./internal/testutil/

.PHONY: integration-runc integration-load integration-faults test-compat testutil-selftest

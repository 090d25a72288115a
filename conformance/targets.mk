# OCI conformance (issue 8): the runtime-tools validation suite against bin/tenantrun in
# passthrough (trusted tenant) and enforcing (default policy) modes, runc side by side.
RUNTIME ?= $(CURDIR)/bin/tenantrun
RUNC ?= /usr/sbin/runc
CONFORMANCE_TARGETS ?= runc,passthrough,enforcing
CONFORMANCE_PROGRAMS ?=
CONFORMANCE_TIMEOUT ?= 120s

conformance: deps build ## OCI runtime-tools suite vs tenantrun (passthrough+enforcing) and runc; fails on non-passes not in conformance/expected.txt
	conformance/run.sh -runtime '$(RUNTIME)' -runc '$(RUNC)' -targets '$(CONFORMANCE_TARGETS)' \
		-programs '$(CONFORMANCE_PROGRAMS)' -timeout '$(CONFORMANCE_TIMEOUT)' \
		-expected expected.txt -tenants tenants.toml -report report.md

conformance-unit: ## unit tests of the conformance harness (TAP parser, expected.txt matching)
	cd conformance && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 $(GO) test -count=1 ./harness/

.PHONY: conformance conformance-unit

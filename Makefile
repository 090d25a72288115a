# tenantrun — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/tenantrun
# The exporter on prometheus/client_golang, a binary of its own: linked into bin/tenantrun,
# client_golang's package init (≈0.6 ms) would run at every container start.
METRICS_BIN := bin/tenantrun-metrics
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GOTAGS := seccomp
# The binary also drops urfave/cli's man/markdown generator (and blackfriday with it): its
# package init ran twice per container start (CLI and `tenantrun init`), ≈0.5 ms each.
BINTAGS := $(GOTAGS),urfave_cli_no_docs
LDFLAGS := -X main.version=$(VERSION) -X main.gitCommit=$(COMMIT)
export CGO_ENABLED := 1
export GOFLAGS := -mod=mod
GO_SOURCES := $(shell find cmd runtime hardening seccomp-profiles internal -name '*.go' 2>/dev/null) go.mod go.sum $(wildcard seccomp-profiles/*.json)

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

deps: ## install what is missing (apt packages, Go modules); idempotent
	hack/install-deps.sh

build: $(BIN) $(METRICS_BIN) ## build bin/tenantrun (cgo, -tags seccomp,urfave_cli_no_docs) and bin/tenantrun-metrics (the exporter `tenantrun metrics serve` runs)

$(BIN): $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -tags '$(BINTAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/tenantrun

$(METRICS_BIN): $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -tags '$(BINTAGS)' -ldflags '-X main.version=$(VERSION)' -o $@ ./cmd/tenantrun-metrics

FP_BIN := bin/tenantrun-failpoints
build-failpoints: $(FP_BIN) ## build bin/tenantrun-failpoints: the test binary with TENANTRUN_FAILPOINT (never the product)

$(FP_BIN): $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -tags '$(BINTAGS),failpoints' -ldflags '$(LDFLAGS)' -o $@ ./cmd/tenantrun

static: ## build a statically linked bin/tenantrun (libseccomp.a)
	@mkdir -p bin
	$(GO) build -tags '$(BINTAGS),netgo,osusergo' -ldflags '$(LDFLAGS) -extldflags -static' -o $(BIN) ./cmd/tenantrun

STATICCHECK_VERSION := v0.8.2
vet: ## go vet, staticcheck (staticcheck.conf) and gofmt check
	$(GO) vet -tags '$(GOTAGS)' ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags '$(GOTAGS)' ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi

unit: ## unit tests (no root needed)
	$(GO) test -tags '$(GOTAGS)' -count=1 ./hardening/... ./seccomp-profiles/... ./runtime/... ./internal/...

integration: deps build build-failpoints probe rootfs-web ## integration tests as root with real containers
	$(GO) test -tags '$(GOTAGS)' -count=1 -p 1 -timeout 30m ./tests/integration/...

SHARED ?= ../shared
hostile: deps build ## the hostile-bundle corpus (../shared/hostile) against bin/tenantrun
	@if [ ! -x $(SHARED)/hostile/run.sh ]; then echo "hostile: $(SHARED)/hostile/run.sh not found"; [ "$$CI" != true ]; exit; fi; \
	RUNTIME=$(CURDIR)/$(BIN) unshare --mount --propagation private $(SHARED)/hostile/run.sh

test: deps build vet unit integration security hostile conformance test-engines fuzz-policy test-vm-ci ## everything CI runs (CI=true makes missing prerequisites fail)

demo: deps build ## install what is missing, build, run a container under the default tenant policy
	hack/demo.sh

bench: deps build bench-timing ## lifecycle benchmarks vs runc (writes docs/benchmarks.md), after the timing targets (bench-timing)
	hack/bench/run.sh

clean: ## remove build outputs
	rm -rf bin

.PHONY: help deps build build-failpoints static vet unit integration hostile test demo bench clean

# Area-specific targets live beside their code.
-include $(wildcard */targets.mk hack/*/targets.mk tests/*/targets.mk)

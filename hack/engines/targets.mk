# Engine setups and tests (hack/engines, tests/engines): podman, containerd (ctr + CRI), dockerd.
engines-install: ## install podman, containerd, docker.io, crictl for the engine tests (idempotent; no daemon started)
	hack/engines/install.sh

engines-up: engines-install ## start podman/containerd/dockerd with private state, runtime wrappers for tenantrun (ENGINES_RUNTIME=runc for the baseline)
	@if [ "$${ENGINES_RUNTIME:-tenantrun}" = tenantrun ]; then $(MAKE) --no-print-directory build; fi
	hack/engines/up.sh all

engines-down: ## stop the engine daemons by PID, remove their containers, bridges and mounts (ENGINES_PURGE=1: also their state)
	hack/engines/down.sh $(if $(ENGINES_PURGE),--purge)

test-engines: build ## real-engine tests: podman, ctr, crictl (RuntimeClass handler) and docker drive bin/tenantrun (root)
	hack/engines/test.sh

engines-bench: ## engine-level `run --rm true` time, tenantrun vs runc, medians and ratio (engines up)
	hack/engines/bench.sh $(ENGINES_BENCH_RUNS)

.PHONY: engines-install engines-up engines-down test-engines engines-bench

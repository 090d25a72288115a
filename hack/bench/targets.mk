# Benchmark targets (hack/bench). `make bench` itself is in the top Makefile.
bench-quick: deps build ## a short benchmark run (small sizes) written to /tmp/tenantrun-bench-quick.md
	BENCH_N=8 BENCH_EXEC_N=5 BENCH_LIST_COUNT=100 BENCH_LIST_N=5 BENCH_CONC=40 BENCH_TENANTS=4 BENCH_PHASE_N=5 \
	  BENCH_OUT=/tmp/tenantrun-bench-quick.md hack/bench/run.sh

bench-go: ## Go micro-benchmarks of the policy and runtime paths (no root needed for the policy ones)
	nice $(GO) test -tags '$(GOTAGS)' -run '^$$' -bench . -benchmem ./hardening/ ./runtime/...

bench-timing: deps build ## the timing targets the tests only report, enforced: idmap cost O(1) in files (<= 1 ms), userns fd < 5 ms, noisy neighbour: B's median HTTP latency within 2x of quiet, I/O noisy neighbour: the quiet tenant's direct-write latency within 2x of quiet, network policy: per-start step <= 2 ms and request throughput within 0.03 of a stateful firewall's floor (part of make bench)
	TENANTRUN_TIMING_CHECK=1 nice $(GO) test -tags '$(GOTAGS)' -count=1 -v -run 'TestIdmapCost$$' ./runtime/idmap/
	TENANTRUN_TIMING_CHECK=1 $(GO) test -tags '$(GOTAGS)' -count=1 -v -run 'TestNetPolicyCost$$' ./runtime/netpolicy/
	TENANTRUN_TIMING_CHECK=1 $(GO) test -tags '$(GOTAGS)' -count=1 -p 1 -timeout 10m -v -run 'TestNoisyNeighbour$$|TestIONoisyNeighbour$$' ./tests/integration/

.PHONY: bench-quick bench-go bench-timing

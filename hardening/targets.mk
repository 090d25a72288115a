# Targets of the policy engine (hardening/). Included by the top Makefile.

policy-test: ## policy engine unit, hostile-case and engine-config tests (no root)
	$(GO) test -tags '$(GOTAGS)' -count=1 ./hardening/...

# The budgets are execution counts, not durations: with a duration (-fuzztime 30s) Go 1.26's
# fuzz coordinator can fail a run that found nothing with a bare "context deadline exceeded"
# when the deadline fires while a worker is mid-batch (go.dev/issue/75804, fixed in Go 1.27);
# CI hit it on a loaded 2-core runner. A count has no deadline to race. About 30 s each here.
# FUZZTIME (a duration or a count such as 5000x) overrides both; -timeout catches a real hang.
FUZZ_ENFORCE_EXECS ?= 150000x
FUZZ_MUTATIONS_EXECS ?= 30000x

fuzz-policy: ## fuzz the policy (150k raw-JSON inputs + 30k structured edits, ~1 min): no panic, invariants hold, Enforce(Enforce(x)) == Enforce(x)
	$(GO) test -tags '$(GOTAGS)' -timeout 15m -run '^$$' -fuzz FuzzEnforce -fuzztime $${FUZZTIME:-$(FUZZ_ENFORCE_EXECS)} ./hardening
	$(GO) test -tags '$(GOTAGS)' -timeout 15m -run '^$$' -fuzz FuzzPolicyMutations -fuzztime $${FUZZTIME:-$(FUZZ_MUTATIONS_EXECS)} ./hardening

bench-policy: ## BenchmarkEnforce on Docker's default config (target <= 200us/op)
	$(GO) test -tags '$(GOTAGS)' -run '^$$' -bench 'Enforce|DecodeSpec' -benchmem ./hardening

# Targets of the policy engine (hardening/). Included by the top Makefile.

policy-test: ## policy engine unit, hostile-case and engine-config tests (no root)
	$(GO) test -tags '$(GOTAGS)' -count=1 ./hardening/...

fuzz-policy: ## fuzz the policy 30s on raw JSON + 30s on structured edits: no panic, invariants hold, Enforce(Enforce(x)) == Enforce(x)
	$(GO) test -tags '$(GOTAGS)' -run '^$$' -fuzz FuzzEnforce -fuzztime $${FUZZTIME:-30s} ./hardening
	$(GO) test -tags '$(GOTAGS)' -run '^$$' -fuzz FuzzPolicyMutations -fuzztime $${FUZZTIME:-30s} ./hardening

bench-policy: ## BenchmarkEnforce on Docker's default config (target <= 200us/op)
	$(GO) test -tags '$(GOTAGS)' -run '^$$' -bench 'Enforce|DecodeSpec' -benchmem ./hardening

seccomp-check: ## validate and compile every embedded profile; print allowed-syscall counts
	$(GO) test -tags '$(GOTAGS)' -count=1 -run 'TestEmbedded|TestValidate|TestWebProfileShape|TestParse|TestOperatorDir|TestAudit' -v ./seccomp-profiles/ | grep -E 'allowed|ok|FAIL'

seccomp-bench: ## benchmark compile (+load in a child) of web.json vs a 434-syscall profile
	$(GO) test -tags '$(GOTAGS)' -count=1 -run '^$$' -bench . -benchtime 200x ./seccomp-profiles/

seccomp-gen: ## regenerate web/compat/strict.json from seccomp-profiles/tools/genprofiles.py
	python3 seccomp-profiles/tools/genprofiles.py seccomp-profiles

.PHONY: seccomp-check seccomp-bench seccomp-gen

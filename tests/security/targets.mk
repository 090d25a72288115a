# The red-team suite (tests/security): each escape class of issue 13 attacked through its
# mechanism, not only the instance that first broke it. Needs root, bin/tenantrun and the
# busybox rootfs; run by `make test`.
security: deps build build-failpoints ## red-team suite: descriptors, path races, namespace identity, engine layouts, absent fields, options, audit floor
	$(GO) test -tags '$(GOTAGS)' -count=1 -p 1 -timeout 30m ./tests/security/...

.PHONY: security

# The nested-VM host (hack/vm): the test binaries of this checkout run inside a Debian 12 guest
# with systemd as PID 1, pure cgroup v2 and AppArmor as the LSM, under both cgroup drivers.
# Not part of `make test` yet. Knobs: hack/vm/run.sh's header (TENANTRUN_VM_*).
test-vm: deps ## suites in a nested Debian 12 VM (systemd, pure cgroup v2, AppArmor), cgroupfs + systemd drivers; CI=true: missing qemu fails
	GO='$(GO)' GOTAGS='$(GOTAGS)' BINTAGS='$(BINTAGS)' LDFLAGS='$(LDFLAGS)' hack/vm/run.sh

vm-image: ## build the test-vm guest image (once per recipe; cached in /var/cache/tenantrun-vm)
	hack/vm/build-image.sh

.PHONY: test-vm vm-image

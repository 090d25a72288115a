rootfs-busybox: ## build a busybox rootfs in ROOTFS_DIR (default /tmp/tenantrun-busybox)
	hack/rootfs/mk-busybox.sh $${ROOTFS_DIR:-/tmp/tenantrun-busybox}

rootfs-web: probe ## build (once; cached in /var/cache/tenantrun-test) the Debian rootfs with nginx, php-fpm, python3, nodejs
	hack/rootfs/mk-debian-web.sh

probe: ## build the static seccomp probe hack/rootfs/probe/tenantrun-probe
	$(MAKE) -s -C hack/rootfs/probe

.PHONY: rootfs-busybox rootfs-web probe

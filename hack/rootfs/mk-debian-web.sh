#!/usr/bin/env bash
# Builds (once) a Debian bookworm rootfs holding the web stacks of the integration tests and
# the compatibility sweep (nginx, php-fpm and php-cli with opcache, Apache httpd, python3 with
# gunicorn, nodejs, redis, memcached, ImageMagick, curl/openssl, and a Go HTTP server built
# here), cached under /var/cache/tenantrun-test/debian-web.
# Usage: mk-debian-web.sh            -> prints the cached rootfs directory (builds it if missing)
#        mk-debian-web.sh --rebuild  -> throws the cache away and builds again
# A cache hit takes well under a second. A build takes a few minutes (debootstrap + apt).
# The rootfs is meant to be used read-only as a bundle root (tenantrun forces a read-only root);
# everything the test scripts write goes to /tmp.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${TENANTRUN_TEST_CACHE:-/var/cache/tenantrun-test}"
DEST="$CACHE/debian-web"
STAMP="$DEST/.tenantrun-debian-web"
VERSION=4 # bump when the package set or the setup below changes
MIRROR="${DEBIAN_MIRROR:-}"
PKGS=(nginx-full php-fpm php-cli php8.2-opcache apache2 python3 gunicorn nodejs redis-server redis-tools memcached
  imagemagick openssl busybox curl ca-certificates)

if [[ "${1:-}" != "--rebuild" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  # refresh the probe if it is newer than the copy in the rootfs (cheap)
  if [[ -x "$here/probe/tenantrun-probe" && "$here/probe/tenantrun-probe" -nt "$DEST/usr/local/bin/tenantrun-probe" ]]; then
    install -m 0755 "$here/probe/tenantrun-probe" "$DEST/usr/local/bin/tenantrun-probe"
  fi
  echo "$DEST"
  exit 0
fi

[[ $(id -u) == 0 ]] || { echo "mk-debian-web: must run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "mk-debian-web: debootstrap missing (hack/install-deps.sh)" >&2; exit 1; }

if [[ -z "$MIRROR" ]]; then
  # use the mirror this host's apt already uses (deb822 or one-line format)
  MIRROR=$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -n "$MIRROR" ]] || MIRROR=$(grep -hoE '^deb[[:space:]]+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  [[ -n "$MIRROR" ]] || MIRROR=http://deb.debian.org/debian
fi

mkdir -p "$CACHE"
work="$CACHE/debian-web.build.$$"
procmounted=""
cleanup() {
  if [[ -n "$procmounted" ]]; then umount "$work/proc" 2>/dev/null || umount -l "$work/proc" || true; fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

echo "mk-debian-web: debootstrap bookworm from $MIRROR into $work" >&2
debootstrap --variant=minbase bookworm "$work" "$MIRROR" >&2

# no daemons started by postinst scripts inside the chroot
printf '#!/bin/sh\nexit 101\n' >"$work/usr/sbin/policy-rc.d"
chmod 0755 "$work/usr/sbin/policy-rc.d"
mount -t proc proc "$work/proc"
procmounted=1
chroot "$work" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
chroot "$work" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >&2
chroot "$work" apt-get clean
umount "$work/proc"
procmounted=""
rm -f "$work/usr/sbin/policy-rc.d"
rm -rf "$work/var/lib/apt/lists/"*

# php-fpm's binary has a version in its name; give it a stable one
fpm=$(cd "$work/usr/sbin" && ls php-fpm* | head -n1)
ln -sf "$fpm" "$work/usr/sbin/php-fpm"
# the web test scripts live in the image (read-only root; they write only under /tmp)
mkdir -p "$work/usr/local/bin"
if [[ -x "$here/probe/tenantrun-probe" ]]; then
  install -m 0755 "$here/probe/tenantrun-probe" "$work/usr/local/bin/tenantrun-probe"
fi
# the sweep's Go HTTP server, static (the rootfs has no Go toolchain)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
(cd "$here/web/goserver" && CGO_ENABLED=0 "$GO" build -trimpath -o "$work/usr/local/bin/goserver" .) >&2
# make everything readable by any uid: inside the container's user namespace host root maps to nobody
chmod -R a+rX "$work" 2>/dev/null || true

echo "$VERSION" >"$work/.tenantrun-debian-web"
rm -rf --one-file-system "$DEST"
mv "$work" "$DEST"
trap - EXIT
echo "$DEST"

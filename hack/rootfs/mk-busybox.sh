#!/usr/bin/env bash
# mk-busybox.sh DIR — a minimal rootfs: busybox-static with one symlink per applet,
# /etc/passwd and /etc/group (root, user 1000, nobody), and the syscall probe when it has been built
# (hack/rootfs/probe: make -C hack/rootfs/probe). DIR is created; existing content is kept.
# Takes well under a second; used by tests, the demo and the benchmarks.
set -euo pipefail
dir="${1:?usage: mk-busybox.sh DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
bb="${BUSYBOX:-}"
if [[ -z "$bb" ]]; then
  for c in /bin/busybox /usr/bin/busybox; do
    if [[ -x "$c" ]] && file -L "$c" 2>/dev/null | grep -q 'statically linked'; then bb=$c; break; fi
    [[ -x "$c" ]] && ! command -v file >/dev/null && { bb=$c; break; }
  done
fi
[[ -n "$bb" ]] || { echo "mk-busybox: a static busybox is needed (apt-get install busybox-static)" >&2; exit 1; }

mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,tmp,run,root,var/www,var/tmp,home/user,mnt}
chmod 1777 "$dir/tmp"
install -m 0755 "$bb" "$dir/bin/busybox"
# one symlink per applet, at the path busybox says it lives
"$dir/bin/busybox" --list-full | while read -r applet; do
  [[ -e "$dir/$applet" || -L "$dir/$applet" ]] && continue
  mkdir -p "$dir/$(dirname "$applet")"
  ln -s /bin/busybox "$dir/$applet"
done
[[ -e "$dir/bin/sh" ]] || ln -s /bin/busybox "$dir/bin/sh"
cat >"$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$dir/etc/group" <<'G'
root:x:0:
user:x:1000:
nogroup:x:65534:
G
echo 'hosts: files' >"$dir/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$dir/etc/hosts"
if [[ -x "$here/probe/tenantrun-probe" ]]; then
  install -m 0755 "$here/probe/tenantrun-probe" "$dir/usr/local/bin/tenantrun-probe"
fi

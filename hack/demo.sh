#!/usr/bin/env bash
# make demo: run one container under the built-in default tenant policy and show
# what the policy did (no config file needed). Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/tenantrun
work=$(mktemp -d /tmp/tenantrun-demo.XXXXXX)
root=$work/state
cleanup() {
  "$BIN" --root "$root" delete --force demo >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

hack/rootfs/mk-busybox.sh "$work/bundle/rootfs" >/dev/null
chmod 0600 "$work/bundle/rootfs/etc/passwd"   # a root-only file: readable inside thanks to the idmapped rootfs
(cd "$work/bundle" && "$BIN" spec)
# An engine-like bundle: it asks for more than the policy gives.
jq '.process.args = ["sh", "-c", "
  echo \"id:            $(id)\";
  echo \"uid_map:       $(cat /proc/self/uid_map | tr -s \" \")\";
  echo \"root file:     $(head -c 40 /etc/passwd | head -1) (0600, owned by host root)\";
  echo \"capabilities:  $(grep CapEff /proc/self/status | cut -f2)\";
  echo \"seccomp:       $(grep ^Seccomp: /proc/self/status | cut -f2) (2 = filter)\";
  echo \"no_new_privs:  $(grep NoNewPrivs /proc/self/status | cut -f2)\";
  touch /x 2>/dev/null && echo \"root:          WRITABLE\" || echo \"root:          read-only\";
  echo scratch >/tmp/s && echo \"/tmp:          $(grep \" /tmp \" /proc/mounts | cut -d\" \" -f3,4)\";
  unshare -U true 2>/dev/null && echo \"unshare:       ALLOWED\" || echo \"unshare:       denied\";
  echo \"memory limit:  $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\";
  echo \"pids limit:    $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)\""]
  | .process.capabilities.bounding += ["CAP_NET_RAW", "CAP_MKNOD"]
  | .process.capabilities.effective += ["CAP_NET_RAW", "CAP_MKNOD"]
  | .process.capabilities.permitted += ["CAP_NET_RAW", "CAP_MKNOD"]
  | .process.noNewPrivileges = false
  | .root.readonly = false' "$work/bundle/config.json" >"$work/c.json"
mv "$work/c.json" "$work/bundle/config.json"

echo "== tenantrun $("$BIN" --version | head -1), built-in default tenant (no --config file)"
echo
echo "== what the policy would change (tenantrun policy explain):"
"$BIN" --root "$root" policy explain --bundle "$work/bundle" --id demo | sed -n '1,/^rewritten/p' | grep -v '^rewritten'
echo "== inside the container:"
"$BIN" --root "$root" run --bundle "$work/bundle" demo </dev/null
echo
echo "== a hostile bundle (privileged-shaped: CAP_SYS_ADMIN) is refused:"
jq '.process.capabilities.bounding += ["CAP_SYS_ADMIN"]' "$work/bundle/config.json" >"$work/c.json" && mv "$work/c.json" "$work/bundle/config.json"
if "$BIN" --root "$root" run --bundle "$work/bundle" demo </dev/null; then
  echo "demo: the hostile bundle was NOT refused" >&2; exit 1
fi
left=$(ls -A "$root" 2>/dev/null; grep -c "tenantrun-rootfs/.*-demo/" /proc/self/mountinfo || true)
[ "$left" = "0" ] || { echo "demo: left behind: $left" >&2; exit 1; }
echo
echo "demo OK: nothing left behind (state dir empty, no mounts)"

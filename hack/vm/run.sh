#!/usr/bin/env bash
# `make test-vm`: runs the checkout's test binaries inside a nested Debian 12 VM (systemd as
# PID 1, pure cgroup v2, AppArmor as the LSM) with both cgroup drivers, and brings their logs
# and exit status back.
#
#   1. qemu: installed when missing (apt, idempotent); without it the target skips, or fails
#      under CI=true.
#   2. the guest image: hack/vm/build-image.sh (cached per recipe under /var/cache/tenantrun-vm).
#   3. the payload, built here: bin/tenantrun, `go test -c -tags seccomp` of the suites asked
#      for (tests/integration, tests/security, tests/engines for podman), the noisy-neighbour
#      probe, the seccomp probe, the repo's tracked files (tests find the repo by its go.mod),
#      ../shared/hostile for the corpus, the Debian web rootfs and the engine images when cached.
#   4. qemu boots the image (snapshot: the cached image is never written) with the payload as a
#      second disk (ext4 made here), a 9p share for the results and no network; a systemd unit
#      runs hack/vm/guest-run.sh from the payload and powers off.
#   5. results in $TENANTRUN_VM_OUT (default bin/vm): guest.log, one log per suite and driver,
#      summary.txt; the exit status is the guest's.
#
# Knobs: TENANTRUN_VM_DRIVERS ("cgroupfs systemd"), TENANTRUN_VM_SUITES ("integration security
# hostile podman": the Go suites, ../shared/hostile/run.sh, tests/engines' TestPodman with podman's
# cgroup manager as the driver; "suite:driver" runs that suite with one driver only), TENANTRUN_VM_RUN (a -test.run regexp for integration and
# security), TENANTRUN_VM_RUN_ENGINES (for podman's, TestPodman), TENANTRUN_VM_ACCEL (tcg; kvm only where it boots
# Debian's kernel, not on kvm_pvm hosts), TENANTRUN_VM_MEM (MiB, 2048), TENANTRUN_VM_CPUS (2),
# TENANTRUN_VM_TIMEOUT (s, 7200: the whole VM), TENANTRUN_VM_WEB (1: copy the web rootfs in);
# CI, NOISY, LOAD_WORKERS, LOAD_ITERS are passed on to the suites.
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/vm/lib.sh
GO=${GO:-go}
GOTAGS=${GOTAGS:-seccomp}
BINTAGS=${BINTAGS:-seccomp,urfave_cli_no_docs}
LDFLAGS=${LDFLAGS:-}
OUTDIR=${TENANTRUN_VM_OUT:-$PWD/bin/vm}
SHARED=${SHARED:-$PWD/../shared}
ACCEL=${TENANTRUN_VM_ACCEL:-tcg}
is_ci() { case "${CI:-}" in true | 1 | yes) return 0 ;; esac; return 1; }
skip() {
  if is_ci; then vm_log "FAIL (CI=true): $*"; exit 1; fi
  vm_log "SKIP: $*"; exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, the guest's files owned by root)"
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null; then
  if [ "${TENANTRUN_VM_NO_INSTALL:-}" != 1 ] && command -v apt-get >/dev/null; then
    vm_log "installing qemu-system-x86 qemu-utils"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      qemu-system-x86 qemu-utils >/dev/null 2>&1 ||
      { apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get \
        -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends qemu-system-x86 qemu-utils >/dev/null; } || true
  fi
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86 qemu-utils)"
fi
command -v debootstrap >/dev/null || skip "debootstrap not found (make deps)"

t_all=$SECONDS
img=$(hack/vm/build-image.sh)
t_img=$((SECONDS - t_all))

tmp=$(mktemp -d /var/tmp/tenantrun-vm.XXXXXX)
qpid=
# qpid is timeout(1)'s: TERM is passed on to qemu; if qemu outlives it, its child is killed.
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    kill -TERM "$qpid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    pkill -KILL -P "$qpid" 2>/dev/null || true
    kill -KILL "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The payload. Binaries are built into it (never into bin/, which may hold a static build).
t0=$SECONDS
pay=$tmp/payload
repo=$pay/repo
mkdir -p "$repo" "$tmp/share/out"
git ls-files -z | tar --null -cf - -T - | tar -xf - -C "$repo"
export CGO_ENABLED=1 GOFLAGS=-mod=mod
nice -n 19 "$GO" build -tags "$BINTAGS" -ldflags "$LDFLAGS" -o "$repo/bin/tenantrun" ./cmd/tenantrun
nice -n 19 "$GO" build -tags "$BINTAGS,failpoints" -ldflags "$LDFLAGS" -o "$repo/bin/tenantrun-failpoints" ./cmd/tenantrun
nice -n 19 "$GO" build -tags "$BINTAGS" -ldflags "$LDFLAGS" -o "$repo/bin/tenantrun-metrics" ./cmd/tenantrun-metrics
suites=${TENANTRUN_VM_SUITES:-integration security hostile podman}
for s in $suites; do
  case ${s%%:*} in
    integration | security) nice -n 19 "$GO" test -c -tags "$GOTAGS" -o "$repo/tests/${s%%:*}/${s%%:*}.test" "./tests/${s%%:*}" ;;
    podman) nice -n 19 "$GO" test -c -tags "$GOTAGS" -o "$repo/tests/engines/engines.test" ./tests/engines ;;
    hostile)
      if [ -x "$SHARED/hostile/run.sh" ]; then cp -a "$SHARED/hostile" "$pay/hostile"
      elif is_ci; then vm_log "FAIL (CI=true): $SHARED/hostile/run.sh not found"; exit 1
      else vm_log "no $SHARED/hostile/run.sh: the hostile suite is left out"; fi ;;
    *) vm_log "unknown suite $s (integration, security, hostile, podman)"; exit 2 ;;
  esac
done
CGO_ENABLED=0 nice -n 19 "$GO" build -o "$pay/fetch" ./tests/integration/testdata/fetch/main.go
if command -v gcc >/dev/null; then
  nice -n 19 make -s -C hack/rootfs/probe >/dev/null && cp -p hack/rootfs/probe/tenantrun-probe "$repo/hack/rootfs/probe/"
fi
mkdir -p "$pay/cache"
# The busybox rootfs template: the guest's busybox-static is Debian 12's, as is the host's, so
# the cache key usually matches (building it under emulation takes ~3 min: a fork per applet).
for d in /var/cache/tenantrun-test/busybox-*; do
  if [ -e "$d/.complete" ]; then cp -a "$d" "$pay/cache/"; fi
done
# The engine images (hack/engines/images.sh archives, keyed by the same busybox and catatonit
# as the guest's) when the host has them: podman loads them instead of building them.
if ls /var/cache/tenantrun-test/images/*.docker.tar >/dev/null 2>&1; then
  mkdir -p "$pay/cache/images" && cp -p /var/cache/tenantrun-test/images/*.docker.tar "$pay/cache/images/"
fi
# promtool (make deps takes it out of Debian's prometheus package) for the exporter test.
if [ -x /var/cache/tenantrun-test/bin/promtool ]; then
  mkdir -p "$pay/cache/bin" && cp -p /var/cache/tenantrun-test/bin/promtool "$pay/cache/bin/"
fi
web=/var/cache/tenantrun-test/debian-web
if [ "${TENANTRUN_VM_WEB:-1}" = 1 ] && [ -f "$web/.tenantrun-debian-web" ]; then
  cp -a "$web" "$pay/cache/"
fi
cp hack/vm/guest-run.sh "$pay/guest-run.sh"
{
  echo "VM_DRIVERS='${TENANTRUN_VM_DRIVERS:-cgroupfs systemd}'"
  echo "VM_SUITES='$suites'"
  echo "VM_RUN='${TENANTRUN_VM_RUN:-}'"
  echo "VM_RUN_ENGINES='${TENANTRUN_VM_RUN_ENGINES:-}'"
  echo "VM_CI='${CI:-}'"
  echo "VM_NOISY='${NOISY:-}'"
  echo "VM_LOAD_WORKERS='${LOAD_WORKERS:-}'"
  echo "VM_LOAD_ITERS='${LOAD_ITERS:-}'"
  echo "VM_HOST_START=$(date +%s)"
} >"$pay/env"
# The payload disk: ext4 from the directory (no mount), room for the tests' caches.
kb=$(du -sk "$pay" | cut -f1)
truncate -s $(((kb + 1024 * 1024) * 1024)) "$tmp/payload.img"
mkfs.ext4 -q -F -L payload -E root_owner=0:0 -d "$pay" "$tmp/payload.img"
rm -rf "$pay"
t_payload=$((SECONDS - t0))
vm_log "image $img ($t_img s), payload $((kb / 1024)) MiB ($t_payload s)"

# Boot. TMPDIR: qemu's snapshot overlay goes to the temp dir, removed with it.
accel=(-accel tcg,thread=multi -cpu qemu64)
[ "$ACCEL" = kvm ] && accel=(-accel kvm -cpu host)
t0=$SECONDS
rc=0
TMPDIR=$tmp timeout --kill-after=10 "${TENANTRUN_VM_TIMEOUT:-7200}" nice -n "${TENANTRUN_VM_NICE:-19}" qemu-system-x86_64 \
  "${accel[@]}" -m "${TENANTRUN_VM_MEM:-2048}" -smp "${TENANTRUN_VM_CPUS:-2}" \
  -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
  -append "console=ttyS0 root=/dev/vda rw quiet panic=-1 systemd.show_status=0" \
  -drive file="$img/root.img",format=raw,if=virtio,snapshot=on \
  -drive file="$tmp/payload.img",format=raw,if=virtio \
  -virtfs local,path="$tmp/share",mount_tag=share,security_model=passthrough,id=share \
  -nic none -no-reboot -display none -monitor none -serial file:"$tmp/console.log" &
qpid=$!
wait "$qpid" || rc=$?
qpid=
t_vm=$((SECONDS - t0))

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
cp -a "$tmp/share/out/." "$OUTDIR/" 2>/dev/null || true
cp "$tmp/console.log" "$OUTDIR/console.log" 2>/dev/null || true
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  vm_log "the VM ran past TENANTRUN_VM_TIMEOUT=${TENANTRUN_VM_TIMEOUT:-7200} s; console: $OUTDIR/console.log"
  tail -20 "$OUTDIR/console.log" >&2 || true
  exit 1
fi
if [ ! -f "$OUTDIR/rc" ]; then
  vm_log "the guest wrote no exit status (qemu rc $rc); console: $OUTDIR/console.log"
  tail -30 "$OUTDIR/console.log" >&2 || true
  exit 1
fi
grc=$(cat "$OUTDIR/rc")
{
  echo "host: image ${t_img}s, payload ${t_payload}s, VM ${t_vm}s (qemu rc $rc, accel $ACCEL), total $((SECONDS - t_all))s"
  cat "$OUTDIR/summary.txt" 2>/dev/null || true
} | tee "$OUTDIR/summary-host.txt" >&2
vm_log "results in $OUTDIR (guest exit status $grc)"
exit "$grc"

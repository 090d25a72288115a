#!/bin/bash
# Runs inside the VM (from the payload, as root, systemd as PID 1): reports what kind of host
# this is, then each suite with each cgroup driver. $1: the output dir on the 9p share.
# Exit status: 0 when every suite passed.
set -u
out=$1
. /payload/env
repo=/payload/repo
cache=/payload/cache # the Debian web rootfs when the host had it; the busybox rootfs is built here
mkdir -p "$cache"
summary=$out/summary.txt
: >"$summary"
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

{
  echo "== guest"
  echo "kernel $(uname -r); $(systemctl --version | head -1); PID 1 $(cat /proc/1/comm)"
  echo "boot (kernel start to this script): $(cut -d' ' -f1 /proc/uptime) s"
  echo "cgroup mounts: $(grep cgroup /proc/mounts | awk '{print $2"("$3")"}' | tr '\n' ' ')"
  echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "LSM: $(cat /sys/kernel/security/lsm 2>/dev/null)"
  echo "apparmor: $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)"
  echo "cpus $(nproc), memory $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo)"
} | tee -a "$summary"

env_common=(TENANTRUN_TEST_CACHE="$cache" TENANTRUN_TEST_NO_DEBOOTSTRAP=1 TENANTRUN_TEST_FETCH_BIN=/payload/fetch PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
[ -n "$VM_CI" ] && env_common+=(CI="$VM_CI")
[ -n "$VM_NOISY" ] && env_common+=(NOISY="$VM_NOISY")
[ -n "$VM_LOAD_WORKERS" ] && env_common+=(LOAD_WORKERS="$VM_LOAD_WORKERS")
[ -n "$VM_LOAD_ITERS" ] && env_common+=(LOAD_ITERS="$VM_LOAD_ITERS")
rc=0
# Suite by suite, each with every driver: the integration suite's two passes come first.
for s in $VM_SUITES; do
  for drv in $VM_DRIVERS; do
    denv=()
    [ "$drv" = systemd ] && denv=(TENANTRUN_TEST_SYSTEMD_CGROUP=1)
    bin=$repo/tests/$s/$s.test
    [ -x "$bin" ] || continue
    log=$out/$s-$drv.log
    args=(-test.count=1 -test.v -test.timeout=60m)
    [ -n "$VM_RUN" ] && args+=(-test.run "$VM_RUN")
    t0=$(now)
    (cd "$repo/tests/$s" && env "${env_common[@]}" "${denv[@]}" "$bin" "${args[@]}") >"$log" 2>&1
    src=$?
    t1=$(now)
    pass=$(grep -c '^--- PASS' "$log"); fail=$(grep -c '^--- FAIL' "$log"); skipn=$(grep -c '^--- SKIP' "$log")
    echo "== $s ($drv): exit $src in $(el "$t0" "$t1") s: $pass passed, $fail failed, $skipn skipped (top level)" | tee -a "$summary"
    grep '^--- FAIL' "$log" | sed 's/^/   /' | tee -a "$summary"
    [ "$src" = 0 ] || rc=1
    if [ "$drv" = systemd ]; then
      echo "   tenantrun units left: $(systemctl list-units --all --no-legend 'tenantrun*' 2>/dev/null | wc -l)" | tee -a "$summary"
    fi
    # Whatever a failed test left (cgroups, mounts) stays in this VM only.
  done
done
exit "$rc"

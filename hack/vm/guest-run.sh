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

env_common=(TENANTRUN_TEST_REQUIRE_APPARMOR=1 TENANTRUN_TEST_CACHE="$cache" TENANTRUN_TEST_NO_DEBOOTSTRAP=1 TENANTRUN_TEST_FETCH_BIN=/payload/fetch PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
[ -n "$VM_CI" ] && env_common+=(CI="$VM_CI")
[ -n "$VM_NOISY" ] && env_common+=(NOISY="$VM_NOISY")
[ -n "$VM_LOAD_WORKERS" ] && env_common+=(LOAD_WORKERS="$VM_LOAD_WORKERS")
[ -n "$VM_LOAD_ITERS" ] && env_common+=(LOAD_ITERS="$VM_LOAD_ITERS")
rc=0
# One suite with one driver; its log is $out/<suite>-<driver>.log. Prints the summary line.
run_go() { # suite driver log
  local s=$1 bin=$repo/tests/$1/$1.test run=$VM_RUN args=(-test.count=1 -test.v -test.timeout=60m)
  [ "$s" = engines ] && run=${VM_RUN_ENGINES:-TestPodman}
  [ -n "$run" ] && args+=(-test.run "$run")
  (cd "$repo/tests/$s" && env "${env_common[@]}" "${denv[@]}" "$bin" "${args[@]}") >"$3" 2>&1
}
# The hostile corpus (../shared/hostile, copied to /payload/hostile) against bin/tenantrun;
# the systemd driver through a wrapper that adds --systemd-cgroup.
# The runner's cgroup jail (HOSTILE_JAIL=1) cannot work on pure v2: it binds a child cgroup
# over /sys/fs/cgroup and puts the runtime's process in it, and a v2 cgroup that holds a
# process cannot give controllers to children (the no-internal-process rule), so the
# tenant parent below it gets no pids.max. Here the VM is the jail (nothing of the host's
# hierarchy is reachable), and what the jail checked per case is checked once after the
# run: no container cgroup and no process left below the tenant parents.
run_hostile() { # driver log
  local rt=$repo/bin/tenantrun jail=1 r left
  if [ "$1" = systemd ]; then
    rt=/run/tenantrun-vm-systemd; printf '#!/bin/sh\nexec %s --systemd-cgroup "$@"\n' "$repo/bin/tenantrun" >"$rt"; chmod 755 "$rt"
  fi
  # On v2 the corpus cases that read v1 limit files inside the container run as their twins
  # in hack/vm/hostile-v2 (same bundle, v2 files); a twin must replace a corpus case.
  local cases=/payload/hostile/cases f
  if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
    jail=0 cases=/run/tenantrun-vm-hostile-cases
    rm -rf "$cases" && cp -r /payload/hostile/cases "$cases"
    for f in "$repo"/hack/vm/hostile-v2/*.json; do
      [ -f "$f" ] || { echo "FAIL twins: none in $repo/hack/vm/hostile-v2 (untracked? the payload holds tracked files)" >"$2"; return 1; }
      [ -f "$cases/${f##*/}" ] || { echo "FAIL twin ${f##*/}: no such corpus case" >"$2"; return 1; }
      cp "$f" "$cases/"
    done
  fi
  env "${env_common[@]}" RUNTIME="$rt" VERBOSE=1 HOSTILE_JAIL=$jail CASES_DIR="$cases" unshare --mount --propagation private /payload/hostile/run.sh >"$2" 2>&1
  r=$?
  if [ "$jail" = 0 ]; then
    left=$(find /sys/fs/cgroup/tenantrun /sys/fs/cgroup/tenantrun.slice -mindepth 2 -type d 2>/dev/null)
    left+=$(cat $(find /sys/fs/cgroup/tenantrun /sys/fs/cgroup/tenantrun.slice -name cgroup.procs 2>/dev/null) 2>/dev/null)
    if [ -n "$left" ]; then echo "FAIL leak-check: left below the tenant parents: $left" >>"$2"; r=1
    else echo "PASS leak-check: no container cgroup or process left below the tenant parents (HOSTILE_JAIL=0: the VM is the jail)" >>"$2"; fi
  fi
  return $r
}
# podman driving tenantrun (tests/engines TestPodman): podman's cgroup manager is the driver.
run_podman() { # driver log
  (
    cd "$repo"
    export ENGINES_PODMAN_CGROUP_MANAGER=$1 ENGINES_RUNTIME=tenantrun ENG_CACHE=$cache
    hack/engines/down.sh && hack/engines/up.sh podman &&
      (cd tests/engines && env "${env_common[@]}" ENGINES_PODMAN_CGROUP_MANAGER="$1" ./engines.test -test.count=1 -test.v -test.timeout=30m -test.run "${VM_RUN_ENGINES:-TestPodman}")
    r=$?
    hack/engines/down.sh || r=1
    hack/engines/check-clean.sh || r=1
    exit $r
  ) >"$2" 2>&1
}
# Suite by suite, each with every driver ("suite:driver" names one driver for that suite).
for sd in $VM_SUITES; do
  s=${sd%%:*} drivers=$VM_DRIVERS
  [ "$s" != "$sd" ] && drivers=${sd#*:}
  for drv in $drivers; do
    denv=()
    [ "$drv" = systemd ] && denv=(TENANTRUN_TEST_SYSTEMD_CGROUP=1)
    log=$out/$s-$drv.log
    t0=$(now)
    case $s in
      hostile) [ -x /payload/hostile/run.sh ] || continue; run_hostile "$drv" "$log" ;;
      podman) [ -x "$repo/tests/engines/engines.test" ] || continue; run_podman "$drv" "$log" ;;
      *) [ -x "$repo/tests/$s/$s.test" ] || continue; run_go "$s" "$drv" "$log" ;;
    esac
    src=$?
    t1=$(now)
    pass=$(grep -c '^--- PASS' "$log"); fail=$(grep -c '^--- FAIL' "$log"); skipn=$(grep -c '^--- SKIP' "$log")
    counts="$pass passed, $fail failed, $skipn skipped (top level)"
    [ "$s" = hostile ] && counts="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1) (cases)"
    echo "== $s ($drv): exit $src in $(el "$t0" "$t1") s: $counts" | tee -a "$summary"
    grep -E '^--- FAIL|^FAIL ' "$log" | sed 's/^/   /' | tee -a "$summary"
    [ "$src" = 0 ] || rc=1
    if [ "$drv" = systemd ]; then
      echo "   tenantrun units left: $(systemctl list-units --all --no-legend --plain 'tenantrun*' 2>/dev/null | awk '$1 != "tenantrun-vm.service" {printf "%s(%s) ", $1, $4}')" | tee -a "$summary"
    fi
    # Whatever a failed test left (cgroups, mounts) stays in this VM only.
  done
done
exit "$rc"

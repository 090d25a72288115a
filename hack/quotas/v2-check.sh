#!/bin/bash
# Tenant quotas on a real cgroup v2 host, as one prepared script (issue 5).
#
# This development machine is cgroup v1 without systemd; a session that has the `device`
# machine (a cgroup v2 host, Ubuntu 24.04, no Go, no network) can run the v2 checks there:
#
#   here:        hack/quotas/v2-check.sh prepare        # builds bin/v2-check/ (static binaries, rootfs)
#   on device:   run(command="hack/quotas/v2-check.sh run", carry=["bin/v2-check"], timeout_s=300)
#
# `run` also works on this v1 machine (it checks the v1 files instead), which is how the script
# itself is tested. It prints PASS/FAIL lines and writes a summary to $OUT (or /tmp).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$here/bin/v2-check

prepare() {
	set -e
	cd "$here"
	mkdir -p "$dir"
	local tags='seccomp netgo osusergo' ld='-extldflags -static'
	echo "building static tenantrun and runtime.test into $dir"
	nice go build -tags "$tags" -ldflags "$ld" -o "$dir/tenantrun" ./cmd/tenantrun
	nice go test -c -tags "$tags" -ldflags "$ld" -o "$dir/runtime.test" ./runtime/tenantcg
	local bb=${BUSYBOX:-/bin/busybox}
	rm -rf "$dir/rootfs" && mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/sys" "$dir/rootfs/tmp" "$dir/rootfs/etc"
	cp "$bb" "$dir/rootfs/bin/busybox"
	for a in sh sleep dd cat echo true; do ln -sf busybox "$dir/rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$dir/rootfs/etc/group"
	# Starter config that passes the default policy, made runnable by any tenant.
	(cd "$dir" && rm -f config.json && ./tenantrun spec && mv config.json spec.json)
	echo "prepared: $(du -sh "$dir" | cut -f1)"
}

pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

run() {
	local out=${OUT:-/tmp}
	cd "$dir" || { echo "no $dir: run prepare first"; exit 2; }
	echo "== host"; uname -r; grep -w cgroup2 /proc/mounts; cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null
	local v2=0
	[ -f /sys/fs/cgroup/cgroup.controllers ] && v2=1
	echo "cgroup v2 unified: $v2"

	echo "== runtime tests (tenantcg.Ensure/Release and the usage readers on this kernel)"
	if ./runtime.test -test.v -test.count=1 -test.run 'TestTenantParent|TestTenantUsageRealKernel|TestGCTenantParents|TestSystemdTenantParentPathsFromDriver|TestTenantResources|TestReadTenantUsage' >"$out/runtime-tests.log" 2>&1; then
		ok "runtime tests ($(grep -c '^--- PASS' "$out/runtime-tests.log") passed, $(grep -c '^--- SKIP' "$out/runtime-tests.log") skipped)"
	else
		bad "runtime tests"; grep -E '^(---|    )' "$out/runtime-tests.log" | head -40
	fi

	echo "== real containers: tenant 256M / 64 pids / 1 CPU, two containers each allocating 200M"
	local tn=v2q$$ top=trv2$$ work=/tmp/tenantrun-v2check-$$
	mkdir -p "$work/state" && chmod 755 "$work"
	cat >"$work/config.toml" <<-EOF
		[defaults]
		cgroup_parent = "$top"
		[tenants.$tn]
		uid_range = "3700000:65536"
		foreign_idmap = "override"
		[tenants.$tn.quota]
		memory = "256M"
		pids = 64
		cpus = 1
		[tenants.$tn.container]
		memory = "256M"
		pids = 64
		cpus = 1
	EOF
	local T="./tenantrun --root $work/state --config $work/config.toml --tenant $tn"
	for c in c1 c2; do
		mkdir -p "$work/$c" && cp -a rootfs "$work/$c/rootfs"
		sed 's#"echo hello from tenantrun"#"dd if=/dev/zero bs=209715200 count=1 2>/dev/null | sleep 600"#' spec.json >"$work/$c/config.json"
		grep -q 'bs=209715200' "$work/$c/config.json" || bad "could not set the container's args in spec.json"
		chmod -R a+rX "$work/$c"
	done
	$T run -d --bundle "$work/c1" c1 </dev/null >"$out/run-c1.log" 2>&1 || bad "run c1: $(tail -3 "$out/run-c1.log")"
	local d m
	if [ $v2 = 1 ]; then d=/sys/fs/cgroup/$top/$tn; m=$d; else d=/sys/fs/cgroup/memory/$top/$tn; m=$d; fi
	for i in $(seq 50); do
		u=$(cat "$m/memory.current" "$m/memory.usage_in_bytes" 2>/dev/null | head -1)
		[ "${u:-0}" -ge 199229440 ] && break
		sleep 0.2
	done
	$T run -d --bundle "$work/c2" c2 </dev/null >"$out/run-c2.log" 2>&1 || bad "run c2: $(tail -3 "$out/run-c2.log")"
	sleep 3
	if [ $v2 = 1 ]; then
		echo "parent $d:"; for f in memory.max memory.swap.max memory.peak memory.events pids.max pids.current cpu.max cgroup.subtree_control; do printf '  %s: %s\n' $f "$(tr '\n' ' ' <"$d/$f" 2>/dev/null)"; done
		[ "$(cat $d/memory.max)" = 268435456 ] && ok "memory.max 256M" || bad "memory.max $(cat $d/memory.max)"
		[ "$(cat $d/memory.swap.max)" = 0 ] && ok "memory.swap.max 0" || bad "memory.swap.max $(cat $d/memory.swap.max)"
		[ "$(cat $d/pids.max)" = 64 ] && ok "pids.max 64" || bad "pids.max $(cat $d/pids.max)"
		[ "$(cat $d/cpu.max)" = "100000 100000" ] && ok "cpu.max" || bad "cpu.max $(cat $d/cpu.max)"
		peak=$(cat $d/memory.peak 2>/dev/null || echo 0)
		ooms=$(awk '$1=="oom_kill"{print $2}' $d/memory.events)
	else
		echo "parent $d:"; for f in memory.limit_in_bytes memory.memsw.limit_in_bytes memory.max_usage_in_bytes; do printf '  %s: %s\n' $f "$(cat "$d/$f")"; done
		[ "$(cat $d/memory.limit_in_bytes)" = 268435456 ] && ok "memory.limit_in_bytes 256M" || bad "memory limit"
		peak=$(cat $d/memory.max_usage_in_bytes)
		ooms=$(cat $d/*/memory.oom_control $d/memory.oom_control | awk '$1=="oom_kill"{s+=$2} END{print s+0}')
	fi
	[ "${peak:-0}" -le 268435456 ] && ok "tenant peak $peak <= 256M" || bad "tenant peak $peak > 256M"
	[ "${ooms:-0}" -ge 1 ] && ok "OOM kills in the tenant: $ooms" || bad "no OOM kill (both 200M fit?)"
	$T tenants --interval 0 --format json $tn >"$out/tenants.json" 2>"$out/tenants.err" && ok "tenants json: $(tr -d ' \n' <"$out/tenants.json" | cut -c1-400)" || bad "tenants: $(cat "$out/tenants.err")"
	grep -q "\"oomKills\": $ooms" "$out/tenants.json" && ok "tenants oomKills matches the files" || bad "tenants oomKills differs from $ooms"
	$T delete -f c1 >/dev/null 2>&1; $T delete -f c2 >/dev/null 2>&1
	sleep 0.5
	left=$(ls -d /sys/fs/cgroup/$top /sys/fs/cgroup/*/$top 2>/dev/null)
	[ -z "$left" ] && ok "tenant parent and top removed after the last delete" || bad "left behind: $left"
	rm -rf "$work"
	echo "== $pass passed, $fail failed" | tee "$out/summary.txt"
	[ $fail = 0 ]
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
*) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac

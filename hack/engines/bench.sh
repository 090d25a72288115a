#!/usr/bin/env bash
# bench.sh [N] — engine-level `run --rm true` wall time, tenantrun (wrapper tenantrun-alpha) vs
# runc (wrapper runc), alternating, N runs each (default 15) after one warm-up; prints medians
# and the ratio per engine. Not a test: a measurement. Needs the engines up with
# ENGINES_RUNTIME=tenantrun (hack/engines/up.sh all).
# podman runs with --network none (its CNI setup would dominate), docker's bridge is off anyway.
# The CRI row is a whole pod: runp + create + start + wait for exit + rmp.
. "$(dirname "$0")/lib.sh"
N=${1:-15}
rt=$(cat "$ENG_RUN/runtime" 2>/dev/null || echo none)
[ "$rt" = tenantrun ] || log "WARNING: the tenantrun-* wrappers exec '$rt', not tenantrun: both columns measure runc"
BB=localhost/tenantrun/busybox:latest
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

podman_run() { podman_cmd run --rm --network none --runtime "$1" "$BB" true; }
ctr_run() {
  ctr_cmd -n tenantrun-test run --rm --runc-binary "$WRAP_DIR/$1" --runc-root "$ENG_RUN/ctr-root/$1" \
    --fifo-dir "$ENG_RUN/ctr-fifo" "$BB" "bench-$RANDOM$RANDOM" true
}
# ENGINES_DOCKER_PING_RANGE=1: both runtimes get ping_group_range "0 65535" (see tests/engines)
dk_extra=(); [ -n "${ENGINES_DOCKER_PING_RANGE:-}" ] && dk_extra=(--sysctl "net.ipv4.ping_group_range=0 65535")
docker_run() { docker_cmd run --rm --network none "${dk_extra[@]}" --runtime "$1" "$BB" true; }
cri_run() {
  local h=$1 d pod ctrcfg p c
  [ "$h" = runc ] || h=tenantrun
  d=$(mktemp -d "$ENG_RUN/bench.XXXXXX")
  printf '{"metadata":{"name":"b%s","namespace":"alpha","uid":"b%s"},"log_directory":"%s","linux":{"cgroup_parent":"/tenantrun-test-cri"}}' \
    "$RANDOM$RANDOM" "$RANDOM$RANDOM" "$d" >"$d/pod.json"
  printf '{"metadata":{"name":"c"},"image":{"image":"%s"},"command":["true"],"log_path":"c.log"}' "$BB" >"$d/ctr.json"
  p=$(crictl_cmd runp --runtime "$h" "$d/pod.json")
  c=$(crictl_cmd create "$p" "$d/ctr.json" "$d/pod.json")
  crictl_cmd start "$c" >/dev/null
  for _ in $(seq 200); do
    [ "$(crictl_cmd inspect -o go-template --template '{{.status.state}}' "$c")" = CONTAINER_EXITED ] && break
    sleep 0.02
  done
  crictl_cmd rmp -f "$p" >/dev/null
  rm -rf "$d"
}

declare -A have=()
pid_alive "$CTRD_PID" containerd && have[ctr]=1 && have[cri]=1
pid_alive "$DOCKER_PID" dockerd && have[docker]=1
[ -f "$PODMAN_CONF" ] && have[podman]=1
mkdir -p "$ENG_RUN/ctr-fifo"

printf '| engine | runc median (ms) | tenantrun median (ms) | ratio | runs |\n|---|---|---|---|---|\n'
for e in podman ctr docker cri; do
  [ -n "${have[$e]:-}" ] || continue
  "${e}_run" runc >/dev/null 2>&1 || { log "$e: run with runc failed"; continue; }
  "${e}_run" tenantrun-alpha >/dev/null 2>&1 || { log "$e: run with tenantrun failed:"; "${e}_run" tenantrun-alpha 2>&1 | tail -3 >&2; continue; }
  a=(); b=()
  for _ in $(seq "$N"); do
    t0=$(now); "${e}_run" runc >/dev/null 2>&1; t1=$(now); a+=($(((t1 - t0) / 1000)))
    t0=$(now); "${e}_run" tenantrun-alpha >/dev/null 2>&1; t1=$(now); b+=($(((t1 - t0) / 1000)))
  done
  ma=$(printf '%s\n' "${a[@]}" | median); mb=$(printf '%s\n' "${b[@]}" | median)
  awk -v e="$e" -v a="$ma" -v b="$mb" -v n="$N" 'BEGIN {printf "| %s | %.1f | %.1f | %.2f | %d+%d |\n", e, a/1000, b/1000, b/a, n, n}'
done

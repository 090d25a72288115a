#!/usr/bin/env bash
# hack/bench/run.sh — `make bench`: one benchmark run of tenantrun against runc and crun, written to
# docs/benchmarks.md (+ docs/benchmarks.svg). Needs root, bin/tenantrun (make build), runc, crun,
# strace (hack/deps/bench.txt). Takes about 5–8 minutes on 2 cores with the defaults.
#
# Sizes (environment):
#   BENCH_N=40            lifecycle rounds; each round runs every runtime once, rotating the order
#   BENCH_WARMUP=3        rounds thrown away first
#   BENCH_EXEC_N=30       exec rounds
#   BENCH_LIST_COUNT=1000 containers created for the state/list measurement
#   BENCH_LIST_N=20       state/list rounds
#   BENCH_CONC=200        concurrent lifecycles ...
#   BENCH_TENANTS=20      ... spread over this many tenants
#   BENCH_CONC_PAR=0      how many of them at once (0: all)
#   BENCH_PHASE_N=15      `run --debug` samples for the phase table
#   BENCH_STRACE=1        0 skips the strace timeline
#   BENCH_ONLY=a,b        only these sections (lifecycle,exec,phases,strace,inittrace,list,enforce,concurrent)
#   BENCH_OUT=path.md     output (default docs/benchmarks.md; the plot goes beside it as .svg)
#   BENCH_JSON=path       also dump the raw results as JSON
#   BENCH_KEEP=1          keep the scratch directory (/tmp/tenantrun-bench.*)
#   BENCH_IDMAP=0         skip the image-size bench (hack/bench/idmap-bench.sh, appended to the doc)
#   TENANTRUN_BIN, BENCH_RUNC, BENCH_CRUN   binaries to compare
# Everything the run creates is removed at the end, also on failure or Ctrl-C; the run exits
# non-zero if a section failed or anything was left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $EUID -ne 0 ]]; then
  echo "bench: must run as root (real containers)" >&2
  exit 1
fi
for t in python3 strace unshare; do
  command -v "$t" >/dev/null || { echo "bench: $t is missing (make deps)" >&2; exit 1; }
done
python3 hack/bench/bench.py "$@"
# Issue 4: start cost independent of image size (idmapped rootfs vs chown), appended to the doc.
if [[ "${BENCH_IDMAP:-1}" = 1 && -z "${BENCH_ONLY:-}" ]]; then
  out=${BENCH_OUT:-docs/benchmarks.md}
  tmp=$(mktemp /tmp/tenantrun-idmap-bench.XXXXXX.md)
  trap 'rm -f "$tmp"' EXIT
  IDMAP_BENCH_N=${IDMAP_BENCH_N:-80} IDMAP_BENCH_OUT=$tmp hack/bench/idmap-bench.sh
  { echo; echo "## Start cost vs image size (idmapped rootfs, \`hack/bench/idmap-bench.sh\`)"; echo; cat "$tmp"; } >>"$out"
fi

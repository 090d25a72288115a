#!/usr/bin/env bash
# hack/bench/idmap-bench.sh — is the start cost of a container independent of its image size
# with the idmapped rootfs (issue 4)? Times `tenantrun run` of /bin/true under a tenant with its
# own ID range, on a busybox rootfs with ~10 extra files and on the same rootfs with 10,000
# extra files, interleaved, and prints the medians; beside it, what the chown approach would
# cost on the same trees (chown -R onto the tenant range, and cp -a + chown -R for a per-tenant
# copy). Needs root, bin/tenantrun (make build), busybox-static and jq (hack/deps/idmap.txt).
#
# Environment:
#   IDMAP_BENCH_N=30         timed runs per rootfs (after IDMAP_BENCH_WARMUP=3 untimed ones each)
#   IDMAP_BENCH_FILES=10000  files in the big rootfs (the small one gets 10)
#   IDMAP_BENCH_CHOWN_N=5    chown -R samples per tree
#   IDMAP_BENCH_RANGE=300000 host uid/gid base of the bench tenant (65536 ids)
#   IDMAP_BENCH_DIR=/var/tmp where the scratch directory goes (its filesystem must allow idmapped
#                            mounts: ext4, xfs, btrfs, tmpfs)
#   IDMAP_BENCH_OUT=file.md  also write the result table there
#   TENANTRUN_BIN            the runtime (default bin/tenantrun)
# Everything it creates (containers, mounts, files) is removed at the end, also on failure; it
# exits non-zero if anything was left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${IDMAP_BENCH_N:-30}
WARM=${IDMAP_BENCH_WARMUP:-3}
FILES=${IDMAP_BENCH_FILES:-10000}
CHOWN_N=${IDMAP_BENCH_CHOWN_N:-5}
RANGE=${IDMAP_BENCH_RANGE:-300000}
BIN=$(realpath "${TENANTRUN_BIN:-bin/tenantrun}")

die() { echo "idmap-bench: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "must run as root (real containers)"
[[ -x $BIN ]] || die "$BIN is missing (make build)"
for t in jq busybox; do command -v "$t" >/dev/null || die "$t is missing (make deps: hack/deps/idmap.txt)"; done

scratch=$(mktemp -d "${IDMAP_BENCH_DIR:-/var/tmp}/tenantrun-idmap-bench.XXXXXX")
chmod 0755 "$scratch"
state="$scratch/state"
mkdir -p "$state"
tag="idmapb$$"

cleanup() {
  local rc=$? left=0
  for d in "$state"/*/; do
    [[ -d $d ]] || continue
    "$BIN" --root "$state" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
  done
  # anything still mounted that mentions our scratch dir or our container ids is a leak
  if grep -E "$scratch|$tag" /proc/self/mountinfo >/dev/null 2>&1; then
    echo "idmap-bench: LEAK: mounts left:" >&2
    grep -E "$scratch|$tag" /proc/self/mountinfo >&2 || true
    grep -E "$scratch|$tag" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    left=1
  fi
  if [[ -n "$(ls -A "$state" 2>/dev/null)" ]]; then
    echo "idmap-bench: LEAK: state left: $(ls -A "$state")" >&2
    left=1
  fi
  rm -rf "$scratch"
  if [[ $rc -eq 0 && $left -ne 0 ]]; then rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$scratch/tenantrun.toml" <<EOF
[tenants.bench]
uid_range = "$RANGE:65536"
EOF
R=("$BIN" --root "$state" --config "$scratch/tenantrun.toml" --tenant bench)

# The two bundles: the same busybox rootfs, with 10 or $FILES extra root-owned 0600 files.
mkbundle() { # name nfiles
  local b="$scratch/$1" n=$2
  mkdir -p "$b"
  chmod 0755 "$b"
  hack/rootfs/mk-busybox.sh "$b/rootfs" >/dev/null
  mkdir -p "$b/rootfs/usr/share/filler"
  local i
  for ((i = 0; i < n; i += 100)); do
    local d="$b/rootfs/usr/share/filler/d$((i / 100))"
    mkdir -p "$d"
    (cd "$d" && for ((j = i; j < i + 100 && j < n; j++)); do printf 'x' >"f$j"; done; chmod 0600 ./*)
  done
  "${R[@]}" spec --bundle "$b" >/dev/null
  jq '.process.args = ["/bin/true"] | .process.terminal = false' "$b/config.json" >"$b/config.json.new"
  mv "$b/config.json.new" "$b/config.json"
  echo "$(find "$b/rootfs" | wc -l)"
}
echo "idmap-bench: building rootfs trees in $scratch ..." >&2
small_entries=$(mkbundle small 10)
big_entries=$(mkbundle big "$FILES")

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b - a) / 1e6 }'; }
quartile1() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } print v[int((NR + 3) / 4)] }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One container through the full lifecycle (create, start, wait, delete). Prints the wall
# time and the CPU time (user + sys of tenantrun and everything it waited for, the container
# included) in ms: on a shared machine the CPU time is far less noisy than the wall time.
run_once() { # kind i
  local id="$tag-$1-$2" t
  local TIMEFORMAT='%3R %3U %3S'
  if ! t=$({ time "${R[@]}" run --bundle "$scratch/$1" "$id" >"$scratch/out" 2>&1; } 2>&1); then
    cat "$scratch/out" >&2
    die "run on the $1 rootfs failed"
  fi
  awk '{ printf "%.2f %.2f\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$t"
}

# Is the rootfs really idmapped? A debug run shows the mount tenantrun made.
"${R[@]}" --debug run --bundle "$scratch/small" "$tag-probe" >"$scratch/debug.log" 2>&1 || { cat "$scratch/debug.log" >&2; die "debug run failed"; }
idmap_line=$(grep -o 'idmapped rootfs ([a-z]*) .*' "$scratch/debug.log" | head -1 || true)
[[ -n $idmap_line ]] || echo "idmap-bench: WARNING: no 'idmapped rootfs' debug line: is create calling idmap.Rootfs?" >&2

echo "idmap-bench: $WARM warm-up + $N timed runs per rootfs, interleaved ..." >&2
for ((i = 0; i < WARM; i++)); do run_once small "w$i" >/dev/null; run_once big "w$i" >/dev/null; done
: >"$scratch/small.ms"
: >"$scratch/big.ms"
for ((i = 0; i < N; i++)); do
  if ((i % 2)); then
    run_once big "$i" >>"$scratch/big.ms"
    run_once small "$i" >>"$scratch/small.ms"
  else
    run_once small "$i" >>"$scratch/small.ms"
    run_once big "$i" >>"$scratch/big.ms"
  fi
done
small_med=$(cut -d' ' -f1 "$scratch/small.ms" | median)
big_med=$(cut -d' ' -f1 "$scratch/big.ms" | median)
small_cpu=$(cut -d' ' -f2 "$scratch/small.ms" | median)
big_cpu=$(cut -d' ' -f2 "$scratch/big.ms" | median)
small_q1=$(cut -d' ' -f1 "$scratch/small.ms" | quartile1)
big_q1=$(cut -d' ' -f1 "$scratch/big.ms" | quartile1)
delta=$(awk -v a="$small_med" -v b="$big_med" 'BEGIN { printf "%+.2f", b - a }')
delta_q1=$(awk -v a="$small_q1" -v b="$big_q1" 'BEGIN { printf "%+.2f", b - a }')
delta_cpu=$(awk -v a="$small_cpu" -v b="$big_cpu" 'BEGIN { printf "%+.2f", b - a }')
load=$(cut -d' ' -f1-3 /proc/loadavg)

# The idmap step alone, from --debug (median of 9 per rootfs).
idmap_ms() { # kind
  local i
  for ((i = 0; i < 9; i++)); do
    { "${R[@]}" --debug run --bundle "$scratch/$1" "$tag-dbg-$1-$i" 2>&1 >/dev/null || true; } |
      { grep -o 'idmapped rootfs ([a-z]*) .* in [0-9.]*[µmn]*s' || true; } | sed 's/.* in //' |
      awk '/µs$/ { sub("µs", ""); print $1 / 1000; next } /ms$/ { sub("ms", ""); print $1 + 0; next } /ns$/ { sub("ns", ""); print $1 / 1e6; next } /s$/ { sub("s", ""); print $1 * 1000 }'
  done | median
}
small_idmap=$(idmap_ms small)
big_idmap=$(idmap_ms big)

# The chown approach on the same trees: chown -R onto the tenant range (what a runtime would do
# to the image in place) and cp -a + chown -R (a private copy per tenant, the shared image kept).
chown_ms() { # kind
  local src="$scratch/$1/rootfs" c="$scratch/chown-$1" i t0 t1
  cp -a "$src" "$c"
  for ((i = 0; i < CHOWN_N; i++)); do
    t0=$(date +%s%N)
    chown -R "$RANGE:$RANGE" "$c"
    t1=$(date +%s%N)
    ms "$t0" "$t1"
    chown -R 0:0 "$c"
  done | median
  rm -rf "$c"
}
copy_chown_ms() { # kind
  local src="$scratch/$1/rootfs" c="$scratch/copy-$1" i t0 t1
  for ((i = 0; i < CHOWN_N; i++)); do
    sync
    t0=$(date +%s%N)
    cp -a "$src" "$c"
    chown -R "$RANGE:$RANGE" "$c"
    t1=$(date +%s%N)
    ms "$t0" "$t1"
    rm -rf "$c"
  done | median
}
echo "idmap-bench: chown -R for scale ..." >&2
small_chown=$(chown_ms small)
big_chown=$(chown_ms big)
small_copy=$(copy_chown_ms small)
big_copy=$(copy_chown_ms big)

fstype=$(findmnt -no FSTYPE -T "$scratch" 2>/dev/null || stat -f -c %T "$scratch")
report=$(cat <<EOF
### Idmapped rootfs: start cost vs image size ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), scratch on $fstype)

\`tenantrun run\` of /bin/true (create + start + wait + delete) under tenant range $RANGE:65536,
median of $N interleaved runs each ($WARM warm-ups). ${idmap_line:+Debug line: \`${idmap_line}\`}

| rootfs | entries | run wall, median ms | run wall, 1st quartile ms | run CPU, median ms | idmap step, median ms | chown -R, median ms | cp -a + chown -R, median ms |
|---|---:|---:|---:|---:|---:|---:|---:|
| busybox + 10 files | $small_entries | $small_med | $small_q1 | $small_cpu | $small_idmap | $small_chown | $small_copy |
| busybox + $FILES files | $big_entries | $big_med | $big_q1 | $big_cpu | $big_idmap | $big_chown | $big_copy |

Difference big − small: wall **$delta ms** (median), $delta_q1 ms (1st quartile, less disturbed by
load), CPU **$delta_cpu ms** (target: within 1 ms). Load
average at the end: $load (on a busy machine the wall-time medians move by tens of ms; the CPU
time and the idmap step are what show whether image size matters).
EOF
)
echo "$report"
if [[ -n ${IDMAP_BENCH_OUT:-} ]]; then echo "$report" >"$IDMAP_BENCH_OUT"; fi

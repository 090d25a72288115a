# Shared by the compatibility sweep's stack scripts (tests/integration/compat_test.go puts it
# in front of each one): each script starts a real web stack inside the Debian web rootfs,
# exercises it with a real client on loopback, prints BODY: lines and exits 0, or prints the
# stack's logs and exits 1. Everything is written below $W (the container's /tmp scratch).
set -eu
W=${WORK:-/tmp}/$STACK
mkdir -p "$W"
# get URL [curl args...]: one request (until_ok below), the body printed as "BODY: ..."
# and kept in $W/body.
get() {
  url=$1; shift
  until_ok curl -fsS "$@" "$url"
}
fail() {
  echo "$STACK: $*" >&2
  for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
# until_ok CMD...: a client command retried for up to 10 s while the server starts; its
# output is printed as "BODY: ..." and kept in $W/body. On failure: the stack's logs (*.log
# under $W) and exit 1 (never call it in a command substitution: that would only end the
# subshell).
until_ok() {
  i=0
  until "$@" >"$W/body" 2>"$W/client.err"; do
    i=$((i + 1))
    if [ $i -ge 100 ]; then fail "$* failed: $(cat "$W/client.err")"; fi
    sleep 0.1
  done
  echo "BODY: $(cat "$W/body")"
}
# pids_of PREFIX: the pids whose command line starts with PREFIX (no procps in the rootfs).
pids_of() {
  for d in /proc/[0-9]*; do
    c=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    case $c in "$1"*) echo "${d#/proc/}" ;; esac
  done
}
# children PID: how many processes PID has as their parent.
children() {
  n=0
  for s in /proc/[0-9]*/status; do
    [ "$(awk '/^PPid:/ {print $2}' "$s" 2>/dev/null)" = "$1" ] && n=$((n + 1))
  done
  echo $n
}

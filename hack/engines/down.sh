#!/usr/bin/env bash
# down.sh [--purge] — remove every container we started, stop our dockerd and containerd by PID
# (and their shims, found by our private socket in their argv), delete the CNI bridges we made,
# unmount what is left under our private directories. --purge also deletes the private state
# (image stores included; the download cache in $ENG_CACHE is kept).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "down.sh must run as root"
purge=; [ "${1:-}" = --purge ] && purge=1

stop_pid() { # pidfile name timeout_s
  local pf=$1 name=$2 t=${3:-20} pid
  pid_alive "$pf" "$name" || { rm -f "$pf"; return 0; }
  pid=$(cat "$pf")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((t * 10))); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  if [ -d "/proc/$pid" ]; then log "$name ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$pf"
}

# ---- podman (no daemon): containers and pods in our private store
if [ -f "$PODMAN_CONF" ]; then
  podman_cmd pod rm -af -t 0 >/dev/null 2>&1 || true
  podman_cmd rm -af -t 0 >/dev/null 2>&1 || true
fi
# ---- docker
if pid_alive "$DOCKER_PID" dockerd; then
  ids=$(docker_cmd ps -aq 2>/dev/null || true)
  [ -n "$ids" ] && docker_cmd rm -f $ids >/dev/null 2>&1 || true
fi
stop_pid "$DOCKER_PID" dockerd 20
if [ -f "$ENG_RUN/created-run-docker" ]; then
  rmdir /run/docker/plugins /run/docker 2>/dev/null || true
  [ -e /run/docker ] || rm -f "$ENG_RUN/created-run-docker"
fi
# ---- containerd: CRI pods, ctr containers, then the daemon and its shims
if pid_alive "$CTRD_PID" containerd; then
  crictl_cmd rmp -fa >/dev/null 2>&1 || true
  for ns in $(ctr_cmd ns ls -q 2>/dev/null); do
    for c in $(ctr_cmd -n "$ns" containers ls -q 2>/dev/null); do
      ctr_cmd -n "$ns" tasks kill -s KILL "$c" >/dev/null 2>&1 || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do ctr_cmd -n "$ns" tasks delete "$c" >/dev/null 2>&1 && break; sleep 0.2; done
      ctr_cmd -n "$ns" containers rm "$c" >/dev/null 2>&1 || true
    done
  done
fi
stop_pid "$CTRD_PID" containerd 20
for pid in $(pgrep -x containerd-shim || true); do
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CTRD_SOCK"; then
    log "stopping leftover shim $pid"; kill -KILL "$pid" 2>/dev/null || true
  fi
done
if [ -f "$ENG_RUN/created-run-containerd" ]; then
  rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null || true
  [ -e /run/containerd ] || rm -f "$ENG_RUN/created-run-containerd"
fi
# ---- cgroup parents our engines created (rmdir only removes a cgroup without tasks or children)
cg=(tenantrun-test tenantrun-test-docker tenantrun-test-cri trtest-tenants)
[ -f "$ENG_RUN/created-libpod-parent" ] && cg+=(libpod_parent)
for h in $(cgroup_hierarchies); do
  for d in "${cg[@]}"; do
    [ -d "$h$d" ] && find "$h$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
done
[ -d /sys/fs/cgroup/memory/libpod_parent ] || rm -f "$ENG_RUN/created-libpod-parent"
# ---- CNI bridges we created
for br in trtest-pod0 trtest-cri0; do
  ip link show "$br" >/dev/null 2>&1 && ip link del "$br" || true
done
# ---- mounts left under our private trees (ours only: deepest first)
for d in "$ENG_STATE" "$ENG_RUN"; do
  awk -v p="$d" '$5 == p || index($5, p "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
  done
done
if [ -n "$purge" ]; then
  rm -rf "$ENG_STATE" "$ENG_RUN"
  log "purged $ENG_STATE $ENG_RUN"
fi
log "engines down"

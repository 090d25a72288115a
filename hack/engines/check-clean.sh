#!/usr/bin/env bash
# check-clean.sh — after down.sh: fails if anything of ours is left on the host: a process whose
# argv names our private trees, a mount under them, a CNI bridge, a cgroup parent, or a system
# path we had to create (/run/containerd, /run/docker, /etc/docker/key.json).
. "$(dirname "$0")/lib.sh"
bad=0
report() { log "LEFT BEHIND: $*"; bad=1; }
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  [ "$pid" = $$ ] && continue
  args=$( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || continue
  case "$args" in
    *check-clean.sh*) ;;
    *"$ENG_RUN"*|*"$ENG_STATE"*) report "process $pid: $args" ;;
  esac
done
mapfile -t mounts < <(awk -v a="$ENG_RUN" -v b="$ENG_STATE" 'index($5, a) == 1 || index($5, b) == 1 {print $5}' /proc/self/mountinfo)
for m in "${mounts[@]}"; do report "mount $m"; done
for br in trtest-pod0 trtest-cri0; do ip link show "$br" >/dev/null 2>&1 && report "bridge $br"; done
for h in $(cgroup_hierarchies); do
  for d in tenantrun-test tenantrun-test-cri tenantrun-test-docker trtest-tenants; do
    [ -d "$h$d" ] && report "cgroup $h$d"
  done
done
# network namespaces podman (netns-<uuid>) and the CRI plugin (cni-<uuid>) create for containers
for n in /run/netns/netns-* /run/netns/cni-*; do [ -e "$n" ] && report "network namespace $n"; done
[ -f "$ENG_RUN/created-run-containerd" ] && [ -e /run/containerd ] && report "/run/containerd"
[ -f "$ENG_RUN/created-run-docker" ] && [ -e /run/docker ] && report "/run/docker"
[ -e /etc/docker/key.json ] && report "/etc/docker/key.json (dockerd's trust key: should be in our data root)"
[ $bad = 0 ] && log "clean: nothing of the engine setup is left on the host"
exit $bad

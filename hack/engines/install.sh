#!/usr/bin/env bash
# Installs the engines tenantrun is tested under: podman, containerd (+CRI, crictl), dockerd.
# Idempotent. Debian's docker.io/containerd maintainer scripts would start system daemons
# through invoke-rc.d: we install under a policy-rc.d that denies every start, and check
# afterwards that no system containerd/dockerd runs. Downloads are cached under $ENG_CACHE.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "install.sh must run as root"
mkdir -p "$ENG_BIN" "$ENG_IMAGES"

pkgs=()
while read -r p _; do
  [[ -z "$p" || "$p" == \#* ]] && continue
  pkgs+=("$p")
done <"$ENG_REPO/hack/deps/engines.txt"
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# tenantrun hack/engines/install.sh: deny service starts during install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-o DPkg::Lock::Timeout=600 -o Dir::Cache::archives="$ENG_CACHE/apt")
  mkdir -p "$ENG_CACHE/apt/partial"
  rc=0
  { apt-get "${apt_opts[@]}" update -qq && apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || die "apt-get failed ($rc)"
fi

# Nothing system-wide may be left running by a maintainer script.
for d in dockerd containerd; do
  for pid in $(pgrep -x "$d" || true); do
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    case "$args" in
      *"$ENG_RUN"*) ;;   # ours
      *) log "WARNING: a system $d runs (pid $pid: $args); not ours, not touched" ;;
    esac
  done
done

# crictl v1.37.0 (built from the Go module proxy; cached).
if [ ! -x "$ENG_BIN/crictl" ]; then
  log "go install crictl v1.37.0"
  GOBIN=$ENG_BIN GOFLAGS= nice go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
fi
log "installed: $(podman --version), $(containerd --version | cut -d' ' -f1,3), $(/usr/sbin/dockerd --version), $("$ENG_BIN/crictl" --version)"

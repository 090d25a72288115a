#!/usr/bin/env bash
# Installs what tenantrun's build, demo and tests need; idempotent and quiet when all is there.
# Package lists live in hack/deps/*.txt (one Debian package per line, '#' comments).
set -euo pipefail
cd "$(dirname "$0")/.."
want=()
for f in hack/deps/*.txt; do
  while read -r p _; do
    [[ -z "$p" || "$p" == \#* ]] && continue
    want+=("$p")
  done <"$f"
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Engine packages (docker.io, containerd) would start system daemons through
  # invoke-rc.d: deny every service start while installing.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# tenantrun hack/install-deps.sh: deny service starts during install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { echo "install-deps: apt-get failed ($rc)" >&2; exit "$rc"; }
fi
command -v go >/dev/null || { echo "install-deps: Go is required (https://go.dev/dl); not found in PATH" >&2; exit 1; }
go mod download
# promtool (checks the exporter's output in the tests): only the binary, taken from Debian's
# prometheus package without installing it (that would pull ~100 MB and a server daemon).
promtool=/var/cache/tenantrun-test/bin/promtool
if [ ! -x "$promtool" ]; then
  d=/var/cache/tenantrun-test/debs
  mkdir -p "$d" "$(dirname "$promtool")"
  ( cd "$d" && { ls prometheus_*.deb >/dev/null 2>&1 || apt-get -o DPkg::Lock::Timeout=600 download -qq prometheus 2>/dev/null ||
      { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 download -qq prometheus; }; } )
  deb=$(ls "$d"/prometheus_*.deb | head -1)
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/promtool >"$promtool.tmp"
  chmod 755 "$promtool.tmp" && mv "$promtool.tmp" "$promtool"
  echo "install-deps: promtool from $(basename "$deb") in $promtool"
fi

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
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "install-deps: Go is required (https://go.dev/dl); not found in PATH" >&2; exit 1; }
go mod download

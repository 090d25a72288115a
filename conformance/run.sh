#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (v0.9.0) against tenantrun (passthrough and
# enforcing) and Debian's runc, side by side. Flags go to the harness (run.sh -h lists
# them); `make conformance` is the usual entry point. The suite is built from the module
# pinned in conformance/go.mod, cached under $CONFORMANCE_CACHE keyed by those pins.
set -euo pipefail
cd "$(dirname "$0")"
cache=${CONFORMANCE_CACHE:-/var/cache/tenantrun-test/conformance}
mkdir -p "$cache"
# The harness is stdlib-only and small: an incremental build costs a second.
GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 nice go build -o "$cache/harness" ./harness
exec "$cache/harness" -cache "$cache" "$@"

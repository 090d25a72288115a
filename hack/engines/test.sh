#!/usr/bin/env bash
# test.sh — the whole engine suite: install (idempotent), start the engines with private state,
# run tests/engines, always stop them again. ENGINES_RUNTIME=runc runs the same scenarios on runc.
# CI=true makes a missing prerequisite fail instead of skip.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "the engine tests run real containers: run as root"
"$ENG_REPO/hack/engines/install.sh"
# a previous run that was killed may have left our daemons: stop them first
"$ENG_REPO/hack/engines/down.sh"
finish() {
  local rc=$?
  "$ENG_REPO/hack/engines/down.sh" || rc=1
  "$ENG_REPO/hack/engines/check-clean.sh" || rc=1
  exit $rc
}
trap finish EXIT
"$ENG_REPO/hack/engines/up.sh" all
cd "$ENG_REPO"
GOFLAGS=-mod=mod nice go test -tags seccomp -count=1 -p 1 -timeout 20m ${ENGINES_TEST_FLAGS:-} ./tests/engines/...

package rlimits

import (
	"os"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestDeferSplitsAddressSpace: only RLIMIT_AS is taken out; the process handed in is left
// whole (the container record keeps it as the base of exec processes).
func TestDeferSplitsAddressSpace(t *testing.T) {
	p := &specs.Process{Rlimits: []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024},
		{Type: "RLIMIT_AS", Soft: 1 << 30, Hard: 1 << 30},
	}}
	lc, d := Defer(p)
	if len(d) != 1 || d[0].Type != "RLIMIT_AS" {
		t.Fatalf("deferred %v, want RLIMIT_AS", d)
	}
	if len(lc.Rlimits) != 1 || lc.Rlimits[0].Type != "RLIMIT_NOFILE" || len(p.Rlimits) != 2 {
		t.Fatalf("libcontainer gets %v; the original keeps %v", lc.Rlimits, p.Rlimits)
	}
	if q, d := Defer(&specs.Process{}); len(d) != 0 || q == nil {
		t.Fatal("nothing to defer: the process itself, nothing deferred")
	}
	if _, d := Defer(nil); d != nil {
		t.Fatal("nil process")
	}
	if Types["RLIMIT_AS"] != unix.RLIMIT_AS || len(Types) != 16 {
		t.Fatalf("the rlimit table: %d entries", len(Types))
	}
}

// TestWatchNothingToDo: no deferred rlimits, no watcher; an exited process is no error.
func TestWatchNothingToDo(t *testing.T) {
	if w := WatchInit(nil, nil); w != nil {
		t.Fatal("no rlimits: no watcher")
	}
	if err := applyRlimits(1<<22-1, []specs.POSIXRlimit{{Type: "RLIMIT_AS", Soft: 1, Hard: 1}}); err != nil && os.Geteuid() == 0 {
		t.Fatalf("a process that is gone has nothing left to limit: %v", err)
	}
}

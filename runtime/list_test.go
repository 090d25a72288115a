package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/runtime/record"
)

// listContainers reads many state directories in parallel: every record comes back once,
// sorted, with the status derived from the live system (this process as the "init").
func TestListContainersParallel(t *testing.T) {
	root := t.TempDir()
	self := os.Getpid()
	start := procStart(self)
	if start == 0 {
		t.Fatal("cannot read this process's start time")
	}
	const n = 500
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%04d", n-1-i) // created in reverse order: list must sort
		dir := filepath.Join(root, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		r := record.Record{Tenant: "t", Bundle: "/b/" + id, Process: &specs.Process{Args: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
			Init: &record.Init{Pid: self, PidStart: start, Created: time.Unix(int64(i), 0)}}
		switch i % 3 {
		case 1: // pid reused by another process: stopped
			r.Init.PidStart = start + 1
		case 2: // exec fifo still there: created
			if err := os.WriteFile(filepath.Join(dir, "exec.fifo"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := record.Write(dir, &r); err != nil {
			t.Fatal(err)
		}
	}
	// Not containers: a file, and a directory without any state (a crash leftover).
	// A record without an init (a create that crashed before start) falls back to
	// libcontainer's state, which it lacks: no row either.
	_ = os.WriteFile(filepath.Join(root, "stray"), nil, 0o600)
	_ = os.Mkdir(filepath.Join(root, "leftover"), 0o700)
	_ = os.Mkdir(filepath.Join(root, "half"), 0o700)
	_ = record.Write(filepath.Join(root, "half"), &record.Record{Tenant: "t"})

	rows, err := listContainers(&Global{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	counts := map[string]int{}
	for i, r := range rows {
		if want := fmt.Sprintf("c%04d", i); r.ID != want {
			t.Fatalf("row %d is %s, want %s (sorted)", i, r.ID, want)
		}
		counts[r.Status]++
		if r.Status == "stopped" && r.Pid != 0 {
			t.Errorf("%s stopped with pid %d", r.ID, r.Pid)
		}
		if r.Tenant != "t" || r.Bundle != "/b/"+r.ID {
			t.Errorf("%s: %+v", r.ID, r)
		}
	}
	if counts["running"] != 167 || counts["stopped"] != 167 || counts["created"] != 166 {
		t.Errorf("statuses %v", counts)
	}
}

package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
		r := listRecord{ContainerInfo: ContainerInfo{ID: id, Pid: self, Bundle: "/b/" + id, Created: time.Unix(int64(i), 0), Owner: "root", Tenant: "t"}, PidStart: start}
		switch i % 3 {
		case 1: // pid reused by another process: stopped
			r.PidStart = start + 1
		case 2: // exec fifo still there: created
			if err := os.WriteFile(filepath.Join(dir, "exec.fifo"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		data, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, listRecordName), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not containers: a file, and a directory without any state (a crash leftover).
	_ = os.WriteFile(filepath.Join(root, "stray"), nil, 0o600)
	_ = os.Mkdir(filepath.Join(root, "leftover"), 0o700)

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

func TestReadSmallGrows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 10000)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	if err := os.WriteFile(p, want, 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	got, err := readSmall(p, &buf)
	if err != nil || string(got) != string(want) {
		t.Fatalf("readSmall: %d bytes, %v", len(got), err)
	}
	if _, err := readSmall(filepath.Join(t.TempDir(), "missing"), &buf); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

package tenantcg

import (
	"os"
	"path/filepath"
	"testing"
)

// The invariant, on a tree laid out as cgroup v1 keeps it (an OOM kill and refused forks
// counted in the container's own cgroup only, the parent's limit hits in the parent):
// retiring a container and then the parent never changes the sum a reading gives, before or
// after the cgroups are removed, and a new cgroup of the same name is counted afresh.
func TestCountersOutliveCgroups(t *testing.T) {
	base := t.TempDir()
	f := Files{Memory: filepath.Join(base, "memory/top/t1"), Pids: filepath.Join(base, "pids/top/t1")}
	writeFiles(t, f.Memory, map[string]string{"memory.failcnt": "3\n", "memory.oom_control": "oom_kill 0\n", "memory.usage_in_bytes": "100\n"})
	writeFiles(t, f.Pids, map[string]string{"pids.events": "max 0\n", "pids.current": "4\n"})
	child := func(id, oom, forks string) {
		writeFiles(t, filepath.Join(f.Memory, id), map[string]string{"memory.oom_control": "oom_kill " + oom + "\n"})
		writeFiles(t, filepath.Join(f.Pids, id), map[string]string{"pids.events": "max " + forks + "\n"})
	}
	remove := func(id string) {
		for _, d := range []string{f.Memory, f.Pids} {
			if err := os.RemoveAll(filepath.Join(d, id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	child("c1", "2", "5")
	child("c2", "1", "0")
	rec := &faultRecord{Retired: map[string]float64{}}
	read := func() Usage {
		var u Usage
		readLive(f, &u, rec.skipper(f))
		for _, c := range counters {
			c.add(&u, rec.Retired[c.name])
		}
		return u
	}
	want := func(when string, oom, forks, hits uint64) {
		t.Helper()
		u := read()
		if u.OOMKills != oom || u.PidsLimitHits != forks || u.MemoryLimitHits != hits {
			t.Fatalf("%s: oom %d forks %d limit hits %d, want %d %d %d", when, u.OOMKills, u.PidsLimitHits, u.MemoryLimitHits, oom, forks, hits)
		}
	}
	want("live", 3, 5, 3)
	ino, _ := inodeOf(filepath.Join(f.ref(), "c1"))
	retire(f, rec, exclusion{Name: "c1", Ino: ino})
	want("c1 retired, still there", 3, 5, 3)
	// It keeps counting until removed: what it does after its retirement is not counted
	// (the window between delete's retirement and the removal of a stopped container).
	remove("c1")
	want("c1 removed", 3, 5, 3)
	child("c1", "0", "1") // a new container of the same id: counted afresh
	want("a new c1", 3, 6, 3)
	ino, _ = inodeOf(f.ref())
	remove("c1")
	remove("c2")
	retire(f, rec, exclusion{Name: "", Ino: ino}) // the parent, about to go
	want("parent retired", 3-1+0, 6-1, 3)         // c2's oom kill and the new c1's fork went with their cgroups unretired
	for _, d := range []string{f.Memory, f.Pids} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	want("parent removed", 2, 5, 3)
	// A new parent of the same name: its counts add to the record's.
	writeFiles(t, f.Memory, map[string]string{"memory.failcnt": "1\n", "memory.oom_control": "oom_kill 1\n"})
	want("new parent", 3, 5, 4)
	rec.prune(f)
	if len(rec.Excluded) != 0 {
		t.Fatalf("exclusions of gone cgroups kept: %+v", rec.Excluded)
	}
}

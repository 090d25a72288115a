package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

// listFixture creates one real container with bin/tenantrun (`create` of a sleep bundle) and
// n-1 copies of its state directory under other ids, so list and state read n real-sized
// state.json files (the copies point at the same init process). Everything is removed at the
// end: the copies first, then the real container with `delete --force`.
func listFixture(b *testing.B, n int) *Global {
	b.Helper()
	testutil.RequireRoot(b)
	bin := testutil.BinPath()
	testutil.RequireFile(b, bin, "bin/tenantrun (make build)")
	root := testutil.TempDir(b, "state")
	bundle := testutil.NewBundle(b, testutil.WithArgs("/bin/sleep", "100000"))
	id := testutil.NewID() + "-list"
	lc := testutil.NewLeakChecker(testutil.LeakScope{IDs: []string{id}, StateRoots: []string{root}, Paths: []string{bundle.Dir}})
	args := []string{"--root", root}
	if cfg := os.Getenv("TENANTRUN_TEST_CONFIG"); cfg != "" {
		args = append(args, "--config", cfg)
	}
	// Files, not pipes: the container's init inherits create's stdio, and a pipe would keep
	// Run waiting until the container exits.
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	errf, err := os.CreateTemp(testutil.TempDir(b, "out"), "stderr-")
	if err != nil {
		b.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(bin, append(args, "create", "--bundle", bundle.Dir, id)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errf
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(errf.Name())
		b.Fatalf("create: %v: %s", err, msg)
	}
	var copies []string
	b.Cleanup(func() {
		for _, c := range copies {
			_ = os.RemoveAll(c)
		}
		out, err := exec.Command(bin, "--root", root, "delete", "--force", id).CombinedOutput()
		if err != nil {
			b.Errorf("delete --force %s: %v: %s", id, err, out)
		}
		lc.Check(b)
	})
	src := filepath.Join(root, id)
	for i := 1; i < n; i++ {
		cid := id + "-copy" + strconv.Itoa(i)
		dst := filepath.Join(root, cid)
		copies = append(copies, dst)
		if err := copyStateDir(src, dst, id, cid); err != nil {
			b.Fatal(err)
		}
	}
	return &Global{Root: root}
}

// copyStateDir copies the regular files of a state dir (not the exec fifo) and renames the id
// inside state.json.
func copyStateDir(src, dst, id, newID string) error {
	if err := os.Mkdir(dst, 0o711); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if e.Name() == "state.json" { // the record carries no id: list takes it from the directory
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				return fmt.Errorf("%s: %w", e.Name(), err)
			}
			m["id"] = newID
			if data, err = json.Marshal(m); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// cpuPerOp reports the process's CPU time (user+sys) per op beside the wall ns/op, which the
// shared 2-core machine inflates under load. Call after ResetTimer; it reports at the end.
func cpuPerOp(b *testing.B) {
	var r0 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &r0)
	b.Cleanup(func() {
		var r1 unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_SELF, &r1)
		cpu := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) * time.Nanosecond
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

func listBenchCount() int {
	if n, err := strconv.Atoi(os.Getenv("TENANTRUN_BENCH_LIST")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// BenchmarkList is `list` (table) over 1,000 containers, in process: what the 50 ms target
// of issue 9 is about, minus the process start. Profile with -cpuprofile.
func BenchmarkList(b *testing.B) {
	g := listFixture(b, listBenchCount())
	b.ResetTimer()
	cpuPerOp(b)
	for i := 0; i < b.N; i++ {
		if err := List(g, "table", false, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListQuiet is `list -q` over the same containers.
func BenchmarkListQuiet(b *testing.B) {
	g := listFixture(b, listBenchCount())
	b.ResetTimer()
	cpuPerOp(b)
	for i := 0; i < b.N; i++ {
		if err := List(g, "table", true, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkState is `state` of one container while 1,000 exist.
func BenchmarkState(b *testing.B) {
	g := listFixture(b, listBenchCount())
	ents, err := os.ReadDir(g.Root)
	if err != nil || len(ents) == 0 {
		b.Fatalf("state root: %v", err)
	}
	id := ents[len(ents)/2].Name()
	b.ResetTimer()
	cpuPerOp(b)
	for i := 0; i < b.N; i++ {
		if err := State(g, id, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLeakCheckerFindsAndReaps plants one leak of each kind the checker knows and proves it
// reports each, then removes them all.
func TestLeakCheckerFindsAndReaps(t *testing.T) {
	RequireRoot(t)
	Require(t, len(CgroupHierarchies()) > 0, "cgroup hierarchies mounted under /sys/fs/cgroup")
	id := NewID() + "-selftest"
	state := TempDir(t, "state")
	paths := TempDir(t, "paths")
	scratch := TempDir(t, "scratch")
	lc := NewLeakChecker(LeakScope{IDs: []string{id}, StateRoots: []string{state}, Paths: []string{paths}, ScratchDirs: []string{scratch}})
	lc.Wait = 0
	if l := lc.Leaks(); len(l) != 0 {
		t.Fatalf("leaks before planting anything: %v", l)
	}

	// A runtime scratch dir entry.
	if err := os.MkdirAll(filepath.Join(scratch, "abc-"+id, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A state dir entry.
	if err := os.Mkdir(filepath.Join(state, id), 0o700); err != nil {
		t.Fatal(err)
	}
	// A cgroup named after the id in the pids hierarchy, under a new parent, with a process.
	hier := "pids"
	if _, err := os.Stat(filepath.Join(CgroupRoot, hier)); err != nil {
		hier = CgroupHierarchies()[0]
	}
	top := filepath.Join(CgroupRoot, hier, "trt-selftest-top-"+id[3:9])
	parent := filepath.Join(top, "tenant")
	cg := filepath.Join(parent, id)
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move into cgroup: %v", err)
	}
	lc.ObservePID(cmd.Process.Pid)
	// A mount under the test's paths.
	mnt := filepath.Join(paths, "m")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
		_ = os.Remove(cg)
		_ = os.Remove(parent)
		_ = os.Remove(top)
	})

	leaks := strings.Join(lc.Leaks(), "\n")
	for _, want := range []string{
		"state root " + state,
		"cgroup " + cg,
		"process " + strconv.Itoa(cmd.Process.Pid),
		"mount (path " + paths,
		"runtime scratch dir entry " + filepath.Join(scratch, "abc-"+id),
	} {
		if !strings.Contains(leaks, want) {
			t.Errorf("leak report lacks %q:\n%s", want, leaks)
		}
	}
	// Once the process and cgroup are gone, the parent created "for the container" still counts.
	lc.Reap()
	os.Remove(filepath.Join(state, id))
	deadline := time.Now().Add(3 * time.Second)
	for ProcAlive(cmd.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if l := lc.Leaks(); len(l) != 0 {
		t.Errorf("after Reap: %v", l)
	}
	if _, err := os.Stat(parent); err == nil {
		t.Errorf("Reap left the new parent %s", parent)
	}
	// The top level under a hierarchy is shared (tenantrun/): never reported, never removed.
	if _, err := os.Stat(top); err != nil {
		t.Errorf("Reap removed the shared top-level dir %s", top)
	}
}

func TestCgroupHierarchiesAndProcCgroups(t *testing.T) {
	h := CgroupHierarchies()
	if len(h) == 0 {
		t.Skip("no cgroup hierarchies")
	}
	t.Logf("hierarchies: %v", h)
	t.Logf("own cgroups: %v", ProcCgroupDirs(os.Getpid()))
}

// A claim holder file (runtime/claims) of a container of the scope is a leak; Reap removes it
// and its emptied object directory, and leaves another container's claim alone.
func TestLeakCheckerFindsClaims(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TENANTRUN_TEST_CLAIMS_DIR", dir)
	state := t.TempDir()
	id := NewID() + "-claim"
	lc := NewLeakChecker(LeakScope{IDs: []string{id}, StateRoots: []string{state}, ScratchDirs: []string{}})
	lc.Wait = 0
	plant := func(obj, container, root string) {
		if err := os.MkdirAll(filepath.Join(dir, obj), 0o700); err != nil {
			t.Fatal(err)
		}
		data := `{"tenant":"t1","container":"` + container + `","root":"` + root + `"}`
		if err := os.WriteFile(filepath.Join(dir, obj, container), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plant("rootfs-1-2", id, state)
	plant("rootfs-3-4", "someone-else", "/run/other")
	if got := ClaimsOf(state, id); len(got) != 1 || got[0] != "rootfs-1-2" {
		t.Fatalf("ClaimsOf = %v", got)
	}
	if l := lc.Leaks(); len(l) != 1 || !strings.Contains(l[0], "claim rootfs-1-2") {
		t.Fatalf("leaks = %v, want the claim", l)
	}
	lc.Reap()
	if l := lc.Leaks(); len(l) != 0 {
		t.Fatalf("after Reap: %v", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs-1-2")); err == nil {
		t.Error("Reap left the emptied object directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs-3-4", "someone-else")); err != nil {
		t.Errorf("Reap removed another container's claim: %v", err)
	}
}

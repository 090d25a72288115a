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

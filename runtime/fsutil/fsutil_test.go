package fsutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func TestWriteFileAtomic(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "rec.json")
	for _, data := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != data {
			t.Fatalf("got %q, want %q", b, data)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := WriteFileAtomic(filepath.Join(d, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("a missing directory must fail")
	}
	if ents, _ := os.ReadDir(d); len(ents) != 1 {
		t.Fatalf("only the file itself is left: %v", ents)
	}
}

// TestUnmountBelow: stacked and nested tmpfs mounts below a directory all come off, a
// sibling whose name starts with the directory's stays, and dir's own mount only with self.
func TestUnmountBelow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts need root")
	}
	base := t.TempDir()
	dir, sib := filepath.Join(base, "wd"), filepath.Join(base, "wd-other")
	var mounted []string
	mount := func(p string) {
		t.Helper()
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		mounted = append(mounted, p)
	}
	t.Cleanup(func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			_ = unix.Unmount(mounted[i], unix.MNT_DETACH)
		}
	})
	mount(dir)
	mount(filepath.Join(dir, "a"))
	mount(filepath.Join(dir, "a")) // stacked
	mount(filepath.Join(dir, "a", "b"))
	mount(filepath.Join(dir, "c"))
	mount(sib)
	count := func(p string, self bool) int {
		infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(p))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range infos {
			if m.Mountpoint != p || self {
				n++
			}
		}
		return n
	}
	if err := UnmountBelow(dir, false); err != nil {
		t.Fatal(err)
	}
	if n := count(dir, false); n != 0 {
		t.Fatalf("%d mounts left below %s", n, dir)
	}
	if count(dir, true) != 1 || count(sib, true) != 1 {
		t.Fatal("dir's own mount and the sibling's must stay")
	}
	if err := UnmountBelow(dir, true); err != nil || count(dir, true) != 0 || count(sib, true) != 1 {
		t.Fatalf("self: %v", err)
	}
	if err := UnmountBelow(filepath.Join(base, "missing"), true); err != nil {
		t.Fatalf("nothing mounted: %v", err)
	}
}

// TestLocks: a directory lock and a lock file are seen as busy by another open file, shared
// locks coexist, TryLock does not wait, and closing the file releases the lock.
func TestLocks(t *testing.T) {
	d := t.TempDir()
	if Busy(d) || Busy(filepath.Join(d, "missing")) {
		t.Fatal("nothing holds it")
	}
	sh1, err := LockDir(d, unix.LOCK_SH)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := LockDir(d, unix.LOCK_SH)
	if err != nil {
		t.Fatal(err)
	}
	if !Busy(d) {
		t.Fatal("held shared: busy")
	}
	if TryLock(sh1, unix.LOCK_EX) {
		t.Fatal("another shared holder: no upgrade")
	}
	sh2.Close()
	if !TryLock(sh1, unix.LOCK_EX) {
		t.Fatal("the only holder upgrades without waiting")
	}
	sh1.Close()
	if Busy(d) {
		t.Fatal("closed: released")
	}
	lf := filepath.Join(d, ".lock")
	f, err := LockFile(lf, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	if !Busy(lf) {
		t.Fatal("lock file held: busy")
	}
	f.Close()
	if err := os.Symlink(lf, filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := LockFile(filepath.Join(d, "link"), unix.LOCK_EX); err == nil {
		t.Fatal("a lock file is never opened through a symlink")
	}
	if _, err := LockDir(filepath.Join(d, "missing"), unix.LOCK_EX); err == nil {
		t.Fatal("LockDir does not create")
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
	got, err := ReadSmall(p, &buf)
	if err != nil || string(got) != string(want) {
		t.Fatalf("ReadSmall: %d bytes, %v", len(got), err)
	}
	if _, err := ReadSmall(filepath.Join(t.TempDir(), "missing"), &buf); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

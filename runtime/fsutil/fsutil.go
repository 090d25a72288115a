// Package fsutil holds the file-system helpers the runtime and its subsystems share.
package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// WriteFileAtomic replaces path with data: written to a hidden temporary file beside it,
// then renamed over it, so a reader sees the old content or the new, never a torn one.
// The temporary file is removed on any failure.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, perm); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// UnmountBelow detaches (MNT_DETACH) every mount below dir, and dir's own when self is
// set: deepest first, and of mounts stacked on one point the later first, so each comes
// off before the one it covers. A mount already gone is not an error; every other
// failure is returned, after the rest were tried. It never removes anything.
func UnmountBelow(dir string, self bool) error {
	dir = filepath.Clean(dir)
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	slices.SortFunc(infos, func(a, b *mountinfo.Info) int {
		if d := len(b.Mountpoint) - len(a.Mountpoint); d != 0 {
			return d
		}
		return b.ID - a.ID
	})
	var errs []error
	for _, m := range infos {
		if m.Mountpoint == dir && !self {
			continue
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}

// flock takes how (unix.LOCK_SH or LOCK_EX, with LOCK_NB to try) on f, again after EINTR.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// LockDir opens the existing directory dir and takes how (unix.LOCK_SH or LOCK_EX) on it.
// The lock lasts while the returned file stays open, or the process lives.
func LockDir(dir string, how int) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return f, nil
}

// LockFile opens (creating, mode 0600, never through a symlink) the lock file path and
// takes how on it; closing the file releases it.
func LockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// TryLock takes how on f without waiting; false when someone else holds a conflicting lock
// (or the lock cannot be taken at all).
func TryLock(f *os.File, how int) bool {
	return flock(f, how|unix.LOCK_NB) == nil
}

// Busy says whether someone holds a lock on path (another process, or another open file in
// this one). A path that cannot be opened is not busy.
func Busy(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = flock(f, unix.LOCK_UN)
	return false
}

// ReadSmall reads a small file into *buf (grown as needed) with plain
// open/read/close: os.ReadFile also fstats the file and registers it with the
// Go poller, which doubles the syscalls `list` makes per container.
func ReadSmall(path string, buf *[]byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if len(*buf) == 0 {
		*buf = make([]byte, 4096)
	}
	n := 0
	for {
		if n == len(*buf) {
			*buf = append(*buf, make([]byte, len(*buf))...)
		}
		m, err := unix.Read(fd, (*buf)[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return (*buf)[:n], nil
		}
		n += m
	}
}

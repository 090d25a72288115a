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

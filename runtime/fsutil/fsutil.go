// Package fsutil holds the file-system helpers the runtime and its subsystems share.
package fsutil

import (
	"os"
	"path/filepath"
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

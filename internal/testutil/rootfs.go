package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// BusyboxPath is the static busybox the fixture is built from.
var BusyboxPath = "/bin/busybox"

// rootfsLayout changes whenever the fixture's layout changes, so old caches are not reused.
const rootfsLayout = "v1"

const passwd = `root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

const group = `root:x:0:
user:x:1000:
nogroup:x:65534:
`

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// CacheDir is where the busybox rootfs template is cached between test binaries.
func CacheDir() string {
	if d := os.Getenv("TENANTRUN_TEST_CACHE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/tenantrun-test"
	}
	return filepath.Join(os.TempDir(), "tenantrun-test-cache")
}

// BusyboxRootfs returns the path of a read-only busybox-static rootfs template (applet
// symlinks, /etc/passwd and /etc/group with root, user 1000 and nobody). It is built once per
// busybox binary and layout version and cached under CacheDir(). Do not write into it: use
// CopyRootfs (NewBundle does) for a bundle's own rootfs.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	RequireFile(t, BusyboxPath, "busybox-static is needed for the rootfs fixture (apt-get install busybox-static)")
	rootfsOnce.Do(func() { rootfsDir, rootfsErr = buildCachedRootfs() })
	if rootfsErr != nil {
		t.Fatalf("busybox rootfs: %v", rootfsErr)
	}
	return rootfsDir
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func buildCachedRootfs() (string, error) {
	sum, err := fileHash(BusyboxPath)
	if err != nil {
		return "", err
	}
	cache := CacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// The rootfs must be reachable by a user-namespaced container root (an unprivileged host uid).
	_ = os.Chmod(cache, 0o755)
	// The key also covers hack/rootfs/mk-busybox.sh (and the probe it copies) when present, so
	// a change there rebuilds the cached template.
	key := sum
	for _, p := range []string{"hack/rootfs/mk-busybox.sh", "hack/rootfs/probe/tenantrun-probe"} {
		if h, err := fileHash(filepath.Join(RepoRoot(), p)); err == nil {
			key += h
		}
	}
	if os.Getenv("TENANTRUN_TEST_GO_ROOTFS") != "" {
		key += "go"
	}
	ks := sha256.Sum256([]byte(key))
	dir := filepath.Join(cache, "busybox-"+rootfsLayout+"-"+hex.EncodeToString(ks[:8]))
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	// Serialise builders across test binaries.
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := buildRootfs(tmp); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// buildRootfs uses hack/rootfs/mk-busybox.sh when the repository has it, else builds in Go.
func buildRootfs(dst string) error {
	if script := filepath.Join(RepoRoot(), "hack", "rootfs", "mk-busybox.sh"); os.Getenv("TENANTRUN_TEST_GO_ROOTFS") == "" {
		if _, err := os.Stat(script); err == nil {
			out, err := exec.Command(script, dst).CombinedOutput()
			if err == nil && validRootfs(dst) == nil {
				return nil
			}
			// Fall back to the Go builder on any problem with the script.
			_ = os.RemoveAll(dst)
			if err2 := os.MkdirAll(dst, 0o755); err2 != nil {
				return err2
			}
			_ = out
		}
	}
	return buildRootfsGo(dst)
}

func validRootfs(dir string) error {
	for _, p := range []string{"bin/busybox", "bin/sh", "etc/passwd", "etc/group", "proc", "dev", "sys", "tmp"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("rootfs %s: %w", dir, err)
		}
	}
	return nil
}

func buildRootfsGo(dst string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user", "var/tmp", "run", "mnt"} {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dst, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(dst, "home/user"), 1000, 1000); err != nil {
		return err
	}
	if err := copyFile(BusyboxPath, filepath.Join(dst, "bin/busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		p := filepath.Join(dst, applet)
		if applet == "bin/busybox" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":   passwd,
		"etc/group":    group,
		"etc/hostname": "tenant\n",
		"etc/hosts":    "127.0.0.1\tlocalhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dst, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return validRootfs(dst)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// CopyRootfs makes dst a copy of the template src: directories and symlinks are recreated,
// regular files are hard-linked when possible (same filesystem), else copied.
func CopyRootfs(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == ".complete" {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, info.Mode().Perm()|info.Mode()&os.ModeSticky); err != nil {
				return err
			}
			if st, ok := info.Sys().(*unix.Stat_t); ok {
				return os.Lchown(target, int(st.Uid), int(st.Gid))
			}
			return nil
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.Mode().IsRegular():
			if err := os.Link(p, target); err == nil {
				return nil
			}
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil
	})
}

var (
	repoOnce sync.Once
	repoRoot string
)

// RepoRoot is the repository root (the directory holding go.mod), found from the working dir.
func RepoRoot() string {
	repoOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				repoRoot = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	return repoRoot
}

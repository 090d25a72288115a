// Package bindpin pins the sources of a container's bind mounts that lie in a tenant's bind
// roots (see below). Its door: Plan rewrites the spec's sources to the pins and returns the
// plan, Make makes the pins, Cleanup takes them away again.
package bindpin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// Bind sources inside a tenant's bind roots are written by the tenant's own
// containers. The policy checks each one (openat2, RESOLVE_BENEATH), but
// libcontainer mounts by path later: a tenant could swap a path component for
// a symlink in between. So tenantrun pins every such source before the
// container starts: it opens it again beneath its bind root without following
// any symlink, clones that exact directory or file with open_tree, and mounts
// the clone under the container's work directory; the bundle's mount then
// binds the pin, which no later rename inside the bind root can redirect.

const pinDir = "binds"

// Pin is one bind mount whose source will be pinned.
type Pin struct {
	index     int    // in spec.Mounts
	source    string // the checked source (absolute, inside root)
	root      string // the tenant bind root it lies in
	target    string // the pin: <workDir>/binds/<index>
	recursive bool
}

func IsBind(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

// Plan points every bind mount whose source lies in one of bindRoots
// at its future pin under workDir and returns the plan.
func Plan(s *specs.Spec, bindRoots []string, workDir string) []Pin {
	var plan []Pin
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if !IsBind(*m) || !filepath.IsAbs(m.Source) {
			continue
		}
		for _, r := range bindRoots {
			r = filepath.Clean(r)
			if m.Source == r || strings.HasPrefix(m.Source, r+"/") {
				p := Pin{index: i, source: filepath.Clean(m.Source), root: r,
					target: filepath.Join(workDir, pinDir, strconv.Itoa(i)), recursive: slices.Contains(m.Options, "rbind")}
				plan = append(plan, p)
				m.Source = p.target
				break
			}
		}
	}
	return plan
}

// Make makes the planned pins. It returns the mount points it created.
func Make(plan []Pin) ([]string, error) {
	var made []string
	for _, p := range plan {
		if err := pinOne(p); err != nil {
			return made, fmt.Errorf("mounts[%d].source %q: %w", p.index, p.source, err)
		}
		made = append(made, p.target)
	}
	return made, nil
}

func pinOne(p Pin) error {
	rootFd, err := unix.Open(p.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening bind root %s: %w", p.root, err)
	}
	defer unix.Close(rootFd)
	rel, err := filepath.Rel(p.root, p.source)
	if err != nil {
		return err
	}
	fd, err := unix.Openat2(rootFd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("changed since the policy checked it (re-opening beneath %s without symlinks: %w)", p.root, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if !isDir && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("is no longer a directory or regular file (mode %o)", st.Mode&unix.S_IFMT)
	}
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if p.recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(fd, "", uint(flags))
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	if err := os.MkdirAll(filepath.Dir(p.target), 0o711); err != nil {
		return err
	}
	if isDir {
		err = os.Mkdir(p.target, 0o711)
	} else {
		var f *os.File
		f, err = os.OpenFile(p.target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
		}
	}
	if err != nil {
		return err
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, p.target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		_ = os.Remove(p.target)
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// Cleanup unmounts and removes every pin under workDir (never recursively
// deleting through a mount).
func Cleanup(workDir string) error {
	dir := filepath.Join(filepath.Clean(workDir), pinDir)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	if err := fsutil.UnmountBelow(dir, false); err != nil {
		errs = append(errs, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

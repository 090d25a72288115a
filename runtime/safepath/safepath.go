// Package safepath opens the paths a tenant can influence once, without following a
// symlink out of their root, and hands out the descriptor for every later step.
//
// The invariant it keeps (docs/security.md, "paths"): a path that lies in a directory a
// tenant may write (its bundle under a bind root, its bind roots, engine storage whose
// content the container wrote) is resolved exactly once, with openat2
// RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS below its root; what the policy checked is that
// descriptor, and every later use (open_tree for the rootfs and bind pins, a re-open
// through /proc/self/fd for reading, connect for a socket) goes through it, never through
// the path again. A rename or symlink swap after the check changes nothing the runtime uses.
package safepath

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// beneath is how every tenant-influenced path is resolved below its root.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// noSymlinks additionally refuses any symlink on the way (documents the runtime reads).
const noSymlinks = beneath | unix.RESOLVE_NO_SYMLINKS

// OpenDir opens a directory named by the engine (a bundle, a pid file's directory) as an
// O_PATH descriptor. The engine's own path is followed as given; what lies below it is
// opened through the descriptor.
func OpenDir(path string) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil, explain(err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadRegular reads name below dir: no symlink anywhere on the way, a regular file with one
// link, at most max bytes (checked on the descriptor before reading). A FIFO, socket or
// device is refused without ever being opened for reading, so nothing can make the
// runtime block or trigger a device's open.
func ReadRegular(dir *os.File, name string, max int64) ([]byte, error) {
	fd, err := unix.Openat2(int(dir.Fd()), name, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: noSymlinks})
	if err != nil {
		return nil, explain(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("is a %s, not a regular file", kindName(st.Mode))
	}
	if st.Nlink != 1 {
		return nil, fmt.Errorf("has %d hard links (a regular file of its own is required)", st.Nlink)
	}
	if st.Size > max {
		return nil, fmt.Errorf("is %d bytes, larger than the %d MiB limit", st.Size, max>>20)
	}
	f, err := Reopen(fd, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > max {
		return nil, fmt.Errorf("is larger than the %d MiB limit", max>>20)
	}
	return buf, nil
}

// ReadFile is ReadRegular for a path: its directory opened as the engine named it, the
// file itself without following a symlink.
func ReadFile(path string, max int64) ([]byte, error) {
	dir, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return ReadRegular(dir, filepath.Base(path), max)
}

// Reopen opens the file an O_PATH descriptor refers to (the same inode, whatever its path
// now names) with the given flags.
func Reopen(fd int, flags int) (*os.File, error) {
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	nfd, err := unix.Open(p, flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), p), nil
}

// WriteFile writes path atomically: a temporary file created (O_EXCL, never through a
// symlink) in the directory opened once, then renamed over the name inside that same
// directory. A symlink planted at the name is replaced, never followed.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	dfd, err := Reopen(int(dir.Fd()), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer dfd.Close()
	base := filepath.Base(path)
	tmp := "." + base + ".tmp"
	fd, err := unix.Openat(int(dfd.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if errors.Is(err, unix.EEXIST) {
		_ = unix.Unlinkat(int(dfd.Fd()), tmp, 0)
		fd, err = unix.Openat(int(dfd.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = unix.Renameat(int(dfd.Fd()), tmp, int(dfd.Fd()), base)
	}
	if werr != nil {
		_ = unix.Unlinkat(int(dfd.Fd()), tmp, 0)
	}
	return werr
}

// DialUnix connects to the unix socket at path without following a symlink at its name:
// the socket inode is opened O_PATH in its directory and connected to through that
// descriptor, so a swap of the name for a link to another socket (a host daemon's) after
// the open changes nothing.
func DialUnix(path string) (*os.File, error) {
	dir, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat2(int(dir.Fd()), filepath.Base(path), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: noSymlinks})
	if err != nil {
		return nil, explain(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("is a %s, not a socket", kindName(st.Mode))
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(s, &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(fd)}); err != nil {
		unix.Close(s)
		return nil, err
	}
	return os.NewFile(uintptr(s), path), nil
}

// Handle is a resolved path held open: Fd is an O_PATH descriptor of exactly what the
// policy checked.
type Handle struct {
	Fd       int
	Resolved string // what /proc/self/fd showed when it was opened
	Mode     uint32 // st_mode
	Dev, Ino uint64
}

// Anchors resolves paths below roots (bundle, bind roots, engine roots) and keeps every
// descriptor it opened, found again by the path asked for or the path resolved, until
// Close. The runtime's policy Host answers ResolveBeneath through it, so the runtime
// afterwards uses the very descriptors the policy judged.
type Anchors struct {
	mu      sync.Mutex
	roots   map[string]int // root path -> O_PATH fd of the root, opened once
	handles map[string]*Handle
	all     []*Handle
}

// NewAnchors returns an empty set.
func NewAnchors() *Anchors {
	return &Anchors{roots: map[string]int{}, handles: map[string]*Handle{}}
}

// AddRoot makes dir (an already open directory, e.g. the bundle) the descriptor used for
// root; later resolutions below root go through it. The descriptor is duplicated.
func (a *Anchors) AddRoot(root string, dir *os.File) error {
	fd, err := unix.FcntlInt(dir.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.roots[filepath.Clean(root)]; ok {
		unix.Close(old)
	}
	a.roots[filepath.Clean(root)] = fd
	return nil
}

func (a *Anchors) rootFd(root string) (int, error) {
	root = filepath.Clean(root)
	if fd, ok := a.roots[root]; ok {
		return fd, nil
	}
	// An operator-configured root (bind root, engine root): its own path is trusted as the
	// configuration names it, but a symlink as its last component is not.
	fd, err := unix.Openat2(unix.AT_FDCWD, root, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", root, explain(err))
	}
	a.roots[root] = fd
	return fd, nil
}

// Resolve opens rel below root (openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS: neither
// '..' nor a symlink can leave root) and keeps the descriptor.
func (a *Anchors) Resolve(root, rel string) (*Handle, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rfd, err := a.rootFd(root)
	if err != nil {
		return nil, err
	}
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: beneath})
	if err != nil {
		if errors.Is(err, unix.EXDEV) {
			return nil, fmt.Errorf("escapes %s (symlink or '..')", root)
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	h := &Handle{Fd: fd, Resolved: real, Mode: st.Mode, Dev: st.Dev, Ino: st.Ino}
	a.all = append(a.all, h)
	asked := filepath.Join(root, rel)
	a.handles[asked] = h
	a.handles[real] = h
	return h, nil
}

// Lookup returns the descriptor that Resolve opened for path (asked for or resolved).
func (a *Anchors) Lookup(path string) (*Handle, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.handles[filepath.Clean(path)]
	return h, ok
}

// Close closes every descriptor.
func (a *Anchors) Close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.all {
		unix.Close(h.Fd)
	}
	for _, fd := range a.roots {
		unix.Close(fd)
	}
	a.all, a.handles, a.roots = nil, map[string]*Handle{}, map[string]int{}
}

func kindName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	case unix.S_IFREG:
		return "regular file"
	}
	return "special file"
}

// explain turns openat2's errors into what they mean here.
func explain(err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return errors.New("is or passes through a symlink (not followed)")
	case errors.Is(err, unix.EXDEV):
		return errors.New("escapes its directory (symlink or '..')")
	case errors.Is(err, unix.ENOENT):
		return os.ErrNotExist
	}
	return err
}

// IsNotExist is os.IsNotExist for errors of this package.
func IsNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || strings.Contains(fmt.Sprint(err), "no such file")
}

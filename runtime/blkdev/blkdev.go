// Package blkdev finds the block devices behind a file: the devices the kernel's I/O
// controller throttles for the container's rootfs and the tenant's bind roots. Its door:
// OfFd (a descriptor the runtime holds) and OfPath; Available says whether the host's
// cgroups can throttle at all.
//
// The file's st_dev is only the start:
//   - an anonymous device (major 0: overlayfs, btrfs subvolumes) is looked up in the mount
//     table; an overlay's upper, lower and work directories are followed (each may be on
//     another filesystem, an overlay itself); a filesystem mounted from /dev/X is X;
//   - a partition is throttled on its whole disk (the kernel refuses a partition's
//     major:minor in blkio.throttle.* and io.max);
//   - loop and device-mapper devices are throttled themselves: they take the bios the
//     container issues, in its cgroup.
//
// Files on no block device (tmpfs, proc, a network filesystem) give none: there is no block
// I/O of theirs to throttle (tmpfs is bounded by its size and the memory limit).
package blkdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
)

// SysRoot is where sysfs is mounted (a variable for tests).
var SysRoot = "/sys"

// maxDepth bounds overlay-in-overlay following.
const maxDepth = 8

// OfFd returns the devices behind the filesystem fd is on.
func OfFd(fd int) ([]hardening.BlockDev, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	r := &resolver{}
	if err := r.dev(st.Dev, 0); err != nil {
		return nil, err
	}
	return r.list(), nil
}

// OfPath returns the devices behind the filesystem path is on (symlinks followed).
func OfPath(paths ...string) ([]hardening.BlockDev, error) {
	r := &resolver{}
	for _, p := range paths {
		if err := r.path(p, 0); err != nil {
			return nil, err
		}
	}
	return r.list(), nil
}

// Merge returns the devices of all lists, each once, in order of device number.
func Merge(lists ...[]hardening.BlockDev) []hardening.BlockDev {
	r := &resolver{}
	for _, l := range lists {
		for _, d := range l {
			r.add(d)
		}
	}
	return r.list()
}

type resolver struct {
	found  map[[2]int64]hardening.BlockDev
	mounts []*mountinfo.Info
}

func (r *resolver) add(d hardening.BlockDev) {
	if r.found == nil {
		r.found = map[[2]int64]hardening.BlockDev{}
	}
	r.found[[2]int64{d.Major, d.Minor}] = d
}

func (r *resolver) list() []hardening.BlockDev {
	out := make([]hardening.BlockDev, 0, len(r.found))
	for _, d := range r.found {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Major != out[j].Major {
			return out[i].Major < out[j].Major
		}
		return out[i].Minor < out[j].Minor
	})
	return out
}

func (r *resolver) path(p string, depth int) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if err := r.dev(st.Dev, depth); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func (r *resolver) dev(dev uint64, depth int) error {
	if depth > maxDepth {
		return errors.New("filesystems stacked too deep to find their block devices")
	}
	major, minor := unix.Major(dev), unix.Minor(dev)
	if major != 0 {
		return r.block(major, minor)
	}
	// An anonymous device: what the mount table says it is made of.
	m, err := r.mountOf(major, minor)
	if err != nil {
		return err
	}
	if m == nil {
		return nil // not mounted in this namespace's table (a detached mount): no block device known
	}
	switch {
	case m.FSType == "overlay":
		for _, dir := range overlayDirs(m.VFSOptions) {
			if err := r.path(dir, depth+1); err != nil {
				return err
			}
		}
	case strings.HasPrefix(m.Source, "/dev/"):
		var st unix.Stat_t
		if err := unix.Stat(m.Source, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return r.block(unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	return nil
}

// block adds the device the controller throttles for major:minor, if it is a block device.
func (r *resolver) block(major, minor uint32) error {
	sys := filepath.Join(SysRoot, "dev/block", fmt.Sprintf("%d:%d", major, minor))
	link, err := os.Readlink(sys)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a character or virtual device: no block I/O
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		// .../block/vda/vda1: the whole disk is the parent directory.
		disk := filepath.Dir(filepath.Join(filepath.Dir(sys), link))
		data, err := os.ReadFile(filepath.Join(disk, "dev"))
		if err != nil {
			return fmt.Errorf("partition %d:%d: its disk: %w", major, minor, err)
		}
		var ma, mi int64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &ma, &mi); err != nil {
			return fmt.Errorf("partition %d:%d: its disk's dev file %q", major, minor, data)
		}
		r.add(hardening.BlockDev{Major: ma, Minor: mi, Name: filepath.Base(disk)})
		return nil
	}
	r.add(hardening.BlockDev{Major: int64(major), Minor: int64(minor), Name: filepath.Base(link)})
	return nil
}

func (r *resolver) mountOf(major, minor uint32) (*mountinfo.Info, error) {
	if r.mounts == nil {
		ms, err := mountinfo.GetMounts(nil)
		if err != nil {
			return nil, fmt.Errorf("reading the mount table: %w", err)
		}
		r.mounts = ms
	}
	for _, m := range r.mounts {
		if m.Major == int(major) && m.Minor == int(minor) {
			return m, nil
		}
	}
	return nil, nil
}

// overlayDirs are the upperdir, workdir and lowerdir entries of overlay mount options
// (lowerdir is ":"-separated; "\" escapes ",", ":" and "\" in a path).
func overlayDirs(opts string) []string {
	var out []string
	for _, o := range splitEscaped(opts, ',') {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		switch k {
		case "upperdir", "workdir":
			out = append(out, unescape(v))
		case "lowerdir", "lowerdir+", "datadir+":
			for _, l := range splitEscaped(v, ':') {
				if l != "" {
					out = append(out, unescape(l))
				}
			}
		}
	}
	return out
}

func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Available says whether this host's cgroups can throttle block I/O: cgroup v1's blkio
// hierarchy with its throttle files, or the v2 io controller. A tenant with I/O limits
// is refused where it cannot (never run unthrottled without a word).
func Available() error {
	cg := filepath.Join(SysRoot, "fs/cgroup")
	if data, err := os.ReadFile(filepath.Join(cg, "cgroup.controllers")); err == nil {
		if !strings.Contains(" "+strings.TrimSpace(string(data))+" ", " io ") {
			return errors.New("the cgroup v2 io controller is not available (not in /sys/fs/cgroup/cgroup.controllers)")
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(cg, "blkio/blkio.throttle.read_bps_device")); err != nil {
		return errors.New("the cgroup v1 blkio controller has no throttle files (/sys/fs/cgroup/blkio/blkio.throttle.*): the kernel lacks CONFIG_BLK_DEV_THROTTLING or blkio is not mounted")
	}
	return nil
}

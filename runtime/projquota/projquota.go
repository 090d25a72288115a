// Package projquota puts a tenant's disk-space and inode quota on its bind roots with the
// kernel's project quotas (XFS, or ext4 with the project and quota features, mounted with
// prjquota): every file below a root gets the tenant's project id, directories the inherit
// flag (so what is created later is the tenant's too), and the filesystem the limits.
// Its door: Apply (idempotent), Check (what create asks before it binds a root) and
// Supported.
package projquota

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's interfaces (linux/fs.h, linux/quota.h); x/sys has none of them.
const (
	fsIocFsGetXattr    = 0x801c581f // _IOR('X', 31, struct fsxattr)
	fsIocFsSetXattr    = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	fsXflagProjInherit = 0x00000200
	prjQuota           = 2
	qGetInfo           = 0x800005
	qGetQuota          = 0x800007
	qSetQuota          = 0x800008
	qifBLimits         = 1
	qifILimits         = 4
	blockSize          = 1024 // QIF_DQBLKSIZE: dqb_bhardlimit's unit
)

type fsxattr struct {
	Xflags, Extsize, Nextents, Projid, Cowextsize uint32
	_                                             [8]byte
}

type ifDqblk struct {
	BHardlimit, BSoftlimit, CurSpace, IHardlimit, ISoftlimit, CurInodes, BTime, ITime uint64
	Valid                                                                             uint32
	_                                                                                 uint32
}

type ifDqinfo struct {
	BGrace, IGrace uint64
	Flags, Valid   uint32
}

func quotactlFd(fd int, cmd, id uint32, addr unsafe.Pointer) error {
	_, _, e := unix.Syscall6(unix.SYS_QUOTACTL_FD, uintptr(fd), uintptr(cmd<<8|prjQuota), uintptr(id), uintptr(addr), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getXattr(fd int) (fsxattr, error) {
	var x fsxattr
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocFsGetXattr, uintptr(unsafe.Pointer(&x)))
	if e != 0 {
		return x, e
	}
	return x, nil
}

func setXattr(fd int, x fsxattr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocFsSetXattr, uintptr(unsafe.Pointer(&x)))
	if e != 0 {
		return e
	}
	return nil
}

func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

// Supported says whether dir's filesystem enforces project quotas.
func Supported(dir string) error {
	fd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var info ifDqinfo
	if err := quotactlFd(fd, qGetInfo, 0, unsafe.Pointer(&info)); err != nil {
		switch {
		case errors.Is(err, unix.ESRCH), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EINVAL):
			return fmt.Errorf("%s: its filesystem does not enforce project quotas (%v): use XFS mounted with prjquota, or ext4 made with -O quota,project and mounted with prjquota, on a kernel with CONFIG_QUOTA and QFMT_V2 or XFS_QUOTA", dir, err)
		}
		return fmt.Errorf("%s: project quota info: %w", dir, err)
	}
	return nil
}

// Apply gives every directory and regular file below dir (symlinks and special files are
// skipped; nothing is followed) project id and the directories the inherit flag, then sets
// the limits (bytes and inodes; 0 = none) of the project on dir's filesystem. Running it
// again changes nothing that is already right.
func Apply(dir string, id uint32, bytes int64, inodes uint64) (files int, err error) {
	if id == 0 {
		return 0, errors.New("project id 0 is the filesystem's default project")
	}
	if err := Supported(dir); err != nil {
		return 0, err
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return werr
		}
		if !d.Type().IsDir() && !d.Type().IsRegular() {
			return nil
		}
		if p != dir {
			// Stay on dir's filesystem: a project belongs to one.
			var st, root unix.Stat_t
			if unix.Lstat(p, &st) == nil && unix.Stat(dir, &root) == nil && st.Dev != root.Dev {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		defer unix.Close(fd)
		x, err := getXattr(fd)
		if err != nil {
			return &os.PathError{Op: "FS_IOC_FSGETXATTR", Path: p, Err: err}
		}
		want := x
		want.Projid = id
		if d.IsDir() {
			want.Xflags |= fsXflagProjInherit
		}
		if want != x {
			if err := setXattr(fd, want); err != nil {
				return &os.PathError{Op: "FS_IOC_FSSETXATTR", Path: p, Err: err}
			}
		}
		files++
		return nil
	})
	if err != nil {
		return files, err
	}
	fd, err := openDir(dir)
	if err != nil {
		return files, err
	}
	defer unix.Close(fd)
	q := ifDqblk{Valid: qifBLimits | qifILimits, IHardlimit: inodes, ISoftlimit: inodes}
	if bytes > 0 {
		q.BHardlimit = uint64((bytes + blockSize - 1) / blockSize)
		q.BSoftlimit = q.BHardlimit
	}
	if err := quotactlFd(fd, qSetQuota, id, unsafe.Pointer(&q)); err != nil {
		return files, fmt.Errorf("%s: setting project %d's limits: %w", dir, id, err)
	}
	return files, nil
}

// Usage is a project's use and limits on one filesystem (0 limits: none).
type Usage struct {
	Bytes, BytesLimit   uint64
	Inodes, InodesLimit uint64
}

// Check says whether dir carries project id with the inherit flag and the project has the
// limits asked for on dir's filesystem, and returns its usage.
func Check(dir string, id uint32, bytes int64, inodes uint64) (Usage, error) {
	fd, err := openDir(dir)
	if err != nil {
		return Usage{}, err
	}
	defer unix.Close(fd)
	x, err := getXattr(fd)
	if err != nil {
		return Usage{}, fmt.Errorf("%s: %w", dir, err)
	}
	if x.Projid != id || x.Xflags&fsXflagProjInherit == 0 {
		return Usage{}, fmt.Errorf("%s is not in project %d (it has %d%s)", dir, id, x.Projid, map[bool]string{true: "", false: ", without inheritance"}[x.Xflags&fsXflagProjInherit != 0])
	}
	var q ifDqblk
	if err := quotactlFd(fd, qGetQuota, id, unsafe.Pointer(&q)); err != nil {
		return Usage{}, fmt.Errorf("%s: project %d's quota: %w", dir, id, err)
	}
	u := Usage{Bytes: q.CurSpace, BytesLimit: q.BHardlimit * blockSize, Inodes: q.CurInodes, InodesLimit: q.IHardlimit}
	if bytes > 0 && u.BytesLimit != uint64((bytes+blockSize-1)/blockSize)*blockSize || inodes > 0 && u.InodesLimit != inodes {
		return u, fmt.Errorf("%s: project %d's limits are %d bytes and %d inodes, not the tenant's %d and %d", dir, id, u.BytesLimit, u.InodesLimit, bytes, inodes)
	}
	return u, nil
}

// Read returns a project's usage and limits on dir's filesystem.
func Read(dir string, id uint32) (Usage, error) {
	fd, err := openDir(dir)
	if err != nil {
		return Usage{}, err
	}
	defer unix.Close(fd)
	var q ifDqblk
	if err := quotactlFd(fd, qGetQuota, id, unsafe.Pointer(&q)); err != nil {
		return Usage{}, err
	}
	return Usage{Bytes: q.CurSpace, BytesLimit: q.BHardlimit * blockSize, Inodes: q.CurInodes, InodesLimit: q.IHardlimit}, nil
}

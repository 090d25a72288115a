// Package idmap gives a container its root filesystem as an idmapped mount (the tenant's
// user namespace mapping) or, where the engine shifted it already, as a pinned clone of the
// descriptor the policy judged. Its door: Rootfs, Pinned, Cleanup, WorkDirBusy.
package idmap

// The idmapped rootfs (issue 4). Under the tenant's user namespace an image
// owned by host root shows its files as nobody: a 0600 root file is unreadable
// to container root. Instead of chowning the image (O(files), and it rewrites
// layers other containers share), the container gets an idmapped view of it:
// a mount whose ID mapping is the tenant's, so a file owned by host 0 appears
// owned by host 300000 (container 0). That is O(1): one clone of the mount
// tree and one mount_setattr, whatever the image size.
//
// Everything is built from detached mounts (open_tree clones, fsmount fds),
// which the kernel frees by itself when their last fd is closed, so a crash in
// here leaves nothing behind; only the final move_mount makes a mount visible,
// and that is the one mount returned.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

const overlayfsMagic = 0x794c7630

// Rootfs returns a path whose contents are rootfs seen through the given ID mappings
// (host uid = mapping applied to the file's uid, so a file owned by host 0 appears owned by
// container 0 inside the userns), plus every mount point it created, in creation order.
// workDir is a fresh, empty directory owned by tenantrun (outside the state dir) that the
// function may create sub-directories in. Must be O(1) in the number of files.
//
// A plain directory (ext4, xfs, btrfs, tmpfs…) becomes an idmapped recursive bind. An
// overlay mount (what podman and containerd hand over) cannot be idmapped itself, so a new
// overlay is built whose lower layers are idmapped clones of the original's layers (its
// upperdir on top, then its lowerdirs), with a private scratch tmpfs as upperdir so that
// libcontainer can still create mount points before it remounts the root read-only; writes
// never reach the engine's layers. On success exactly one mount is visible: newRoot.
func Rootfs(rootfs string, uidMap, gidMap []specs.LinuxIDMapping, workDir string) (newRoot string, mounts []string, err error) {
	start := time.Now()
	if len(uidMap) == 0 || len(gidMap) == 0 {
		return "", nil, errors.New("idmapped rootfs: uid and gid mappings are required")
	}
	ns, err := newUserns(uidMap, gidMap)
	if err != nil {
		return "", nil, fmt.Errorf("idmapped rootfs: %w", err)
	}
	defer unix.Close(ns)
	tNS := time.Since(start)
	newRoot, mounts, kind, err := rootfsUserns(rootfs, ns, workDir)
	if err != nil {
		return "", nil, err
	}
	logrus.Debugf("idmapped rootfs (%s) of %s at %s in %v (userns %v)", kind, rootfs, newRoot, time.Since(start), tNS)
	return newRoot, mounts, nil
}

// rootfsUserns is Rootfs with the mapping of an existing user namespace, given as
// an fd of it (e.g. opened from linux.namespaces[user].path when a container joins a pod's
// user namespace and the spec carries no mapping of its own). kind is "bind" or "overlay".
func rootfsUserns(rootfs string, userns int, workDir string) (newRoot string, mounts []string, kind string, err error) {
	rootFd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, "", fmt.Errorf("idmapped rootfs: opening %s: %w", rootfs, err)
	}
	defer unix.Close(rootFd)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(rootFd, &sfs); err != nil {
		return "", nil, "", fmt.Errorf("idmapped rootfs: statfs %s: %w", rootfs, err)
	}
	var treeFd int
	kind = "bind"
	if uint32(sfs.Type) == overlayfsMagic {
		mnt, merr := mountOf(rootFd)
		if merr != nil {
			return "", nil, "", fmt.Errorf("idmapped rootfs: rootfs %s is on overlay: finding its mount: %w", rootfs, merr)
		}
		kind = "overlay"
		treeFd, err = idmappedOverlay(rootfs, mnt, userns, workDir)
	} else {
		treeFd, err = idmappedClone(rootFd, rootfs, userns)
	}
	if err != nil {
		return "", nil, "", err
	}
	defer unix.Close(treeFd)
	newRoot, err = placeRootTree(treeFd, workDir, "idmapped rootfs")
	if err != nil {
		return "", nil, "", err
	}
	return newRoot, []string{newRoot}, kind, nil
}

// placeRootTree makes a detached root tree nosuid,nodev and private, and moves it onto
// workDir/rootfs. Through this mount an image's setuid-root file is setuid to the
// tenant's root on the host, and the work dir is traversable by everyone (the container's
// root must reach it): nosuid, so no host user can become the tenant by running it.
// Inside the container it changes nothing, the policy forces noNewPrivileges. nodev
// likewise: a device node in the image never opens a host device.
func placeRootTree(tree int, workDir, what string) (string, error) {
	hard := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &hard); err != nil {
		return "", fmt.Errorf("%s: nosuid,nodev: %w", what, err)
	}
	newRoot := filepath.Join(workDir, "rootfs")
	if err := os.Mkdir(newRoot, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, newRoot, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		_ = os.Remove(newRoot)
		return "", fmt.Errorf("%s: move_mount to %s: %w", what, newRoot, err)
	}
	return newRoot, nil
}

// Pinned is Rootfs for a root that needs no id shift (the engine already
// chowned it to the container's mapping, podman --userns=auto): the tree at rootfs (a
// /proc/self/fd path of the descriptor the policy judged) is cloned as it is and placed
// as the idmapped one is (placeRootTree). Without it libcontainer bound the bundle's directory by path, as
// mounted on the host: device nodes in the image opened host devices, setuid files kept
// their bit, and the path was resolved again after the check.
func Pinned(rootfs, workDir string) (newRoot string, mounts []string, err error) {
	rootFd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("rootfs: opening %s: %w", rootfs, err)
	}
	defer unix.Close(rootFd)
	tree, err := unix.OpenTree(rootFd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return "", nil, fmt.Errorf("rootfs: open_tree(%s): %w", rootfs, err)
	}
	defer unix.Close(tree)
	if newRoot, err = placeRootTree(tree, workDir, "rootfs"); err != nil {
		return "", nil, err
	}
	return newRoot, []string{newRoot}, nil
}

// Cleanup undoes Rootfs for workDir without needing the list of mounts (tenantrun
// killed after Rootfs but before the container record was written, or a gc sweep): it
// detaches every mount at or below workDir, deepest first, then removes the directories
// Rootfs made and workDir itself with rmdir only. It never deletes recursively: were a
// mount still there, a recursive delete would go through it into the engine's image.
// A missing workDir is not an error.
func Cleanup(workDir string) error {
	workDir = filepath.Clean(workDir)
	if _, err := os.Lstat(workDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	if err := fsutil.UnmountBelow(workDir, true); err != nil {
		errs = append(errs, err)
	}
	dirs := []string{filepath.Join(workDir, "rootfs")}
	ld := filepath.Join(workDir, layersDir)
	if ents, err := os.ReadDir(ld); err == nil {
		for _, e := range ents {
			dirs = append(dirs, filepath.Join(ld, e.Name()))
		}
	}
	for _, d := range append(dirs, ld, workDir) {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// lockWorkDir takes an exclusive flock on workDir and returns the open directory; the
// lock lasts as long as that file stays open (or the process lives). A create should hold it
// from before Rootfs until its container record is written, and gc and delete should
// skip a work dir for which WorkDirBusy says true: otherwise a gc running beside a create
// sees an idmapped root without a state dir and takes it away under the create.
func lockWorkDir(workDir string) (*os.File, error) {
	return fsutil.LockDir(workDir, unix.LOCK_EX)
}

// WorkDirBusy reports whether someone (another process, or another open of it in this
// one) holds lockWorkDir on workDir. A missing work dir is not busy.
func WorkDirBusy(workDir string) bool { return fsutil.Busy(workDir) }

// supported reports whether this kernel can make idmapped mounts of a
// directory on the filesystem of dir (it tries, on a detached clone, with an
// identity-free mapping; nothing is left mounted).
func supported(dir string) error {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 65536 * 400, Size: 1}}
	ns, err := newUserns(m, m)
	if err != nil {
		return err
	}
	defer unix.Close(ns)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tree, err := idmappedClone(fd, dir, ns)
	if err != nil {
		return err
	}
	return unix.Close(tree)
}

// idmappedClone clones the mount tree at fd (detached, recursive) and sets the
// user namespace's mapping on it.
// (/proc/self/mountinfo, O(mounts on the host), is only read to explain a refusal.)
func idmappedClone(fd int, path string, ns int) (int, error) {
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("idmapped rootfs: open_tree(%s): %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns), Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(tree)
		mnt, _ := mountOf(fd)
		return -1, refused(path, mnt, err)
	}
	return tree, nil
}

func refused(path string, mnt *mountinfo.Info, err error) error {
	fstype, where := "an unknown filesystem", ""
	if mnt != nil {
		fstype, where = mnt.FSType, mnt.Mountpoint
	}
	why := ""
	switch {
	case errors.Is(err, unix.EINVAL):
		why = "the filesystem (or a mount below it) does not support idmapped mounts"
	case errors.Is(err, unix.EPERM):
		why = "the mount is already idmapped or not owned by this mount namespace"
	case errors.Is(err, unix.ENOSYS):
		why = "the kernel has no mount_setattr (Linux >= 5.12 needed)"
	default:
		why = "the kernel refused MOUNT_ATTR_IDMAP"
	}
	sub := ""
	if subs := submounts(path); len(subs) > 0 {
		sub = "; mounts below " + path + ": " + strings.Join(subs, ", ")
	}
	return fmt.Errorf("rootfs on %s cannot be idmapped: %s: %s (%s mounted at %s%s): %w", fstype, path, why, fstype, where, sub, err)
}

func submounts(dir string) []string {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range infos {
		if m.Mountpoint != dir {
			out = append(out, m.Mountpoint+" ("+m.FSType+")")
		}
	}
	return out
}

// mountOf returns the mountinfo entry of the mount fd lives on.
func mountOf(fd int) (*mountinfo.Info, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &stx); err != nil {
		return nil, fmt.Errorf("statx: %w", err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return nil, errors.New("statx: no mount id (Linux >= 5.8 needed)")
	}
	id := int(stx.Mnt_id)
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.ID != id, m.ID == id
	})
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("mount %d is not in /proc/self/mountinfo", id)
	}
	return infos[0], nil
}

// overlayLayers is what a new overlay needs from an existing one.
type overlayLayers struct {
	layers  []string // top first: the upperdir (if any), then the lowerdirs
	data    []string // data-only lower layers (lowerdir "::" / datadir+)
	options []string // options to carry over (redirect_dir, metacopy, userxattr)
}

// parseOverlay reads layer paths from an overlay's superblock options
// as /proc/self/mountinfo shows them (seq_show_option escapes , space tab \n
// and \ in octal; a lowerdir list separates layers with ':', escapes a literal
// colon as '\:' and starts data-only layers with '::').
func parseOverlay(vfs string) (*overlayLayers, error) {
	ol := &overlayLayers{}
	var upper string
	var lowers []string
	for _, opt := range strings.Split(vfs, ",") {
		k, v, _ := strings.Cut(opt, "=")
		k, v = octalUnescape(k), octalUnescape(v)
		switch k {
		case "upperdir":
			upper = v
		case "lowerdir":
			parts := splitLowerdir(v)
			dataOnly := false
			for _, p := range parts {
				if p == "" { // "::" marks the start of data-only layers
					dataOnly = true
					continue
				}
				if dataOnly {
					ol.data = append(ol.data, p)
				} else {
					lowers = append(lowers, p)
				}
			}
		case "lowerdir+":
			lowers = append(lowers, v)
		case "datadir+":
			ol.data = append(ol.data, v)
		case "redirect_dir":
			if v == "on" || v == "follow" {
				ol.options = append(ol.options, "redirect_dir=follow")
			}
		case "metacopy":
			if v == "on" {
				ol.options = append(ol.options, "metacopy=on")
			}
		case "userxattr":
			ol.options = append(ol.options, "userxattr")
		}
	}
	if upper != "" {
		ol.layers = append(ol.layers, upper)
	}
	ol.layers = append(ol.layers, lowers...)
	if len(ol.layers) == 0 {
		return nil, errors.New("no lowerdir or upperdir in the mount options")
	}
	// metacopy with an upper layer needs redirect_dir=on; the scratch upper is ours.
	for i, o := range ol.options {
		if o == "redirect_dir=follow" && hasOption(ol.options, "metacopy=on") {
			ol.options[i] = "redirect_dir=on"
		}
	}
	if hasOption(ol.options, "metacopy=on") && !hasOption(ol.options, "redirect_dir=on") {
		ol.options = append(ol.options, "redirect_dir=on")
	}
	return ol, nil
}

// resolveRelative makes relative layer paths absolute. Engines mount overlays whose
// option string would exceed a page from the layers' common directory, with relative paths
// (containerd: lowerdir=1/fs:2/fs from .../snapshots; containers/storage: l/ID links and
// ID/diff from .../overlay), and the kernel shows them as given. The directory they were
// relative to is found among the ancestors of the mount point and of the absolute layer
// paths: the deepest one under which every relative layer is an existing directory.
func resolveRelative(ol *overlayLayers, mnt *mountinfo.Info) error {
	var rel, abs []string
	for _, l := range append(append([]string(nil), ol.layers...), ol.data...) {
		if filepath.IsAbs(l) {
			abs = append(abs, l)
		} else {
			rel = append(rel, l)
		}
	}
	if len(rel) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var cands []string
	for _, p := range append([]string{mnt.Mountpoint}, abs...) {
		for d := filepath.Dir(filepath.Clean(p)); d != "/" && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			cands = append(cands, d)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return len(cands[i]) > len(cands[j]) })
	for _, base := range cands {
		ok := true
		for _, l := range rel {
			if fi, err := os.Stat(filepath.Join(base, l)); err != nil || !fi.IsDir() {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		fix := func(list []string) {
			for i, l := range list {
				if !filepath.IsAbs(l) {
					list[i] = filepath.Join(base, l)
				}
			}
		}
		fix(ol.layers)
		fix(ol.data)
		logrus.Debugf("overlay at %s: relative layer paths resolved from %s", mnt.Mountpoint, base)
		return nil
	}
	return fmt.Errorf("layer paths %q are relative (the engine mounted from another working directory) and no ancestor of the mount point or of the absolute layers holds them all", rel)
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

func splitLowerdir(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case s[i] == ':':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

func octalUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// idmappedOverlay builds a new overlay from idmapped clones of the layers of
// the overlay mounted at rootfs and returns its detached mount fd.
func idmappedOverlay(rootfs string, mnt *mountinfo.Info, ns int, workDir string) (int, error) {
	fail := func(err error) (int, error) {
		return -1, fmt.Errorf("rootfs on overlay cannot be idmapped: %s (overlay at %s): %w", rootfs, mnt.Mountpoint, err)
	}
	if mnt.Root != "/" {
		return fail(fmt.Errorf("it is a bind of %s inside the overlay, not the overlay's root", mnt.Root))
	}
	if real, err := filepath.EvalSymlinks(rootfs); err == nil && filepath.Clean(real) != filepath.Clean(mnt.Mountpoint) {
		return fail(errors.New("it is a directory inside the overlay, not the overlay mount itself"))
	}
	ol, err := parseOverlay(mnt.VFSOptions)
	if err != nil {
		return fail(err)
	}
	if err := resolveRelative(ol, mnt); err != nil {
		return fail(err)
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	clone := func(layer string) (int, error) {
		fd, err := unix.Open(layer, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("layer %s: %w", layer, err)
		}
		defer unix.Close(fd)
		t, err := idmappedClone(fd, layer, ns)
		if err != nil {
			return -1, fmt.Errorf("layer %s: %w", layer, err)
		}
		fds = append(fds, t)
		return t, nil
	}
	var lower, data []int
	for _, l := range ol.layers {
		fd, err := clone(l)
		if err != nil {
			return fail(err)
		}
		lower = append(lower, fd)
	}
	for _, l := range ol.data {
		fd, err := clone(l)
		if err != nil {
			return fail(err)
		}
		data = append(data, fd)
	}
	// The merged root directory takes its owner and mode from the upper layer: give the
	// scratch upper those of the top layer's root as the tenant sees it (fstat through the
	// idmapped clone), or the container's root could not create mount points in "/".
	var top unix.Stat_t
	if err := unix.Fstat(lower[0], &top); err != nil {
		return fail(err)
	}
	scratch, err := scratchTmpfs(top.Uid, top.Gid, top.Mode&0o7777)
	if err != nil {
		return fail(err)
	}
	fds = append(fds, scratch)
	var tree int
	if overlayByPath {
		tree, err = mountOverlayPaths(workDir, lower, data, scratch, ol.options)
	} else if tree, err = mountOverlay(lower, data, scratch, ol.options); err != nil {
		var err2 error
		if tree, err2 = mountOverlayPaths(workDir, lower, data, scratch, ol.options); err2 == nil {
			logrus.Debugf("overlay from layer fds: %v; made it from attached layers instead", err)
			err = nil
		} else {
			err = fmt.Errorf("%w; from attached layers: %v", err, err2)
		}
	}
	if err != nil {
		return fail(err)
	}
	return tree, nil
}

// overlayByPath makes idmappedOverlay use mountOverlayPaths directly (tests).
var overlayByPath = false

// layersDir is where mountOverlayPaths attaches layers, inside the work dir.
const layersDir = ".layers"

// mountOverlayPaths is mountOverlay for kernels that cannot take overlay layers as
// fds of detached mounts (before Linux 6.13/6.15; overlayfs accepts idmapped layers since
// 5.19): the idmapped layers and the scratch tmpfs are attached under workDir/.layers just
// long enough to create the overlay from their paths (overlayfs keeps private clones of its
// layers), then detached and their directories removed. A crash in between leaves mounts
// only under the work dir, which Cleanup removes.
func mountOverlayPaths(workDir string, lower, data []int, scratch int, options []string) (tree int, err error) {
	ld := filepath.Join(workDir, layersDir)
	if err := os.Mkdir(ld, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return -1, err
	}
	var attached []string
	defer func() {
		for i := len(attached) - 1; i >= 0; i-- {
			if uerr := unix.Unmount(attached[i], unix.MNT_DETACH); uerr != nil && err == nil {
				err = fmt.Errorf("detaching %s: %w", attached[i], uerr)
			}
			_ = os.Remove(attached[i])
		}
		_ = os.Remove(ld)
		if err != nil && tree >= 0 {
			unix.Close(tree)
			tree = -1
		}
	}()
	attach := func(fd int, name string) (string, error) {
		p := filepath.Join(ld, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			return "", err
		}
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			_ = os.Remove(p)
			return "", fmt.Errorf("attaching a layer at %s: %w", p, err)
		}
		attached = append(attached, p)
		return p, nil
	}
	esc := func(p string) (string, error) {
		if strings.ContainsAny(p, ",\\") {
			return "", fmt.Errorf("work dir path %q holds a comma or a backslash", p)
		}
		return strings.ReplaceAll(p, ":", `\:`), nil
	}
	var parts []string
	for i, fd := range lower {
		p, err := attach(fd, strconv.Itoa(i))
		if err != nil {
			return -1, err
		}
		if p, err = esc(p); err != nil {
			return -1, err
		}
		parts = append(parts, p)
	}
	lowerdir := strings.Join(parts, ":")
	for i, fd := range data {
		p, err := attach(fd, "d"+strconv.Itoa(i))
		if err != nil {
			return -1, err
		}
		if p, err = esc(p); err != nil {
			return -1, err
		}
		lowerdir += "::" + p
	}
	sp, err := attach(scratch, "scratch")
	if err != nil {
		return -1, err
	}
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fs)
	params := [][2]string{{"lowerdir", lowerdir}, {"upperdir", filepath.Join(sp, "upper")}, {"workdir", filepath.Join(sp, "work")}}
	for _, o := range options {
		k, v, _ := strings.Cut(o, "=")
		params = append(params, [2]string{k, v})
	}
	for _, kv := range params {
		if kv[1] == "" {
			err = unix.FsconfigSetFlag(fs, kv[0])
		} else {
			err = unix.FsconfigSetString(fs, kv[0], kv[1])
		}
		if err != nil {
			return -1, fmt.Errorf("overlay %s=%s: %w", kv[0], kv[1], err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("creating the overlay (idmapped layers need Linux >= 5.19): %w", err)
	}
	tree, err = unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay: %w", err)
	}
	attr := unix.MountAttr{Propagation: unix.MS_PRIVATE}
	_ = unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr)
	return tree, nil
}

// scratchTmpfs is a small detached tmpfs with upper/ and work/ for the new
// overlay: libcontainer creates missing mount points in the root before it
// remounts it read-only, and those must not land in the engine's layers.
func scratchTmpfs(rootUID, rootGID, rootMode uint32) (int, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("scratch tmpfs: fsopen: %w", err)
	}
	defer unix.Close(fs)
	for k, v := range map[string]string{"size": "4m", "nr_inodes": "4096", "mode": "0755"} {
		if err := unix.FsconfigSetString(fs, k, v); err != nil {
			return -1, fmt.Errorf("scratch tmpfs: %s=%s: %w", k, v, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("scratch tmpfs: %w", err)
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, fmt.Errorf("scratch tmpfs: fsmount: %w", err)
	}
	for _, d := range []string{"upper", "work"} {
		if err := unix.Mkdirat(m, d, 0o755); err != nil {
			unix.Close(m)
			return -1, fmt.Errorf("scratch tmpfs: mkdir %s: %w", d, err)
		}
	}
	if err := unix.Fchownat(m, "upper", int(rootUID), int(rootGID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(m)
		return -1, fmt.Errorf("scratch tmpfs: chown upper: %w", err)
	}
	if err := unix.Fchmodat(m, "upper", rootMode, 0); err != nil {
		unix.Close(m)
		return -1, fmt.Errorf("scratch tmpfs: chmod upper: %w", err)
	}
	return m, nil
}

// mountOverlay creates the overlay with layers given as file descriptors of
// detached mounts (Linux >= 6.13 accepts lowerdir+/datadir+/upperdir/workdir
// as FSCONFIG_SET_FD, and takes private clones of detached mounts).
func mountOverlay(lower, data []int, scratch int, options []string) (int, error) {
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fs)
	detail := func(err error) error {
		// The kernel explains fsconfig failures on the context fd.
		buf := make([]byte, 256)
		if n, rerr := unix.Read(fs, buf); rerr == nil && n > 0 {
			return fmt.Errorf("%w (%s)", err, strings.TrimSpace(string(buf[:n])))
		}
		return err
	}
	for _, fd := range lower {
		if err := unix.FsconfigSetFd(fs, "lowerdir+", fd); err != nil {
			return -1, fmt.Errorf("overlay lowerdir+ from an idmapped layer fd (Linux >= 6.13 needed): %w", detail(err))
		}
	}
	for _, fd := range data {
		if err := unix.FsconfigSetFd(fs, "datadir+", fd); err != nil {
			return -1, fmt.Errorf("overlay datadir+: %w", detail(err))
		}
	}
	for _, d := range []struct{ key, dir string }{{"upperdir", "upper"}, {"workdir", "work"}} {
		fd, err := unix.Openat(scratch, d.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		err = unix.FsconfigSetFd(fs, d.key, fd)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("overlay %s: %w", d.key, detail(err))
		}
	}
	for _, o := range options {
		k, v, hasV := strings.Cut(o, "=")
		if hasV {
			err = unix.FsconfigSetString(fs, k, v)
		} else {
			err = unix.FsconfigSetFlag(fs, k)
		}
		if err != nil {
			return -1, fmt.Errorf("overlay option %s: %w", o, detail(err))
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("creating the overlay: %w", detail(err))
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay: %w", err)
	}
	attr := unix.MountAttr{Propagation: unix.MS_PRIVATE}
	_ = unix.MountSetattr(m, "", unix.AT_EMPTY_PATH, &attr)
	return m, nil
}

// newUserns returns an fd of a new user namespace with the given mappings; the
// fd keeps the namespace alive after the child that made it is gone. The clone
// helper (idmap_userns.go) is tried first, the exec'd child second.
func newUserns(uidMap, gidMap []specs.LinuxIDMapping) (int, error) {
	fd, err := newUsernsClone(uidMap, gidMap)
	if err == nil {
		return fd, nil
	}
	logrus.Debugf("user namespace by clone: %v; trying an exec'd child", err)
	fd, err2 := newUsernsExec(uidMap, gidMap)
	if err2 != nil {
		return -1, fmt.Errorf("%w (clone helper: %v)", err2, err)
	}
	return fd, nil
}

// newUsernsExec: a short-lived child is cloned into the new namespace by Go's
// os.StartProcess (stopped by ptrace at its exec, so none of its code runs),
// its /proc/PID/ns/user is opened, and it is killed and reaped.
func newUsernsExec(uidMap, gidMap []specs.LinuxIDMapping) (int, error) {
	conv := func(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
		out := make([]syscall.SysProcIDMap, 0, len(m))
		for _, x := range m {
			out = append(out, syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)})
		}
		return out
	}
	// Pdeathsig is per thread and ptrace binds the tracer thread: keep both on
	// this one, so the child can never outlive us or run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := os.StartProcess("/proc/self/exe", []string{"tenantrun-userns", "--version"}, &os.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{
			Cloneflags:                 unix.CLONE_NEWUSER,
			UidMappings:                conv(uidMap),
			GidMappings:                conv(gidMap),
			GidMappingsEnableSetgroups: true,
			Ptrace:                     true,
			Pdeathsig:                  syscall.SIGKILL,
		},
	})
	if err != nil {
		return -1, fmt.Errorf("creating a user namespace with the tenant mapping: %w", err)
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(p.Pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	_ = p.Kill()
	_, _ = p.Wait()
	if err != nil {
		return -1, fmt.Errorf("opening the new user namespace: %w", err)
	}
	return fd, nil
}

package blkdev

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
)

// cacheDir holds the tests' filesystem images (never a real disk).
const cacheDir = "/var/cache/tenantrun-test/io"

func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %s", why)
	}
	t.Skip(why)
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// loopFS makes a 64 MiB image with ext4 on it and attaches it to a loop device.
func loopFS(t *testing.T) string {
	t.Helper()
	need(t, os.Geteuid() == 0, "must run as root (loop devices, mounts)")
	_, err := exec.LookPath("losetup")
	need(t, err == nil, "losetup (util-linux) is not installed")
	_, err = exec.LookPath("mkfs.ext4")
	need(t, err == nil, "mkfs.ext4 (e2fsprogs) is not installed")
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(cacheDir, fmt.Sprintf("blkdev-test-%d.img", os.Getpid()))
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(img) })
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	sh(t, "mkfs.ext4", "-q", "-F", img)
	loop := sh(t, "losetup", "--find", "--show", img)
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
	return loop
}

func devOf(t *testing.T, node string) hardening.BlockDev {
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil {
		t.Fatal(err)
	}
	return hardening.BlockDev{Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), Name: filepath.Base(node)}
}

func mount(t *testing.T, src, dst, fstype, data string) {
	t.Helper()
	if err := unix.Mount(src, dst, fstype, 0, data); err != nil {
		t.Fatalf("mount %s on %s: %v", src, dst, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
}

// A filesystem on a loop device is throttled on the loop device; an overlay on the
// devices of its upper and lower directories; files on no block device give none.
func TestBackingDevices(t *testing.T) {
	loop := loopFS(t)
	disk := devOf(t, loop)
	mnt := t.TempDir()
	mount(t, loop, mnt, "ext4", "")
	got, err := OfPath(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != disk {
		t.Fatalf("ext4 on %s: devices %v, want %v", loop, got, disk)
	}
	// The descriptor form gives the same.
	fd, err := unix.Open(mnt, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if byFd, err := OfFd(fd); err != nil || len(byFd) != 1 || byFd[0] != disk {
		t.Fatalf("OfFd: %v %v", byFd, err)
	}

	// overlay: upper on the loop filesystem, lower in a directory on the root filesystem.
	lower := t.TempDir()
	rootDevs, err := OfPath(lower)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	merged := filepath.Join(mnt, "merged")
	mount(t, "overlay", merged, "overlay", fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, mnt, mnt))
	got, err = OfPath(merged)
	if err != nil {
		t.Fatal(err)
	}
	want := Merge([]hardening.BlockDev{disk}, rootDevs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("overlay: devices %v, want %v (its upper's and lower's)", got, want)
	}

	// No block device below: nothing to throttle.
	tmp := t.TempDir()
	mount(t, "tmpfs", tmp, "tmpfs", "size=1m")
	if got, err := OfPath(tmp, "/proc/self"); err != nil || len(got) != 0 {
		t.Fatalf("tmpfs and proc: %v %v", got, err)
	}
	if _, err := OfPath(filepath.Join(tmp, "missing")); !os.IsNotExist(err) {
		t.Fatalf("a missing path: %v, want not-exist", err)
	}
}

// A partition is throttled on its whole disk: the kernel refuses a partition's
// major:minor in blkio.throttle.* and io.max. This machine's kernel has no partition
// tables (no CONFIG_MSDOS_PARTITION), so sysfs is laid out as the kernel lays it out for
// sda and sda1 (/sys/dev/block/8:1 -> ../../block/sda/sda1, with a partition file).
func TestPartitionIsItsDisk(t *testing.T) {
	sys := t.TempDir()
	old := SysRoot
	SysRoot = sys
	defer func() { SysRoot = old }()
	for _, d := range []string{"dev/block", "block/sda/sda1", "block/vdb"} {
		if err := os.MkdirAll(filepath.Join(sys, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"block/sda/dev": "8:0\n", "block/sda/sda1/dev": "8:1\n", "block/sda/sda1/partition": "1\n", "block/vdb/dev": "254:16\n"}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(sys, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"8:0": "../../block/sda", "8:1": "../../block/sda/sda1", "254:16": "../../block/vdb"} {
		if err := os.Symlink(target, filepath.Join(sys, "dev/block", link)); err != nil {
			t.Fatal(err)
		}
	}
	r := &resolver{}
	for _, d := range [][2]uint32{{8, 1}, {254, 16}, {1, 3}} {
		if err := r.block(d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	want := []hardening.BlockDev{{Major: 8, Minor: 0, Name: "sda"}, {Major: 254, Minor: 16, Name: "vdb"}}
	if got := r.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v, want %v (sda1 as sda; 1:3, not a block device, left out)", got, want)
	}
}

func TestOverlayDirs(t *testing.T) {
	got := overlayDirs(`rw,lowerdir=/a\:b:/c,upperdir=/u\,x,workdir=/w,index=off`)
	want := []string{"/a:b", "/c", "/u,x", "/w"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%q, want %q", got, want)
	}
}

func TestAvailableHere(t *testing.T) {
	need(t, os.Geteuid() == 0, "must run as root")
	if err := Available(); err != nil {
		t.Fatalf("this host's cgroups cannot throttle block I/O: %v", err)
	}
}

// Where the cgroups cannot throttle, Available says why (create refuses a tenant with
// I/O limits with it): v2 without the io controller, v1 without the throttle files.
func TestAvailableRefusesWithoutController(t *testing.T) {
	old := SysRoot
	defer func() { SysRoot = old }()
	for name, files := range map[string]map[string]string{
		"v2 without io":       {"fs/cgroup/cgroup.controllers": "cpuset cpu memory pids\n"},
		"v1 without throttle": {"fs/cgroup/blkio/blkio.weight": "100\n"},
		"v1 without blkio":    {"fs/cgroup/memory/memory.limit_in_bytes": "max\n"},
	} {
		SysRoot = t.TempDir()
		for f, c := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(SysRoot, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(SysRoot, f), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := Available(); err == nil {
			t.Errorf("%s: Available said yes", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	SysRoot = t.TempDir()
	_ = os.MkdirAll(filepath.Join(SysRoot, "fs/cgroup"), 0o755)
	_ = os.WriteFile(filepath.Join(SysRoot, "fs/cgroup/cgroup.controllers"), []byte("cpu io memory\n"), 0o644)
	if err := Available(); err != nil {
		t.Errorf("v2 with io: %v", err)
	}
}

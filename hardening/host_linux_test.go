package hardening

import (
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestOSHostResolveBeneath(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(root, "data", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "data", "f"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(root, "abs-out"))
	os.Symlink("../..", filepath.Join(root, "data", "rel-up"))
	os.Symlink("sub", filepath.Join(root, "data", "rel-in"))
	sock := filepath.Join(root, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := OSHost{}
	for rel, want := range map[string]FileKind{"data": KindDir, "data/f": KindFile, "s.sock": KindSocket, "data/rel-in": KindDir, "": KindDir} {
		_, k, err := h.ResolveBeneath(root, rel)
		if err != nil || k != want {
			t.Errorf("%s: %v %v", rel, k, err)
		}
	}
	if r, _, _ := h.ResolveBeneath(root, "data/rel-in"); r != filepath.Join(root, "data", "sub") {
		t.Errorf("resolved %s", r)
	}
	for _, rel := range []string{"abs-out", "data/rel-up", "../", "data/../../x", "missing"} {
		if _, _, err := h.ResolveBeneath(root, rel); err == nil {
			t.Errorf("%s: escaped", rel)
		}
	}
}

func TestOSHostNamespaces(t *testing.T) {
	h := OSHost{Files: NewNSFiles()}
	defer h.Files.Close()
	self, err := h.NamespaceOwner("/proc/self/ns/net", specs.NetworkNamespace)
	requireTool(t, err == nil, "readable /proc/self/ns with NS_GET_USERNS: "+fmt.Sprint(err))
	host, err := h.HostNamespaces(specs.NetworkNamespace)
	if err != nil || !slices.Contains(host, self.ID) {
		t.Fatalf("the runtime's own namespace must count as the host's: %v %v", host, err)
	}
	if !self.HostUserNS {
		t.Fatal("the runtime's netns is owned by the host's user namespace")
	}
	me := slices.IndexFunc(self.Procs, func(p NSProc) bool { return p.PID == os.Getpid() })
	if me < 0 || len(self.Procs[me].UIDs) != 4 {
		t.Fatalf("the test process is in its own netns: %+v", self.Procs)
	}
	if _, err := h.NamespaceOwner("/etc/passwd", specs.NetworkNamespace); err == nil {
		t.Fatal("a regular file taken for a namespace")
	}
	if _, err := h.NamespaceOwner("/proc/self/ns/net", specs.IPCNamespace); err == nil {
		t.Fatal("a network namespace taken for an ipc namespace")
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := h.NamespaceOwner(fifo, specs.NetworkNamespace); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO taken for a namespace")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a FIFO was opened for reading (hangs)")
	}
	ref, ok := h.Files.Ref("/proc/self/ns/net")
	if !ok {
		t.Fatal("the checked descriptor was not kept")
	}
	if id, err := namespaceInode(ref); err != nil || id != self.ID {
		t.Fatalf("Ref %s: %v %v, want %v", ref, id, err, self.ID)
	}
}

// A namespace owned by another user namespace: its mapping decides, read from a process
// inside it; with no process left, the mapping cannot be read and nothing is decided.
func TestOSHostNamespaceOwnerMapping(t *testing.T) {
	requireTool(t, os.Geteuid() == 0, "root (user namespaces with a mapping)")
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 3400000, Size: 1000}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 3500000, Size: 1000}},
	}
	if err := cmd.Start(); err != nil {
		requireTool(t, false, "user namespaces: "+err.Error())
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	h := OSHost{Files: NewNSFiles()}
	defer h.Files.Close()
	netPath := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	o, err := h.NamespaceOwner(netPath, specs.NetworkNamespace)
	if err != nil {
		t.Fatal(err)
	}
	want := func(m []specs.LinuxIDMapping, host uint32) bool {
		return len(m) == 1 && m[0] == specs.LinuxIDMapping{ContainerID: 0, HostID: host, Size: 1000}
	}
	if o.HostUserNS || !want(o.UIDMap, 3400000) || !want(o.GIDMap, 3500000) {
		t.Fatalf("owner of the child's netns: %+v", o)
	}
	u, err := h.NamespaceOwner(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), specs.UserNamespace)
	if err != nil || u.UserNS != o.UserNS || u.ID != o.UserNS || !want(u.UIDMap, 3400000) {
		t.Fatalf("the child's user namespace: %+v %v (its netns's owner %v)", u, err, o.UserNS)
	}
	uref, uo, ok := h.Files.OwnerRef(netPath)
	if !ok || uo.UserNS != o.UserNS {
		t.Fatal("owner descriptor not kept")
	}
	if id, err := namespaceInode(uref); err != nil || id != o.UserNS {
		t.Fatalf("OwnerRef %s: %v %v", uref, id, err)
	}
	// Keep the netns by descriptor, let the only process in its user namespace go.
	nref, _ := h.Files.Ref(netPath)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := (OSHost{}).NamespaceOwner(nref, specs.NetworkNamespace); err == nil {
		t.Fatal("decided a namespace whose owner's mapping nobody can show")
	}
}

// MountRoot is the kernel's STATX_ATTR_MOUNT_ROOT on the descriptor opened beneath root:
// /proc is a mount root, a directory made in a temp dir is not, and '..' out of root
// is an error, never an answer.
func TestOSHostMountRoot(t *testing.T) {
	h := OSHost{}
	if ok, err := h.MountRoot("/", "proc"); err != nil || !ok {
		t.Fatalf("/proc: %v %v, want a mount root", ok, err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/merged", 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.MountRoot(dir, "merged"); err != nil || ok {
		t.Fatalf("plain dir: %v %v, want not a mount root", ok, err)
	}
	if _, err := h.MountRoot(dir, "../../proc"); err == nil {
		t.Fatal("'..' out of root answered")
	}
}

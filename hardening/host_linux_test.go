package hardening

import (
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
	h := OSHost{}
	self, err := h.NamespaceInode("/proc/self/ns/net")
	requireTool(t, err == nil, "readable /proc/self/ns")
	host, err := h.HostNamespaces(specs.NetworkNamespace)
	if err != nil || !slices.Contains(host, self) {
		t.Fatalf("the runtime's own namespace must count as the host's: %v %v", host, err)
	}
	if _, err := h.NamespaceInode("/etc/passwd"); err == nil {
		t.Fatal("a regular file taken for a namespace")
	}
	if _, found := h.NamespaceTenant("/proc/self/ns/net", self); found {
		t.Fatal("no owner func: nothing is found")
	}
	h.NamespaceOwner = func(string, NSID) (string, bool) { return "t1", true }
	if tn, found := h.NamespaceTenant("/proc/self/ns/net", self); !found || tn != "t1" {
		t.Fatal("owner func not used")
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

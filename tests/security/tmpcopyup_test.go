package security

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 15 (docs/security.md): no step before pivot_root follows paths by name in a tree
// the tenant can write. libcontainer's tmpcopyup walks the image directory by name from the
// host's mount namespace (a swapped-in symlink copies host files in), so the policy drops it:
// a podman-style --tmpfs mount (rw,rprivate,nosuid,nodev,tmpcopyup) still runs, and its tmpfs
// starts empty instead of with the image's files.
func TestTmpcopyupNotCopied(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(`echo "DATA:$(ls -A /data | tr '\n' ' ')"; grep ' /data ' /proc/self/mounts`),
		tu.WithSpec(func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"rw", "rprivate", "nosuid", "nodev", "tmpcopyup"}})
		}))
	if err := os.MkdirAll(filepath.Join(b.Rootfs(), "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	tu.WriteFile(t, filepath.Join(b.Rootfs(), "data", "image-file"), "from the image")
	id := h.ID("copyup")
	r := h.RT.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
	h.RT.Run(t, "delete", "--force", id)
	if r.Code != 0 {
		t.Fatalf("a tmpfs with tmpcopyup must still run (the option dropped): %s", r)
	}
	if !strings.Contains(r.Stdout, "DATA: \n") && !strings.Contains(r.Stdout, "DATA:\n") {
		t.Errorf("the tmpfs was copied up (tmpcopyup honoured):\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "tmpfs /data tmpfs") {
		t.Errorf("no tmpfs at /data:\n%s", r.Stdout)
	}
}

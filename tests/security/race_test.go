package security

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 2 (docs/security.md): root.path is resolved once below the bundle and the
// rootfs is cloned from that descriptor. A racer with the tenant's power over the bundle's
// directory (its bind root) exchanges rootfs with a symlink to a root-only host directory
// (renameat2 RENAME_EXCHANGE, in a tight loop) while containers are created; the container
// must never run with that directory as its root.
func TestRootfsSwapRace(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	secret := filepath.Join(tu.TestBase(t), "host-secret-root")
	if err := tu.CopyRootfs(tu.BusyboxRootfs(t), secret); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "canary"), []byte("HOST-SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	b := h.Bundle(tu.WithShell("cat /canary 2>/dev/null || echo no-canary"))
	evil := filepath.Join(b.Dir, "evil")
	if err := os.Symlink(secret, evil); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan int)
	go func() {
		n := 0
		for !stop.Load() {
			_ = unix.Renameat2(unix.AT_FDCWD, b.Rootfs(), unix.AT_FDCWD, evil, unix.RENAME_EXCHANGE)
			n++
		}
		done <- n
	}()
	deadline := time.Now().Add(40 * time.Second)
	tries, ran := 0, 0
	for tries < 150 && time.Now().Before(deadline) {
		tries++
		id := h.ID("race")
		r := h.RT.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b.Dir, id)
		h.RT.Run(t, "delete", "--force", id)
		if strings.Contains(r.Stdout, "HOST-SECRET") {
			t.Fatalf("try %d: the container ran with the host directory as its root: %s", tries, r)
		}
		if r.Code == 0 {
			ran++
		}
	}
	stop.Store(true)
	swaps := <-done
	// Leave the bundle as it was made (rootfs a directory) for the harness's cleanup.
	if fi, err := os.Lstat(b.Rootfs()); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		_ = unix.Renameat2(unix.AT_FDCWD, b.Rootfs(), unix.AT_FDCWD, evil, unix.RENAME_EXCHANGE)
	}
	t.Logf("%d creates (%d ran, the rest refused) against %d swaps: the host directory was never the root", tries, ran, swaps)
	if tries < 20 {
		t.Fatalf("only %d tries in the time bound", tries)
	}
}

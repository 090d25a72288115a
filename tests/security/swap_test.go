package security

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 2 (docs/security.md, "paths"), attacked through the mechanism rather than one
// path: every tenant-writable path tenantrun opens is swapped, in a tight loop with
// renameat2(RENAME_EXCHANGE), with a symlink to a root-only host object while the verb that
// opens it runs, again and again. Whatever tenantrun used must never be the host object.
// The racer has the tenant's power: the bundle lies under the tenant's bind root.

// swapRace exchanges a and b until stop, counting swaps.
func swapRace(a, b string, stop *atomic.Bool, done chan<- int) {
	n := 0
	for !stop.Load() {
		_ = unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
		n++
	}
	done <- n
}

// raceTries runs try until the bound, under the swapper; it returns tries and successes.
func raceTries(t *testing.T, a, b string, try func(i int) bool) {
	t.Helper()
	var stop atomic.Bool
	done := make(chan int)
	go swapRace(a, b, &stop, done)
	deadline := time.Now().Add(25 * time.Second)
	tries, ok := 0, 0
	for tries < 80 && time.Now().Before(deadline) {
		if try(tries) {
			ok++
		}
		tries++
	}
	stop.Store(true)
	swaps := <-done
	// put things back as made: a is the real object again
	if fi, err := os.Lstat(a); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		_ = unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	}
	t.Logf("%d tries (%d went through, the rest refused) against %d swaps", tries, ok, swaps)
	if tries < 10 {
		t.Fatalf("only %d tries in the time bound", tries)
	}
}

func hostSecretDir(t *testing.T, name string) string {
	d := filepath.Join(tu.TestBase(t), name)
	if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(d, "canary"), filepath.Join(d, "data", "canary")} {
		if err := os.WriteFile(p, []byte("HOST-SECRET\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPathSwapRaces(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	bindRoot := filepath.Join(tu.TestBase(t), "bindroot-t1")
	if err := os.MkdirAll(bindRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	h.UseConfig(fmt.Sprintf(`
[tenants.t1]
uid_range = "3400000:65536"
bind_roots = [%q]
`, bindRoot))
	h.RT.Tenant = "t1"
	secret := hostSecretDir(t, "host-secret")
	n := 0
	bundleIn := func(opts ...tu.BundleOption) *tu.Bundle {
		n++
		b := tu.NewBundleIn(t, filepath.Join(bindRoot, fmt.Sprintf("bundle-%d", n)), opts...)
		h.Leaks.AddPath(b.Dir)
		return b
	}
	run := func(b *tu.Bundle) *tu.Result {
		id := h.ID("swap")
		r := h.RT.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b.Dir, id)
		h.RT.Run(t, "delete", "--force", id)
		return r
	}

	// config.json exchanged with a symlink to a valid, root-only host config whose process
	// would announce itself.
	t.Run("config.json", func(t *testing.T) {
		b := bundleIn(tu.WithShell("echo OWN-CONFIG"))
		host := *b.Spec
		host.Process = &specs.Process{}
		*host.Process = *b.Spec.Process
		host.Process.Args = []string{"sh", "-c", "echo HOST-CONFIG"}
		host.Root = &specs.Root{Path: b.Rootfs(), Readonly: true}
		host.Annotations = map[string]string{"hunter2": "db_password_is_hunter2"}
		data, _ := json.Marshal(host)
		hostCfg := filepath.Join(secret, "config.json")
		if err := os.WriteFile(hostCfg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		evil := filepath.Join(b.Dir, "evil.json")
		if err := os.Symlink(hostCfg, evil); err != nil {
			t.Fatal(err)
		}
		raceTries(t, b.ConfigPath(), evil, func(i int) bool {
			r := run(b)
			if strings.Contains(r.Stdout, "HOST-CONFIG") || strings.Contains(r.Stderr, "hunter2") {
				t.Fatalf("try %d: the host's config.json was used or echoed: %s", i, r)
			}
			return strings.Contains(r.Stdout, "OWN-CONFIG")
		})
	})

	// A bind source below the bind root exchanged with a symlink to a host directory; and
	// the same one level up (a parent component of the source swapped).
	for _, parent := range []bool{false, true} {
		name := "bind-source"
		if parent {
			name = "bind-source-parent"
		}
		t.Run(name, func(t *testing.T) {
			b := bundleIn(tu.WithShell("cat /data/canary 2>/dev/null; cat /data/own 2>/dev/null; true"))
			var real, evil, source string
			if parent {
				real = filepath.Join(b.Dir, "vol")
				source = filepath.Join(real, "data")
				evil = filepath.Join(b.Dir, "evil")
				if err := os.Symlink(secret, evil); err != nil {
					t.Fatal(err)
				}
			} else {
				real = filepath.Join(b.Dir, "data")
				source = real
				evil = filepath.Join(b.Dir, "evil")
				if err := os.Symlink(filepath.Join(secret, "data"), evil); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.MkdirAll(source, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(source, "own"), []byte("OWN-DATA\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			b.Patch(tu.WithMount(specs.Mount{Destination: "/data", Type: "bind", Source: source, Options: []string{"rbind", "ro"}}))
			raceTries(t, real, evil, func(i int) bool {
				r := run(b)
				if strings.Contains(r.Stdout, "HOST-SECRET") {
					t.Fatalf("try %d: the host directory was bound into the container: %s", i, r)
				}
				return strings.Contains(r.Stdout, "OWN-DATA")
			})
		})
	}

	// exec --process: process.json exchanged with a symlink to a root-only host one.
	t.Run("process.json", func(t *testing.T) {
		b := bundleIn(tu.WithShell("exec sleep 1000"))
		id := h.ID("swap-exec")
		h.RunDetached(id, b)
		defer h.Delete(id)
		own := b.ProcessJSON("proc.json", &specs.Process{Args: []string{"sh", "-c", "echo OWN-PROCESS"}, Cwd: "/", Env: []string{"PATH=/bin:/usr/bin"}})
		hostProc := filepath.Join(secret, "proc.json")
		data, _ := json.Marshal(specs.Process{Args: []string{"sh", "-c", "echo HOST-PROCESS"}, Cwd: "/", Env: []string{"PATH=/bin:/usr/bin", "hunter2=1"}})
		if err := os.WriteFile(hostProc, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := h.RT.Run(t, "exec", "--process", own, id); !strings.Contains(r.Stdout, "OWN-PROCESS") {
			t.Fatalf("exec --process without a racer: %s\n%s", r, r.Stderr)
		}
		evil := filepath.Join(b.Dir, "evil-proc.json")
		if err := os.Symlink(hostProc, evil); err != nil {
			t.Fatal(err)
		}
		raceTries(t, own, evil, func(i int) bool {
			r := h.RT.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "exec", "--process", own, id)
			if strings.Contains(r.Stdout, "HOST-PROCESS") || strings.Contains(r.Stderr, "hunter2") {
				t.Fatalf("try %d: the host's process.json was used or echoed: %s", i, r)
			}
			return strings.Contains(r.Stdout, "OWN-PROCESS")
		})
	})
}

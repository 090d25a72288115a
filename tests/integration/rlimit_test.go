package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// withAS adds RLIMIT_AS soft/hard (bytes) to the bundle's process.
func withAS(soft, hard uint64) tu.BundleOption {
	return tu.WithSpec(func(s *specs.Spec) {
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: soft, Hard: hard})
	})
}

// RLIMIT_AS below the ~1.5 GiB the Go runtime of libcontainer's init reserves:
// tenantrun sets it at the exec of the program (runtime/rlimits).
// Set inside the init, 1 start in 30 died there with "fatal error: runtime:
// cannot allocate memory" and no output; set after the exec, an immediate
// `ulimit -v` read "unlimited" in 1 run in 6. Every run must see the limit.
func TestRlimitAddressSpace(t *testing.T) {
	h := tu.New(t)
	const gib = 1 << 30
	cases := []struct {
		name       string
		soft, hard uint64
	}{
		{"1g", 1 * gib, 2 * gib},
		{"64m", 64 << 20, 64 << 20}, // far below the init's own address space
	}
	for _, c := range cases {
		want := fmt.Sprintf("%d\n%d", c.soft>>10, c.hard>>10)
		b := h.Bundle(tu.WithShell("ulimit -v; ulimit -Hv"), withAS(c.soft, c.hard))
		// Foreground run: create, start and exec in one process.
		for i := 0; i < 20; i++ {
			id := h.ID("as-run-" + c.name)
			r := h.R("run", "--bundle", b.Dir, id)
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != want {
				t.Fatalf("run %d with RLIMIT_AS %s: want %q: %s", i, c.name, want, r)
			}
		}
	}

	// create, then start from another process: the limit is set on the init
	// that waits on the exec fifo.
	b := h.Bundle(tu.WithShell("ulimit -v >/tmp/as; exec sleep 1000"), withAS(gib, gib))
	for i := 0; i < 8; i++ {
		id := h.ID("as-start")
		h.Create(id, b)
		h.OK("start", id)
		h.WaitStatus(id, "running", 10*time.Second)
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = strings.TrimSpace(h.ExecOK(id, "cat", "/tmp/as")); got != "" {
				break
			}
		}
		if got != "1048576" {
			t.Fatalf("start %d: the init's program saw ulimit -v %q, want 1048576", i, got)
		}
		// An exec process inherits the container's RLIMIT_AS (as with runc). It
		// is set at the exec when tenantrun attaches first, else microseconds
		// after, so the probe waits for it (up to 5 s on a loaded machine).
		probe := `for i in $(seq 250); do v=$(ulimit -v); [ "$v" = unlimited ] || break; sleep 0.02; done; echo $v`
		if got := strings.TrimSpace(h.ExecOK(id, "sh", "-c", probe)); got != "1048576" {
			t.Errorf("exec %d: ulimit -v %q, want 1048576", i, got)
		}
		if r := h.Exec(id, "sh", "-c", "exit 7"); r.Code != 7 {
			t.Errorf("exec %d: exit status with a deferred rlimit: %s", i, r)
		}
		h.OK("delete", "--force", id)
	}
}

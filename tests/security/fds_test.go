package security

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 1 (docs/security.md, "descriptors"): beyond stdio, a container's processes hold
// exactly the descriptors its caller passed for --preserve-fds, and none of tenantrun's
// own. --preserve-fds beyond what the caller passed is refused naming the flag, before
// anything is set up. Seen before: fds 3..N+2 of tenantrun itself (state dir, idmap work
// dir, /sys/fs/cgroup, the tenant lock) went in, and /proc/self/fd/N/../../.. was the
// host's /.

// listFDs prints, for the shell itself and for the container's pid 1, every descriptor
// with its target (ls runs as a child, so the listing holds nothing of its own).
const listFDs = `ls -l /proc/$$/fd/ /proc/1/fd/; echo FDS-END`

// listFDsTo writes the listing to a file in the container, complete once it exists.
func listFDsTo(path string) string {
	// exec redirects for good: a per-command redirection makes the shell keep copies of
	// its stdio at fds 10 and 11, which would read as leaks.
	return `exec > ` + path + `.tmp 2>&1; ls -l /proc/$$/fd/ /proc/1/fd/; echo FDS-END; mv ` + path + `.tmp ` + path
}

// pipes makes n pipes; the runtime gets their read ends as fds 3.., and the inode of each.
func pipes(t *testing.T, n int) ([]*os.File, []string) {
	var files []*os.File
	var want []string
	for i := 0; i < n; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		var st unix.Stat_t
		if err := unix.Fstat(int(r.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		files = append(files, r)
		want = append(want, fmt.Sprintf("pipe:[%d]", st.Ino))
	}
	return files, want
}

// checkFDs parses listFDs output: the shell (and pid 1 when ownInit) must hold exactly fds
// 3..n+2, each the pipe passed at that position; anything else is a leak.
func checkFDs(t *testing.T, what, out string, want []string, n int, initToo bool) {
	t.Helper()
	if !strings.Contains(out, "FDS-END") {
		t.Errorf("%s: no fd listing: %q", what, out)
		return
	}
	got := map[string]map[int]string{}
	pid := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "/proc/") && strings.HasSuffix(l, ":") {
			pid = strings.Split(l, "/")[2]
			got[pid] = map[int]string{}
			continue
		}
		i := strings.Index(l, " -> ")
		if pid == "" || i < 0 {
			continue
		}
		f := strings.Fields(l[:i])
		fd, err := strconv.Atoi(f[len(f)-1])
		if err != nil || fd < 3 {
			continue
		}
		got[pid][fd] = l[i+4:]
	}
	var procs []string
	for p := range got {
		procs = append(procs, p)
	}
	sort.Strings(procs)
	for _, p := range procs {
		if p == "1" && !initToo {
			continue
		}
		for fd, target := range got[p] {
			i := fd - 3
			if i >= n || target != want[i] {
				t.Errorf("%s: pid %s holds fd %d -> %q, which its caller did not pass (want only fds 3..%d: %v)", what, p, fd, target, n+2, want[:n])
			}
		}
		for i := 0; i < n; i++ {
			if got[p][3+i] != want[i] {
				t.Errorf("%s: pid %s: preserved fd %d is %q, want %q", what, p, 3+i, got[p][3+i], want[i])
			}
		}
	}
	if initToo && len(got["1"]) == 0 && n > 0 {
		t.Errorf("%s: pid 1 lists no preserved fds: %q", what, out)
	}
}

func TestDescriptorsOnlyWhatTheCallerPassed(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	const passed = 3
	files, want := pipes(t, passed)
	call := tu.Call{ExtraFiles: files, Timeout: 60 * time.Second}
	refusedFast := func(what string, r *tu.Result) {
		t.Helper()
		if r.Code == 0 || !strings.Contains(r.Stderr, "--preserve-fds") || strings.Contains(r.Stdout, "FDS-END") {
			t.Errorf("%s: want a refusal naming --preserve-fds, nothing run: %s", what, r)
		}
	}
	for n := 0; n <= 20; n++ {
		for _, k := range []int{0, passed} {
			k := k
			what := fmt.Sprintf("passed %d, --preserve-fds %d", k, n)
			c := call
			c.ExtraFiles = files[:k]
			pf := []string{"--preserve-fds", strconv.Itoa(n)}
			ok := n <= k
			if !ok {
				c.Timeout = 10 * time.Second // a refusal is immediate
				// Refused before anything is set up: every verb, with and without a console.
				for _, args := range [][]string{
					{"run"}, {"run", "-d"}, {"create"},
				} {
					b := h.Bundle(tu.WithShell(listFDs))
					id := h.ID("fds")
					r := h.RT.RunCall(t, c, append(append(append(args, pf...), "--bundle", b.Dir), id)...)
					refusedFast(what+" "+strings.Join(args, " "), r)
					if _, err := h.TryState(id); err == nil {
						t.Errorf("%s %v: a refused create left state", what, args)
						h.R("delete", "--force", id)
					}
				}
				continue
			}
			if n != 0 && n != k && n != 1 {
				continue // 0, 1 and all passed cover the accepted side
			}
			// run (foreground): the listing comes back on stdout.
			b := h.Bundle(tu.WithShell(listFDs))
			id := h.ID("fds-run")
			r := h.RT.RunCall(t, c, append(append([]string{"run"}, pf...), "--bundle", b.Dir, id)...)
			if r.Code != 0 {
				t.Errorf("%s run: %s", what, r)
			} else {
				checkFDs(t, what+" run", r.Stdout, want, n, true)
			}
			h.R("delete", "--force", id)

			// run -d, with and without a console; create + start.
			for _, mode := range []string{"run-d", "run-d-tty", "create"} {
				opts := []tu.BundleOption{tu.WithShell(listFDsTo("/tmp/fds") + "; exec sleep 1000")}
				extra := []string{}
				if mode == "run-d-tty" {
					cs := tu.NewConsoleSocket(t)
					defer cs.Close()
					opts = append(opts, tu.WithTerminal(true))
					extra = []string{"--console-socket", cs.Path}
				}
				b := h.Bundle(opts...)
				id := h.ID("fds-" + mode)
				verb := []string{"run", "-d"}
				if mode == "create" {
					verb = []string{"create"}
				}
				r := h.RT.RunCall(t, c, append(append(append(append(verb, pf...), extra...), "--bundle", b.Dir), id)...)
				if r.Code != 0 {
					t.Errorf("%s %s: %s", what, mode, r)
					h.R("delete", "--force", id)
					continue
				}
				if mode == "create" {
					h.OK("start", id)
				}
				h.WaitFile(id, "/tmp/fds")
				checkFDs(t, what+" "+mode, h.Sh(id, "cat /tmp/fds"), want, n, true)
				h.Delete(id)
			}
		}
	}

	// exec and exec -d (with and without a console) into a container run with no fds.
	b := h.Bundle(tu.WithShell("exec sleep 1000"))
	id := h.ID("fds-exec")
	h.RunDetached(id, b)
	for n := 0; n <= 20; n++ {
		for _, k := range []int{0, passed} {
			what := fmt.Sprintf("exec: passed %d, --preserve-fds %d", k, n)
			c := call
			c.ExtraFiles = files[:k]
			pf := []string{"--preserve-fds", strconv.Itoa(n)}
			if n > k {
				c.Timeout = 10 * time.Second
				for _, d := range [][]string{nil, {"-d"}} {
					r := h.RT.RunCall(t, c, append(append(append([]string{"exec"}, d...), pf...), id, "sh", "-c", listFDs)...)
					refusedFast(what+" "+strings.Join(d, ""), r)
				}
				continue
			}
			if n != 0 && n != k && n != 1 {
				continue
			}
			r := h.RT.RunCall(t, c, append(append([]string{"exec"}, pf...), id, "sh", "-c", listFDs)...)
			if r.Code != 0 {
				t.Errorf("%s: %s", what, r)
			} else {
				// pid 1 is the container's init: it must hold nothing at all.
				checkFDs(t, what, r.Stdout, want, n, false)
				if initHolds(r.Stdout) {
					t.Errorf("%s: the container's init holds descriptors: %s", what, r.Stdout)
				}
			}
			for _, tty := range []bool{false, true} {
				out := fmt.Sprintf("/tmp/efds-%d-%d-%v", k, n, tty)
				args := append([]string{"exec", "-d"}, pf...)
				if tty {
					cs := tu.NewConsoleSocket(t)
					defer cs.Close()
					args = append(args, "-t", "--console-socket", cs.Path)
				}
				r := h.RT.RunCall(t, c, append(args, id, "sh", "-c", listFDsTo(out)+"; exec sleep 1000")...)
				if r.Code != 0 {
					t.Errorf("%s -d tty=%v: %s", what, tty, r)
					continue
				}
				h.WaitFile(id, out)
				o := h.Sh(id, "cat "+out)
				checkFDs(t, fmt.Sprintf("%s -d tty=%v", what, tty), o, want, n, false)
				if initHolds(o) {
					t.Errorf("%s -d: the container's init holds descriptors: %s", what, o)
				}
			}
		}
	}
	h.Delete(id)
}

// The mechanism itself: a descriptor tenantrun holds without close-on-exec (here the
// host's /, opened by the leak-fd failpoint just before the spawn) makes the create and
// the exec fail closed instead of reaching the container.
func TestDescriptorAuditFailsClosed(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	leak := tu.Call{Env: []string{"TENANTRUN_FAILPOINT=leak-fd"}, Timeout: 60 * time.Second}
	for _, verb := range [][]string{{"run"}, {"run", "-d"}, {"create"}} {
		b := h.Bundle(tu.WithShell(listFDs))
		id := h.ID("fdaudit")
		r := h.RT.RunCall(t, leak, append(append(verb, "--bundle", b.Dir), id)...)
		if r.Code == 0 || strings.Contains(r.Stdout, "FDS-END") || !strings.Contains(r.Stderr, "close-on-exec") {
			t.Errorf("%v with a leaked descriptor: want refused, nothing run: %s", verb, r)
		}
		h.R("delete", "--force", id)
	}
	b := h.Bundle(tu.WithShell("exec sleep 1000"))
	id := h.ID("fdaudit-exec")
	h.RunDetached(id, b)
	for _, d := range [][]string{nil, {"-d"}} {
		r := h.RT.RunCall(t, leak, append(append([]string{"exec"}, d...), id, "sh", "-c", listFDs)...)
		if r.Code == 0 || strings.Contains(r.Stdout, "FDS-END") || !strings.Contains(r.Stderr, "close-on-exec") {
			t.Errorf("exec %v with a leaked descriptor: want refused: %s", d, r)
		}
	}
	h.Delete(id)
}

// initHolds says whether the listing shows pid 1 holding any descriptor from 3 up.
func initHolds(out string) bool {
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "/proc/") && strings.HasSuffix(l, ":") {
			in = l == "/proc/1/fd/:"
			continue
		}
		if i := strings.Index(l, " -> "); in && i > 0 {
			f := strings.Fields(l[:i])
			if fd, err := strconv.Atoi(f[len(f)-1]); err == nil && fd >= 3 {
				return true
			}
		}
	}
	return false
}

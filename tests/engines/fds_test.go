package engines

import (
	"strconv"
	"strings"
	"testing"
)

// Invariant 1 (docs/security.md, "descriptors") through the engines: the container's
// process holds, beyond stdio, exactly what the user asked the engine to preserve.

// fdScript lists the shell's own descriptors (ls runs as a child, so its own are not in it).
const fdScript = `ls -l /proc/$$/fd/; echo FDS-END`

// extraFDs parses the listing: fd number -> target, for fds from 3 up.
func extraFDs(t testing.TB, out string) map[int]string {
	t.Helper()
	if !strings.Contains(out, "FDS-END") {
		t.Fatalf("no fd listing in %q", out)
	}
	got := map[int]string{}
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, " -> ")
		if i < 0 {
			continue
		}
		f := strings.Fields(l[:i])
		if fd, err := strconv.Atoi(f[len(f)-1]); err == nil && fd >= 3 {
			got[fd] = l[i+4:]
		}
	}
	return got
}

// testFDs: podman run with nothing preserved hands the container nothing beyond stdio;
// with --preserve-fds 2 (the caller passing /dev/null as 3 and 4) exactly those two.
func (e *dockerish) testFDs(t *testing.T) {
	leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	r := e.must(t, append(append([]string{"run", "--rm", "--runtime", e.runtime}, e.netNone...), busybox, "sh", "-c", fdScript)...)
	if got := extraFDs(t, r.stdout); len(got) != 0 {
		t.Errorf("podman run: the container holds descriptors nobody preserved: %v", got)
	}
	argv := e.argv(append(append([]string{"run", "--rm", "--runtime", e.runtime, "--preserve-fds", "2"}, e.netNone...), busybox, "sh", "-c", fdScript)...)
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	r = must(t, "sh", "-c", "exec 3</dev/null 4</dev/null; exec "+strings.Join(q, " "))
	got := extraFDs(t, r.stdout)
	if len(got) != 2 || got[3] != "/dev/null" || got[4] != "/dev/null" {
		t.Errorf("podman run --preserve-fds 2: want exactly fds 3 and 4 (/dev/null), got %v", got)
	}
}

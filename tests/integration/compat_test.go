package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// The web compatibility sweep (issue 20, make test-compat): real web stacks from Debian's
// packages (hack/rootfs/web/sweep, in the cached Debian web rootfs) each started under the
// default tenant policy and its web seccomp profile and exercised by a real client. Every
// stack must serve; what the web profile would deny each one is listed exactly by
// TestWebCompatDenials and must be a documented decision (docs/seccomp.md).

// compatStacks are the sweep's stacks: the script name and what its output must say.
var compatStacks = []struct {
	name string
	want []string
}{
	{"nginx-affinity", []string{"BODY: nginx static says hello", "BODY: gzip content-encoding", "nginx workers", "pinned: "}},
	{"php-app", []string{`"session":1`, `"session":2`, `"opcache":true`, `"jit":true`, `"upload":`, `"thumbnail":"8px"`, `"mail":"sent"`, "mail delivered"}},
	{"php-cli-job", []string{"job: 1000 rows, child says 20"}},
	{"apache-event", []string{"BODY: apache httpd says hello", "ServerMPM: event"}},
	{"node-cluster", []string{"cluster worker says hello", "node workers "}},
	{"python-gunicorn", []string{"BODY: gunicorn worker on python 3."}},
	{"go-http", []string{"net/http says hello to /hello"}},
	{"redis", []string{"BODY: redis says hello, hits 1"}},
	{"memcached", []string{"BODY: memcached says hello!!"}},
	{"tls", []string{"Protocol : TLSv1.3 via curl", "Protocol version: TLSv1.3 via openssl"}},
}

// compatCaps are the capabilities Docker gives an image by default that web servers use
// (chown of their temp dirs, switching the workers' user): all in the tenant allowlist.
var compatCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// compatScript is the shell script that runs stack name: the shared helpers, then the stack.
func compatScript(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(tu.RepoRoot(), "hack", "rootfs", "web", "sweep")
	lib, err := os.ReadFile(filepath.Join(dir, "lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(dir, name+".sh"))
	if err != nil {
		t.Fatal(err)
	}
	return "STACK=" + name + "\n" + string(lib) + "\n" + string(body)
}

// compatBundle is a bundle of h that runs stack name in a copy of the Debian web rootfs
// deb, with the capabilities a web image gets.
func compatBundle(t *testing.T, h *tu.H, deb, name string) *tu.Bundle {
	t.Helper()
	b := h.Bundle(tu.WithShell("grep -E '^Seccomp' /proc/self/status\n"+compatScript(t, name)), tu.WithSpec(func(s *specs.Spec) {
		pc := s.Process.Capabilities
		pc.Bounding, pc.Effective, pc.Permitted = compatCaps, compatCaps, compatCaps
	}))
	useRootfs(t, b, deb)
	return b
}

func TestWebCompatSweep(t *testing.T) {
	tu.TenantrunOnly(t)
	deb := debianWebRootfs(t)
	for _, c := range compatStacks {
		t.Run(c.name, func(t *testing.T) {
			h := tu.New(t)
			b := compatBundle(t, h, deb, c.name)
			id := h.ID("compat")
			r := h.RT.RunCall(t, tu.Call{Timeout: 120 * time.Second}, "run", "--bundle", b.Dir, id)
			defer h.R("delete", "--force", id)
			t.Logf("%s in %v:\n%s", c.name, r.Duration.Round(time.Millisecond), r.Stdout)
			if r.Code != 0 {
				t.Fatalf("%s failed under the default tenant:\n%s", c.name, r)
			}
			for _, w := range append([]string{"Seccomp:\t2"}, c.want...) {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("%s: the output lacks %q", c.name, w)
				}
			}
		})
	}
}

// compatDenials are the documented decisions (docs/seccomp.md, "Web compatibility sweep")
// for every syscall a sweep stack makes that the web profile denies: none is needed for
// the stack to serve (TestWebCompatSweep proves it enforcing).
var compatDenials = map[string]string{
	"clone3":     "kept denied with ENOSYS: glibc falls back to clone, whose flags the filter checks",
	"pkey_alloc": "kept denied: V8 (node) carries on without memory protection keys; compat allows it",
}

// TestWebCompatDenials runs each stack once more under `tenantrun seccomp test` (the web
// profile with every denial recorded and let through, exact: no kernel log rate limit) in
// a private copy of the rootfs, and checks that every syscall web would deny is one the
// docs decide on.
func TestWebCompatDenials(t *testing.T) {
	tu.TenantrunOnly(t)
	tu.RequireRoot(t)
	deb := debianWebRootfs(t)
	bin := tu.BinPath()
	seen := map[string][]string{}
	for _, c := range compatStacks {
		root := filepath.Join(tu.TempDir(t, "compat"), "rootfs")
		if err := tu.CopyRootfs(deb, root); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"proc", "dev", "tmp", "run", "var/tmp"} {
			_ = os.MkdirAll(filepath.Join(root, d), 0o755)
		}
		// A mount and a pid namespace of its own: /proc, /dev and tmpfs scratch as in a
		// container, all gone with the command, and so is any process a stack left
		// running (the pid namespace dies with its first process).
		script := "set -e; mount -t proc proc " + root + "/proc; mount --rbind /dev " + root + "/dev; " +
			"for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs " + root + "/$d; done; " +
			"exec \"$0\" \"$@\""
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script,
			bin, "seccomp", "test", "--json", "--rootfs", root, "web", "--", "sh", "-c", compatScript(t, c.name))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("%s under seccomp test: %v\n%s\n%s", c.name, err, stdout.String(), stderr.String())
			continue
		}
		out := stderr.String()
		var rep struct {
			ExitCode int `json:"exitCode"`
			Denials  []struct {
				Name string `json:"name"`
				Comm string `json:"comm"`
				Rule bool   `json:"rule"`
			} `json:"denials"`
		}
		// The report is the last thing on stderr (one JSON document), after the stack's own.
		report := out
		if i := strings.LastIndex(out, "\n{"); i >= 0 {
			report = out[i+1:]
		}
		if err := json.Unmarshal([]byte(report), &rep); err != nil {
			t.Errorf("%s: the report is not JSON: %v\n%s", c.name, err, out)
			continue
		}
		var names []string
		if rep.ExitCode != 0 || !strings.Contains(stdout.String(), "BODY: ") {
			t.Errorf("%s exited %d under seccomp test:\n%s\n%s", c.name, rep.ExitCode, stdout.String(), out)
		}
		for _, d := range rep.Denials {
			names = append(names, d.Name+" ("+d.Comm+")")
			seen[d.Name] = append(seen[d.Name], c.name+"/"+d.Comm)
		}
		t.Logf("%s: web would deny %d: %s", c.name, len(names), strings.Join(names, ", "))
	}
	// And in a container, as an operator finds a failing app's call: the tenant gets web's
	// audit twin (web-audit: what web would deny is let through and logged by the kernel),
	// and `tenantrun seccomp log` reads the records back. clone3's explicit ENOSYS rule
	// stays in the twin, so it is not logged; the kernel's printk rate limit may drop a
	// burst, so this pass can only find fewer calls than the exact one above, never others.
	h := tu.New(t)
	tenant := tu.NewID() + "-audit"
	h.Leaks.AddID(tenant)
	h.UseConfig("[tenants.\"" + tenant + "\"]\nuid_range = \"5200000:65536\"\nseccomp_profile = \"web-audit\"\n")
	rt := asTenant(h, tenant)
	for _, c := range compatStacks {
		b := compatBundle(t, h, deb, c.name)
		id := h.ID("audit")
		start := time.Now()
		r := rt.RunCall(t, tu.Call{Timeout: 120 * time.Second}, "run", "--bundle", b.Dir, id)
		rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", id)
		// Where the rootfs cache is on another filesystem (the test VM) each copy is a
		// full one: one at a time.
		if err := os.RemoveAll(b.Rootfs()); err != nil {
			t.Error(err)
		}
		if r.Code != 0 || !strings.Contains(r.Stdout, "Seccomp:\t2") {
			t.Errorf("%s under web-audit: %s", c.name, r)
			continue
		}
		since := (time.Since(start) + 200*time.Millisecond).Round(time.Millisecond) // this run's records only
		lg := h.RT.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "seccomp", "log", "--since", since.String())
		var names []string
		for _, line := range strings.Split(lg.Stdout, "\n") {
			if !strings.Contains(line, "action=log") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if name, ok := strings.CutPrefix(f, "syscall="); ok {
					names = append(names, name+" ("+commOf(line)+")")
					seen[name] = append(seen[name], c.name+" (web-audit)")
				}
			}
		}
		t.Logf("%s in a web-audit container: the kernel logged %d: %s", c.name, len(names), strings.Join(names, ", "))
	}
	var all []string
	for s := range seen {
		all = append(all, s)
	}
	sort.Strings(all)
	for _, s := range all {
		if _, ok := compatDenials[s]; !ok {
			t.Errorf("web denies %s to %v, and docs/seccomp.md has no decision on it", s, seen[s])
		}
	}
	doc, err := os.ReadFile(filepath.Join(tu.RepoRoot(), "docs", "seccomp.md"))
	if err != nil {
		t.Fatal(err)
	}
	for s := range compatDenials {
		if !strings.Contains(string(doc), "| `"+s+"` |") {
			t.Errorf("docs/seccomp.md's sweep table has no row for %s", s)
		}
	}
}

// commOf is the comm= field of a `seccomp log` line.
func commOf(line string) string {
	for _, f := range strings.Fields(line) {
		if c, ok := strings.CutPrefix(f, "comm="); ok {
			return c
		}
	}
	return "?"
}

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Regression tests for runtime CVEs, run as attacks (issue 10). Each attack must fail.

// CVE-2024-21626: a leaked host fd as process.cwd (/proc/self/fd/N) gave the container a
// working directory on the host.
func TestCVE2024_21626_Cwd(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle()
	for fd := 3; fd <= 9; fd++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
		b.Patch(tu.WithCwd(cwd), tu.WithShell("echo ESCAPED; ls ../../../../; cat ../../../../etc/hostname"))
		id := h.ID("cwd")
		r := h.R("run", "--bundle", b.Dir, id)
		if r.Code == 0 || strings.Contains(r.Stdout, "ESCAPED") {
			t.Errorf("process.cwd %s: the container ran: %s", cwd, r)
		}
		if !tu.IsRunc() && !strings.Contains(r.Stderr, "refused") {
			t.Errorf("process.cwd %s: not refused by the policy: %s", cwd, r)
		}
		if r.Panicked() {
			t.Errorf("panic: %s", r)
		}
		_ = h.R("delete", "--force", id)
	}
	if !tu.IsRunc() {
		// Variant: args[0] through a leaked fd.
		b.Patch(tu.WithCwd("/"), tu.WithArgs("/proc/self/fd/7/../../../bin/sh", "-c", "echo ESCAPED"))
		r := h.R("run", "--bundle", b.Dir, h.ID("argv0"))
		if r.Code == 0 || strings.Contains(r.Stdout, "ESCAPED") || !strings.Contains(r.Stderr, "refused") {
			t.Errorf("args[0] through /proc/self/fd/7: %s", r)
		}
	}

	// exec --cwd /proc/self/fd/N into a running container.
	b2 := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("execcwd")
	h.RunDetached(id, b2)
	for fd := 3; fd <= 9; fd++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
		r := h.ExecWith([]string{"--cwd", cwd}, id, "sh", "-c", "echo ESCAPED; cat ../../../../etc/hostname")
		if r.Code == 0 || strings.Contains(r.Stdout, "ESCAPED") {
			t.Errorf("exec --cwd %s ran: %s", cwd, r)
		}
		if r.Panicked() {
			t.Errorf("panic: %s", r)
		}
	}
	// The same through exec --process.
	p := tu.DefaultSpec().Process
	p.Cwd = "/proc/self/fd/7"
	p.Args = []string{"sh", "-c", "echo ESCAPED"}
	if r := h.R("exec", "--process", b2.ProcessJSON("p.json", p), id); r.Code == 0 || strings.Contains(r.Stdout, "ESCAPED") {
		t.Errorf("exec --process with cwd /proc/self/fd/7 ran: %s", r)
	}
	h.Delete(id)
}

// CVE-2019-16884: a volume mounted over /proc hid the real procfs (and with it the LSM
// attributes); any non-procfs mount at /proc or below must be refused.
func TestCVE2019_16884_VolumeOverProc(t *testing.T) {
	h := tu.New(t)
	fake := tu.TempDir(t, "fakeproc")
	if err := os.MkdirAll(filepath.Join(fake, "self", "attr"), 0o755); err != nil {
		t.Fatal(err)
	}
	tu.WriteFile(t, filepath.Join(fake, "self", "attr", "exec"), "")
	for name, m := range map[string]specs.Mount{
		"bind-at-proc":   {Destination: "/proc", Type: "bind", Source: fake, Options: []string{"rbind", "ro"}},
		"tmpfs-at-proc":  {Destination: "/proc", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		"bind-into-proc": {Destination: "/proc/self/attr", Type: "bind", Source: fake, Options: []string{"rbind", "ro"}},
	} {
		t.Run(name, func(t *testing.T) {
			b := h.Bundle(tu.WithShell("echo STARTED"), tu.WithMount(m))
			h.Leaks.AddPath(fake)
			id := h.ID("proc")
			r := h.R("run", "--bundle", b.Dir, id)
			if r.Code == 0 || strings.Contains(r.Stdout, "STARTED") || r.Panicked() {
				t.Errorf("mount over /proc (%s) ran: %s", name, r)
			}
			if !tu.IsRunc() && !strings.Contains(r.Stderr, "refused") {
				t.Errorf("not refused by the policy: %s", r)
			}
			_ = h.R("delete", "--force", id)
		})
	}
}

// CVE-2022-29162: inheritable capabilities requested by the bundle (or an exec process) must
// not reach the container: CapInh is 0 inside.
func TestCVE2022_29162_InheritableCaps(t *testing.T) {
	tu.TenantrunOnly(t) // runc grants what the spec asks for
	h := tu.New(t)
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	b := h.Bundle(tu.WithShell(sleeper), tu.WithSpec(func(s *specs.Spec) {
		s.Process.Capabilities.Inheritable = caps
	}))
	id := h.ID("capinh")
	h.RunDetached(id, b)
	for _, who := range []string{"1", "self"} {
		out := h.Sh(id, "grep CapInh /proc/"+who+"/status")
		if !strings.HasSuffix(out, "0000000000000000") {
			t.Errorf("/proc/%s/status: %s (inheritable set not empty)", who, out)
		}
	}
	p := tu.DefaultSpec().Process
	p.Capabilities.Inheritable = caps
	p.Capabilities.Ambient = caps
	p.Args = []string{"sh", "-c", "grep -E 'CapInh|CapAmb' /proc/self/status"}
	r := h.R("exec", "--process", b.ProcessJSON("inh.json", p), id)
	if r.Code == 0 {
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if !strings.HasSuffix(l, "0000000000000000") {
				t.Errorf("exec with inheritable/ambient caps requested: %s", l)
			}
		}
	} else if !strings.Contains(r.Stderr, "refused") {
		t.Errorf("exec with inheritable caps: neither run with an empty set nor refused: %s", r)
	}
	h.Delete(id)
}

// CVE-2019-5736: a container process opened the runtime binary through /proc/<pid>/exe of
// the runtime's init (visible inside during exec) and overwrote it. Here the binary under test
// is run from a private copy, the container hunts for any /proc/N/exe it can open for writing
// while the test execs into it repeatedly, and the copy's hash must not change.
func TestCVE2019_5736_OverwriteRuntime(t *testing.T) {
	h := tu.New(t)
	binDir := tu.TempDir(t, "bin")
	bin := filepath.Join(binDir, filepath.Base(h.RT.Bin))
	tu.CopyFile(t, h.RT.Bin, bin, 0o755)
	h.RT.Bin = bin
	before := tu.HashFile(t, bin)

	attack := `while :; do for p in /proc/[0-9]*; do ` +
		`[ "$p" = /proc/1 ] && continue; [ "$p" = /proc/$$ ] && continue; ` +
		`e=$(readlink $p/exe 2>/dev/null); [ -d $p ] || continue; ` +
		`case "$e" in /bin/busybox) continue;; "") echo HIDDEN >> /tmp/attack.log;; *) echo "SEEN $p $e" >> /tmp/attack.log;; esac; ` +
		`if (echo PWNED >> $p/exe) 2>/dev/null; then echo "WROTE $p $e" >> /tmp/attack.log; fi; ` +
		`done; done`
	b := h.Bundle(tu.WithShell(attack))
	id := h.ID("5736")
	h.RunDetached(id, b)
	for i := 0; i < 30; i++ {
		h.ExecOK(id, "true")
	}
	// The exec'd process itself: its /proc/self/exe is not writable either.
	r := h.Exec(id, "sh", "-c", "echo PWNED >> /proc/self/exe && echo WROTE-SELF")
	if strings.Contains(r.Stdout, "WROTE-SELF") {
		t.Errorf("exec'd process wrote its /proc/self/exe: %s", r)
	}
	log := h.Sh(id, "cat /tmp/attack.log 2>/dev/null; true")
	seen, hidden := strings.Count(log, "SEEN "), strings.Count(log, "HIDDEN")
	if strings.Contains(log, "WROTE ") {
		t.Errorf("a container process opened a runtime binary for writing:\n%s", log)
	}
	t.Logf("during 30 execs the container saw %d foreign exe links and %d unreadable ones (non-dumpable runtime init or exiting tasks); no write succeeded", seen, hidden)
	h.Delete(id)
	if after := tu.HashFile(t, bin); after != before {
		t.Fatalf("the runtime binary changed: %s -> %s", before, after)
	}
}

// Writes to /proc/sysrq-trigger and /proc/sys/kernel/core_pattern fail from inside, and the
// host's core_pattern is unchanged.
func TestProcWritesFail(t *testing.T) {
	h := tu.New(t)
	hostCore := tu.ReadTrim("/proc/sys/kernel/core_pattern")
	b := h.Bundle(tu.WithShell(
		`(echo h > /proc/sysrq-trigger) 2>/dev/null && echo SYSRQ-WRITTEN; ` +
			`(echo '|/tmp/pwn %p' > /proc/sys/kernel/core_pattern) 2>/dev/null && echo CORE-WRITTEN; ` +
			`(echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo SYSCTL-WRITTEN; ` +
			`echo DONE`))
	id := h.ID("procw")
	r := h.R("run", "--bundle", b.Dir, id)
	if !strings.Contains(r.Stdout, "DONE") {
		t.Fatalf("attack did not run: %s", r)
	}
	for _, w := range []string{"SYSRQ-WRITTEN", "CORE-WRITTEN", "SYSCTL-WRITTEN"} {
		if strings.Contains(r.Stdout, w) {
			t.Errorf("%s from inside the container", w)
		}
	}
	if now := tu.ReadTrim("/proc/sys/kernel/core_pattern"); now != hostCore {
		t.Errorf("host core_pattern changed: %q -> %q", hostCore, now)
	}
	_ = h.R("delete", "--force", id)
	// The same from an exec'd process.
	b2 := h.Bundle(tu.WithShell(sleeper))
	id2 := h.ID("procwx")
	h.RunDetached(id2, b2)
	out := h.Sh(id2, `(echo c > /proc/sysrq-trigger) 2>/dev/null && echo SYSRQ-WRITTEN; (echo x > /proc/sys/kernel/core_pattern) 2>/dev/null && echo CORE-WRITTEN; echo DONE`)
	if out != "DONE" {
		t.Errorf("exec'd attack: %q", out)
	}
	h.Delete(id2)
	time.Sleep(0)
}

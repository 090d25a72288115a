package engines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

const ctrNS = "tenantrun-test"

type ctrEngine struct {
	sock, fifo string
}

func newCtr(t *testing.T) *ctrEngine {
	fifo := filepath.Join(engRun, "ctr-fifo")
	if err := os.MkdirAll(fifo, 0o700); err != nil {
		t.Fatal(err)
	}
	return &ctrEngine{sock: filepath.Join(engRun, "containerd", "containerd.sock"), fifo: fifo}
}

func (c *ctrEngine) argv(args ...string) []string {
	return append([]string{"ctr", "--address", c.sock, "-n", ctrNS}, args...)
}

// runtimeRoot is the --runc-root the tests give ctr for a wrapper.
func ctrRoot(wrapper string) string { return filepath.Join(engRun, "ctr-root", wrapper) }

// ctrState is where the runtime keeps state for ctr calls: containerd appends the namespace.
func ctrState(wrapper string) string { return filepath.Join(ctrRoot(wrapper), ctrNS) }

// runArgs: `ctr run` with our wrapper as --runc-binary and a private --runc-root.
func (c *ctrEngine) runArgs(wrapper string, extra ...string) []string {
	a := c.argv("run", "--runc-binary", filepath.Join(wrapDir, wrapper), "--runc-root", ctrRoot(wrapper), "--fifo-dir", c.fifo)
	return append(a, extra...)
}

func (c *ctrEngine) cleanup(t testing.TB, id string) {
	call(t, 30*time.Second, c.argv("tasks", "kill", "-s", "KILL", id)...)
	for i := 0; i < 20; i++ {
		if r := call(t, 30*time.Second, c.argv("tasks", "delete", id)...); r.code == 0 || strings.Contains(r.stderr, "not found") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	call(t, 30*time.Second, c.argv("containers", "delete", id)...)
}

func (c *ctrEngine) taskStatus(t testing.TB, id string) string {
	r := call(t, 30*time.Second, c.argv("tasks", "ls")...)
	for _, l := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

func (c *ctrEngine) waitStatus(t testing.TB, id, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		if got = c.taskStatus(t, id); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("ctr task %s: status %q, want %q", id, got, want)
}

func TestCtr(t *testing.T) {
	requireEngines(t, "containerd")
	c := newCtr(t)
	const w = "tenantrun-alpha"

	t.Run("run-probe", func(t *testing.T) {
		lc := leakCheck(t, ctrState(w))
		id := randName("tr-ctr")
		lc.AddID(id)
		t.Cleanup(func() { c.cleanup(t, id) })
		r := must(t, c.runArgs(w, "--rm", busybox, id, "sh", "-c", probeScript)...)
		checkHardened(t, "ctr", "alpha", parseProbe(t, r.stdout))
	})

	t.Run("fds", func(t *testing.T) {
		lc := leakCheck(t, ctrState(w))
		id := randName("tr-ctr")
		lc.AddID(id)
		t.Cleanup(func() { c.cleanup(t, id) })
		r := must(t, c.runArgs(w, "--rm", busybox, id, "sh", "-c", fdScript)...)
		if got := extraFDs(t, r.stdout); len(got) != 0 {
			t.Errorf("ctr run (containerd shim): the container holds descriptors beyond stdio: %v", got)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		lc := leakCheck(t, ctrState(w))
		id := randName("tr-ctr")
		lc.AddID(id)
		logf := filepath.Join(engRun, "ctr-fifo", id+".log")
		lc.AddPath(logf)
		t.Cleanup(func() { c.cleanup(t, id); os.Remove(logf) })
		must(t, c.runArgs(w, "-d", "--log-uri", "file://"+logf, busybox, id, "sh", "-c",
			"echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done")...)
		c.waitStatus(t, id, "RUNNING")
		if r := must(t, c.argv("tasks", "exec", "--fifo-dir", c.fifo, "--exec-id", "e1", id, "echo", "from-exec")...); !strings.Contains(r.stdout, "from-exec") {
			t.Errorf("exec: %s", r)
		}
		r := call(t, 60*time.Second, withTTY(c.argv("tasks", "exec", "--fifo-dir", c.fifo, "-t", "--exec-id", "e2", id, "tty"))...)
		if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Errorf("exec -t tty: %s", r)
		}
		p := parseProbe(t, must(t, c.argv("tasks", "exec", "--fifo-dir", c.fifo, "--exec-id", "e3", id, "sh", "-c", probeScript)...).stdout)
		checkHardened(t, "ctr exec", "alpha", p)
		if b, _ := os.ReadFile(logf); !strings.Contains(string(b), "started") {
			t.Errorf("log file %s: %q", logf, b)
		}
		if r := must(t, c.argv("tasks", "ps", id)...); len(strings.Split(strings.TrimSpace(r.stdout), "\n")) < 2 {
			t.Errorf("tasks ps: %s", r)
		}
		must(t, c.argv("tasks", "pause", id)...)
		c.waitStatus(t, id, "PAUSED")
		must(t, c.argv("tasks", "resume", id)...)
		c.waitStatus(t, id, "RUNNING")
		must(t, c.argv("tasks", "kill", "-s", "USR1", id)...) // ignored by the shell
		time.Sleep(300 * time.Millisecond)
		if s := c.taskStatus(t, id); s != "RUNNING" {
			t.Errorf("after kill -s USR1: %q", s)
		}
		must(t, c.argv("tasks", "kill", "-s", "TERM", id)...)
		c.waitStatus(t, id, "STOPPED")
		must(t, c.argv("tasks", "delete", id)...)
		must(t, c.argv("containers", "delete", id)...)
	})

	t.Run("read-only-app", func(t *testing.T) {
		lc := leakCheck(t, ctrState(w))
		id := randName("tr-ctr")
		lc.AddID(id)
		vol := volumeDir(t, "alpha")
		lc.AddPath(vol)
		t.Cleanup(func() { c.cleanup(t, id) })
		r := must(t, c.runArgs(w, "--rm", "--read-only",
			"--mount", "type=bind,src="+vol+",dst=/data,options=rbind:rw",
			"--mount", "type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev:size=16m",
			busybox, id, "sh", "-c", "echo scratch >/tmp/s && cat /tmp/s && echo hello >/data/written && if touch /x 2>/dev/null; then echo ROOT-WRITABLE; fi")...)
		if !strings.Contains(r.stdout, "scratch") || strings.Contains(r.stdout, "ROOT-WRITABLE") {
			t.Errorf("read-only app: %s", r)
		}
		checkVolumeWrite(t, "ctr", "alpha", vol)
	})

	t.Run("refusals", func(t *testing.T) {
		t.Run("privileged", func(t *testing.T) {
			lc := leakCheck(t, ctrState(w))
			id := randName("tr-ctr")
			lc.AddID(id)
			t.Cleanup(func() { c.cleanup(t, id) })
			r := call(t, 60*time.Second, c.runArgs(w, "--rm", "--privileged", busybox, id, "true")...)
			checkRefused(t, "ctr run --privileged", r, `refused`)
		})
		t.Run("host-socket", func(t *testing.T) {
			lc := leakCheck(t, ctrState(w))
			id := randName("tr-ctr")
			lc.AddID(id)
			t.Cleanup(func() { c.cleanup(t, id) })
			r := call(t, 60*time.Second, c.runArgs(w, "--rm", "--mount", "type=bind,src="+c.sock+",dst=/var/run/docker.sock,options=rbind:rw", busybox, id, "true")...)
			checkRefused(t, "ctr run --mount containerd.sock", r, `mounts\[\d+\]\.source`)
		})
	})

	// A forged CRI annotation changes nothing: with --tenant it is ignored; without --tenant it
	// is not trusted outside the CRI handler's root, so the call names no tenant and is refused.
	t.Run("forged-annotation", func(t *testing.T) {
		lc := leakCheck(t, ctrState(w), ctrState("tenantrun-cri"))
		id := randName("tr-ctr")
		lc.AddID(id)
		t.Cleanup(func() { c.cleanup(t, id) })
		r := must(t, c.runArgs(w, "--rm", "--annotation", "io.kubernetes.cri.sandbox-namespace=beta", busybox, id, "sh", "-c", probeScript)...)
		checkHardened(t, "ctr forged annotation via tenantrun-alpha", "alpha", parseProbe(t, r.stdout))

		id2 := randName("tr-ctr")
		lc.AddID(id2)
		t.Cleanup(func() { c.cleanup(t, id2) })
		r = call(t, 60*time.Second, c.runArgs("tenantrun-cri", "--rm", "--annotation", "io.kubernetes.cri.sandbox-namespace=beta", busybox, id2, "sh", "-c", probeScript)...)
		if hardened(t) {
			if r.code == 0 {
				p := parseProbe(t, r.stdout)
				if p.uidMap[1] == uint64(tenantUID["beta"]) {
					t.Errorf("a forged io.kubernetes.cri.sandbox-namespace=beta made a ctr container tenant beta: %v", p.uidMap)
				} else {
					t.Errorf("ctr without --tenant ran (uid_map %v): want it refused (no trusted tenant source, no fallback)", p.uidMap)
				}
			} else if !strings.Contains(r.out(), "tenant") {
				t.Errorf("ctr without a trusted tenant source failed, but not naming the tenant: %s", r)
			} else {
				t.Logf("refused as expected: %s", strings.TrimSpace(lastLine(r.out())))
			}
		}
	})
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}

var _ = testutil.CI

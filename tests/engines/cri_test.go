package engines

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
	"github.com/tenantrun/tenantrun/runtime/netpolicy"
)

// The CRI plugin of our containerd, driven with crictl as a kubelet would. Handlers (config.toml):
// "tenantrun" (tenant = pod namespace, trusted for this handler's root), "tenantrun-alpha"
// (always tenant alpha), "runc".
type criEngine struct{ sock string }

func newCRI() *criEngine {
	return &criEngine{sock: "unix://" + filepath.Join(engRun, "containerd", "containerd.sock")}
}

func (c *criEngine) argv(args ...string) []string {
	return append([]string{filepath.Join(engCache, "bin", "crictl"), "--config", filepath.Join(engRun, "crictl.yaml"), "--runtime-endpoint", c.sock, "--image-endpoint", c.sock, "--timeout", "60s"}, args...)
}

func criRoot(handler string) string {
	return filepath.Join(engRun, "cri-"+handler, "k8s.io")
}

type criPod struct {
	id, config, name, ns string
}

func writeJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "cri-*.json")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
	return f.Name()
}

// runPod starts a pod sandbox with handler in Kubernetes namespace ns; a non-empty want
// says the call is expected to succeed.
func (c *criEngine) runPod(t *testing.T, lc *testutil.LeakChecker, handler, ns string, privileged bool) (*criPod, res) {
	t.Helper()
	name := randName("tr-cri")
	logDir := filepath.Join(engRun, "cri-logs", name)
	os.MkdirAll(logDir, 0o755)
	t.Cleanup(func() { os.RemoveAll(logDir) })
	pod := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": ns, "uid": name + "-uid", "attempt": 0},
		"log_directory": logDir,
		"linux": map[string]any{
			"cgroup_parent":    "/tenantrun-test-cri",
			"security_context": map[string]any{"privileged": privileged, "namespace_options": map[string]any{"network": 0}},
		},
	}
	p := &criPod{config: writeJSON(t, pod), name: name, ns: ns}
	r := call(t, 90*time.Second, c.argv("runp", "--runtime", handler, p.config)...)
	if r.code == 0 {
		p.id = strings.TrimSpace(r.stdout)
		lc.AddID(p.id)
		t.Cleanup(func() {
			call(t, 60*time.Second, c.argv("stopp", p.id)...)
			call(t, 60*time.Second, c.argv("rmp", "-f", p.id)...)
		})
	} else {
		// a failed runp may leave a sandbox record behind: remove it by name
		t.Cleanup(func() {
			ls := call(t, 30*time.Second, c.argv("pods", "-q", "--name", name)...)
			for _, id := range strings.Fields(ls.stdout) {
				call(t, 60*time.Second, c.argv("rmp", "-f", id)...)
			}
		})
	}
	return p, r
}

// startContainer creates and starts a container in pod p (the runtime's create happens here).
func (c *criEngine) startContainer(t *testing.T, lc *testutil.LeakChecker, p *criPod, cfg map[string]any) (string, res) {
	t.Helper()
	if cfg["metadata"] == nil {
		cfg["metadata"] = map[string]any{"name": "c"}
	}
	cfg["image"] = map[string]any{"image": busybox}
	cfg["log_path"] = "c.log"
	r := call(t, 90*time.Second, c.argv("create", p.id, writeJSON(t, cfg), p.config)...)
	if r.code != 0 {
		t.Fatalf("crictl create: %s", r)
	}
	cid := strings.TrimSpace(r.stdout)
	lc.AddID(cid)
	t.Cleanup(func() { call(t, 60*time.Second, c.argv("rm", "-f", cid)...) })
	return cid, call(t, 90*time.Second, c.argv("start", cid)...)
}

func (c *criEngine) pid(t testing.TB, cid string) int {
	r := must(t, c.argv("inspect", cid)...)
	var v struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	json.Unmarshal([]byte(r.stdout), &v)
	return v.Info.Pid
}

func (c *criEngine) state(t testing.TB, cid string) string {
	r := call(t, 30*time.Second, c.argv("inspect", "-o", "go-template", "--template", "{{.status.state}}", cid)...)
	return strings.TrimSpace(r.stdout)
}

func (c *criEngine) waitState(t testing.TB, cid, want string) string {
	deadline := time.Now().Add(20 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		if got = c.state(t, cid); got == want {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return got
}

const keepRunning = "echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done"

func TestCRI(t *testing.T) {
	requireEngines(t, "containerd", "crictl")
	c := newCRI()
	const h = "tenantrun"

	t.Run("lifecycle", func(t *testing.T) {
		lc := leakCheck(t, criRoot(h))
		p, r := c.runPod(t, lc, h, "alpha", false)
		if r.code != 0 {
			t.Fatalf("runp: %s", r)
		}
		cid, r := c.startContainer(t, lc, p, map[string]any{"command": []string{"sh", "-c", keepRunning}})
		if r.code != 0 {
			t.Fatalf("start: %s", r)
		}
		if s := c.waitState(t, cid, "CONTAINER_RUNNING"); s != "CONTAINER_RUNNING" {
			t.Fatalf("state %q", s)
		}
		lc.ObservePID(c.pid(t, cid))
		if r := must(t, c.argv("exec", cid, "echo", "from-exec")...); !strings.Contains(r.stdout, "from-exec") {
			t.Errorf("exec: %s", r)
		}
		r = call(t, 60*time.Second, withTTY(c.argv("exec", "-it", cid, "tty"))...)
		if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Errorf("exec -t tty: %s", r)
		}
		p1 := parseProbe(t, must(t, c.argv("exec", cid, "sh", "-c", probeScript)...).stdout)
		checkHardened(t, "cri exec", "alpha", p1)
		time.Sleep(300 * time.Millisecond)
		if r := must(t, c.argv("logs", cid)...); !strings.Contains(r.out(), "started") {
			t.Errorf("logs: %s", r)
		}
		// pause/resume go through the same shim (crictl has no pause verb)
		ctrK8s := []string{"ctr", "--address", strings.TrimPrefix(c.sock, "unix://"), "-n", "k8s.io", "tasks"}
		must(t, append(ctrK8s, "pause", cid)...)
		must(t, append(ctrK8s, "resume", cid)...)
		must(t, append(ctrK8s, "ps", cid)...)
		r = call(t, 60*time.Second, c.argv("update", "--memory", fmt.Sprint(96<<20), cid)...)
		if r.code != 0 {
			t.Errorf("update: %s", r)
		} else if v, err := cgroupValue(c.pid(t, cid), "memory", "memory.limit_in_bytes"); err != nil || v != fmt.Sprint(96<<20) {
			t.Errorf("update: memory.limit_in_bytes = %q (%v), want %d", v, err, 96<<20)
		}
		must(t, c.argv("stop", "--timeout", "5", cid)...)
		if s := c.waitState(t, cid, "CONTAINER_EXITED"); s != "CONTAINER_EXITED" {
			t.Errorf("after stop: %q", s)
		}
		must(t, c.argv("rm", cid)...)
		must(t, c.argv("stopp", p.id)...)
		must(t, c.argv("rmp", p.id)...)
	})

	// The network policy in a pod (docs/network.md): the sandbox's create installs it in the
	// CNI namespace, the members keep it (one table, tenant alpha's); a member serves on
	// port 80, another member of the pod reaches it, a pod of tenant beta on the same CNI
	// bridge does not, and a port no rule allows is refused inside the pod too.
	t.Run("network-pod", func(t *testing.T) {
		lc := leakCheck(t, criRoot(h))
		pa, r := c.runPod(t, lc, h, "alpha", false)
		if r.code != 0 {
			t.Fatalf("runp alpha: %s", r)
		}
		srv, r := c.startContainer(t, lc, pa, map[string]any{"metadata": map[string]any{"name": "web"},
			"command": []string{"sh", "-c", "mkdir -p /tmp/www && echo hello-pod >/tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"}})
		if r.code != 0 {
			t.Fatalf("start web: %s", r)
		}
		cli, r := c.startContainer(t, lc, pa, map[string]any{"metadata": map[string]any{"name": "client"}, "command": []string{"sh", "-c", keepRunning}})
		if r.code != 0 {
			t.Fatalf("start client: %s", r)
		}
		c.waitState(t, srv, "CONTAINER_RUNNING")
		c.waitState(t, cli, "CONTAINER_RUNNING")
		ip := strings.TrimSpace(must(t, c.argv("inspectp", "-o", "go-template", "--template", "{{.status.network.ip}}", pa.id)...).stdout)
		f, err := netpolicy.OpenNetns(fmt.Sprintf("/proc/%d/ns/net", c.pid(t, cli)))
		if err != nil {
			t.Fatal(err)
		}
		owner, has, err := netpolicy.Owner(int(f.Fd()))
		f.Close()
		if err != nil || !has || owner != "alpha" {
			t.Errorf("the pod's namespace: table %v for %q (%v), want tenant alpha's", has, owner, err)
		}
		get := func(cid string, port int) res {
			return call(t, 30*time.Second, c.argv("exec", cid, "sh", "-c", fmt.Sprintf("printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s %d", ip, port))...)
		}
		var got res
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			if got = get(cli, 80); strings.Contains(got.stdout, "hello-pod") {
				break
			}
		}
		if !strings.Contains(got.stdout, "hello-pod") {
			t.Fatalf("a member does not reach its pod's server at %s:80: %s", ip, got)
		}
		pb, r := c.runPod(t, lc, h, "beta", false)
		if r.code != 0 {
			t.Fatalf("runp beta: %s", r)
		}
		other, r := c.startContainer(t, lc, pb, map[string]any{"metadata": map[string]any{"name": "other"}, "command": []string{"sh", "-c", keepRunning}})
		if r.code != 0 {
			t.Fatalf("start beta's container: %s", r)
		}
		c.waitState(t, other, "CONTAINER_RUNNING")
		if r := get(other, 80); strings.Contains(r.stdout, "hello-pod") {
			t.Errorf("tenant beta's pod reached tenant alpha's pod at %s:80: %s", ip, r)
		}
		for _, id := range []string{srv, cli, other} {
			call(t, 60*time.Second, c.argv("rm", "-f", id)...)
		}
		for _, p := range []*criPod{pa, pb} {
			must(t, c.argv("stopp", p.id)...)
			must(t, c.argv("rmp", p.id)...)
		}
	})

	t.Run("read-only-app", func(t *testing.T) {
		lc := leakCheck(t, criRoot(h))
		vol := volumeDir(t, "alpha")
		lc.AddPath(vol)
		p, r := c.runPod(t, lc, h, "alpha", false)
		if r.code != 0 {
			t.Fatalf("runp: %s", r)
		}
		cid, r := c.startContainer(t, lc, p, map[string]any{
			"command": []string{"sh", "-c", "echo hello >/data/written; if echo scratch >/tmp/s 2>/dev/null; then echo TMP-OK; fi; if touch /x 2>/dev/null; then echo ROOT-WRITABLE; fi; sleep 0.3"},
			"mounts":  []any{map[string]any{"container_path": "/data", "host_path": vol}},
			"linux":   map[string]any{"security_context": map[string]any{"readonly_rootfs": true}},
		})
		if r.code != 0 {
			t.Fatalf("start: %s", r)
		}
		c.waitState(t, cid, "CONTAINER_EXITED")
		lg := must(t, c.argv("logs", cid)...).out()
		if strings.Contains(lg, "ROOT-WRITABLE") || (hardened(t) && !strings.Contains(lg, "TMP-OK")) {
			t.Errorf("read-only app output: %q", lg)
		}
		checkVolumeWrite(t, "cri", "alpha", vol)
	})

	// A privileged pod: containerd 1.6 keeps the sandbox (pause) container unprivileged, so the
	// refusal comes at `crictl start` of the privileged container (the runtime's create).
	t.Run("privileged-pod", func(t *testing.T) {
		lc := leakCheck(t, criRoot(h))
		p, r := c.runPod(t, lc, h, "alpha", true)
		if r.code != 0 {
			t.Fatalf("runp of the privileged pod's sandbox: %s", r)
		}
		_, r = c.startContainer(t, lc, p, map[string]any{
			"command": []string{"true"},
			"linux":   map[string]any{"security_context": map[string]any{"privileged": true}},
		})
		checkRefused(t, "crictl start (privileged container)", r, `refused`)
	})

	// Tenant identity: the namespace counts only through the trusted handler; a handler bound to
	// one tenant ignores the namespace; an unknown namespace has no tenant and is refused.
	t.Run("tenant-identity", func(t *testing.T) {
		for _, tc := range []struct{ handler, ns, want string }{
			{"tenantrun", "alpha", "alpha"}, {"tenantrun", "beta", "beta"}, {"tenantrun-alpha", "beta", "alpha"}, {"tenantrun", "gamma", ""},
		} {
			t.Run(tc.handler+"-ns-"+tc.ns, func(t *testing.T) {
				lc := leakCheck(t, criRoot(tc.handler))
				p, r := c.runPod(t, lc, tc.handler, tc.ns, false)
				if tc.want == "" && hardened(t) {
					if r.code == 0 {
						t.Errorf("a pod in namespace %q (no such tenant, no fallback) ran", tc.ns)
					} else {
						t.Logf("refused as expected: %s", lastLine(r.out()))
					}
					return
				}
				if r.code != 0 {
					t.Fatalf("runp: %s", r)
				}
				cid, r := c.startContainer(t, lc, p, map[string]any{"command": []string{"sh", "-c", probeScript + "; sleep 0.3"}})
				if r.code != 0 {
					t.Fatalf("start: %s", r)
				}
				c.waitState(t, cid, "CONTAINER_EXITED")
				want := tc.want
				if want == "" {
					want = "alpha"
				}
				checkHardened(t, "cri "+tc.handler+" ns "+tc.ns, want, parseProbe(t, must(t, c.argv("logs", cid)...).out()))
			})
		}
	})
}

package engines

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

// dockerish drives the two engines whose CLIs are alike: podman and docker.
type dockerish struct {
	name    string   // "podman" or "docker"
	base    []string // the CLI with its private-state flags
	runtime string   // --runtime value for tenant alpha
	netNone []string // flags that select no network
}

// podmanCgroupManager is podman's --cgroup-manager: $ENGINES_PODMAN_CGROUP_MANAGER (as
// hack/engines/lib.sh reads it), cgroupfs by default.
func podmanCgroupManager() string {
	if m := os.Getenv("ENGINES_PODMAN_CGROUP_MANAGER"); m != "" {
		return m
	}
	return "cgroupfs"
}

func podmanEngine() *dockerish {
	return &dockerish{
		name: "podman",
		base: []string{"podman", "--root", filepath.Join(engState, "podman", "root"), "--runroot", filepath.Join(engRun, "podman", "runroot"),
			"--cgroup-manager=" + podmanCgroupManager(), "--events-backend=file", "--tmpdir", filepath.Join(engRun, "podman", "tmp")},
		runtime: "tenantrun-alpha",
		netNone: []string{"--network", "none"},
	}
}

func dockerEngine() *dockerish {
	e := &dockerish{
		name:    "docker",
		base:    []string{"/usr/bin/docker", "-H", "unix://" + filepath.Join(engRun, "docker.sock")},
		runtime: "tenantrun-alpha",
		netNone: []string{"--network", "none"},
	}
	// Docker sets net.ipv4.ping_group_range="0 2147483647" in every container, which a user
	// namespace of 65536 ids cannot take. ENGINES_DOCKER_PING_RANGE=1 asks for "0 65535"
	// instead, to exercise the rest of Docker's path while the runtime does not clamp it.
	if os.Getenv("ENGINES_DOCKER_PING_RANGE") != "" {
		e.netNone = append(e.netNone, "--sysctl", "net.ipv4.ping_group_range=0 65535")
	}
	return e
}

func (e *dockerish) argv(args ...string) []string {
	return append(append([]string(nil), e.base...), args...)
}

func (e *dockerish) call(t testing.TB, args ...string) res {
	t.Helper()
	return call(t, 90*time.Second, e.argv(args...)...)
}

func (e *dockerish) must(t testing.TB, args ...string) res {
	t.Helper()
	return must(t, e.argv(args...)...)
}

// runtimeRoots: where the runtime behind --runtime keeps state for this engine.
func (e *dockerish) runtimeRoots(t testing.TB, runtime string) []string {
	if e.name == "docker" {
		// dockerd 20.10 passes --root <exec-root>/runtime-runc/<containerd namespace> for every runtime
		return []string{filepath.Join(engRun, "docker-exec", "runtime-runc", "tenantrun-test-moby")}
	}
	if hardened(t) && strings.HasPrefix(runtime, "tenantrun") {
		return []string{filepath.Join(engRun, "tenantrun-root")}
	}
	return []string{filepath.Join(engRun, "runc-root")}
}

func (e *dockerish) status(t testing.TB, name string) string {
	t.Helper()
	r := e.call(t, "inspect", "--format", "{{.State.Status}}", name)
	return strings.TrimSpace(r.stdout)
}

func (e *dockerish) pid(t testing.TB, name string) int {
	t.Helper()
	r := e.must(t, "inspect", "--format", "{{.State.Pid}}", name)
	p, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
	return p
}

func (e *dockerish) fullID(t testing.TB, name string) string {
	t.Helper()
	r := e.must(t, "inspect", "--format", "{{.Id}}", name)
	return strings.TrimSpace(r.stdout)
}

// start runs a detached container that keeps running and registers its removal.
func (e *dockerish) start(t *testing.T, lc *testutil.LeakChecker, runtime string, extra ...string) string {
	t.Helper()
	name := randName("tr-" + e.name)
	args := append([]string{"run", "-d", "--name", name, "--runtime", runtime}, e.netNone...)
	args = append(args, extra...)
	args = append(args, busybox, "sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done")
	t.Cleanup(func() { e.call(t, "rm", "-f", name) })
	e.must(t, args...)
	lc.AddID(e.fullID(t, name))
	lc.ObservePID(e.pid(t, name))
	return name
}

func (e *dockerish) waitStatus(t testing.TB, name, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		if got = e.status(t, name); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s %s: status %q, want %q", e.name, name, got, want)
}

// ---- the scenarios shared by podman and docker

func (e *dockerish) testRunProbe(t *testing.T, network bool) {
	lc := leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	_ = lc
	name := randName("tr-" + e.name)
	args := []string{"run", "--rm", "--name", name, "--runtime", e.runtime}
	if !network {
		args = append(args, e.netNone...)
	}
	r := e.must(t, append(args, busybox, "sh", "-c", probeScript)...)
	checkHardened(t, e.name, "alpha", parseProbe(t, r.stdout))
}

func (e *dockerish) testLifecycle(t *testing.T) {
	lc := leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	name := e.start(t, lc, e.runtime)
	if r := e.must(t, "exec", name, "echo", "from-exec"); !strings.Contains(r.stdout, "from-exec") {
		t.Errorf("exec output: %s", r)
	}
	// exec with a tty: the engine's CLI needs a terminal of its own
	r := call(t, 60*time.Second, withTTY(e.argv("exec", "-t", name, "tty"))...)
	if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/") {
		t.Errorf("exec -t tty: %s", r)
	}
	// the exec process gets the same policy as the init process
	p := parseProbe(t, e.must(t, "exec", name, "sh", "-c", probeScript).stdout)
	checkHardened(t, e.name+" exec", "alpha", p)
	time.Sleep(300 * time.Millisecond)
	if r := e.must(t, "logs", name); !strings.Contains(r.out(), "started") {
		t.Errorf("logs: %s", r)
	}
	if r := e.must(t, "top", name); !strings.Contains(r.stdout, "sleep") && !strings.Contains(r.stdout, "sh -c") {
		t.Errorf("top: %s", r)
	}
	e.must(t, "pause", name)
	e.waitStatus(t, name, "paused")
	e.must(t, "unpause", name)
	e.waitStatus(t, name, "running")
	// update: memory limit, checked in the container's cgroup from the host
	r = e.call(t, "update", "--memory", "96m", "--memory-swap", "96m", name)
	if r.code != 0 {
		t.Errorf("update: %s", r)
	} else if v, err := cgroupValue(e.pid(t, name), "memory", "memory.limit_in_bytes"); err != nil {
		t.Errorf("update: cannot read the memory limit: %v", err)
	} else if v != fmt.Sprint(96<<20) {
		t.Errorf("update: memory.limit_in_bytes = %s, want %d", v, 96<<20)
	}
	if hardened(t) {
		// more than the tenant's per-container quota (512M by default): clamped, never above it
		if r := e.call(t, "update", "--memory", "4g", "--memory-swap", "4g", name); r.code != 0 {
			t.Logf("update above the quota refused: %s", lastLine(r.out()))
		} else if v, err := cgroupValue(e.pid(t, name), "memory", "memory.limit_in_bytes"); err != nil {
			t.Errorf("update: cannot read the memory limit: %v", err)
		} else if n, _ := strconv.ParseInt(v, 10, 64); n > 512<<20 {
			t.Errorf("update --memory 4g: memory.limit_in_bytes = %d, above the tenant quota 512M", n)
		} else {
			t.Logf("update --memory 4g clamped to %d", n)
		}
	}
	// exec --privileged hands the runtime every capability: the exec policy refuses it
	r = e.call(t, "exec", "--privileged", name, "true")
	checkRefused(t, e.name+" exec --privileged", r, `refused`)
	stop := []string{"stop", "-t", "5", name}
	e.must(t, stop...)
	e.waitStatus(t, name, "exited")
	e.must(t, "rm", name)
}

func (e *dockerish) testKill(t *testing.T) {
	lc := leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	name := e.start(t, lc, e.runtime)
	e.must(t, "kill", "-s", "USR1", name) // a signal the shell ignores: still running
	time.Sleep(300 * time.Millisecond)
	if s := e.status(t, name); s != "running" {
		t.Errorf("after kill -s USR1: status %q", s)
	}
	e.must(t, "kill", name) // SIGKILL
	e.waitStatus(t, name, "exited")
	e.must(t, "rm", name)
}

// testReadOnlyApp: an app with a read-only root writes to its tmpfs and to a volume under the
// tenant's bind_roots.
func (e *dockerish) testReadOnlyApp(t *testing.T) {
	lc := leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	vol := volumeDir(t, "alpha")
	lc.AddPath(vol)
	args := append([]string{"run", "--rm", "--read-only", "--runtime", e.runtime, "-v", vol + ":/data"}, e.netNone...)
	if e.name == "docker" {
		args = append(args, "--tmpfs", "/tmp")
	}
	r := e.must(t, append(args, busybox, "sh", "-c",
		"echo scratch >/tmp/s && cat /tmp/s && echo hello >/data/written && if touch /x 2>/dev/null; then echo ROOT-WRITABLE; fi")...)
	if !strings.Contains(r.stdout, "scratch") || strings.Contains(r.stdout, "ROOT-WRITABLE") {
		t.Errorf("read-only app: %s", r)
	}
	checkVolumeWrite(t, e.name, "alpha", vol)
}

func (e *dockerish) testRefusals(t *testing.T, privileged bool) {
	if privileged {
		t.Run("privileged", func(t *testing.T) {
			leakCheck(t, e.runtimeRoots(t, e.runtime)...)
			name := randName("tr-" + e.name)
			t.Cleanup(func() { e.call(t, "rm", "-f", name) })
			r := e.call(t, append(append([]string{"run", "--rm", "--name", name, "--privileged", "--runtime", e.runtime}, e.netNone...), busybox, "true")...)
			checkRefused(t, e.name+" --privileged", r, `refused`)
		})
	}
	t.Run("host-socket", func(t *testing.T) {
		leakCheck(t, e.runtimeRoots(t, e.runtime)...)
		// an engine daemon's socket when one is up, else a host daemon's socket of our own
		// (podman alone, as in the test VM, has no daemon)
		sock := ""
		for _, s := range []string{filepath.Join(engRun, "docker.sock"), filepath.Join(engRun, "containerd", "containerd.sock")} {
			if fi, err := os.Stat(s); err == nil && fi.Mode()&os.ModeSocket != 0 {
				sock = s
				break
			}
		}
		if sock == "" {
			sock = filepath.Join(engRun, "hostd-"+randName("s")+".sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close(); os.Remove(sock) })
		}
		name := randName("tr-" + e.name)
		t.Cleanup(func() { e.call(t, "rm", "-f", name) })
		r := e.call(t, append(append([]string{"run", "--rm", "--name", name, "--runtime", e.runtime, "-v", sock + ":/var/run/docker.sock"}, e.netNone...), busybox, "true")...)
		checkRefused(t, e.name+" -v docker.sock", r, `mounts\[\d+\]\.source`)
	})
	// a socket inside the tenant's own bind_roots is still a host socket
	t.Run("socket-in-bind-root", func(t *testing.T) {
		leakCheck(t, e.runtimeRoots(t, e.runtime)...)
		vol := volumeDir(t, "alpha")
		l, err := net.Listen("unix", filepath.Join(vol, "agent.sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		name := randName("tr-" + e.name)
		t.Cleanup(func() { e.call(t, "rm", "-f", name) })
		r := e.call(t, append(append([]string{"run", "--rm", "--name", name, "--runtime", e.runtime, "-v", filepath.Join(vol, "agent.sock") + ":/run/agent.sock"}, e.netNone...), busybox, "true")...)
		checkRefused(t, e.name+" -v <bind root>/agent.sock", r, `mounts\[\d+\]\.source`)
	})
}

// testForgedAnnotation: a tenant-chosen annotation naming another tenant changes nothing.
func (e *dockerish) testForgedAnnotation(t *testing.T, flag string) {
	leakCheck(t, e.runtimeRoots(t, e.runtime)...)
	for _, c := range []struct{ runtime, tenant string }{{"tenantrun-alpha", "alpha"}, {"tenantrun-beta", "beta"}} {
		forged := "beta"
		if c.tenant == "beta" {
			forged = "alpha"
		}
		args := append([]string{"run", "--rm", "--runtime", c.runtime, flag, "io.kubernetes.cri.sandbox-namespace=" + forged}, e.netNone...)
		r := e.must(t, append(args, busybox, "sh", "-c", probeScript)...)
		p := parseProbe(t, r.stdout)
		checkHardened(t, e.name+" forged annotation via "+c.runtime, c.tenant, p)
	}
}

// testCrossTenantJoin: a container of tenant alpha may not join the namespaces of a running
// container of tenant beta (--network/--ipc/--pid container:X hand the runtime /proc/<pid>/ns/*).
func (e *dockerish) testCrossTenantJoin(t *testing.T) {
	lc := leakCheck(t, e.runtimeRoots(t, "tenantrun-beta")...)
	var extra []string
	if e.name == "docker" {
		extra = []string{"--ipc", "shareable"} // docker refuses to share a private IPC itself
	}
	victim := e.start(t, lc, "tenantrun-beta", extra...)
	for _, ns := range []string{"--network", "--ipc", "--pid"} {
		name := randName("tr-" + e.name)
		t.Cleanup(func() { e.call(t, "rm", "-f", name) })
		args := []string{"run", "--rm", "--name", name, "--runtime", e.runtime, ns, "container:" + victim}
		if ns != "--network" {
			args = append(args, e.netNone...)
		} else if len(e.netNone) > 2 {
			args = append(args, e.netNone[2:]...) // keep the sysctl workaround, not a 2nd network
		}
		r := e.call(t, append(args, busybox, "true")...)
		checkRefused(t, e.name+" "+ns+" container:<tenant beta's>", r, `linux\.namespaces\[\d+\]\.path`)
	}
	e.must(t, "rm", "-f", victim)
}

// testNetworkIsolation (docs/network.md): on the engine's default bridge, a second container
// of tenant alpha reaches alpha's web server, a container of tenant beta does not (both
// tenants' egress rules allow port 80 anywhere: the host's isolation tables refuse it), and
// a port no rule allows is refused to alpha too. The server binds port 80 in podman's network
// namespace, which the host's user namespace owns (the runtime opens the low ports there for
// a process with CAP_NET_BIND_SERVICE). Nothing is left on the host afterwards.
func (e *dockerish) testNetworkIsolation(t *testing.T) {
	lc := leakCheck(t, append(e.runtimeRoots(t, "tenantrun-alpha"), e.runtimeRoots(t, "tenantrun-beta")...)...)
	var net []string
	if e.name == "docker" {
		// dockerd runs with --bridge=none (and no iptables): a user-defined bridge of the test's.
		nw := randName("trnet")
		e.must(t, "network", "create", "--driver", "bridge", "--subnet", "10.233.7.0/24", nw)
		t.Cleanup(func() { e.call(t, "network", "rm", nw) })
		net = []string{"--network", nw}
	}
	name := randName("tr-" + e.name + "-web")
	t.Cleanup(func() { e.call(t, "rm", "-f", name) })
	e.must(t, append(append([]string{"run", "-d", "--name", name, "--runtime", "tenantrun-alpha"}, net...), busybox, "sh", "-c",
		"mkdir -p /tmp/www && echo hello-alpha >/tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www")...)
	lc.AddID(e.fullID(t, name))
	ip := strings.TrimSpace(e.must(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name).stdout)
	ip, _, _ = strings.Cut(ip, " ")
	if ip == "" {
		t.Fatalf("%s gave the container no address on its default network", e.name)
	}
	get := func(runtime string, port int) res {
		return e.call(t, append(append([]string{"run", "--rm", "--runtime", runtime}, net...), busybox, "sh", "-c",
			fmt.Sprintf("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 %s %d", ip, port))...)
	}
	deadline := time.Now().Add(10 * time.Second)
	var r res
	for time.Now().Before(deadline) {
		if r = get("tenantrun-alpha", 80); strings.Contains(r.stdout, "hello-alpha") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(r.stdout, "hello-alpha") {
		t.Fatalf("alpha's second container does not reach alpha's server at %s:80: %s (server: %s)", ip, r, e.call(t, "logs", name).out())
	}
	if r := get("tenantrun-beta", 80); strings.Contains(r.stdout, "hello-alpha") {
		t.Errorf("tenant beta reached tenant alpha's server at %s:80: %s", ip, r)
	}
	if r := get("tenantrun-alpha", 8081); r.code == 0 || !strings.Contains(r.stderr, "refused") && !strings.Contains(r.stderr, "route") {
		t.Errorf("a port no rule allows (%s:8081) was not refused by the policy: %s", ip, r)
	}
	e.must(t, "rm", "-f", name)
}

// Package engines drives tenantrun through real container engines — podman, containerd (ctr and
// the CRI plugin via crictl) and dockerd — set up with private state by hack/engines/up.sh.
// Run as root: `make test-engines` (installs, starts the engines, runs these tests, stops them).
//
// The engines call the runtime through wrappers in $ENG_RUN/wrappers: `tenantrun-alpha` and
// `tenantrun-beta` (tenantrun with --tenant), `tenantrun-cri` (tenant from the CRI sandbox
// namespace, trusted for that handler's root only) and `runc` (Debian's runc, the baseline).
// With ENGINES_RUNTIME=runc at up time the tenantrun-* wrappers exec runc instead, so the same
// scenarios run against runc; the hardening and refusal checks then only log what they see.
package engines

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

var (
	engState = envOr("ENG_STATE", "/var/lib/tenantrun-test/engines")
	engRun   = envOr("ENG_RUN", "/run/tenantrun-test/engines")
	engCache = envOr("ENG_CACHE", "/var/cache/tenantrun-test")
	wrapDir  = filepath.Join(engRun, "wrappers")
	busybox  = "localhost/tenantrun/busybox:latest"
)

// tenants as configured by hack/engines/tenantrun.toml.in
var tenantUID = map[string]uint32{"alpha": 300000, "beta": 400000}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// underTest is what the tenantrun-* wrappers exec: "tenantrun" or "runc".
func underTest(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(engRun, "runtime"))
	testutil.Require(t, err == nil, "engines are not up (run `make engines-up` or hack/engines/up.sh as root)")
	return strings.TrimSpace(string(b))
}

func hardened(t testing.TB) bool { return underTest(t) == "tenantrun" }

func requireEngines(t testing.TB, what ...string) {
	t.Helper()
	testutil.RequireRoot(t)
	underTest(t)
	for _, w := range what {
		switch w {
		case "podman":
			testutil.RequireFile(t, filepath.Join(engRun, "podman", "containers.conf"), "podman not configured (hack/engines/up.sh podman)")
		case "containerd":
			testutil.RequireFile(t, filepath.Join(engRun, "containerd", "containerd.sock"), "containerd not up (hack/engines/up.sh containerd)")
		case "docker":
			testutil.RequireFile(t, filepath.Join(engRun, "docker.sock"), "dockerd not up (hack/engines/up.sh docker)")
		case "crictl":
			testutil.RequireFile(t, filepath.Join(engCache, "bin", "crictl"), "crictl not installed (hack/engines/install.sh)")
		}
	}
}

func randName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// res is one engine CLI call.
type res struct {
	argv           []string
	stdout, stderr string
	code           int
	dur            time.Duration
}

func (r res) String() string {
	return fmt.Sprintf("%s -> exit %d in %v\nstdout: %s\nstderr: %s", strings.Join(r.argv, " "), r.code, r.dur.Round(time.Millisecond), clip(r.stdout), clip(r.stderr))
}

// short abbreviates the private-state flags in logged command lines.
func short(argv []string) string {
	s := strings.Join(argv, " ")
	s = strings.ReplaceAll(s, engCache+"/bin/", "")
	for _, f := range []string{"--root " + engState + "/podman/root --runroot " + engRun + "/podman/runroot --cgroup-manager=" + podmanCgroupManager() + " --events-backend=file --tmpdir " + engRun + "/podman/tmp ",
		"-H unix://" + engRun + "/docker.sock ", "--address " + engRun + "/containerd/containerd.sock ", "--runtime-endpoint unix://" + engRun + "/containerd/containerd.sock --image-endpoint unix://" + engRun + "/containerd/containerd.sock "} {
		s = strings.ReplaceAll(s, f, "")
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, engRun, "$RUN"), engState, "$STATE")
}

// cgroupValue reads a cgroup v1 file of a process's cgroup.
func cgroupValue(pid int, hierarchy, file string) (string, error) {
	p, err := testutil.CgroupFile(pid, hierarchy, file)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

func (r res) out() string { return r.stdout + r.stderr }

func clip(s string) string {
	if len(s) > 3000 {
		return s[:1500] + " … " + s[len(s)-1500:]
	}
	return s
}

func cmdEnv() []string {
	env := os.Environ()
	env = append(env,
		"PATH="+filepath.Join(engCache, "bin")+":/usr/sbin:/usr/bin:/sbin:/bin",
		"CONTAINERS_CONF="+filepath.Join(engRun, "podman", "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(engRun, "podman", "storage.conf"),
		"TMPDIR="+filepath.Join(engRun, "podman", "tmp"),
	)
	return env
}

// call runs an engine CLI with a timeout, never failing the test by itself.
func call(t testing.TB, timeout time.Duration, argv ...string) res {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = cmdEnv()
	var so, se bytes.Buffer
	c.Stdout, c.Stderr = &so, &se
	c.WaitDelay = 5 * time.Second
	start := time.Now()
	err := c.Run()
	r := res{argv: argv, stdout: so.String(), stderr: se.String(), dur: time.Since(start)}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		if _, ok := err.(*exec.ExitError); !ok {
			r.stderr += "\n(" + err.Error() + ")"
		}
		if ctx.Err() != nil {
			r.stderr += "\n(TIMED OUT after " + timeout.String() + ")"
		}
	}
	t.Logf("%s -> %d (%v)", strings.ReplaceAll(short(argv), probeScript, "$PROBE"), r.code, r.dur.Round(time.Millisecond))
	return r
}

// must runs and fails the test on a non-zero exit.
func must(t testing.TB, argv ...string) res {
	t.Helper()
	r := call(t, 90*time.Second, argv...)
	if r.code != 0 {
		t.Fatalf("command failed: %s", r)
	}
	return r
}

// withTTY runs argv under script(1) so the engine CLI sees a terminal on its stdin/stdout.
func withTTY(argv []string) []string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return []string{"script", "-qefc", strings.Join(q, " "), "/dev/null"}
}

// probeScript prints what the hardening checks need, from inside the container.
const probeScript = `echo "UIDMAP $(head -n1 /proc/self/uid_map)"; ` +
	`grep -E '^(CapEff|CapBnd|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status | sed 's/^/STATUS /'; ` +
	`awk '$2=="/" {print "ROOTOPTS " $4}' /proc/mounts | tail -n1; ` +
	`awk '$2=="/tmp" {print "TMPMNT " $3 " " $4}' /proc/mounts | tail -n1; ` +
	`if touch /.tr-rootprobe 2>/dev/null; then echo ROOTWRITE yes; else echo ROOTWRITE no; fi; ` +
	`if echo x >/tmp/.tr-tmpprobe 2>/dev/null; then echo TMPWRITE yes; else echo TMPWRITE no; fi`

type probe struct {
	uidMap        []uint64 // inside, outside, count
	capEff        uint64
	capBnd        uint64
	seccomp       int
	noNewPrivs    int
	rootOpts      string
	rootWritable  bool
	tmpWritable   bool
	tmpMount, raw string
}

var probeLine = regexp.MustCompile(`(?m)^(UIDMAP|STATUS|ROOTOPTS|TMPMNT|ROOTWRITE|TMPWRITE) (.*)$`)

func parseProbe(t testing.TB, out string) probe {
	t.Helper()
	p := probe{seccomp: -1, noNewPrivs: -1, raw: out}
	n := 0
	for _, m := range probeLine.FindAllStringSubmatch(strings.ReplaceAll(out, "\r", ""), -1) {
		n++
		v := strings.TrimSpace(m[2])
		switch m[1] {
		case "UIDMAP":
			for _, f := range strings.Fields(v) {
				x, _ := strconv.ParseUint(f, 10, 64)
				p.uidMap = append(p.uidMap, x)
			}
		case "STATUS":
			k, val, _ := strings.Cut(v, ":")
			val = strings.TrimSpace(val)
			switch k {
			case "CapEff":
				p.capEff, _ = strconv.ParseUint(val, 16, 64)
			case "CapBnd":
				p.capBnd, _ = strconv.ParseUint(val, 16, 64)
			case "Seccomp":
				p.seccomp, _ = strconv.Atoi(val)
			case "NoNewPrivs":
				p.noNewPrivs, _ = strconv.Atoi(val)
			}
		case "ROOTOPTS":
			p.rootOpts = v
		case "TMPMNT":
			p.tmpMount = v
		case "ROOTWRITE":
			p.rootWritable = v == "yes"
		case "TMPWRITE":
			p.tmpWritable = v == "yes"
		}
	}
	if n == 0 || len(p.uidMap) != 3 {
		t.Fatalf("probe output not understood:\n%s", out)
	}
	return p
}

// capabilities that no tenant may hold (bit numbers)
var dangerousCaps = map[string]uint{
	"SYS_ADMIN": 21, "SYS_PTRACE": 19, "SYS_MODULE": 16, "SYS_RAWIO": 17, "DAC_READ_SEARCH": 2,
	"NET_ADMIN": 12, "SYS_RESOURCE": 24, "SYS_TIME": 25, "MKNOD": 27, "NET_RAW": 13, "AUDIT_CONTROL": 30,
	"MAC_ADMIN": 33, "SYSLOG": 34, "BPF": 39, "PERFMON": 38, "SYS_BOOT": 22, "LINUX_IMMUTABLE": 9,
}

// checkHardened asserts, from a probe taken inside a container, that tenantrun's policy holds
// for tenant; under runc it only logs what the engine gave.
func checkHardened(t testing.TB, engine, tenant string, p probe) {
	t.Helper()
	t.Logf("%s inside: uid_map %v CapEff %016x Seccomp %d NoNewPrivs %d root %q rootWritable %v /tmp %q tmpWritable %v",
		engine, p.uidMap, p.capEff, p.seccomp, p.noNewPrivs, p.rootOpts, p.rootWritable, p.tmpMount, p.tmpWritable)
	if !hardened(t) {
		return
	}
	want := tenantUID[tenant]
	if p.uidMap[0] != 0 || p.uidMap[1] != uint64(want) {
		t.Errorf("%s: uid_map %v: want container root mapped to tenant %s's range starting at %d", engine, p.uidMap, tenant, want)
	}
	if p.uidMap[2] == 4294967295 || p.uidMap[2] > 65536 {
		t.Errorf("%s: uid_map %v maps more than the tenant's 65536 ids", engine, p.uidMap)
	}
	if p.rootWritable || !strings.Contains(","+p.rootOpts+",", ",ro,") {
		t.Errorf("%s: root is writable (opts %q, write test %v)", engine, p.rootOpts, p.rootWritable)
	}
	if !p.tmpWritable {
		t.Errorf("%s: /tmp is not writable (mount %q)", engine, p.tmpMount)
	}
	if p.seccomp != 2 {
		t.Errorf("%s: Seccomp: %d, want 2 (filter)", engine, p.seccomp)
	}
	if p.noNewPrivs != 1 {
		t.Errorf("%s: NoNewPrivs: %d, want 1", engine, p.noNewPrivs)
	}
	// the default allowlist (Podman's 11): CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
	// SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP
	const allowlist = 0x800405fb
	if extra := p.capEff &^ allowlist; extra != 0 {
		t.Errorf("%s: CapEff %016x holds capabilities outside the tenant allowlist (%016x)", engine, p.capEff, extra)
	}
	if extra := p.capBnd &^ allowlist; extra != 0 {
		t.Errorf("%s: CapBnd %016x holds capabilities outside the tenant allowlist (%016x)", engine, p.capBnd, extra)
	}
	for name, bit := range dangerousCaps {
		if p.capEff&(1<<bit) != 0 || p.capBnd&(1<<bit) != 0 {
			t.Errorf("%s: CAP_%s present (CapEff %016x CapBnd %016x)", engine, name, p.capEff, p.capBnd)
		}
	}
}

// refusalRe is tenantrun's refusal message naming a JSON path.
var refusalRe = regexp.MustCompile(`refused:? [^\n]*?([a-zA-Z]+(\.[a-zA-Z]+|\[\d+\])+)`)

// checkRefused asserts that a refused scenario failed with tenantrun's message naming field.
func checkRefused(t testing.TB, engine string, r res, field string) {
	t.Helper()
	if !hardened(t) {
		t.Logf("%s under runc (baseline): exit %d: %s", engine, r.code, clip(r.out()))
		return
	}
	if r.code == 0 {
		t.Errorf("%s: a refused scenario ran: %s", engine, r)
		return
	}
	out := r.out()
	m := refusalRe.FindStringSubmatch(out)
	if m == nil {
		t.Errorf("%s: the engine's output does not show tenantrun's refusal: %s", engine, r)
		return
	}
	if field != "" && !regexp.MustCompile(field).MatchString(out) {
		t.Errorf("%s: refusal does not name %s: %s", engine, field, r)
		return
	}
	t.Logf("%s refusal seen by the user: %s", engine, strings.TrimSpace(refusalLine(out)))
}

func refusalLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "refused") {
			return l
		}
	}
	return ""
}

// volumeDir makes a host directory under the tenant's bind_roots, owned by the tenant's mapped
// root when tenantrun maps ids (what an operator's provisioning would do).
func volumeDir(t testing.TB, tenant string) string {
	t.Helper()
	d := filepath.Join(engState, "volumes", tenant, randName("vol"))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if hardened(t) {
		u := int(tenantUID[tenant])
		if err := os.Chown(d, u, u); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// checkVolumeWrite checks the file the container wrote and its owner on the host.
func checkVolumeWrite(t testing.TB, engine, tenant, dir string) {
	t.Helper()
	f := filepath.Join(dir, "written")
	b, err := os.ReadFile(f)
	if err != nil || strings.TrimSpace(string(b)) != "hello" {
		t.Errorf("%s: volume file %s: %q %v", engine, f, b, err)
		return
	}
	var st = new(syscallStat)
	if err := statOwner(f, st); err == nil {
		t.Logf("%s: volume file owner on the host: uid %d", engine, st.uid)
		if hardened(t) && st.uid != tenantUID[tenant] {
			t.Errorf("%s: the container's root wrote the volume as host uid %d, want %d (tenant %s)", engine, st.uid, tenantUID[tenant], tenant)
		}
	}
}

// leakCheck registers a leak checker for the test; ids and roots are added as they appear.
func leakCheck(t *testing.T, roots ...string) *testutil.LeakChecker {
	t.Helper()
	lc := testutil.NewLeakChecker(testutil.LeakScope{StateRoots: roots})
	lc.Wait = 10 * time.Second
	t.Cleanup(func() { lc.Check(t) })
	return lc
}

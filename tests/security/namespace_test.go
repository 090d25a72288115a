package security

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 3 (docs/security.md): a namespace is joined only if the kernel says it is the
// tenant's. These tests attack the records the old check trusted: an init pid recorded for
// a stopped container (reused), and the containers of the current --root (another root).

// Two tenants of their own with id ranges no other test uses: the kernel's answer is by
// ids, so a range shared with another test's tenant would be "the same tenant".
func nsTenants(h *tu.H) (t1, t2 string) { return twoTenants(h, 3600000, 3700000) }

// twoTenants configures two fresh tenants with 65536 ids from base1 and base2.
func twoTenants(h *tu.H, base1, base2 int) (t1, t2 string) {
	id := tu.NewID()
	t1, t2 = id+"-a", id+"-b"
	h.UseConfig(fmt.Sprintf("[tenants.%q]\nuid_range = \"%d:65536\"\n[tenants.%q]\nuid_range = \"%d:65536\"\n", t1, base1, t2, base2))
	h.Leaks.AddID(t1, t2)
	return t1, t2
}

// as is the harness's runtime as tenant (and under root, if not empty).
func as(h *tu.H, tenant, root string) *tu.Runtime {
	rt := *h.RT
	rt.Tenant = tenant
	if root != "" {
		rt.Root = root
	}
	return &rt
}

// newRoot is a second state root, in the leak scope.
func newRoot(h *tu.H, t *testing.T) string {
	r := tu.TempDir(t, "state2")
	h.Leaks.AddStateRoot(r)
	return r
}

// runDetached starts a sleeping container and returns its init pid; it is deleted at the end.
func runDetached(t *testing.T, h *tu.H, rt *tu.Runtime, id string, opts ...tu.BundleOption) int {
	t.Helper()
	b := h.Bundle(append([]tu.BundleOption{tu.WithArgs("sleep", "300")}, opts...)...)
	h.Leaks.AddID(id)
	t.Cleanup(func() { rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", id) })
	if r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "-d", "--bundle", b.Dir, id); r.Code != 0 {
		t.Fatalf("run -d %s: %s", id, r)
	}
	st := waitState(t, rt, id, "running")
	return st.Pid
}

type ociState struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}

func waitState(t *testing.T, rt *tu.Runtime, id, want string) ociState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st ociState
		r := rt.Run(t, "state", id)
		if r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &st) == nil && st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: want %s: %s", id, want, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// joining sets linux.namespaces paths: type -> path.
func joining(paths map[specs.LinuxNamespaceType]string) tu.BundleOption {
	return tu.WithSpec(func(s *specs.Spec) {
		for typ, p := range paths {
			found := false
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == typ {
					s.Linux.Namespaces[i].Path = p
					found = true
				}
			}
			if !found {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: p})
			}
		}
	})
}

func procNS(pid int, types ...specs.LinuxNamespaceType) map[specs.LinuxNamespaceType]string {
	names := map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts",
		specs.PIDNamespace: "pid", specs.UserNamespace: "user", specs.MountNamespace: "mnt", specs.CgroupNamespace: "cgroup"}
	m := map[specs.LinuxNamespaceType]string{}
	for _, typ := range types {
		m[typ] = fmt.Sprintf("/proc/%d/ns/%s", pid, names[typ])
	}
	return m
}

// mustRefuse runs a bundle that must be refused before it starts.
func mustRefuse(t *testing.T, h *tu.H, rt *tu.Runtime, what string, opts ...tu.BundleOption) {
	t.Helper()
	b := h.Bundle(append([]tu.BundleOption{tu.WithShell("echo STARTED")}, opts...)...)
	id := h.ID("ns-refused")
	r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
	rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", id)
	if r.Code == 0 || strings.Contains(r.Stdout, "STARTED") || !strings.Contains(r.Stderr, "refused:") || !strings.Contains(r.Stderr, "linux.namespaces") {
		t.Errorf("%s: want refused at linux.namespaces, got %s", what, r)
	}
}

// mustRun runs a bundle's shell script in the foreground and returns its output.
func mustRun(t *testing.T, h *tu.H, rt *tu.Runtime, what, script string, opts ...tu.BundleOption) string {
	t.Helper()
	b := h.Bundle(append([]tu.BundleOption{tu.WithShell(script)}, opts...)...)
	id := h.ID("ns-ok")
	r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "--bundle", b.Dir, id)
	rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", id)
	if r.Code != 0 {
		t.Fatalf("%s: want it to run, got %s", what, r)
	}
	return r.Stdout
}

func nsInode(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// listInitFDs prints "fd N -> target" for each descriptor of the container's init (the
// shell itself: $$, while it is not yet replaced by a last command).
const listInitFDs = `for f in /proc/$$/fd/*; do echo "fd $f -> $(readlink $f)"; done; echo FDS-LISTED`

// noNamespaceFDs fails if the container's init holds a namespace descriptor (the runtime
// keeps the ones it checked open while the container starts: none may reach it).
func noNamespaceFDs(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "FDS-LISTED") || !strings.Contains(out, "/fd/0 -> ") {
		t.Errorf("the init's descriptors were not listed:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		_, target, ok := strings.Cut(l, " -> ")
		if !ok {
			continue
		}
		for _, k := range []string{"net:[", "user:[", "ipc:[", "uts:[", "pid:[", "mnt:[", "cgroup:[", "time:["} {
			if strings.HasPrefix(target, k) {
				t.Errorf("the container's init holds a namespace descriptor (%s):\n%s", target, out)
			}
		}
	}
}

// (3) A namespace owned by t2's user namespace is refused to t1 from any --root, for
// every type, and by a path that is not /proc/<pid> (a bind mount of it).
func TestNamespaceOfAnotherTenantRefused(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, t2 := nsTenants(h)
	rootB := newRoot(h, t)
	pid := runDetached(t, h, as(h, t2, ""), h.ID("t2-box"))
	all := []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace, specs.UserNamespace}
	for _, root := range []string{"", rootB} {
		rt := as(h, t1, root)
		for _, typ := range all {
			mustRefuse(t, h, rt, fmt.Sprintf("t1 (root %q) joining t2's %s namespace", root, typ), joining(procNS(pid, typ)))
		}
		mustRefuse(t, h, rt, "t1 joining all of t2's namespaces", joining(procNS(pid, all...)))
	}
	// A netns owned by t2's user namespace, bind-mounted below netns_dirs: still t2's.
	name := "trt-" + strings.TrimPrefix(tu.NewID(), "trt")
	pin := filepath.Join("/run/netns", name)
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pin, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(pin)
	if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/net", pid), pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(pin, unix.MNT_DETACH)
	mustRefuse(t, h, as(h, t1, rootB), "t1 joining t2's netns bound below /run/netns", joining(map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: pin}))
	// The owner itself may (a pod of t2's).
	mustRun(t, h, as(h, t2, rootB), "t2 joining its own netns", "echo ok", joining(map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: pin}))
}

// (1) Pid reuse. In a private pid namespace (its own /proc; ns_last_pid there steers the
// next pid without touching the host's), tenant A's container is stopped, and its recorded
// init pid is given to a process in tenant B's namespaces (nsenter into B's container), or
// in the host's. A joining /proc/<that pid>/ns/* must be refused: the record says "A's
// container", the kernel says B's (or the host's).
func TestNamespacePidReuse(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, t2 := nsTenants(h)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare(1) missing")
	}
	// one bundle each: a rootfs is held by one tenant at a time (invariant 4)
	sleeper := h.Bundle(tu.WithArgs("sleep", "300"))
	sleeperA := h.Bundle(tu.WithArgs("sleep", "300"))
	idA, idB := h.ID("reuse-a"), h.ID("reuse-b")
	idOwn, idIntoB, idIntoHost := h.ID("own"), h.ID("intob"), h.ID("intohost")
	rtA, rtB := as(h, t1, ""), as(h, t2, "")
	// The bundles that join pid P are written by the script once P is known; the shell
	// patches a template config (path placeholder @PID@).
	tmpl := h.Bundle(tu.WithShell("echo STARTED"), joining(map[specs.LinuxNamespaceType]string{
		specs.NetworkNamespace: "/proc/@PID@/ns/net", specs.IPCNamespace: "/proc/@PID@/ns/ipc",
		specs.UTSNamespace: "/proc/@PID@/ns/uts", specs.UserNamespace: "/proc/@PID@/ns/user"}))
	ownTmpl := h.Bundle(tu.WithShell("echo OWN-JOIN-RAN"), joining(map[specs.LinuxNamespaceType]string{
		specs.NetworkNamespace: "/proc/@PID@/ns/net", specs.IPCNamespace: "/proc/@PID@/ns/ipc"}))
	// The runtimes run inside a private pid namespace. With --systemd-cgroup, systemd
	// (outside it) would read the init's pid in its own namespace ("Process 10 is a kernel
	// thread, refusing"): the attack is on namespace identity, so it uses cgroupfs.
	q := func(args []string) string {
		var s []string
		for _, a := range args {
			if a != "--systemd-cgroup" {
				s = append(s, "'"+a+"'")
			}
		}
		return strings.Join(s, " ")
	}
	script := `
set -u
TA="` + q(append([]string{rtA.Bin}, rtA.GlobalArgs()...)) + `"
TB="` + q(append([]string{rtB.Bin}, rtB.GlobalArgs()...)) + `"
pidof() { eval "$1" state "$2" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }
statusof() { eval "$1" state "$2" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
join() { # join BUNDLE PID NAME: run the bundle, its namespace paths naming PID, as tenant A
	[ -f "$1/config.tmpl" ] || cp "$1/config.json" "$1/config.tmpl"
	sed "s/@PID@/$2/g" "$1/config.tmpl" > "$1/config.new" && mv "$1/config.new" "$1/config.json"
	eval "$TA" run --bundle "$1" "$3" > "$WORK/$3.out" 2>&1; echo "exit=$?" >> "$WORK/$3.out"
	eval "$TA" delete --force "$3" >/dev/null 2>&1
	echo "== $3"; cat "$WORK/$3.out"
}
eval "$TB" run -d --bundle "` + sleeper.Dir + `" ` + idB + ` || exit 1
eval "$TA" run -d --bundle "` + sleeperA.Dir + `" ` + idA + ` || exit 1
PB=$(pidof "$TB" ` + idB + `); PA=$(pidof "$TA" ` + idA + `)
echo "pidB=$PB pidA=$PA"
# A's own running container: joining it works (the test is not refusing everything).
join "` + ownTmpl.Dir + `" "$PA" ` + idOwn + `
kill -9 "$PA"
for i in $(seq 100); do [ "$(statusof "$TA" ` + idA + `)" = stopped ] && break; sleep 0.1; done
echo "statusA=$(statusof "$TA" ` + idA + `)"
# Pid PA again, now in B's user, net, ipc and uts namespaces.
echo $((PA - 1)) > /proc/sys/kernel/ns_last_pid
nsenter -t "$PB" -U -n -i -u --preserve-credentials sleep 300 &
R1=$!
echo "reused1=$R1"
join "` + tmpl.Dir + `" "$R1" ` + idIntoB + `
kill -9 $R1; wait $R1 2>/dev/null
# Pid PA again, now a process in the host's namespaces (but this pid namespace).
echo $((PA - 1)) > /proc/sys/kernel/ns_last_pid
sleep 300 &
R2=$!
echo "reused2=$R2"
join "` + tmpl.Dir + `" "$R2" ` + idIntoHost + `
kill -9 $R2; wait $R2 2>/dev/null
eval "$TA" delete --force ` + idA + `
eval "$TB" delete --force ` + idB + `
echo DONE
`
	work := tu.TempDir(t, "reuse")
	cmd := exec.Command("unshare", "-p", "-f", "--mount-proc", "--kill-child", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "WORK="+work)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("script timed out:\n%s", out)
	}
	s := string(out)
	t.Logf("script output:\n%s", s)
	if err != nil || !strings.Contains(s, "DONE") {
		t.Fatalf("script: %v", err)
	}
	field := func(k string) string {
		for _, l := range strings.Fields(s) {
			if v, ok := strings.CutPrefix(l, k+"="); ok {
				return v
			}
		}
		return ""
	}
	pa := field("pidA")
	if field("statusA") != "stopped" {
		t.Fatalf("A's container did not stop")
	}
	section := func(name string) string {
		_, rest, _ := strings.Cut(s, "== "+name+"\n")
		sec, _, _ := strings.Cut(rest, "\n== ")
		return sec
	}
	if own := section(idOwn); !strings.Contains(own, "OWN-JOIN-RAN") {
		t.Fatalf("A joining its own running container was refused:\n%s", own)
	}
	for i, name := range []string{idIntoB, idIntoHost} {
		if got := field(fmt.Sprintf("reused%d", i+1)); got != pa {
			t.Fatalf("%s: pid %s was not reused (got %s); ns_last_pid had no effect", name, pa, got)
		}
		sec := section(name)
		if strings.Contains(sec, "STARTED") || strings.Contains(sec, "exit=0") || !strings.Contains(sec, "refused:") {
			t.Errorf("%s: tenant A joined the namespaces of the process that reused its stopped container's pid:\n%s", name, sec)
		}
	}
	if v, err := strconv.Atoi(pa); err != nil || v <= 1 {
		t.Fatalf("bad pid %q", pa)
	}
}

// (2) An engine-made netns (ip netns add) joined by t2 under one --root is refused to t1
// under another: while t2's container runs (a t2 thread is in it), once it is stopped but
// not deleted (the host-wide claim), and allowed once it is deleted and the netns is empty.
func TestEngineNetnsAcrossRoots(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, t2 := nsTenants(h)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) missing")
	}
	name := "trt-" + strings.TrimPrefix(tu.NewID(), "trt")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	nsPath := "/run/netns/" + name
	join := joining(map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: nsPath})
	rootB := newRoot(h, t)
	id2 := h.ID("t2-netns")
	runDetached(t, h, as(h, t2, ""), id2, join)
	var st unix.Stat_t
	if err := unix.Stat(nsPath, &st); err != nil {
		t.Fatal(err)
	}
	claim := fmt.Sprintf("/run/tenantrun/claims/netns-%d-%d", st.Dev, st.Ino)
	if _, err := os.Stat(claim); err != nil {
		t.Errorf("t2's create did not claim the netns: %v", err)
	}
	mustRefuse(t, h, as(h, t1, rootB), "t1 (other root) joining t2's running engine netns", join)
	mustRefuse(t, h, as(h, t1, ""), "t1 (same root) joining t2's running engine netns", join)
	// The same tenant may share it (a pod), from any root.
	mustRun(t, h, as(h, t2, rootB), "t2 (other root) joining its own engine netns", "echo ok", join)

	rt2 := as(h, t2, "")
	if r := rt2.Run(t, "kill", id2, "KILL"); r.Code != 0 {
		t.Fatalf("kill: %s", r)
	}
	waitState(t, rt2, id2, "stopped")
	mustRefuse(t, h, as(h, t1, rootB), "t1 joining the netns of t2's stopped (not deleted) container", join)
	if r := rt2.Run(t, "delete", id2); r.Code != 0 {
		t.Fatalf("delete: %s", r)
	}
	if _, err := os.Stat(claim); err == nil {
		t.Errorf("delete left the claim %s", claim)
	}
	// Deleted and empty: the namespace is nobody's; t1 may take it (docs/security.md).
	out := mustRun(t, h, as(h, t1, rootB), "t1 joining the netns once t2's container is deleted", listInitFDs+"; echo JOINED", join)
	if !strings.Contains(out, "JOINED") {
		t.Errorf("t1's container did not run: %q", out)
	}
	noNamespaceFDs(t, out)
	if _, err := os.Stat(claim); err == nil {
		t.Errorf("t1's foreground run left its claim %s", claim)
	}
	// A create that dies after claiming (SIGKILL at a failpoint): delete --force drops it.
	b := h.Bundle(tu.WithShell("echo STARTED"), join)
	id := h.ID("claim-crash")
	rt1 := as(h, t1, rootB)
	rt1.RunCall(t, tu.Call{Env: []string{"TENANTRUN_FAILPOINT=create:after-libcontainer-create"}, Timeout: 30 * time.Second}, "create", "--bundle", b.Dir, id)
	if _, err := os.Stat(claim); err != nil {
		t.Errorf("the crashed create had not claimed the netns: %v", err)
	}
	if r := rt1.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", id); r.Code != 0 {
		t.Errorf("delete --force after the crash: %s", r)
	}
	if _, err := os.Stat(claim); err == nil {
		t.Errorf("delete --force of the crashed create left its claim %s", claim)
	}
}

// (4) Same-tenant pods still work: a member joining its sandbox's net, ipc, uts and pid
// namespaces (without a user namespace path) joins the sandbox's user namespace, the one the
// kernel says owns them, from the same and from another --root; the checked descriptors do
// not reach the member.
func TestSameTenantPodAcrossRoots(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, _ := nsTenants(h)
	sb := runDetached(t, h, as(h, t1, ""), h.ID("sandbox"))
	userIno := nsInode(t, fmt.Sprintf("/proc/%d/ns/user", sb))
	rootB := newRoot(h, t)
	for _, root := range []string{"", rootB} {
		out := mustRun(t, h, as(h, t1, root), fmt.Sprintf("pod member under root %q", root),
			"readlink /proc/self/ns/user; cat /proc/self/uid_map; "+listInitFDs,
			joining(procNS(sb, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace)))
		t.Logf("member under root %q:\n%s", root, out)
		if want := fmt.Sprintf("user:[%d]", userIno); !strings.Contains(out, want) {
			t.Errorf("root %q: the member is not in its sandbox's user namespace %s:\n%s", root, want, out)
		}
		if f := strings.Fields(out); len(f) < 4 || f[2] != "3600000" {
			t.Errorf("root %q: member's uid_map is not the tenant's:\n%s", root, out)
		}
		noNamespaceFDs(t, out)
	}
	// A member naming the sandbox's user namespace itself also works.
	mustRun(t, h, as(h, t1, rootB), "pod member joining the sandbox's user namespace by path", "echo ok",
		joining(procNS(sb, specs.NetworkNamespace, specs.IPCNamespace, specs.UserNamespace)))
}

// The namespace checked is the one joined: while t1 creates containers joining
// /run/netns/<name>, a racer keeps re-pointing that name (bind mounts) between a netns of
// t1's own container and one of t2's. The runtime joins the descriptor it checked, so a
// container that runs is always in t1's netns, never in t2's.
func TestNamespacePathSwapRace(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, t2 := nsTenants(h)
	p1 := runDetached(t, h, as(h, t1, ""), h.ID("t1-own"))
	p2 := runDetached(t, h, as(h, t2, ""), h.ID("t2-victim"))
	own := fmt.Sprintf("/proc/%d/ns/net", p1)
	victim := fmt.Sprintf("/proc/%d/ns/net", p2)
	victimIno := nsInode(t, victim)
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join("/run/netns", "trt-"+strings.TrimPrefix(tu.NewID(), "trt"))
	if err := os.WriteFile(target, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	unmountAll := func() {
		for unix.Unmount(target, unix.MNT_DETACH) == nil {
		}
	}
	defer func() { unmountAll(); os.Remove(target) }()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			src := own
			if n%2 == 1 {
				src = victim
			}
			if unix.Mount(src, target, "", unix.MS_BIND, "") == nil {
				time.Sleep(time.Duration(n%7) * time.Millisecond)
				_ = unix.Unmount(target, unix.MNT_DETACH)
			}
			n++
		}
	}()
	rt := as(h, t1, "")
	b := h.Bundle(tu.WithShell("readlink /proc/self/ns/net"), joining(map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: target}))
	deadline := time.Now().Add(30 * time.Second)
	tries, ran := 0, 0
	for tries < 80 && time.Now().Before(deadline) {
		tries++
		id := h.ID("swap")
		r := rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "run", "--bundle", b.Dir, id)
		rt.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", id)
		if strings.Contains(r.Stdout, fmt.Sprintf("net:[%d]", victimIno)) {
			close(stop)
			<-done
			t.Fatalf("try %d: t1's container ran in t2's network namespace: %s", tries, r)
		}
		if r.Code == 0 {
			ran++
		}
	}
	close(stop)
	swaps := <-done
	t.Logf("%d creates (%d ran in t1's own netns, the rest refused) against %d re-points of the path", tries, ran, swaps)
	if tries < 10 {
		t.Fatalf("only %d tries in the time bound", tries)
	}
}

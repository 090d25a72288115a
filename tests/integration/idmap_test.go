package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Issue 4: the forced user namespace with unmodified root-owned images. Tenant t1 owns host IDs
// 300000-365535, t2 owns 400000-465535. Each test drives bin/tenantrun end to end and checks
// that the mounts tenantrun records for the container (its idmapped rootfs) are gone after
// delete, besides the harness's leak check (state dirs, cgroups in every hierarchy, mounts,
// processes).

const (
	idmapT1Base = 300000
	idmapT2Base = 400000
)

// idmapHarness is a harness whose runtime uses a config with tenants t1 and t2; t1 may bind
// from bindRoot (bind roots of two tenants may not overlap: the config is refused) and
// engineRoot holds "engine" per-container files.
func idmapHarness(t *testing.T, bindRoot, engineRoot string) *tu.H {
	t.Helper()
	tu.TenantrunOnly(t)
	h := tu.New(t)
	roots := ""
	if bindRoot != "" {
		roots = fmt.Sprintf("bind_roots = [%q]\n", bindRoot)
	}
	engine := ""
	if engineRoot != "" {
		engine = fmt.Sprintf("[defaults]\nengine_roots = [%q]\n", engineRoot)
	}
	h.UseConfig(fmt.Sprintf(`%s
[tenants.t1]
uid_range = "%d:65536"
%s
[tenants.t2]
uid_range = "%d:65536"
`, engine, idmapT1Base, roots, idmapT2Base))
	h.RT.Tenant = "t1"
	return h
}

// idmapAs returns a copy of the harness's runtime for another tenant (same state root).
func idmapAs(h *tu.H, tenant string) *tu.Runtime {
	rt := *h.RT
	rt.Tenant = tenant
	return &rt
}

// idmapWriteRootOnly writes a new root-owned file (never a hard link into the shared busybox
// template) with the given mode.
func idmapWriteRootOnly(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	_ = os.Remove(path) // the bundle's rootfs hard-links the template: never write through
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 0, 0); err != nil {
		t.Fatal(err)
	}
}

// idmapRecordedMounts reads the host mounts tenantrun recorded for a container (its sidecar).
func idmapRecordedMounts(t *testing.T, h *tu.H, id string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.RT.Root, id, "tenantrun.json"))
	if err != nil {
		t.Fatalf("container record: %v", err)
	}
	var side struct {
		Mounts []string `json:"mounts"`
	}
	if err := json.Unmarshal(data, &side); err != nil {
		t.Fatalf("container record: %v", err)
	}
	return side.Mounts
}

type idmapMountLine struct{ point, root, fstype, opts, super, line string }

// idmapMountTable parses a mountinfo file (mount point -> its last, i.e. topmost, entry).
func idmapMountTable(t *testing.T, path string) map[string]idmapMountLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]idmapMountLine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 0 || sep+3 > len(fields)-1 {
			continue
		}
		m := idmapMountLine{point: fields[4], root: fields[3], opts: fields[5], fstype: fields[sep+1], super: fields[sep+3], line: sc.Text()}
		out[m.point] = m
	}
	return out
}

// idmapRootOf picks the idmapped root among the mounts tenantrun recorded for a container
// (<workdir>/rootfs; the others are pinned volume binds under <workdir>/binds).
func idmapRootOf(t *testing.T, mounts []string) string {
	t.Helper()
	for _, m := range mounts {
		if filepath.Base(m) == "rootfs" {
			return m
		}
	}
	t.Fatalf("no idmapped root among the recorded mounts %q", mounts)
	return ""
}

// idmapCheckRecordedMounts: while the container exists, what tenantrun recorded is mounted, and
// its root is an idmapped mount (plain rootfs) or an overlay (overlay rootfs), nosuid,nodev.
func idmapCheckRecordedMounts(t *testing.T, mounts []string, wantType string) {
	t.Helper()
	if len(mounts) == 0 {
		t.Fatalf("tenantrun recorded no host mount for the container: no idmapped rootfs?")
	}
	tab := idmapMountTable(t, "/proc/self/mountinfo")
	root := idmapRootOf(t, mounts)
	for _, m := range mounts {
		if _, ok := tab[m]; !ok {
			t.Errorf("recorded mount %s is not mounted", m)
		}
	}
	m := tab[root]
	for _, o := range []string{"nosuid", "nodev"} {
		if !strings.Contains(","+m.opts+",", ","+o+",") {
			t.Errorf("rootfs mount %s is not %s (a host user could use the tenant's view of the image): %q", root, o, m.line)
		}
	}
	switch wantType {
	case "overlay":
		if m.fstype != "overlay" {
			t.Errorf("rootfs mount %s: %q, want a new overlay", root, m.line)
		}
	default:
		if !strings.Contains(","+m.opts+",", ",idmapped,") {
			t.Errorf("rootfs mount %s is not idmapped: %q", root, m.line)
		}
	}
}

// idmapCheckGone: after delete none of the recorded mounts is mounted and their directories are gone.
func idmapCheckGone(t *testing.T, mounts []string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		tab := idmapMountTable(t, "/proc/self/mountinfo")
		var left []string
		for _, m := range mounts {
			if _, ok := tab[m]; ok {
				left = append(left, "mounted: "+m)
			} else if _, err := os.Lstat(m); err == nil {
				left = append(left, "directory left: "+m)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after delete: %s", strings.Join(left, "; "))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idmapHostUID is the real uid of a host process (/proc/PID/status).
func idmapHostUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			return strings.Fields(v)[0]
		}
	}
	return ""
}

const idmapIDProbe = `id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; cat /etc/secret; stat -c %u:%g /etc/secret; echo end`

func idmapWantIDProbe(base int) string {
	return fmt.Sprintf("0\n0\n0 %d 65536\n0 %d 65536\ns3cret\n0:0\nend", base, base)
}

func idmapSqueeze(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// idmapRunningChecks: container view (uid 0, the tenant range in uid_map, the 0600 root file
// readable), host view (the init runs as the tenant's base uid) and the root mount inside.
func idmapRunningChecks(t *testing.T, h *tu.H, id string, pid int, base int, rootType string) {
	t.Helper()
	if got, want := idmapSqueeze(h.Sh(id, idmapIDProbe)), idmapWantIDProbe(base); got != want {
		t.Errorf("inside the container:\n%s\nwant\n%s", got, want)
	}
	if u := idmapHostUID(t, pid); u != fmt.Sprint(base) {
		t.Errorf("container init runs as host uid %s, want %d", u, base)
	}
	if got := idmapSqueeze(tu.ReadTrim(fmt.Sprintf("/proc/%d/uid_map", pid))); got != fmt.Sprintf("0 %d 65536", base) {
		t.Errorf("/proc/%d/uid_map seen from the host: %q", pid, got)
	}
	in := idmapMountTable(t, fmt.Sprintf("/proc/%d/mountinfo", pid))["/"]
	if rootType == "overlay" {
		if in.fstype != "overlay" {
			t.Errorf("container root: %q, want an overlay", in.line)
		}
	} else if !strings.Contains(","+in.opts+",", ",idmapped,") {
		t.Errorf("container root is not an idmapped mount: %q", in.line)
	}
	if !strings.Contains(","+in.opts+",", ",ro,") {
		t.Errorf("container root is not read-only: %q", in.line)
	}
}

func TestIdmapPlainRootfs(t *testing.T) {
	h := idmapHarness(t, "", "")
	b := h.Bundle(tu.WithShell(sleeper))
	idmapWriteRootOnly(t, filepath.Join(b.Rootfs(), "etc/secret"), "s3cret\n", 0o600)
	id := h.ID("idmap")
	st := h.RunDetached(id, b)
	mounts := idmapRecordedMounts(t, h, id)
	idmapCheckRecordedMounts(t, mounts, "bind")
	idmapRunningChecks(t, h, id, st.Pid, idmapT1Base, "bind")
	// The image itself is untouched: still owned by host root.
	var s unix.Stat_t
	if err := unix.Stat(filepath.Join(b.Rootfs(), "etc/secret"), &s); err != nil || s.Uid != 0 {
		t.Errorf("image file owner changed: uid %d (%v)", s.Uid, err)
	}
	h.Delete(id)
	idmapCheckGone(t, mounts)

	// A foreground run (create + start + wait + delete in one call) works the same.
	fg := h.ID("idmapfg")
	b.Patch(tu.WithShell(idmapIDProbe))
	r := h.R("run", "--bundle", b.Dir, fg)
	if r.Code != 0 || idmapSqueeze(r.Stdout) != idmapWantIDProbe(idmapT1Base) {
		t.Errorf("foreground run: %s", r)
	}
}

// TestIdmapOverlayRootfs gives tenantrun the rootfs the way podman and containerd do: an
// overlay mount (image layers + the container's upper layer) at the bundle's rootfs.
func TestIdmapOverlayRootfs(t *testing.T) {
	// A volume whose mount point the image lacks: libcontainer must be able to create it.
	vol := tu.TempDir(t, "ovlvol")
	if err := os.Chown(vol, idmapT1Base, idmapT1Base); err != nil {
		t.Fatal(err)
	}
	h := idmapHarness(t, vol, "")
	b := h.Bundle(tu.WithShell(sleeper), tu.WithMount(idmapBind("/data", vol)))
	layers := tu.TempDir(t, "layers")
	base, app, upper, work := filepath.Join(layers, "base"), filepath.Join(layers, "app"), filepath.Join(layers, "upper"), filepath.Join(layers, "work")
	if err := tu.CopyRootfs(tu.BusyboxRootfs(t), base); err != nil {
		t.Fatal(err)
	}
	idmapWriteRootOnly(t, filepath.Join(app, "etc/secret"), "s3cret\n", 0o600)
	idmapWriteRootOnly(t, filepath.Join(app, "etc/removed"), "x", 0o644)
	for _, d := range []string{upper + "/etc", work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mknod(filepath.Join(upper, "etc/removed"), unix.S_IFCHR, 0); err != nil { // a whiteout
		t.Fatal(err)
	}
	idmapWriteRootOnly(t, filepath.Join(upper, "etc/motd"), "from the container layer\n", 0o600)
	opts := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s", app, base, upper, work)
	if err := unix.Mount("overlay", b.Rootfs(), "overlay", 0, opts); err != nil {
		tu.Require(t, false, "overlayfs: "+err.Error())
	}
	t.Cleanup(func() { _ = unix.Unmount(b.Rootfs(), unix.MNT_DETACH) })
	id := h.ID("idmapovl")
	st := h.RunDetached(id, b)
	mounts := idmapRecordedMounts(t, h, id)
	idmapCheckRecordedMounts(t, mounts, "overlay")
	idmapRunningChecks(t, h, id, st.Pid, idmapT1Base, "overlay")
	if got := h.Sh(id, `cat /etc/motd; [ -e /etc/removed ] && echo WHITEOUT-IGNORED; touch /data/ok && echo vol-ok`); got != "from the container layer\nvol-ok" {
		t.Errorf("overlay content: %q", got)
	}
	h.Delete(id)
	idmapCheckGone(t, mounts)
	// Nothing tenantrun did landed in the engine's layers (the /data mount point is in its
	// private scratch layer).
	for _, l := range []string{upper, app, base} {
		if _, err := os.Lstat(filepath.Join(l, "data")); err == nil {
			t.Errorf("tenantrun wrote a mount point into the engine's layer %s", l)
		}
	}
}

func idmapBind(dest, src string) specs.Mount {
	return specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind", "rw"}}
}

// TestIdmapVolumes: bind roots are not idmapped. The operator prepares a tenant's bind root
// (chown <base>:<base>, mode 0700); what the container's root writes lands on the host owned by
// the tenant's base ID; another tenant's root can neither read nor write it, even when it is
// handed the same directory; a bind root left owned by host root stays unwritable; engine
// per-container files (hosts) stay readable.
func TestIdmapVolumes(t *testing.T) {
	volRoot := tu.TempDir(t, "vols")
	engine := tu.TempDir(t, "engine")
	h := idmapHarness(t, volRoot, engine)
	t1dir := filepath.Join(volRoot, "t1")
	if err := os.Mkdir(t1dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// What the operator does once per tenant (docs/userns.md).
	if err := os.Chown(t1dir, idmapT1Base, idmapT1Base); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(t1dir, 0o700); err != nil {
		t.Fatal(err)
	}
	unprepared := filepath.Join(volRoot, "unprepared")
	if err := os.Mkdir(unprepared, 0o755); err != nil {
		t.Fatal(err)
	}
	// Engines keep per-container files at a fixed position named by the container's id
	// (Docker's layout: containers/<id>/).
	vol1 := h.ID("vol1")
	hosts := filepath.Join(engine, "containers", vol1, "hosts")
	idmapWriteRootOnly(t, hosts, "127.0.0.1 localhost engine-hosts\n", 0o644)

	b := h.Bundle(tu.WithShell(`echo hello > /data/f && mkdir /data/d && echo p > /data/d/private && chmod 600 /data/d/private && ls /data | wc -l; grep -c engine-hosts /etc/hosts; if touch /root-owned/x 2>/dev/null; then echo WROTE-INTO-HOST-ROOT-DIR; else echo denied; fi`),
		tu.WithMount(idmapBind("/data", t1dir)), tu.WithMount(idmapBind("/root-owned", unprepared)),
		tu.WithMount(specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: hosts, Options: []string{"rbind", "ro"}}))
	r := h.R("run", "--bundle", b.Dir, vol1)
	if r.Code != 0 || idmapSqueeze(r.Stdout) != "2\n1\ndenied" {
		t.Fatalf("t1 writing its volume: %s", r)
	}
	for _, p := range []string{"f", "d", "d/private"} {
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(t1dir, p), &s); err != nil {
			t.Fatal(err)
		}
		if s.Uid != idmapT1Base || s.Gid != idmapT1Base {
			t.Errorf("host owner of %s written by t1's root: %d:%d, want %d:%d", p, s.Uid, s.Gid, idmapT1Base, idmapT1Base)
		}
	}
	if ents, _ := os.ReadDir(unprepared); len(ents) != 0 {
		t.Errorf("t1 wrote into a bind root owned by host root: %v", ents)
	}

	// t2 asks for the very same directory: it is outside t2's bind roots (two tenants'
	// bind roots cannot overlap), so the bundle is refused and t1's files stay untouched.
	b2 := h.Bundle(tu.WithShell(`id -u; cat /proc/self/uid_map; ls /data >/dev/null 2>&1 && echo LISTED; cat /data/f 2>/dev/null && echo READ; cat /data/d/private 2>/dev/null && echo READ-PRIVATE; touch /data/x 2>/dev/null && echo WROTE; echo end`),
		tu.WithMount(idmapBind("/data", t1dir)))
	rt2 := idmapAs(h, "t2")
	id2 := h.ID("vol2")
	r = rt2.Run(t, "run", "--bundle", b2.Dir, id2)
	if r.Code == 0 || !strings.Contains(r.Stderr, "bind_roots") {
		t.Errorf("t2 against t1's volume (want the bundle refused): %s", r)
	}
	if _, err := os.Lstat(filepath.Join(t1dir, "x")); err == nil {
		t.Errorf("t2 created a file in t1's volume")
	}
}

// TestIdmapCrashDuringCreate: tenantrun SIGKILLed after libcontainer created the container
// (idmapped rootfs mounted and recorded); `delete --force` removes everything.
func TestIdmapCrashDuringCreate(t *testing.T) {
	h := idmapHarness(t, "", "")
	b := h.Bundle(tu.WithShell(sleeper))
	idmapWriteRootOnly(t, filepath.Join(b.Rootfs(), "etc/secret"), "s3cret\n", 0o600)
	id := h.ID("idmapcrash")
	r := h.RT.RunCall(t, tu.Call{Env: []string{"TENANTRUN_FAILPOINT=create:after-libcontainer-create"}, Timeout: 30 * time.Second}, "create", "--bundle", b.Dir, id)
	if r.Signal != syscall.SIGKILL {
		t.Fatalf("tenantrun did not die at the failpoint: %s", r)
	}
	mounts := idmapRecordedMounts(t, h, id)
	idmapCheckRecordedMounts(t, mounts, "bind")
	if d := h.R("delete", "--force", id); d.Code != 0 {
		t.Errorf("delete --force after the crash: %s", d)
	}
	idmapCheckGone(t, mounts)
	if leaks := h.Leaks.Leaks(); len(leaks) > 0 {
		t.Errorf("after delete --force: %q", leaks)
	}
	// The id is reusable.
	st := h.RunDetached(id, b)
	idmapRunningChecks(t, h, id, st.Pid, idmapT1Base, "bind")
	h.Delete(id)
}

// TestIdmapLeftoverAfterCrash: tenantrun killed after it mounted a container's idmapped root
// but before it wrote the container's record leaves a mounted work dir and no state. `gc`
// removes it, and a create of the same id starts from a clean work dir. (The leftover is made
// by hand, as no failpoint sits in that window; the work dir's name comes from a real run.)
func TestIdmapLeftoverAfterCrash(t *testing.T) {
	h := idmapHarness(t, "", "")
	b := h.Bundle(tu.WithShell(sleeper))
	idmapWriteRootOnly(t, filepath.Join(b.Rootfs(), "etc/secret"), "s3cret\n", 0o600)
	probe := h.ID("idmapprobe")
	h.RunDetached(probe, b)
	mounts := idmapRecordedMounts(t, h, probe)
	h.Delete(probe)
	if len(mounts) == 0 {
		t.Fatal("no idmapped root recorded")
	}
	workDir := filepath.Dir(idmapRootOf(t, mounts))
	prefix, ok := strings.CutSuffix(workDir, probe)
	if !ok {
		t.Fatalf("work dir %s does not end in the container id %s", workDir, probe)
	}
	leftover := func(id string) string {
		root := filepath.Join(prefix+id, "rootfs")
		if err := os.MkdirAll(root, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(b.Rootfs(), root, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH); _ = os.Remove(root); _ = os.Remove(prefix + id) })
		return root
	}

	gone := h.ID("idmapgone")
	root := leftover(gone)
	if r := h.R("gc"); r.Code != 0 {
		t.Errorf("gc: %s", r)
	}
	idmapCheckGone(t, []string{root, filepath.Dir(root)})

	again := h.ID("idmapagain")
	leftover(again)
	st := h.RunDetached(again, b)
	idmapRunningChecks(t, h, again, st.Pid, idmapT1Base, "bind")
	m2 := idmapRecordedMounts(t, h, again)
	h.Delete(again)
	idmapCheckGone(t, append(m2, filepath.Dir(idmapRootOf(t, m2))))
}

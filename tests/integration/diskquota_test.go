package integration

// Disk-space and inode quotas on a tenant's bind root (project quotas, docs/quotas.md), on
// filesystem images the test makes under /var/cache and mounts from loop devices. Where the
// kernel enforces project quotas (the VM's: ext4 with QFMT_V2, XFS with XFS_QUOTA), a
// container's writes and files stop at the tenant's limits and `tenants` reports both; where
// it does not (this host's kernel has neither), `tenants quota apply` refuses with the
// reason. Either way create refuses to bind a root without the tenant's quota.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

// quotaFS makes an image of fstype (project quotas on where the mkfs can) and mounts it with
// prjquota; if the kernel refuses that, it mounts a plain one. It returns the mount point and
// whether project quotas are on.
func quotaFS(t *testing.T, fstype string) (string, bool) {
	t.Helper()
	mkfs := "mkfs." + fstype
	_, err := exec.LookPath(mkfs)
	testutil.Require(t, err == nil, mkfs+" is not installed")
	img := ioImage(t, "pq", 320<<20) // XFS wants at least 300M
	dir := t.TempDir()
	try := func(mkfsArgs []string, opts string) bool {
		args := append(mkfsArgs, img)
		if out, err := exec.Command(mkfs, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", mkfs, args, err, out)
		}
		out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
		if err != nil {
			t.Fatalf("losetup: %v %s", err, out)
		}
		loop := strings.TrimSpace(string(out))
		if err := unix.Mount(loop, dir, fstype, 0, opts); err != nil {
			_ = exec.Command("losetup", "-d", loop).Run()
			return false
		}
		t.Cleanup(func() {
			_ = unix.Unmount(dir, unix.MNT_DETACH)
			_ = exec.Command("losetup", "-d", loop).Run()
		})
		return true
	}
	quota := map[string][]string{"ext4": {"-q", "-F", "-O", "quota,project"}, "xfs": {"-q", "-f"}}[fstype]
	if try(quota, "prjquota") {
		return dir, true
	}
	plain := map[string][]string{"ext4": {"-q", "-F"}, "xfs": {"-q", "-f"}}[fstype]
	if !try(plain, "") {
		t.Fatalf("cannot mount a plain %s image", fstype)
	}
	return dir, false
}

func TestTenantDiskQuota(t *testing.T) {
	testutil.RequireRoot(t)
	for _, fstype := range []string{"ext4", "xfs"} {
		t.Run(fstype, func(t *testing.T) { diskQuotaOn(t, fstype) })
	}
}

func diskQuotaOn(t *testing.T, fstype string) {
	mnt, enforced := quotaFS(t, fstype)
	ten := quotaTenant{Name: quotaTenantName("dq"), UIDBase: 4300000, Memory: "256M", Pids: 64, CPUs: 1, CMemory: "256M", CPids: 64, CCPUs: 1,
		QuotaTOML: "disk = \"8M\"\ninodes = 64"}
	root := filepath.Join(mnt, "t")
	other := filepath.Join(mnt, "u") // a second bind root, never given the quota
	for _, d := range []string{root, other} {
		if err := os.MkdirAll(filepath.Join(d, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(d, "data"), ten.UIDBase, ten.UIDBase); err != nil {
			t.Fatal(err)
		}
	}
	ten.TenantTOML = fmt.Sprintf("bind_roots = [%q, %q]", root, other)
	h := quotaHarness(t, ten)

	// A bind root without the quota is never bound, whatever the kernel.
	b := h.Bundle(ioBind(other), testutil.WithArgs("true"))
	r := quotaAs(h, ten.Name, "run", "--bundle", b.Dir, h.ID("noquota"))
	if r.Code == 0 || !strings.Contains(r.Stderr, "tenants quota apply "+ten.Name) || !strings.Contains(r.Stderr, other) {
		t.Fatalf("a bind root without the tenant's disk quota was bound: %s", r)
	}

	if cc := h.OK("config", "check"); !strings.Contains(cc.Stdout, "disk quota") || !strings.Contains(cc.Stdout, "tenantrun tenants quota apply "+ten.Name) {
		t.Errorf("config check does not say the bind roots lack the disk quota:\n%s", cc.Stdout)
	}
	apply := quotaAs(h, ten.Name, "tenants", "quota", "apply", ten.Name)
	if !enforced {
		// This kernel enforces no project quotas: apply says so and names the fix.
		if apply.Code == 0 || !strings.Contains(apply.Stderr, "does not enforce project quotas") || !strings.Contains(apply.Stderr, "prjquota") {
			t.Fatalf("apply on a filesystem without project quotas: %s", apply)
		}
		t.Logf("%s: this kernel enforces no project quotas; apply refused: %s", fstype, strings.TrimSpace(apply.Stderr))
		r := quotaAs(h, ten.Name, "run", "--bundle", h.Bundle(ioBind(root), testutil.WithArgs("true")).Dir, h.ID("root"))
		if r.Code == 0 {
			t.Fatalf("a container bound a root whose quota could not be set: %s", r)
		}
		return
	}
	if apply.Code != 0 || !strings.Contains(apply.Stdout, "project 4300000") {
		t.Fatalf("apply: %s", apply)
	}
	t.Logf("apply: %s", strings.TrimSpace(apply.Stdout))
	if cc := h.OK("config", "check"); strings.Contains(cc.Stdout, "warning: bind root") {
		t.Errorf("config check still warns after apply:\n%s", cc.Stdout)
	}
	// Idempotent: again, the same.
	if again := quotaAsOK(h, ten.Name, "tenants", "quota", "apply", ten.Name); again.Stdout != apply.Stdout {
		t.Errorf("apply again: %q, first %q", again.Stdout, apply.Stdout)
	}
	// Space: 16M asked, at most 8M written: EDQUOT (ext4), ENOSPC (XFS reports a full
	// project as a full filesystem).
	w := quotaAs(h, ten.Name, "run", "--bundle", h.Bundle(ioBind(root), testutil.WithShell(
		"dd if=/dev/zero of=/data/big bs=1M count=16 2>&1; sync; ls -l /data/big")).Dir, h.ID("space"))
	t.Logf("write 16M: %s", strings.TrimSpace(w.Stdout+w.Stderr))
	if out := strings.ToLower(w.Stdout + w.Stderr); !strings.Contains(out, "quota exceeded") && !strings.Contains(out, "no space left") {
		t.Errorf("writing 16M past an 8M quota did not fail with EDQUOT or ENOSPC: %s", w)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "data", "big"), &st); err != nil || st.Size > 8<<20 {
		t.Errorf("the file is %d bytes, past the 8M quota (%v)", st.Size, err)
	}
	js0 := quotaAsOK(h, ten.Name, "tenants", "--format", "json", "--interval", "0", ten.Name)
	var rows0 []map[string]any
	if err := json.Unmarshal([]byte(js0.Stdout), &rows0); err != nil || len(rows0) != 1 {
		t.Fatalf("tenants: %v %s", err, js0)
	}
	if v, _ := rows0[0]["diskBytes"].(float64); v < 7<<20 || v > 8<<20 {
		t.Errorf("tenants reports %v bytes used with the 8M quota full", v)
	}
	// Inodes: 100 files asked, the quota is 64 (the root and data count too). The space is
	// freed first: XFS needs blocks for new inodes.
	f := quotaAs(h, ten.Name, "run", "--bundle", h.Bundle(ioBind(root), testutil.WithShell(
		"rm /data/big; i=0; while [ $i -lt 100 ]; do touch /data/f$i 2>/dev/null || break; i=$((i+1)); done; echo made $i")).Dir, h.ID("inodes"))
	var made int
	fmt.Sscanf(strings.TrimSpace(f.Stdout), "made %d", &made)
	t.Logf("files: %s", strings.TrimSpace(f.Stdout))
	if made == 0 || made >= 64 {
		t.Errorf("made %d files with a 64-inode quota: %s", made, f)
	}
	js := quotaAsOK(h, ten.Name, "tenants", "--format", "json", "--interval", "0", ten.Name)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(js.Stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("tenants: %v %s", err, js)
	}
	num := func(k string) uint64 { v, _ := rows[0][k].(float64); return uint64(v) }
	t.Logf("tenants: disk %d of %d bytes, inodes %d of %d", num("diskBytes"), num("diskLimitBytes"), num("inodes"), num("inodesLimit"))
	// Both bind roots are on one filesystem: one project, counted once.
	if num("diskLimitBytes") != 8<<20 || num("inodesLimit") != 64 || num("inodes") < 60 || num("inodes") > 64 {
		t.Errorf("tenants reports %v", rows[0])
	}
	tb := quotaAsOK(h, ten.Name, "tenants", "--interval", "0", ten.Name)
	if !strings.Contains(tb.Stdout, "DISK/LIMIT") || !strings.Contains(tb.Stdout, "/8.0M") {
		t.Errorf("table:\n%s", tb.Stdout)
	}
}

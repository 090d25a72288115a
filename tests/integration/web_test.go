package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// debianWebRootfs returns the cached Debian bookworm rootfs with nginx, php-fpm, python3 and
// nodejs (hack/rootfs/mk-debian-web.sh). A cache hit is instant; on a miss the script builds
// it with debootstrap (a few minutes) unless TENANTRUN_TEST_NO_DEBOOTSTRAP is set.
func debianWebRootfs(t *testing.T) string {
	t.Helper()
	tu.RequireRoot(t)
	script := filepath.Join(tu.RepoRoot(), "hack", "rootfs", "mk-debian-web.sh")
	cache := filepath.Join(tu.CacheDir(), "debian-web")
	if _, err := os.Stat(filepath.Join(cache, ".tenantrun-debian-web")); err != nil && os.Getenv("TENANTRUN_TEST_NO_DEBOOTSTRAP") != "" {
		tu.Require(t, false, "Debian web rootfs not cached at "+cache+" (run `make rootfs-web`)")
	}
	cmd := exec.Command(script)
	cmd.Env = append(os.Environ(), "TENANTRUN_TEST_CACHE="+tu.CacheDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	tu.Require(t, err == nil, "Debian web rootfs (hack/rootfs/mk-debian-web.sh: debootstrap and the Debian mirror): "+lastLines(stderr.String(), 5))
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("built the Debian web rootfs in %v", d.Round(time.Second))
	}
	return strings.TrimSpace(string(out))
}

// useRootfs makes bundle b's rootfs a copy of the template deb (hard links where it is on
// the same filesystem).
func useRootfs(t *testing.T, b *tu.Bundle, deb string) {
	t.Helper()
	if err := os.RemoveAll(b.Rootfs()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := tu.CopyRootfs(deb, b.Rootfs()); err != nil {
		t.Fatalf("copy Debian rootfs: %v", err)
	}
	t.Logf("Debian rootfs linked into the bundle in %v", time.Since(start).Round(time.Millisecond))
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func webScript(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tu.RepoRoot(), "hack", "rootfs", "web", name+".sh"))
	if err != nil {
		t.Fatal(err)
	}
	// show the filter mode first, so the test can check the server ran under seccomp
	return "grep -E '^Seccomp' /proc/self/status\n" + string(data)
}

// TestWebServersUnderWebProfile: each web stack serves a request on loopback inside a tenant
// container that runs under the default tenant policy and its web seccomp profile; the
// request is made from inside the same container.
func TestWebServersUnderWebProfile(t *testing.T) {
	cases := []struct {
		name, script, want string
		debian             bool
		caps               []string
	}{
		// nginx's master chowns its temp dirs and its worker switches user (setgid, initgroups,
		// setuid): the capabilities Docker gives such an image by default, all in the tenant
		// allowlist.
		{"nginx-php-fpm", "nginx-php", "BODY: php-fpm 8.", true, []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
		{"python-http.server", "python", "BODY: python http.server says hello", true, nil},
		{"node-http", "node", "BODY: node v", true, nil},
		{"busybox-httpd", "busybox-httpd", "BODY: busybox httpd says hello", false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := tu.New(t)
			tu.TenantrunOnly(t)
			b := h.Bundle(tu.WithShell(webScript(t, c.script)), tu.WithSpec(func(s *specs.Spec) {
				if c.caps != nil {
					pc := s.Process.Capabilities
					pc.Bounding, pc.Effective, pc.Permitted = c.caps, c.caps, c.caps
				}
			}))
			if c.debian {
				useRootfs(t, b, debianWebRootfs(t))
			}
			id := h.ID("web")
			r := h.RT.RunCall(t, tu.Call{Timeout: 120 * time.Second}, "run", "--bundle", b.Dir, id)
			defer h.R("delete", "--force", id)
			t.Logf("%s in %v: stdout %q", c.name, r.Duration.Round(time.Millisecond), r.Stdout)
			if r.Code != 0 || !strings.Contains(r.Stdout, c.want) {
				t.Fatalf("want exit 0 and %q:\n%s", c.want, r)
			}
			if !strings.Contains(r.Stdout, "Seccomp:\t2") {
				t.Errorf("the server did not run under a seccomp filter:\n%s", r.Stdout)
			}
		})
	}
}

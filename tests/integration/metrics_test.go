package integration

// `tenantrun metrics serve`: the exporter scraped over HTTP by a real client while a
// tenant's container holds memory, its output checked by promtool (Debian's, taken from the
// prometheus package by make deps), and the early warning it fires once per period into the
// audit log and the operator's notify command.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

func TestMetricsServeAndWarnings(t *testing.T) {
	testutil.RequireRoot(t)
	promtool := filepath.Join(testutil.CacheDir(), "bin", "promtool")
	_, err := os.Stat(promtool)
	testutil.Require(t, err == nil, promtool+" missing (make deps extracts it from Debian's prometheus package)")
	dir := testutil.TempDir(t, "notify")
	got := filepath.Join(dir, "events")
	notifyCmd := filepath.Join(dir, "notify")
	testutil.WriteFile(t, notifyCmd, "#!/bin/sh\ncat >>"+got+"\n")
	if err := os.Chmod(notifyCmd, 0o755); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(dir, "audit.log")
	ten := quotaTenant{Name: quotaTenantName("mw"), UIDBase: 3900000, Memory: "128M", Pids: 64, CPUs: 1, CMemory: "128M", CPids: 32, CCPUs: 1}
	h := quotaHarnessWith(t, fmt.Sprintf("audit_log = %q\n[defaults.warnings]\nmemory = 0.5\nperiod = \"1h\"\nnotify = [%q]\n", audit, notifyCmd), ten)

	// 80M of 128M held: 62 % of the tenant's memory, above its 50 % warning.
	id := h.ID("hog")
	quotaRun(h, ten.Name, id, h.Bundle(testutil.WithShell("dd if=/dev/zero bs=83886080 count=1 2>/dev/null | sleep 600")))
	defer quotaAsOK(h, ten.Name, "delete", "--force", id)

	cmd := exec.Command(h.RT.Bin, append(h.RT.GlobalArgs(), "metrics", "serve", "--listen", "127.0.0.1:0", "--interval", "200ms")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.Leaks.ObservePID(cmd.Process.Pid)
	exited := make(chan error, 1)
	addr := make(chan string, 1)
	var logMu strings.Builder
	go func() {
		re := regexp.MustCompile(`serving http://([0-9.:]+)/metrics`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-exited:
		t.Fatalf("metrics serve exited: %v\n%s", err, logMu.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("metrics serve did not say where it listens:\n%s", logMu.String())
	}

	scrape := func() string {
		resp, err := http.Get("http://" + a + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	var text string
	held := regexp.MustCompile(`(?m)^tenantrun_tenant_memory_usage_bytes\{tenant="` + ten.Name + `"\} (\S+)$`)
	quotaWaitFor(t, 15*time.Second, "the scrape to show the 80M held", func() bool {
		text = scrape()
		m := held.FindStringSubmatch(text)
		v := 0.0
		if m != nil {
			v, _ = strconv.ParseFloat(m[1], 64)
		}
		return v >= 80<<20
	})
	sample := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^` + name + `\{tenant="` + ten.Name + `"\} (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("the scrape has no %s for %s", name, ten.Name)
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := sample("tenantrun_tenant_containers"); v != 1 {
		t.Errorf("containers %v", v)
	}
	if v := sample("tenantrun_tenant_memory_limit_bytes"); v != 128<<20 {
		t.Errorf("memory limit %v", v)
	}
	if v := sample("tenantrun_tenant_memory_usage_bytes"); v < 80<<20 {
		t.Errorf("memory usage %v with 80M held", v)
	}
	if !strings.Contains(text, "tenantrun_tenants_scrape_ok 1") {
		t.Errorf("the scrape lacks tenantrun_tenants_scrape_ok 1")
	}
	pc := exec.Command(promtool, "check", "metrics")
	pc.Stdin = strings.NewReader(text)
	if out, err := pc.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	} else {
		t.Logf("promtool check metrics: OK (%d bytes, %d samples of tenantrun_tenant_*)", len(text), strings.Count(text, "\ntenantrun_tenant_"))
	}

	// The warning: once, however many checks run within its period.
	quotaWaitFor(t, 15*time.Second, "the memory warning to reach the notify command", func() bool {
		b, _ := os.ReadFile(got)
		return len(b) > 0
	})
	time.Sleep(1500 * time.Millisecond) // several more checks
	data, _ := os.ReadFile(got)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("the notify command ran %d times in one period:\n%s", len(lines), data)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev["tenant"] != ten.Name || ev["limit"] != "memory" {
		t.Fatalf("the event: %v %s", err, lines[0])
	}
	t.Logf("notify got: %s", lines[0])
	if r, _ := ev["ratio"].(float64); r < 0.5 {
		t.Errorf("ratio %v below the threshold", r)
	}
	a2, _ := os.ReadFile(audit)
	if n := strings.Count(string(a2), `"verb":"warning"`); n != 1 || !strings.Contains(string(a2), ten.Name) {
		t.Errorf("audit log has %d warning records:\n%s", n, a2)
	}
	if !strings.Contains(logMu.String(), "memory at") {
		t.Errorf("no warning in the exporter's log:\n%s", logMu.String())
	}

	// SIGTERM: a clean exit.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("metrics serve after SIGTERM: %v\n%s", err, logMu.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("metrics serve did not stop on SIGTERM")
	}
}

// `tenants --watch` redraws the table until SIGINT, then exits 0; it refuses --format json.
func TestTenantsWatch(t *testing.T) {
	testutil.RequireRoot(t)
	ten := quotaTenant{Name: quotaTenantName("tw"), UIDBase: 4000000, Memory: "128M", Pids: 64, CPUs: 1, CMemory: "128M", CPids: 32, CCPUs: 1}
	h := quotaHarness(t, ten)
	id := h.ID("w")
	quotaRun(h, ten.Name, id, h.Bundle(testutil.WithArgs("sleep", "600")))
	defer quotaAsOK(h, ten.Name, "delete", "--force", id)
	cmd := exec.Command(h.RT.Bin, append(h.RT.GlobalArgs(), "tenants", "--watch", "--interval", "200ms")...)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.Leaks.ObservePID(cmd.Process.Pid)
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tenants --watch after SIGINT: %v", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("tenants --watch did not stop on SIGINT")
	}
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n < 3 || !strings.Contains(out.String(), ten.Name) || !strings.Contains(out.String(), "NPROCF") {
		t.Errorf("%d redraws:\n%s", n, out.String())
	}
	if r := quotaAs(h, ten.Name, "tenants", "--watch", "--format", "json"); r.Code == 0 || !strings.Contains(r.Stderr, "--watch") {
		t.Errorf("--watch --format json: %s", r)
	}
}

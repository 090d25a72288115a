package notify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDueOncePerPeriod(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	for i, c := range []struct {
		tenant, limit string
		at            time.Duration
		want          bool
	}{
		{"t1", "memory", 0, true},
		{"t1", "memory", 30 * time.Minute, false}, // within the hour
		{"t1", "pids", 30 * time.Minute, true},    // another limit
		{"t2", "memory", 30 * time.Minute, true},  // another tenant
		{"t1", "memory", 61 * time.Minute, true},  // the next period
		{"t1", "memory", 62 * time.Minute, false},
	} {
		got, err := Due(dir, c.tenant, c.limit, time.Hour, now.Add(c.at))
		if err != nil || got != c.want {
			t.Fatalf("step %d (%s/%s at +%v): due %v %v, want %v", i, c.tenant, c.limit, c.at, got, err, c.want)
		}
	}
	// A damaged state file: warnings start again rather than never fire.
	if err := os.WriteFile(filepath.Join(dir, "warnings.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Due(dir, "t1", "memory", time.Hour, now.Add(62*time.Minute)); err != nil || !got {
		t.Fatalf("after a damaged state file: %v %v", got, err)
	}
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "notify")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The command gets the event as JSON on stdin (and the tenant and limit in its
// environment), a failing one's output comes back, a hanging one (and what it started) is
// killed at the timeout, and no more than perMinute run a minute.
func TestSend(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "got")
	ev := Event{Time: time.Now().UTC().Truncate(time.Second), Tenant: "t1", Limit: "memory", Used: 95, Quota: 100, Ratio: 0.95, Threshold: 0.9, Message: "m"}
	ok := script(t, `cat >"$1"; echo "$TENANTRUN_TENANT $TENANTRUN_LIMIT" >>"$1"`)
	if err := Send(dir, []string{ok, out}, 5*time.Second, 10, ev); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var got Event
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &got) != nil || got != ev || lines[1] != "t1 memory" {
		t.Fatalf("the command got %q", data)
	}
	if err := Send(dir, []string{script(t, "echo it broke >&2; exit 3")}, 5*time.Second, 10, ev); err == nil || !strings.Contains(err.Error(), "it broke") {
		t.Fatalf("a failing command: %v", err)
	}
	start := time.Now()
	pidFile := filepath.Join(t.TempDir(), "pid")
	err := Send(dir, []string{script(t, `sleep 30 & echo $! >`+pidFile+`; wait`)}, 300*time.Millisecond, 10, ev)
	if err == nil || !strings.Contains(err.Error(), "killed after") || time.Since(start) > 5*time.Second {
		t.Fatalf("a hanging command: %v after %v", err, time.Since(start))
	}
	if b, err := os.ReadFile(pidFile); err == nil {
		// Gone, or a zombie waiting for its new parent to reap it.
		alive := func() bool {
			st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
			if err != nil {
				return false
			}
			f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
			return len(f) > 0 && f[0] != "Z" && f[0] != "X"
		}
		for i := 0; i < 20 && alive(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if alive() {
			t.Errorf("the command's child %s outlived the timeout", strings.TrimSpace(string(b)))
		}
	}
	// Three commands ran this minute: a limit of 4 allows one more, then refuses.
	if err := Send(dir, []string{ok, out}, 5*time.Second, 4, ev); err != nil {
		t.Fatal(err)
	}
	if err := Send(dir, []string{ok, out}, 5*time.Second, 4, ev); err != ErrRateLimited {
		t.Fatalf("the fifth command in a minute with a limit of 4: %v", err)
	}
}

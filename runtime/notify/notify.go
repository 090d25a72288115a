// Package notify delivers early warnings to the operator: once per period per tenant and
// limit (Due), to the operator's command with the warning as JSON on its stdin, under a
// timeout and a rate limit for all tenants together (Send). The state is a small file
// (under flock) beside the tenants' counter records, so it holds across restarts of the
// exporter and between one-shot runs.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// Event is one warning, as the command gets it on stdin.
type Event struct {
	Time      time.Time `json:"time"`
	Tenant    string    `json:"tenant"`
	Limit     string    `json:"limit"` // memory, pids, cpu_throttled
	Used      float64   `json:"used"`  // bytes, tasks, or the throttled share of periods
	Quota     float64   `json:"quota"` // the tenant's limit in the same unit (1 for cpu_throttled)
	Ratio     float64   `json:"ratio"`
	Threshold float64   `json:"threshold"`
	Message   string    `json:"message"`
}

type state struct {
	Fired map[string]int64 `json:"fired"` // "<tenant>/<limit>" -> unix seconds of the last warning
	Sent  []int64          `json:"sent"`  // unix nanoseconds of the commands of the last minute
}

func withState(dir string, fn func(s *state) bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	l, err := fsutil.LockFile(filepath.Join(dir, "warnings.lock"), unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer l.Close()
	path := filepath.Join(dir, "warnings.json")
	s := &state{}
	if data, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(data, s) != nil {
			s = &state{} // a damaged file: start again rather than never warn
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if s.Fired == nil {
		s.Fired = map[string]int64{}
	}
	if !fn(s) {
		return nil
	}
	data, _ := json.Marshal(s)
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// Due says whether the warning for tenant and limit may fire at now (none in the last
// period), and if so marks it fired.
func Due(dir, tenant, limit string, period time.Duration, now time.Time) (bool, error) {
	due := false
	err := withState(dir, func(s *state) bool {
		k := tenant + "/" + limit
		if last, ok := s.Fired[k]; ok && now.Sub(time.Unix(last, 0)) < period {
			return false
		}
		s.Fired[k] = now.Unix()
		due = true
		return true
	})
	return due, err
}

// ErrRateLimited: the command already ran perMinute times in the last minute.
var ErrRateLimited = errors.New("notify: rate limit reached, the warning is in the log and audit log only")

// Send runs cmd with ev as JSON on stdin, killed (its whole process group) after timeout,
// unless perMinute commands ran in the last minute. Its output is returned in the error of
// a command that fails.
func Send(dir string, cmd []string, timeout time.Duration, perMinute int, ev Event) error {
	if len(cmd) == 0 {
		return nil
	}
	allowed := false
	now := time.Now()
	if err := withState(dir, func(s *state) bool {
		kept := s.Sent[:0]
		for _, t := range s.Sent {
			if now.Sub(time.Unix(0, t)) < time.Minute {
				kept = append(kept, t)
			}
		}
		s.Sent = kept
		if len(s.Sent) >= perMinute {
			return true
		}
		s.Sent = append(s.Sent, now.UnixNano())
		allowed = true
		return true
	}); err != nil {
		return err
	}
	if !allowed {
		return ErrRateLimited
	}
	in, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Stdin = bytes.NewReader(append(in, '\n'))
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"TENANTRUN_TENANT=" + ev.Tenant, "TENANTRUN_LIMIT=" + ev.Limit}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return unix.Kill(-c.Process.Pid, unix.SIGKILL) }
	c.WaitDelay = time.Second
	err := c.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("notify %s: killed after %v", cmd[0], timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return fmt.Errorf("notify %s: %v: %s", cmd[0], err, msg)
	}
	return nil
}

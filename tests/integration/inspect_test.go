package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

func TestPsFormats(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("ps")
	st := h.RunDetached(id, b)
	r := h.OK("ps", "--format", "json", id)
	var pids []int
	if err := json.Unmarshal([]byte(r.Stdout), &pids); err != nil {
		t.Fatalf("ps --format json is not a JSON array of pids: %v\n%s", err, r)
	}
	found := false
	for _, p := range pids {
		found = found || p == st.Pid
	}
	if !found {
		t.Errorf("ps json %v lacks init pid %d", pids, st.Pid)
	}
	r = h.OK("ps", id)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "PID") {
		t.Errorf("ps table: %q", r.Stdout)
	}
	if !strings.Contains(r.Stdout, strconv.Itoa(st.Pid)) {
		t.Errorf("ps table lacks pid %d: %q", st.Pid, r.Stdout)
	}
	h.Delete(id)
}

func TestList(t *testing.T) {
	h := tu.New(t)
	// An empty root lists nothing.
	if r := h.OK("list", "-q"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("list -q on an empty root: %q", r.Stdout)
	}
	b := h.Bundle(tu.WithShell(sleeper))
	run, created := h.ID("lrun"), h.ID("lcreated")
	h.RunDetached(run, b)
	h.Create(created, b)
	r := h.OK("list", "-q")
	got := strings.Fields(r.Stdout)
	if len(got) != 2 || !contains(got, run) || !contains(got, created) {
		t.Errorf("list -q: %q", r.Stdout)
	}
	r = h.OK("list", "--format", "json")
	var items []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &items); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, r)
	}
	status := map[string]string{}
	for _, it := range items {
		id, _ := it["id"].(string)
		s, _ := it["status"].(string)
		status[id] = s
		for _, k := range []string{"pid", "bundle", "created"} {
			if _, ok := it[k]; !ok {
				t.Errorf("list json item lacks %q: %v", k, it)
			}
		}
	}
	if status[run] != "running" || status[created] != "created" {
		t.Errorf("list json statuses: %v", status)
	}
	r = h.OK("list")
	if !strings.Contains(r.Stdout, "ID") || !strings.Contains(r.Stdout, run) {
		t.Errorf("list table: %q", r.Stdout)
	}
	h.Delete(run)
	h.Delete(created)
}

func TestPauseResume(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell("i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done"))
	id := h.ID("pause")
	st := h.RunDetached(id, b)
	freezer := "freezer.state" // cgroup.freeze on v2 (tu.CgroupRead)
	h.OK("pause", id)
	if s := h.State(id).Status; s != "paused" {
		t.Errorf("status after pause: %q", s)
	}
	if s := readCg(t, st.Pid, "freezer", freezer); s != "FROZEN" {
		t.Errorf("%s after pause: %q", freezer, s)
	}
	// Exec into a paused container fails (nothing can run in a frozen cgroup).
	if r := h.RT.RunCall(t, tu.Call{Timeout: 15 * time.Second}, "exec", id, "true"); r.Code == 0 {
		t.Errorf("exec into a paused container succeeded: %s", r)
	}
	h.OK("resume", id)
	if s := h.State(id).Status; s != "running" {
		t.Errorf("status after resume: %q", s)
	}
	if s := readCg(t, st.Pid, "freezer", freezer); s != "THAWED" {
		t.Errorf("%s after resume: %q", freezer, s)
	}
	a := h.Sh(id, "cat /tmp/tick")
	time.Sleep(300 * time.Millisecond)
	if b := h.Sh(id, "cat /tmp/tick"); a == b {
		t.Errorf("container does not run after resume (tick %s)", a)
	}
	// Resuming a running container is an error.
	if r := h.R("resume", id); r.Code == 0 {
		t.Errorf("resume of a running container succeeded")
	}
	// delete --force of a paused container works.
	h.OK("pause", id)
	h.Delete(id)
}

func readCg(t *testing.T, pid int, hier, file string) string {
	t.Helper()
	v, err := tu.CgroupRead(pid, hier, file)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpdateMemoryAndPids(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("update")
	st := h.RunDetached(id, b)
	// Values below any tenant quota (default quota: 128 MiB, 64 pids).
	h.OK("update", "--memory", "64M", "--pids-limit", "40", id)
	if v := readCg(t, st.Pid, "memory", "memory.limit_in_bytes"); v != "67108864" {
		t.Errorf("memory.limit_in_bytes after --memory 64M: %s", v)
	}
	if v := readCg(t, st.Pid, "pids", "pids.max"); v != "40" {
		t.Errorf("pids.max after --pids-limit 40: %s", v)
	}
	res := `{"memory": {"limit": 100663296}, "pids": {"limit": 48}}`
	if r := h.RT.RunStdin(t, []byte(res), "update", "--resources", "-", id); r.Code != 0 {
		t.Fatalf("update --resources -: %s", r)
	}
	if v := readCg(t, st.Pid, "memory", "memory.limit_in_bytes"); v != "100663296" {
		t.Errorf("memory.limit_in_bytes after --resources: %s", v)
	}
	if v := readCg(t, st.Pid, "pids", "pids.max"); v != "48" {
		t.Errorf("pids.max after --resources: %s", v)
	}
	// Garbage on stdin: an error, limits unchanged.
	if r := h.RT.RunStdin(t, []byte(`{"memory": {"limit": "lots"`), "update", "--resources", "-", id); r.Code == 0 || r.Panicked() {
		t.Errorf("update with malformed JSON: %s", r)
	}
	if v := readCg(t, st.Pid, "pids", "pids.max"); v != "48" {
		t.Errorf("pids.max changed by a failed update: %s", v)
	}
	// The pids limit is enforced: try to start 60 sleeps; pids.current never passes 48.
	h.OK("exec", "-d", id, "sh", "-c", "for i in $(seq 60); do sleep 2 2>/dev/null & done; wait")
	maxSeen := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		n, _ := strconv.Atoi(readCg(t, st.Pid, "pids", "pids.current"))
		maxSeen = max(maxSeen, n)
	}
	if maxSeen > 48 || maxSeen < 10 {
		t.Errorf("pids.current peaked at %d under pids.max 48 while 60 sleeps were started", maxSeen)
	}
	h.Delete(id)
}

func TestEventsStats(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("events")
	h.RunDetached(id, b)
	r := h.RT.RunCall(t, tu.Call{Timeout: 20 * time.Second}, "events", "--stats", id)
	if r.Code != 0 || r.TimedOut {
		t.Fatalf("events --stats: %s", r)
	}
	var ev struct {
		Type string                     `json:"type"`
		ID   string                     `json:"id"`
		Data map[string]json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("events --stats output is not a JSON object: %v\n%s", err, r)
	}
	if dec.More() {
		t.Errorf("events --stats printed more than one object: %q", r.Stdout)
	}
	if ev.Type != "stats" || ev.ID != id {
		t.Errorf("events --stats: type %q id %q", ev.Type, ev.ID)
	}
	for _, k := range []string{"memory", "pids", "cpu"} {
		if _, ok := ev.Data[k]; !ok {
			t.Errorf("events --stats data lacks %q: %s", k, r.Stdout)
		}
	}
	h.Delete(id)
}

func TestFeaturesSpecVersion(t *testing.T) {
	h := tu.New(t)
	r := h.OK("features")
	var f map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &f); err != nil {
		t.Fatalf("features is not JSON: %v\n%s", err, r)
	}
	for _, k := range []string{"ociVersionMin", "ociVersionMax"} {
		if v, _ := f[k].(string); !strings.HasPrefix(v, "1.") {
			t.Errorf("features %s = %v", k, f[k])
		}
	}

	dir := tu.TempDir(t, "spec")
	r = h.OK("spec", "--bundle", dir)
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatalf("spec wrote no config.json: %v (%s)", err, r)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("spec config.json is not JSON: %v", err)
	}
	for _, k := range []string{"ociVersion", "process", "root", "linux"} {
		if _, ok := spec[k]; !ok {
			t.Errorf("spec config.json lacks %q", k)
		}
	}
	// spec refuses to overwrite an existing config.json.
	if r := h.R("spec", "--bundle", dir); r.Code == 0 {
		t.Errorf("spec overwrote an existing config.json")
	}

	r = h.RT.RunCall(t, tu.Call{Globals: []string{}}, "--version")
	if r.Code != 0 || !strings.Contains(strings.ToLower(r.Stdout), "version") {
		t.Errorf("--version: %s", r)
	}
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	if !sc.Scan() || sc.Text() == "" {
		t.Errorf("--version printed nothing")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// TestConcurrentSameID: the same id created at once by several callers: exactly one wins,
// the losers exit 1 with a clear error, the winner's container is intact.
func TestConcurrentSameID(t *testing.T) {
	h := tu.New(t)
	const racers, rounds = 4, 5
	bundles := make([]*tu.Bundle, racers)
	for i := range bundles {
		bundles[i] = h.Bundle(tu.WithShell(sleeper))
	}
	for round := 0; round < rounds; round++ {
		id := h.ID(fmt.Sprintf("same%d", round))
		results := make([]*tu.Result, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				results[i] = h.RT.Run(t, "create", "--bundle", bundles[i].Dir, id)
			}(i)
		}
		close(start)
		wg.Wait()
		winners := 0
		winner := -1
		for i, r := range results {
			if r.Code == 0 {
				winners++
				winner = i
				continue
			}
			if r.Code != 1 || r.Panicked() || r.TimedOut {
				t.Errorf("round %d: a losing create: %s", round, r)
			}
			// Losing the race at any point (before the state directory exists, or between
			// libcontainer's stat and mkdir of it) reads the same, and takes nothing of the
			// winner's (its idmapped-rootfs work directory above all).
			if !strings.Contains(r.Stderr, "already exists") {
				t.Errorf("round %d: a losing create does not say the id exists: %s", round, r.Stderr)
			}
		}
		if winners != 1 {
			for _, r := range results {
				t.Log(r, r.Stderr)
			}
			t.Fatalf("round %d: %d creates of one id succeeded, want exactly 1", round, winners)
		}
		st := h.State(id)
		if st.Status != "created" || !tu.ProcAlive(st.Pid) || st.Bundle != bundles[winner].Dir {
			t.Errorf("round %d: winner's state inconsistent: %s (winner bundle %s)", round, st.Raw(), bundles[winner].Dir)
		}
		h.Leaks.ObservePID(st.Pid)
		h.OK("start", id)
		h.WaitStatus(id, "running", 10*time.Second)
		h.Delete(id)
	}
}

// TestDeleteRacingStart: `start` and `delete --force` of one created container at once.
// Whoever wins, the end state is consistent: the container is gone and nothing is left.
func TestDeleteRacingStart(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	outcomes := map[string]int{}
	for round := 0; round < 8; round++ {
		id := h.ID(fmt.Sprintf("race%d", round))
		h.Create(id, b)
		pid := h.State(id).Pid
		var startRes, delRes *tu.Result
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); startRes = h.RT.Run(t, "start", id) }()
		go func() {
			defer wg.Done()
			if round%2 == 1 {
				time.Sleep(time.Duration(round) * 2 * time.Millisecond)
			}
			delRes = h.RT.Run(t, "delete", "--force", id)
		}()
		wg.Wait()
		for _, r := range []*tu.Result{startRes, delRes} {
			if r.Panicked() || r.TimedOut || r.Signal != 0 {
				t.Errorf("round %d: %s", round, r)
			}
		}
		if delRes.Code != 0 {
			t.Errorf("round %d: delete --force racing start failed: %s", round, delRes)
			h.R("delete", "--force", id)
		}
		outcomes[fmt.Sprintf("start=%d", startRes.Code)]++
		if r := h.R("state", id); r.Code == 0 {
			t.Errorf("round %d: container still exists after delete --force: %s", round, r.Stdout)
		}
		deadline := time.Now().Add(5 * time.Second)
		for tu.ProcAlive(pid) {
			if time.Now().After(deadline) {
				t.Errorf("round %d: init %d alive after delete --force", round, pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("start outcomes when racing delete --force: %v", outcomes)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestLoadConcurrentLifecycles: W workers × N lifecycles (create, start, wait for exit, delete)
// spread over tenants. Defaults 8×20 over 4 tenants; LOAD_FULL=1 gives 8×500 over 10 tenants;
// LOAD_WORKERS and LOAD_ITERS override. Tenants (tenantrun only): LOAD_TENANTS=N generates a
// --config with N fresh tenants (unique names, so their parent cgroups are this test's alone);
// LOAD_TENANTS=a,b,c uses those names with TENANTRUN_TEST_CONFIG; LOAD_TENANTS=0 uses the
// default tenant. 0 failures, 0 leaks (tenant parents included), an empty list at the end.
func TestLoadConcurrentLifecycles(t *testing.T) {
	h := tu.New(t)
	workers := envInt("LOAD_WORKERS", 8)
	iters := envInt("LOAD_ITERS", 20)
	if os.Getenv("LOAD_FULL") == "1" {
		iters = envInt("LOAD_ITERS", 500)
	}
	tenants := loadTenants(t, h)
	var mu sync.Mutex
	var failures []string
	var lat []time.Duration
	ids := make(chan string, 64)
	var idsDone sync.WaitGroup
	idsDone.Add(1)
	go func() {
		defer idsDone.Done()
		for id := range ids {
			h.Track(id)
		}
	}()
	fail := func(format string, a ...any) {
		mu.Lock()
		if len(failures) < 50 {
			failures = append(failures, fmt.Sprintf(format, a...))
		} else if len(failures) == 50 {
			failures = append(failures, "…")
		}
		mu.Unlock()
	}
	bundles := make([]*tu.Bundle, workers)
	for w := range bundles {
		bundles[w] = h.Bundle(tu.WithShell("exit 0"))
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		rt := *h.RT
		if len(tenants) > 0 {
			rt.Tenant = tenants[w%len(tenants)]
		}
		wg.Add(1)
		go func(w int, rt *tu.Runtime) {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				id := fmt.Sprintf("%s-l%d-%d", tu.NewID(), w, i)
				ids <- id
				t0 := time.Now()
				if r := rt.Run(t, "create", "--bundle", bundles[w].Dir, id); r.Code != 0 {
					fail("create: %s", r)
					rt.Run(t, "delete", "--force", id)
					continue
				}
				if i == 0 {
					if r := rt.Run(t, "state", id); r.Code == 0 {
						var st tu.State
						if json.Unmarshal([]byte(r.Stdout), &st) == nil {
							h.Leaks.ObservePID(st.Pid) // proves tenant parents are removed too
						}
					}
				}
				if r := rt.Run(t, "start", id); r.Code != 0 {
					fail("start: %s", r)
				}
				stopped := false
				for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
					r := rt.Run(t, "state", id)
					if r.Code == 0 && strings.Contains(r.Stdout, `"stopped"`) {
						stopped = true
						break
					}
				}
				if !stopped {
					fail("%s never stopped", id)
				}
				if r := rt.Run(t, "delete", id); r.Code != 0 {
					fail("delete: %s", r)
					rt.Run(t, "delete", "--force", id)
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		}(w, &rt)
	}
	wg.Wait()
	close(ids)
	idsDone.Wait()
	total := time.Since(begin)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		t.Logf("load: %d workers × %d lifecycles (tenants %v): %d done in %v (%.1f/s); lifecycle median %v p95 %v max %v; %d failures",
			workers, iters, tenants, len(lat), total.Round(time.Millisecond), float64(len(lat))/total.Seconds(),
			lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*95/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(failures))
	}
	for _, f := range failures {
		t.Error(f)
	}
	if r := h.OK("list", "-q"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("containers left after the load: %q", r.Stdout)
	}
	for _, rt := range tenants {
		r := *h.RT
		r.Tenant = rt
		if out := r.Run(t, "list", "-q"); strings.TrimSpace(out.Stdout) != "" {
			t.Errorf("tenant %s: containers left: %q", rt, out.Stdout)
		}
	}
}

// loadTenants returns the --tenant values the load test spreads its workers over, writing a
// generated config into h.RT.Config when it makes the tenants itself.
func loadTenants(t *testing.T, h *tu.H) []string {
	if tu.IsRunc() {
		return nil
	}
	v := os.Getenv("LOAD_TENANTS")
	if v == "" {
		v = "4"
		if os.Getenv("LOAD_FULL") == "1" {
			v = "10"
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return strings.Split(v, ",")
	}
	if n <= 0 {
		return nil
	}
	var cfg strings.Builder
	var names []string
	prefix := tu.NewID()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-t%d", prefix, i)
		names = append(names, name)
		// High, test-only host ranges: 1.5e9 + i*65536.
		fmt.Fprintf(&cfg, "[tenants.%q]\nuid_range = \"%d:65536\"\n[tenants.%q.quota]\nmemory = \"256M\"\npids = 128\ncpus = 1\n\n",
			name, 1500000000+i*65536, name)
	}
	h.UseConfig(cfg.String())
	return names
}

// TestConcurrentVerbsOneContainer: state, ps, exec, pause/resume, update and kill -0 style
// signals on one container at once must not corrupt it (the per-container lock): no panic, no
// timeout, and it is still running and usable at the end.
func TestConcurrentVerbsOneContainer(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("verbs")
	h.RunDetached(id, b)
	stop := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string][2]int{} // verb -> {ok, failed}
	verbs := map[string][]string{
		"state":  {"state", id},
		"ps":     {"ps", "--format", "json", id},
		"exec":   {"exec", id, "true"},
		"pause":  {"pause", id},
		"resume": {"resume", id},
		"update": {"update", "--pids-limit", "50", id},
		"kill":   {"kill", id, "WINCH"},
	}
	for name, args := range verbs {
		wg.Add(1)
		go func(name string, args []string) {
			defer wg.Done()
			for time.Now().Before(stop) {
				r := h.RT.RunCall(t, tu.Call{Timeout: 30 * time.Second}, args...)
				if r.Panicked() || r.TimedOut || r.Signal != 0 {
					t.Errorf("%s: %s", name, r)
					return
				}
				mu.Lock()
				c := counts[name]
				if r.Code == 0 {
					c[0]++
				} else {
					c[1]++
				}
				counts[name] = c
				mu.Unlock()
			}
		}(name, args)
	}
	// An exec whose process was started before a pause waits, like runc's, until the
	// container is thawed: if the storm ends with a pause, that exec would wait for the
	// final resume below, which waits for it. Keep thawing once the storm is over.
	thawed, thawer := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(thawer)
		time.Sleep(time.Until(stop))
		for {
			select {
			case <-thawed:
				return
			case <-time.After(200 * time.Millisecond):
				_ = h.RT.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "resume", id)
			}
		}
	}()
	wg.Wait()
	close(thawed)
	<-thawer
	t.Logf("ok/failed per verb over 3 s: %v (exec fails while paused, pause/resume fail in the wrong state)", counts)
	_ = h.R("resume", id)
	st := h.State(id)
	if st.Status != "running" {
		t.Errorf("after the storm: %s", st.Raw())
	}
	if out := h.Sh(id, "echo alive"); out != "alive" {
		t.Errorf("exec after the storm: %q", out)
	}
	for _, v := range []string{"state", "ps"} {
		if counts[v][1] > 0 {
			t.Errorf("%s failed %d times during concurrent verbs", v, counts[v][1])
		}
	}
	h.Delete(id)
}

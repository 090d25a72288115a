// Package bench holds the benchmark tests that need real containers (root). `make bench`
// runs TestConcurrentLifecycles and reads its results from $BENCH_RESULT.
package bench

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// tenantConfig writes an operator config with n exclusive tenants bench00..bench<n-1>.
func tenantConfig(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[defaults]\nfallback_tenant = \"bench00\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\n[tenants.bench%02d]\nuid_range = \"%d:65536\"\nforeign_idmap = \"override\"\n", i, 3000000+i*65536)
	}
	p := filepath.Join(dir, "tenants.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cgroupSnapshot lists every directory under every cgroup hierarchy (relative paths).
func cgroupSnapshot() map[string]bool {
	out := map[string]bool{}
	for _, h := range testutil.CgroupHierarchies() {
		base := filepath.Join(testutil.CgroupRoot, h)
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(testutil.CgroupRoot, p)
			out[rel] = true
			return nil
		})
	}
	return out
}

type result struct {
	Total             int      `json:"total"`
	Tenants           int      `json:"tenants"`
	Parallel          int      `json:"parallel"`
	Failures          int      `json:"failures"`
	Errors            []string `json:"errors,omitempty"`
	WallS             float64  `json:"wall_s"`
	MedianMs          float64  `json:"median_ms"`
	P90Ms             float64  `json:"p90_ms"`
	MaxMs             float64  `json:"max_ms"`
	Leaks             []string `json:"leaks"`
	TenantCgroupsLeft []string `json:"tenant_cgroups_left"`
}

// TestConcurrentLifecycles runs BENCH_CONC (200) `run` lifecycles of /bin/true at once, spread
// over BENCH_TENANTS (20) tenants, and checks that all succeed and nothing is left: state
// root, cgroups in every hierarchy (also the per-tenant parents made during the test), mounts,
// processes.
func TestConcurrentLifecycles(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.TenantrunOnly(t)
	total := envInt("BENCH_CONC", 200)
	tenants := envInt("BENCH_TENANTS", 20)
	par := envInt("BENCH_CONC_PAR", 0)
	if testing.Short() {
		total, tenants = 20, 4
	}
	if tenants < 1 {
		tenants = 1
	}
	if par <= 0 || par > total {
		par = total
	}
	rt := testutil.NewRuntime(t)
	cfg := tenantConfig(t, testutil.TempDir(t, "cfg"), tenants)
	b := testutil.NewBundle(t, testutil.WithArgs("/bin/true"))

	ids := make([]string, total)
	for i := range ids {
		ids[i] = testutil.NewID() + "-c" + strconv.Itoa(i)
	}
	lc := testutil.NewLeakChecker(testutil.LeakScope{IDs: ids, StateRoots: []string{rt.Root}, Paths: []string{b.Dir}})
	cgBefore := cgroupSnapshot()

	res := result{Total: total, Tenants: tenants, Parallel: par}
	durs := make([]time.Duration, total)
	errs := make([]string, total)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			tenant := fmt.Sprintf("bench%02d", i%tenants)
			r := rt.RunCall(t, testutil.Call{
				Globals: []string{"--root", rt.Root, "--config", cfg, "--tenant", tenant},
				Dir:     b.Dir,
				Timeout: 5 * time.Minute,
			}, "run", ids[i])
			durs[i] = r.Duration
			if r.Code != 0 {
				errs[i] = r.String()
			}
		}(i)
	}
	wg.Wait()
	res.WallS = time.Since(start).Seconds()
	for _, e := range errs {
		if e != "" {
			res.Failures++
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, e)
			}
		}
	}
	sorted := append([]time.Duration(nil), durs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.MedianMs = ms(sorted[len(sorted)/2])
	res.P90Ms = ms(sorted[len(sorted)*9/10])
	res.MaxMs = ms(sorted[len(sorted)-1])

	// Containers that failed half-way are force-deleted before the leak check; that they
	// needed it is already counted as a failure.
	for i, e := range errs {
		if e != "" {
			rt.RunCall(t, testutil.Call{Globals: []string{"--root", rt.Root, "--config", cfg}, Timeout: time.Minute},
				"delete", "--force", ids[i])
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res.Leaks = lc.Leaks()
		if len(res.Leaks) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Cgroup dirs created during the test that are still there: per-tenant parents the
	// runtime made and did not remove once empty. Only dirs naming a bench tenant count
	// (others run containers on this machine at the same time).
	for d := range cgroupSnapshot() {
		if cgBefore[d] {
			continue
		}
		for i := 0; i < tenants; i++ {
			if pathHas(d, fmt.Sprintf("bench%02d", i)) {
				res.TenantCgroupsLeft = append(res.TenantCgroupsLeft, d)
				break
			}
		}
	}
	sort.Strings(res.TenantCgroupsLeft)
	for _, d := range res.TenantCgroupsLeft {
		res.Leaks = append(res.Leaks, "cgroup dir created during the test and left: "+d)
		// ours: remove it so the machine stays clean (deepest first is given by the sort)
	}
	for i := len(res.TenantCgroupsLeft) - 1; i >= 0; i-- {
		_ = os.Remove(filepath.Join(testutil.CgroupRoot, res.TenantCgroupsLeft[i]))
	}

	if p := os.Getenv("BENCH_RESULT"); p != "" {
		data, _ := json.MarshalIndent(res, "", " ")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Errorf("BENCH_RESULT: %v", err)
		}
	}
	t.Logf("%d lifecycles over %d tenants (%d at once): %d failures, wall %.1fs, median %.1fms, p90 %.1fms, max %.1fms",
		total, tenants, par, res.Failures, res.WallS, res.MedianMs, res.P90Ms, res.MaxMs)
	for _, e := range res.Errors {
		t.Errorf("failure: %s", e)
	}
	for _, l := range res.Leaks {
		t.Errorf("LEAK: %s", l)
	}
}

func pathHas(p, name string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == name {
			return true
		}
	}
	return false
}

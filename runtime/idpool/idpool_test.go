package idpool

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tenantrun/tenantrun/hardening"
)

func poolFixture(t *testing.T, pool string) string {
	t.Helper()
	dir := t.TempDir()
	oldU, oldG := subuidFile, subgidFile
	subuidFile, subgidFile = filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	t.Cleanup(func() { subuidFile, subgidFile = oldU, oldG })
	for _, f := range []string{subuidFile, subgidFile} {
		if err := os.WriteFile(f, []byte("someone:100000:65536\n"+pool), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func poolConfig(t *testing.T, dir string) *hardening.Config {
	t.Helper()
	cfg, err := hardening.ParseConfig([]byte(`
[defaults]
id_allocations = "` + filepath.Join(dir, "alloc.json") + `"
[tenants.fixed]
uid_range = "1000000:65536"
[tenants.a]
uid_range = "auto"
[tenants.b]
uid_range = "auto"
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestAutoRangesFromPool(t *testing.T) {
	dir := poolFixture(t, "tenantrun:1000000:262144\n")
	cfg := poolConfig(t, dir)
	if err := Assign(cfg); err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Tenants["a"].UIDs, cfg.Tenants["b"].UIDs
	// The pool starts where tenant "fixed" lives: its block is skipped.
	if a.String() != "1065536:65536" || b.String() != "1131072:65536" {
		t.Fatalf("a=%s b=%s", a, b)
	}
	if cfg.Tenants["a"].GIDs != a {
		t.Fatalf("gids %s", cfg.Tenants["a"].GIDs)
	}
	// Stable across invocations: read back from the record, in any order.
	cfg2 := poolConfig(t, dir)
	delete(cfg2.Tenants, "a")
	if err := Assign(cfg2); err != nil {
		t.Fatal(err)
	}
	if cfg2.Tenants["b"].UIDs != b {
		t.Fatalf("b changed: %s", cfg2.Tenants["b"].UIDs)
	}
}

func TestAutoRangesConcurrentCreates(t *testing.T) {
	dir := poolFixture(t, "tenantrun:2000000:655360\n")
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cfg := poolConfig(t, dir)
			if err := Assign(cfg); err != nil {
				t.Error(err)
				return
			}
			got[i] = cfg.Tenants["a"].UIDs.String() + "/" + cfg.Tenants["b"].UIDs.String()
		}(i)
	}
	wg.Wait()
	for _, g := range got[1:] {
		if g != got[0] {
			t.Fatalf("different allocations seen: %v", got)
		}
	}
}

func TestAutoRangesErrors(t *testing.T) {
	dir := poolFixture(t, "")
	if err := Assign(poolConfig(t, dir)); err == nil || !strings.Contains(err.Error(), "no range for user") {
		t.Fatalf("empty pool: %v", err)
	}
	dir = poolFixture(t, "tenantrun:3000000:65536\n")
	if err := Assign(poolConfig(t, dir)); err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("one block for two tenants: %v", err)
	}
	// Never below 65536, and never over another user's subordinate range.
	dir = poolFixture(t, "tenantrun:0:300000\n")
	cfg := poolConfig(t, dir)
	if err := Assign(cfg); err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.Tenants["a"].UIDs, cfg.Tenants["b"].UIDs; a.String() != "165536:65536" || b.String() != "231072:65536" {
		t.Fatalf("a=%s b=%s: want blocks above 65536 that skip someone's 100000:65536", a, b)
	}
}

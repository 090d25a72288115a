package bindpin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestPlanMakeCleanup: only bind sources inside a bind root are planned and rewritten to
// their pin; a pin is the directory the root held when it was made, even after the path
// is swapped for a symlink; Cleanup leaves no mount and no directory.
func TestPlanMakeCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("pins are mounts: root")
	}
	base := t.TempDir()
	root, other, wd := filepath.Join(base, "tenant"), filepath.Join(base, "other"), filepath.Join(base, "wd")
	for _, d := range []string{filepath.Join(root, "data"), other, wd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "data", "mine"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/data", Type: "bind", Source: filepath.Join(root, "data"), Options: []string{"rbind"}},
		{Destination: "/other", Source: other, Options: []string{"bind"}},
	}}
	plan := Plan(s, []string{root + "/"}, wd)
	if len(plan) != 1 || s.Mounts[1].Source != filepath.Join(wd, pinDir, "1") || s.Mounts[2].Source != other {
		t.Fatalf("plan %+v, mounts %+v", plan, s.Mounts)
	}
	if !IsBind(s.Mounts[2]) || IsBind(s.Mounts[0]) {
		t.Fatal("IsBind")
	}
	made, err := Make(plan)
	if err != nil || len(made) != 1 {
		t.Fatalf("make: %v %v", made, err)
	}
	t.Cleanup(func() { _ = Cleanup(wd) })
	// The tenant swaps its directory for a symlink to another place: the pin holds on.
	if err := os.Rename(filepath.Join(root, "data"), filepath.Join(root, "data.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(root, "data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(made[0], "mine")); err != nil {
		t.Fatalf("the pin is the checked directory: %v", err)
	}
	if err := Cleanup(wd); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(wd, pinDir)); !os.IsNotExist(err) {
		t.Fatalf("pins left: %v", err)
	}
	// A source swapped before Make is refused, not followed.
	s2 := &specs.Spec{Mounts: []specs.Mount{{Destination: "/d", Type: "bind", Source: filepath.Join(root, "data")}}}
	if _, err := Make(Plan(s2, []string{root}, wd)); err == nil {
		t.Fatal("a symlinked source must be refused")
	}
	_ = Cleanup(wd)
}

package claims

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestClaimsAcrossRoots(t *testing.T) {
	Dir = t.TempDir()
	r1, r2 := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(r1, "a"), 0o700)
	os.Mkdir(filepath.Join(r2, "b"), 0o700)
	os.Mkdir(filepath.Join(r2, "c"), 0o700)
	if err := Claim("netns", "1-2", Holder{Tenant: "t1", Container: "a", Root: r1}); err != nil {
		t.Fatal(err)
	}
	// another tenant, another root: refused
	var c *Claimed
	if err := Claim("netns", "1-2", Holder{Tenant: "t2", Container: "b", Root: r2}); !errors.As(err, &c) || c.Tenant != "t1" {
		t.Fatalf("t2 claimed t1's object: %v", err)
	}
	// same tenant, another root: shared
	if err := Claim("netns", "1-2", Holder{Tenant: "t1", Container: "c", Root: r2}); err != nil {
		t.Fatal(err)
	}
	ReleaseAll(r1, "a")
	if h, ok := Owner("netns", "1-2"); !ok || h.Tenant != "t1" {
		t.Fatalf("owner after one release: %v %v", h, ok)
	}
	// a holder whose state dir vanished is stale
	os.Remove(filepath.Join(r2, "c"))
	if err := Claim("netns", "1-2", Holder{Tenant: "t2", Container: "b", Root: r2}); err != nil {
		t.Fatalf("stale holder kept the claim: %v", err)
	}
	ReleaseAll(r2, "b")
	if _, ok := Owner("netns", "1-2"); ok {
		t.Fatal("claim left after release")
	}
	ents, _ := os.ReadDir(Dir)
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Fatalf("left %s", e.Name())
		}
	}
	if err := Claim("../x", "1", Holder{}); err == nil {
		t.Fatal("bad kind accepted")
	}
}

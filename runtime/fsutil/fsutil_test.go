package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "rec.json")
	for _, data := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != data {
			t.Fatalf("got %q, want %q", b, data)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := WriteFileAtomic(filepath.Join(d, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("a missing directory must fail")
	}
	if ents, _ := os.ReadDir(d); len(ents) != 1 {
		t.Fatalf("only the file itself is left: %v", ents)
	}
}

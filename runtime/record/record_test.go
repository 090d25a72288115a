package record

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenantrun/tenantrun/hardening"
)

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := &Record{Tenant: "t1", Mode: hardening.ModeAudit, Bundle: "/b", PodUID: "u",
		Process: &specs.Process{Args: []string{"/bin/sh"}}, Mounts: []string{"/m"},
		Init: &Init{Pid: 7, PidStart: 9, Created: time.Unix(5, 0).UTC(), Annotations: map[string]string{"a": "b"}}}
	if err := Write(dir, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("read back %+v, want %+v", out, in)
	}
	var buf []byte
	l, err := ReadListing(dir, &buf)
	if err != nil || l.Tenant != "t1" || l.Bundle != "/b" || !reflect.DeepEqual(l.Init, in.Init) {
		t.Fatalf("listing %+v, %v", l, err)
	}
	if TenantOf(dir) != "t1" {
		t.Errorf("TenantOf = %q", TenantOf(dir))
	}
	// Write replaces the whole record: nothing of the old one survives.
	if err := Write(dir, &Record{Tenant: "t1"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := Read(dir); out.Init != nil || out.Process != nil {
		t.Errorf("old fields survived a rewrite: %+v", out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("state directory holds %d files after writes, want the record only", len(ents))
	}
}

func TestMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing record: %v", err)
	}
	if TenantOf(dir) != "" {
		t.Error("TenantOf of a missing record is not empty")
	}
	if err := os.WriteFile(Path(dir), []byte(`{"tenant":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !filepath.IsAbs(Path(dir)) {
		t.Errorf("corrupt record read without error")
	}
	var buf []byte
	if _, err := ReadListing(dir, &buf); err == nil {
		t.Error("corrupt record listed without error")
	}
	if TenantOf(dir) != "" {
		t.Error("a corrupt record has a tenant")
	}
}

// Lock is exclusive across descriptors (flock), TryLock does not wait, and a missing
// state directory is ErrNotExist, not a created one.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := TryLock(dir); ok {
		t.Fatal("TryLock succeeded while Lock is held")
	}
	l.Close()
	l2, ok := TryLock(dir)
	if !ok {
		t.Fatal("TryLock failed after the lock was released")
	}
	l2.Close()
	gone := filepath.Join(dir, "gone")
	if _, err := Lock(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Lock of a missing directory: %v", err)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Error("Lock created the directory")
	}
	if _, ok := TryLock(gone); ok {
		t.Error("TryLock of a missing directory succeeded")
	}
}

// decodeListing gives what json.Unmarshal gives, whatever the key order and nesting:
// a key named like a record field inside the annotations does not end the listing,
// and a hand-written record with its keys in another order is decoded whole.
func TestDecodeListingMatchesUnmarshal(t *testing.T) {
	full, _ := json.Marshal(sample())
	cases := map[string]string{
		"written":          string(full),
		"other order":      `{"mode":"enforce","init":{"pid":3},"process":{"args":["x"]},"bundle":"/b","tenant":"t"}`,
		"no init":          `{"tenant":"t","bundle":"/b","mode":"enforce"}`,
		"nested names":     `{"tenant":"t","bundle":"/b","init":{"pid":1,"annotations":{"mode":"x","tenant":"evil"}},"mode":"audit"}`,
		"tenant last":      `{"bundle":"/b","init":{"pid":1},"mode":"audit","tenant":"t2"}`,
		"empty":            `{}`,
		"escaped key text": `{"tenant":"a\",\"mode\":","bundle":"/b","init":null,"x":1}`,
	}
	for name, in := range cases {
		var want Listing
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := decodeListing([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeListing = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"tenant":`, `{"tenant":1}`, `"x"`} {
		if _, err := decodeListing([]byte(bad)); err == nil {
			t.Errorf("decodeListing(%q) accepted", bad)
		}
	}
}

package hardening

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeSpec(t *testing.T) {
	cases := []struct {
		name, doc, wantPath, wantErr string
	}{
		{"unknown top-level", `{"ociVersion":"1.2.0","hostileExtension":{}}`, "hostileExtension", ""},
		{"unknown nested", `{"ociVersion":"1.2.0","linux":{"fooBar":1}}`, "linux.fooBar", ""},
		{"unknown in array", `{"ociVersion":"1.2.0","mounts":[{},{},{},{"destination":"/x","bogus":1}]}`, "mounts[3].bogus", ""},
		{"case-insensitive alias refused", `{"ociVersion":"1.2.0","Hooks":{}}`, "Hooks", ""},
		{"duplicate key", `{"ociVersion":"1.2.0","hostname":"a","hostname":"b"}`, "hostname", ""},
		{"future version", `{"ociVersion":"1.4.0"}`, "ociVersion", ""},
		{"major 2", `{"ociVersion":"2.0.0"}`, "ociVersion", ""},
		{"garbage version", `{"ociVersion":"latest"}`, "ociVersion", ""},
		{"missing version", `{}`, "ociVersion", ""},
		{"type error", `{"ociVersion":"1.2.0","process":{"user":{"uid":"root"}}}`, "process.user.uid", ""},
		{"top-level array", `[1,2]`, "(document)", ""},
		{"null document", `null`, "ociVersion", ""},
		{"object for array", `{"ociVersion":"1.2.0","mounts":{"a":{}}}`, "mounts", ""},
		{"syntax error", `{"ociVersion":"1.2.0",}`, "", "offset"},
		{"trailing data", `{"ociVersion":"1.2.0"} {}`, "", "trailing"},
		{"truncated", `{"ociVersion":"1.2.0"`, "", "end of input"},
		{"deep nesting", `{"ociVersion":"1.2.0","annotations":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, "annotations.a", ""},
		{"unknown under map value struct", `{"ociVersion":"1.2.0","linux":{"netDevices":{"eth0":{"name":"x","evil":1}}}}`, "linux.netDevices.eth0.evil", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeSpec([]byte(c.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if c.wantPath != "" {
				var re *RefusedError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), c.wantPath) {
					t.Fatalf("want path %s, got %v", c.wantPath, err)
				}
			}
			if c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("want %q in %v", c.wantErr, err)
			}
		})
	}
	if _, err := DecodeSpec([]byte(baseSpecJSON)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.0.2-dev", "1.3.0", "1.3.9+build"} {
		if _, err := DecodeSpec([]byte(`{"ociVersion":"` + v + `"}`)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	big := make([]byte, MaxDocumentBytes+1)
	if _, err := DecodeSpec(big); err == nil {
		t.Fatal("oversized accepted")
	}
}

func TestDecodeProcess(t *testing.T) {
	if _, err := DecodeProcess([]byte(`{"args":["sh"],"cwd":"/","evil":true}`)); err == nil || !strings.Contains(err.Error(), "evil") {
		t.Fatalf("%v", err)
	}
	p, err := DecodeProcess([]byte(`{"args":["sh"],"cwd":"/","capabilities":{"bounding":["CAP_KILL"]}}`))
	if err != nil || p.Capabilities.Bounding[0] != "CAP_KILL" {
		t.Fatal(err)
	}
}

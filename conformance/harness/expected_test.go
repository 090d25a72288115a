package main

import (
	"strings"
	"testing"
)

func TestParseExpected(t *testing.T) {
	in := `# comment
runc        | delete | runtime   | attempting to * MUST generate an error | runc 1.1.5 deletes a created container
tenantrun   | default | suite | skip: linux.* not set | the default config leaves these unset
enforcing   | linux_uid_mappings | policy | * | the tenant's ID range replaces the bundle's mapping
`
	exps, err := ParseExpected(strings.NewReader(in), "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(exps) != 3 {
		t.Fatalf("%d entries", len(exps))
	}
	if !exps[0].Match("runc", "delete", Fail, "attempting to `delete` a container that is not `stopped` MUST generate an error") {
		t.Error("glob in the middle")
	}
	if exps[0].Match("passthrough", "delete", Fail, "attempting to x MUST generate an error") {
		t.Error("runc entry applied to passthrough")
	}
	if !exps[1].Match("passthrough", "default", Skip, "linux.sysctl not set") || !exps[1].Match("enforcing", "default", Skip, "linux.sysctl not set") {
		t.Error("tenantrun = passthrough + enforcing")
	}
	if exps[1].Match("enforcing", "default", Fail, "linux.sysctl not set") {
		t.Error("skip entry matched a failure")
	}
	if exps[1].Match("enforcing", "process_user", Skip, "linux.sysctl not set") {
		t.Error("program must match exactly without *")
	}
	if !exps[2].Match("enforcing", "linux_uid_mappings", Fail, "anything [0] (x)") {
		t.Error("lone * matches everything")
	}
}

func TestParseExpectedRejects(t *testing.T) {
	for _, bad := range []string{
		"runc | delete | runtime | x",    // 4 fields
		"podman | delete | env | x | y",  // unknown target
		"runc | delete | flaky | x | y",  // unknown category
		"runc | delete | policy | x | y", // policy is tenantrun's
		"all | delete | policy | x | y",  // policy is tenantrun's
		"runc | delete | env | x |  ",    // no why
	} {
		if _, err := ParseExpected(strings.NewReader(bad), "x"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		ok   bool
	}{
		{"mounts[0] (/proc) found", "mounts[0] (/proc) found", true},
		{"mounts[*] (/proc) found", "mounts[12] (/proc) found", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*c", "abc", true},
		{"ab", "abc", false},
		{"a*a", "a", false},
	}
	for _, c := range cases {
		if globMatch(c.p, c.s) != c.ok {
			t.Errorf("globMatch(%q, %q) = %v", c.p, c.s, !c.ok)
		}
	}
}

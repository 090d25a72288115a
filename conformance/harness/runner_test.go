package main

import (
	"reflect"
	"testing"
)

func TestRuntimeErrors(t *testing.T) {
	stderr := `failed to create the container
time="2026-11-28T18:56:29Z" level=error msg="runc create failed: unable to start container process: error during container init: error setting cgroup config for procHooks process: cannot set net_cls limit: container could not join or create cgroup"
exit status 1
time="2026-11-28T19:18:21Z" level=warning msg="tenant conformance-trusted is trusted"
tenantrun: refused: hooks.prestart[0]: hook "/w/enforcing/tmp/ocitest2383554710/bin/sh" is not allowed; container 29c158b6-1d90-43ed-9456-bd12997e9763 at /proc/thread-self/fd/16
tenantrun: unable to start container process: nsexec-1[24927]: failed to setns: Invalid argument
`
	got := runtimeErrors(stderr, "/w")
	want := []string{
		"unable to start container process: error during container init: error setting cgroup config for procHooks process: cannot set net_cls limit: container could not join or create cgroup",
		`refused: hooks.prestart[0]: hook "<work>/enforcing/tmp/<bundle>/bin/sh" is not allowed; container <id> at /proc/thread-self/fd/N`,
		"unable to start container process: nsexec-1: failed to setns: Invalid argument",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestNameInnerFailures(t *testing.T) {
	p := Point{Status: Fail, Desc: "check masked paths", YAMLBefore: "{\n  \"stderr\": \"\",\n  \"stdout\": \"TAP version 13\\nok 1 - a\\nnot ok 2 - has expected noNewPrivileges\\nnot ok 3 - b \\\"q\\\"\\n1..3\\n\"\n}\n"}
	nameInnerFailures(&p)
	if want := `check masked paths [inside: has expected noNewPrivileges; b "q"]`; p.Desc != want {
		t.Fatalf("got %q, want %q", p.Desc, want)
	}
}

func TestSilentVerdict(t *testing.T) {
	cases := []struct {
		name    string
		program string
		tap     TAP
		stderr  string
		want    Status
		desc    string
	}{
		{"refused as wanted", "process_rlimits_fail", TAP{}, "failed to create the container\ntenantrun: refused: process.rlimits[0].type: unknown rlimit\n", Pass, "(exit status 0)"},
		{"silent by design", "poststop", TAP{}, "", Pass, "(exit status 0)"},
		{"skip plan", "process", TAP{PlanSkip: "skip not linux"}, "", Skip, "skip not linux"},
		{"orphan error", "hooks", TAP{Orphans: []string{"{\n  \"error\": \"exit status 1\"\n}\n"}}, "", Fail, "(no test points) exit status 1: boom"},
		// CI: runtimetest died inside the container before its first line; the
		// program printed nothing and exited 0. That is not a pass.
		{"runtimetest silent", "process_rlimits", TAP{}, "", Fail, "(no output)"},
	}
	for _, c := range cases {
		p := silentVerdict(c.program, &c.tap, c.stderr, ": boom")
		if p.Status != c.want || p.Desc != c.desc {
			t.Errorf("%s: got %v %q, want %v %q", c.name, p.Status, p.Desc, c.want, c.desc)
		}
	}
}

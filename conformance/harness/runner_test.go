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

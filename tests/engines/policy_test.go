package engines

import (
	"strconv"
	"strings"
	"testing"
)

// policyCase is an engine flag a tenant could ask for, and what tenantrun must make of it.
type policyCase struct {
	name   string
	flags  []string
	refuse string                      // regexp the refusal must show; "" means it must run
	script string                      // run inside when it runs
	check  func(string) (bool, string) // judge the output: ok, what was seen
}

func policyCases() []policyCase {
	firstInt := func(out string) int64 {
		f := strings.Fields(out)
		if len(f) == 0 {
			return -1
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return []policyCase{
		{name: "cap-add-sys-admin", flags: []string{"--cap-add", "SYS_ADMIN"}, refuse: `CAP_SYS_ADMIN`},
		{name: "network-host", flags: []string{"--network", "host"}, refuse: `linux\.namespaces`},
		{name: "pid-host", flags: []string{"--pid", "host"}, refuse: `linux\.namespaces`},
		{name: "device-vda", flags: []string{"--device", "/dev/vda"}, refuse: `linux\.devices`},
		{name: "seccomp-unconfined", flags: []string{"--security-opt", "seccomp=unconfined"},
			script: "grep ^Seccomp: /proc/self/status | tr -d '\\t' | cut -d: -f2",
			check:  func(o string) (bool, string) { return strings.TrimSpace(o) == "2", "Seccomp " + o }},
		{name: "memory-above-quota", flags: []string{"--memory", "4g"},
			script: "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max", // v1, v2
			check: func(o string) (bool, string) {
				n := firstInt(o)
				return n > 0 && n <= 512<<20, "memory.limit_in_bytes " + o
			}},
		{name: "pids-above-quota", flags: []string{"--pids-limit", "100000"},
			script: "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
			check:  func(o string) (bool, string) { n := firstInt(o); return n > 0 && n <= 256, "pids.max " + o }},
		{name: "oom-score-adj", flags: []string{"--oom-score-adj", "-1000"},
			script: "cat /proc/self/oom_score_adj",
			check: func(o string) (bool, string) {
				n, _ := strconv.Atoi(strings.TrimSpace(o))
				return n >= 0, "oom_score_adj " + o
			}},
		{name: "userns-host", flags: []string{"--userns", "host"},
			script: "head -n1 /proc/self/uid_map",
			check: func(o string) (bool, string) {
				f := strings.Fields(o)
				return len(f) == 3 && f[1] == "300000", "uid_map " + o
			}},
	}
}

func (e *dockerish) testPolicy(t *testing.T) {
	for _, pc := range policyCases() {
		t.Run(pc.name, func(t *testing.T) {
			leakCheck(t, e.runtimeRoots(t, e.runtime)...)
			name := randName("tr-" + e.name)
			t.Cleanup(func() { e.call(t, "rm", "-f", name) })
			args := []string{"run", "--rm", "--name", name, "--runtime", e.runtime}
			args = append(args, pc.flags...)
			if pc.name != "network-host" {
				args = append(args, e.netNone...)
			}
			script := pc.script
			if script == "" {
				script = "true"
			}
			r := e.call(t, append(args, busybox, "sh", "-c", script)...)
			if pc.refuse != "" {
				checkRefused(t, e.name+" "+strings.Join(pc.flags, " "), r, pc.refuse)
				return
			}
			if r.code != 0 {
				if !hardened(t) { // e.g. runc cannot set oom_score_adj -1000 without CAP_SYS_RESOURCE here
					t.Logf("baseline cannot run %s: %s", pc.name, lastLine(r.out()))
					return
				}
				t.Fatalf("%s: %s", pc.name, r)
			}
			ok, seen := pc.check(r.stdout)
			t.Logf("%s %s: %s", e.name, strings.Join(pc.flags, " "), strings.TrimSpace(seen))
			if hardened(t) && !ok {
				t.Errorf("%s %s: tenantrun let it through: %s", e.name, strings.Join(pc.flags, " "), seen)
			}
		})
	}
}

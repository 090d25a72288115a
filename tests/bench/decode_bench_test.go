package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/internal/testutil"
)

func cpuNow() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// engineConfig reads one of ../shared/engine-configs (config.json files real engines wrote).
func engineConfig(b *testing.B, name string) []byte {
	b.Helper()
	p := filepath.Join(testutil.RepoRoot(), "..", "shared", "engine-configs", name)
	data, err := os.ReadFile(p)
	testutil.Require(b, err == nil, "engine config "+p)
	return data
}

// withoutSeccomp is the same document with linux.seccomp removed: what the strict decoder
// would have to look at if it skipped the section the policy replaces anyway.
func withoutSeccomp(b *testing.B, data []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		b.Fatal(err)
	}
	if l, ok := m["linux"].(map[string]any); ok {
		delete(l, "seccomp")
	}
	out, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkPolicyPerBundle is what the policy costs a create in CPU: the strict decode of
// config.json and Enforce, on configs Docker and Podman wrote (each carries the engine's
// seccomp profile, which the policy replaces), and the same decode without linux.seccomp.
func BenchmarkPolicyPerBundle(b *testing.B) {
	for _, name := range []string{"docker.basic.json", "podman.basic.json", "ctr.basic.json"} {
		data := engineConfig(b, name)
		for _, v := range []struct {
			tag  string
			data []byte
		}{{"decode", data}, {"decode-without-seccomp", withoutSeccomp(b, data)}} {
			b.Run(name+"/"+v.tag, func(b *testing.B) {
				b.ReportAllocs()
				c0 := cpuNow()
				for b.Loop() {
					if _, err := hardening.DecodeSpec(v.data); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuNow()-c0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

package hardening

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkEnforce measures the policy on a typical engine config (Docker's default
// run: 14 capabilities, Docker's seccomp profile, three engine bind mounts).
func BenchmarkEnforce(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(sharedDir(b), "engine-configs", "docker.basic.json"))
	if err != nil {
		b.Fatal(err)
	}
	spec, err := DecodeSpec(data)
	if err != nil {
		b.Fatal(err)
	}
	cfg := engineTestConfig(b)
	req := Request{Spec: spec, Bundle: "/tmp/clients/bundles/x", ContainerID: "acb4a1c682a868269d86d932e19a187455415cf56bef227a3479dee9c5764042", Tenant: cfg.Tenants["default"], Config: cfg, Host: newFakeHost()}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if _, _, err := Enforce(req); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time (user+system, all threads incl. GC) per op: on a shared, loaded
	// machine wall-clock ns/op measures the neighbours more than the policy.
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkDecodeSpec measures the strict decoder on the same file.
func BenchmarkDecodeSpec(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(sharedDir(b), "engine-configs", "docker.basic.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpuTime()
	for b.Loop() {
		if _, err := DecodeSpec(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

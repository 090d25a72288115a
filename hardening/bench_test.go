package hardening

import (
	"os"
	"path/filepath"
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
	req := Request{Spec: spec, Bundle: "/tmp/clients/bundles/x", ContainerID: "bench-1", Tenant: cfg.Tenants["default"], Config: cfg, Host: newFakeHost()}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Enforce(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSpec measures the strict decoder on the same file.
func BenchmarkDecodeSpec(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(sharedDir(b), "engine-configs", "docker.basic.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeSpec(data); err != nil {
			b.Fatal(err)
		}
	}
}

package hardening

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// tmpfs_inodes bounds every tmpfs of the tenant's containers: the scratch ones the policy
// adds and a bundle's own, whose nr_inodes=0 (unlimited) or larger value is clamped.
func TestTmpfsInodesKey(t *testing.T) {
	out, _, err := run(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cache", Type: "tmpfs", Source: "tmpfs", Options: []string{"nr_inodes=0", "size=1m"}})
	}, func(r *Request) {
		t1 := *r.Tenant
		t1.Container.TmpfsInodes = 1000
		r.Tenant = &t1
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range out.Mounts {
		if m.Type != "tmpfs" {
			continue
		}
		n++
		if !slices.Contains(m.Options, "nr_inodes=1000") {
			t.Errorf("%s: %v, want nr_inodes=1000", m.Destination, m.Options)
		}
	}
	if n < 2 {
		t.Fatalf("%d tmpfs mounts", n)
	}
	if _, err := ParseConfig([]byte("[tenants.a]\nuid_range = \"100000:10\"\n[tenants.a.quota]\ntmpfs_inodes = 500\n[tenants.a.container]\ntmpfs_inodes = 900")); err == nil {
		t.Fatal("a container tmpfs_inodes above the tenant's")
	}
}

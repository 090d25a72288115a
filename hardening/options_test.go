package hardening

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Invariant (docs/security.md, "options"): mount options are judged as the kernel will
// read them (comma-split, last wins, size=/nr_blocks= aliases, 0 = unlimited); every
// tmpfs's effective size and inode count are bounded by the tenant's.
func effectiveTmpfs(t *testing.T, opts []string) (size, inodes int64) {
	t.Helper()
	size, inodes = -1, -1
	for _, o := range splitOptions(opts) {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			size = tmpfsBytes(v, 1)
		case "nr_blocks":
			size = tmpfsBytes(v, 4096)
		case "nr_inodes":
			inodes = tmpfsBytes(v, 1)
		}
	}
	return size, inodes
}

func TestTmpfsOptionSemantics(t *testing.T) {
	lists := [][]string{
		{"size=1m", "nr_blocks=0"}, {"size=1m,nr_blocks=0"}, {"mode=1777,nr_blocks=0"}, {"nr_inodes=0"},
		{"size=1m", "nr_inodes=0"}, {"nr_blocks=999999999"}, {"size=50%"}, {"size=99999999999999999999k"},
		{"nr_blocks=1m"}, {"size=0"}, {"size=1k", "size=0"}, {"size=1m,size=100g"}, {"nr_inodes=1g"},
		{"nr_blocks=0,size=1m"}, {"size=16m", "nr_inodes=100"},
	}
	for _, opts := range lists {
		s, _, err := run(t, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: opts})
		})
		if err != nil {
			t.Errorf("%v: %v", opts, err)
			continue
		}
		cfg := t1Config(t)
		tmax := min(cfg.Tenants["t1"].Container.Tmpfs, cfg.Tenants["t1"].Container.Memory)
		for _, m := range s.Mounts {
			if m.Type != "tmpfs" {
				continue
			}
			size, inodes := effectiveTmpfs(t, m.Options)
			if size <= 0 || size > tmax || inodes <= 0 || inodes > TmpfsInodes(tmax) {
				t.Errorf("%v -> %s %v: size %d inodes %d exceed the bound (%d, %d)", opts, m.Destination, m.Options, size, inodes, tmax, TmpfsInodes(tmax))
			}
			for _, o := range m.Options {
				if strings.Contains(o, ",") || strings.HasPrefix(o, "nr_blocks") {
					t.Errorf("%v -> non-canonical option %q", opts, o)
				}
			}
		}
	}
}

func TestAbsentCapabilities(t *testing.T) {
	s, _, err := run(t, func(s *specs.Spec) { s.Process.Capabilities = nil })
	if err != nil {
		t.Fatal(err)
	}
	c := s.Process.Capabilities
	if c == nil || c.Bounding == nil || c.Effective == nil || c.Permitted == nil || c.Inheritable == nil || c.Ambient == nil {
		t.Fatalf("absent capabilities left unrestricted sets: %+v", c)
	}
	for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
		for _, name := range set {
			if dangerousCaps[name] != "" {
				t.Errorf("%s granted", name)
			}
		}
	}
	s, _, err = run(t, func(s *specs.Spec) { s.Process.Capabilities = &specs.LinuxCapabilities{} })
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Process.Capabilities; c.Bounding == nil || c.Ambient == nil {
		t.Fatalf("nil sets left nil: %+v", c)
	}
}

func TestOverlappingBindRootsRefused(t *testing.T) {
	for _, c := range []struct {
		a, b string
		bad  bool
	}{{"/srv", "/srv/t2", true}, {"/srv/t2", "/srv", true}, {"/srv/t1", "/srv/t1", true}, {"/srv", "/srvx", false}, {"/srv/t1", "/srv/t2", false}} {
		_, err := ParseConfig([]byte("[tenants.t1]\nuid_range = \"300000:65536\"\nbind_roots = [\"" + c.a + "\"]\n[tenants.t2]\nuid_range = \"400000:65536\"\nbind_roots = [\"" + c.b + "\"]\n"))
		if c.bad && (err == nil || !strings.Contains(err.Error(), "t1") || !strings.Contains(err.Error(), "t2")) {
			t.Errorf("%s vs %s: want a refusal naming both tenants, got %v", c.a, c.b, err)
		}
		if !c.bad && err != nil {
			t.Errorf("%s vs %s: %v", c.a, c.b, err)
		}
	}
}

// Invariant 15 (docs/security.md): no step before pivot_root follows paths by name in a
// tree the tenant can write. libcontainer's tmpcopyup walks the mount destination in the
// rootfs by name before pivot_root, so it is dropped from every mount, however spelled;
// podman's default --tmpfs options (rw,rprivate,nosuid,nodev,tmpcopyup) still run.
func TestTmpcopyupDropped(t *testing.T) {
	cases := []struct {
		typ, dest, src string
		opts           []string
	}{
		{"tmpfs", "/data", "tmpfs", []string{"rw", "rprivate", "nosuid", "nodev", "tmpcopyup"}}, // podman --tmpfs /data
		{"tmpfs", "/etc/app", "tmpfs", []string{"size=1m,tmpcopyup,mode=755"}},
		{"tmpfs", "/run", "tmpfs", []string{"tmpcopyup", "tmpcopyup"}},
		{"tmpfs", "/dev/shm", "shm", []string{"nosuid", "tmpcopyup"}},
		{"bind", "/data", "/srv/tenants/t1/data", []string{"rbind", "tmpcopyup"}},
		{"mqueue", "/dev/mqueue", "mqueue", []string{"tmpcopyup"}},
	}
	for _, c := range cases {
		out, ds, err := run(t, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: c.dest, Type: c.typ, Source: c.src, Options: c.opts})
		})
		if err != nil {
			t.Errorf("%s %s %v: refused (want tmpcopyup dropped, the mount kept): %v", c.typ, c.dest, c.opts, err)
			continue
		}
		at := -1 // the appended mount: the last at its destination (the base spec has /dev/shm, /dev/mqueue)
		for i, m := range out.Mounts {
			for _, o := range splitOptions(m.Options) {
				if o == "tmpcopyup" {
					t.Errorf("%s %s %v: tmpcopyup kept: %v", c.typ, c.dest, c.opts, m.Options)
				}
			}
			if m.Destination == c.dest && m.Type == c.typ {
				at = i
			}
		}
		if at < 0 {
			t.Errorf("%s %s %v: the mount was dropped", c.typ, c.dest, c.opts)
			continue
		}
		ip := fmt.Sprintf("mounts[%d].options", at)
		if !slices.ContainsFunc(ds, func(d Decision) bool {
			return d.Path == ip && d.Action == ActionOverride && d.Old == "tmpcopyup" && strings.Contains(d.Reason, "pivot_root")
		}) {
			t.Errorf("%s %s %v: no override decision naming tmpcopyup at %s", c.typ, c.dest, c.opts, ip)
		}
		if v := invariantViolations(out, t1Config(t).Tenants["t1"], t1Config(t), "c1"); len(v) != 0 {
			t.Errorf("%s %s: invariants: %v", c.typ, c.dest, v)
		}
	}
}

package hardening

import (
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var fuzzTypes = []string{"bind", "tmpfs", "proc", "sysfs", "cgroup", "devpts", "mqueue", "", "overlay", "cgroup2"}

// mutateSpec applies fuzz-chosen edits to the base spec, so the fuzzer explores the
// rules rather than JSON syntax.
func mutateSpec(s *specs.Spec, ops []byte, s1, s2 string) {
	for i, b := range ops {
		hi := int(b >> 4)
		switch b % 16 {
		case 0:
			s.Mounts = append(s.Mounts, specs.Mount{Destination: s1, Type: fuzzTypes[hi%len(fuzzTypes)], Source: s2, Options: strings.Split(s2, ",")})
		case 1:
			if n := len(s.Linux.Namespaces); n > 0 {
				s.Linux.Namespaces[hi%n].Path = s1
			}
		case 2:
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, s1)
		case 3:
			s.Process.Cwd = s1
		case 4:
			s.Process.Args = []string{s1, s2}
		case 5:
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: s1, Hard: uint64(len(s2)) << hi, Soft: uint64(i) << hi})
		case 6:
			if s.Linux.Sysctl == nil {
				s.Linux.Sysctl = map[string]string{}
			}
			s.Linux.Sysctl[s1] = s2
		case 7:
			m := []specs.LinuxIDMapping{{ContainerID: uint32(i), HostID: uint32(hi) * 65536 * 4, Size: uint32(len(s2)) * 1000}}
			s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
		case 8:
			s.Linux.CgroupsPath = s1
		case 9:
			s.Root.Path = s1
		case 10:
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[s1] = s2
		case 11:
			if n := len(s.Mounts); n > 0 {
				s.Mounts[hi%n].Options = append(s.Mounts[hi%n].Options, s1)
			}
		case 12:
			if n := len(s.Linux.Namespaces); n > 0 {
				s.Linux.Namespaces = append(s.Linux.Namespaces[:hi%n], s.Linux.Namespaces[hi%n+1:]...)
			}
		case 13:
			v := int64(hi-8) << 24
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &v, Swap: &v}
			q := int64(hi) * 50000
			s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &q}
		case 14:
			s.Process.User = specs.User{UID: uint32(hi) << (i % 32), GID: uint32(len(s1)), AdditionalGids: []uint32{uint32(len(s2))}}
		case 15:
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: s1, Type: "c", Major: int64(hi), Minor: int64(len(s2))})
		}
	}
}

func FuzzPolicyMutations(f *testing.F) {
	f.Add([]byte{0x00}, "/data", "/srv/tenants/t1/data")
	f.Add([]byte{0x10, 0x0b}, "/tmp", "size=1g,mode=1777")
	f.Add([]byte{0x01, 0x21}, "/proc/4298/ns/ipc", "")
	f.Add([]byte{0x02, 0x03, 0x04}, "CAP_NET_RAW", "x")
	f.Add([]byte{0x05, 0x06, 0x07}, "RLIMIT_NOFILE", "net.ipv4.ping_group_range")
	f.Add([]byte{0x08, 0x09, 0x0a}, "/run/netns/x", "org.systemd.property.x")
	f.Add([]byte{0x0c, 0x0d, 0x0e, 0x0f}, "/dev/null", "0 1")
	f.Add([]byte{0x70, 0x3b}, "/run/.containerenv", "/tmp/clients/podman/run/x/userdata/.containerenv")
	f.Fuzz(func(t *testing.T, ops []byte, s1, s2 string) {
		if len(ops) > 64 {
			return
		}
		s := baseSpec(t)
		mutateSpec(s, ops, s1, s2)
		data, err := json.Marshal(s)
		if err != nil {
			return
		}
		enforceTwice(t, data)
	})
}

package record

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// sample is a record the size of a web container's.
func sample() *Record {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"}
	return &Record{Tenant: "t1", Bundle: "/var/lib/containers/storage/overlay-containers/0123456789abcdef0123456789abcdef/userdata", Mode: "enforce", PolicyDigest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Process: &specs.Process{Args: []string{"/bin/sleep", "100000"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "HOSTNAME=abc"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}, {Type: "RLIMIT_NPROC", Hard: 512, Soft: 512}}, NoNewPrivileges: true, ApparmorProfile: "tenantrun-default"},
		CgroupParent: "/tenantrun/t1", CgroupsPath: "/tenantrun/t1/abc", Mounts: []string{"/run/tenantrun-rootfs/x/rootfs"}, WorkDir: "/run/tenantrun-rootfs/x", RootfsKey: "2049-123456",
		Init: &Init{Pid: 12345, PidStart: 987654321, Created: time.Now(), Rootfs: "/var/lib/containers/storage/overlay/abc/merged", Annotations: map[string]string{"io.kubernetes.cri.container-type": "container"}, FreezerFile: "/sys/fs/cgroup/freezer/tenantrun/t1/abc/freezer.state"}}
}

// BenchmarkUnmarshalListing is what ReadListing would cost decoding the whole record
// (about 1.6 KB, most of it the hardened process) into a Listing: compare with
// BenchmarkDecodeListing, which stops after the listing part.
func BenchmarkUnmarshalListing(b *testing.B) {
	data, _ := json.Marshal(sample())
	b.Logf("record %d bytes", len(data))
	for i := 0; i < b.N; i++ {
		var l Listing
		if err := json.Unmarshal(data, &l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeListing(b *testing.B) {
	data, _ := json.Marshal(sample())
	for i := 0; i < b.N; i++ {
		if _, err := decodeListing(data); err != nil {
			b.Fatal(err)
		}
	}
}

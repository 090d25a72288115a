package hardening

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// baseSpec is the hostile runner's base.json (runc spec defaults).
const baseSpecJSON = `{"ociVersion":"1.2.0","process":{"terminal":false,"user":{"uid":0,"gid":0},"args":["sh","-c","echo ok"],
"env":["PATH=/usr/bin:/bin","TERM=xterm"],"cwd":"/","capabilities":{"bounding":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
"effective":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],"permitted":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
"ambient":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},
"root":{"path":"rootfs","readonly":true},"hostname":"tenant","mounts":[
{"destination":"/proc","type":"proc","source":"proc"},
{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
{"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
{"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
{"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}],
"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}],
"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]}}`

func baseSpec(t testing.TB) *specs.Spec {
	s, err := DecodeSpec([]byte(baseSpecJSON))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func t1Config(t testing.TB) *Config {
	cfg, err := ParseConfig([]byte(hostileTOML + `
[tenants.t2]
uid_range = "400000:65536"
[defaults]
engine_roots = ["/tmp/clients"]
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func run(t *testing.T, mut func(s *specs.Spec), opts ...func(r *Request)) (*specs.Spec, []Decision, error) {
	t.Helper()
	cfg := t1Config(t)
	s := baseSpec(t)
	if mut != nil {
		mut(s)
	}
	req := Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["t1"], Config: cfg, Host: newFakeHost()}
	for _, o := range opts {
		o(&req)
	}
	return Enforce(req)
}

func refusedAt(t *testing.T, err error, path string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want refusal at %s, got %v", path, err)
	}
	if !slices.ContainsFunc(re.Refusals, func(r Refusal) bool { return strings.HasPrefix(r.Path, path) }) {
		t.Fatalf("want refusal at %s, got %v", path, err)
	}
	if !strings.HasPrefix(err.Error(), "refused: ") {
		t.Fatalf("message %q", err)
	}
}

func TestRuleTable(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	_ = u
	cases := []struct {
		name   string
		mut    func(s *specs.Spec)
		refuse string // "" = must pass
		check  func(t *testing.T, s *specs.Spec)
	}{
		{"base passes", nil, "", nil},
		{"hook allowlisted", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/usr/libexec/ok-hook"}}}
		}, "", nil},
		{"hook not allowlisted", func(s *specs.Spec) { s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}} }, "hooks.startContainer[0]", nil},
		{"root outside bundle", func(s *specs.Spec) { s.Root.Path = "../../etc" }, "root.path", nil},
		{"root absolute host dir", func(s *specs.Spec) { s.Root.Path = "/etc" }, "root.path", nil},
		{"root writable overridden", func(s *specs.Spec) { s.Root.Readonly = false }, "", func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly {
				t.Fatal("root writable")
			}
		}},
		{"bind inside bind root", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/tenants/t1/data", Options: []string{"rbind", "suid", "dev"}})
		}, "", func(t *testing.T, s *specs.Spec) {
			m := s.Mounts[slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/data" })]
			if slices.Contains(m.Options, "suid") || !slices.Contains(m.Options, "nosuid") || !slices.Contains(m.Options, "nodev") || !slices.Contains(m.Options, "rprivate") {
				t.Fatalf("bind options %v", m.Options)
			}
		}},
		{"bind socket inside bind root", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/s", Type: "bind", Source: "/srv/tenants/t1/sock", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"bind symlink to socket", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/s", Type: "bind", Source: "/srv/tenants/t1/link-sock", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"bind relative symlink up", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/s", Type: "bind", Source: "/srv/tenants/t1/rel-up", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"bind prefix sibling t10", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/s", Type: "bind", Source: "/srv/tenants/t10", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"bind idmap option", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Type: "bind", Source: "/srv/tenants/t1/data", Options: []string{"bind", "idmap"}})
		}, "mounts[7].options", nil},
		{"mount uidMappings", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Type: "bind", Source: "/srv/tenants/t1/data", Options: []string{"bind"}, UIDMappings: []specs.LinuxIDMapping{{HostID: 0, Size: 1}}})
		}, "mounts[7].uidMappings", nil},
		{"unknown mount option", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Type: "tmpfs", Source: "tmpfs", Options: []string{"lowerdir=/"}})
		}, "mounts[7].options", nil},
		{"tmpfs size clamped", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=50%"}})
		}, "", func(t *testing.T, s *specs.Spec) {
			if !slices.Contains(s.Mounts[7].Options, "size=64m") {
				t.Fatalf("tmpfs options %v", s.Mounts[7].Options)
			}
		}},
		{"tmpfs under /dev", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/x", Type: "tmpfs", Source: "tmpfs"})
		}, "mounts[7].destination", nil},
		{"second proc", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/p2", Type: "proc", Source: "proc"})
		}, "mounts[7].destination", nil},
		{"dotdot destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/a/../proc", Type: "tmpfs", Source: "tmpfs"})
		}, "mounts[7].destination", nil},
		{"scratch tmpfs added", nil, "", func(t *testing.T, s *specs.Spec) {
			for _, d := range []string{"/tmp", "/run", "/var/tmp"} {
				if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool {
					return m.Destination == d && m.Type == "tmpfs" && slices.Contains(m.Options, "size=64m") && slices.Contains(m.Options, "nodev")
				}) {
					t.Fatalf("no scratch tmpfs at %s", d)
				}
			}
		}},
		{"scratch /run before engine file under /run", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/run/.containerenv", Type: "bind", Source: "/tmp/clients/podman/run/overlay-containers/c1/userdata/.containerenv", Options: []string{"bind"}})
		}, "", func(t *testing.T, s *specs.Spec) {
			ri := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/run" })
			ci := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/run/.containerenv" })
			if ri < 0 || ci < 0 || ri > ci {
				t.Fatalf("/run at %d, .containerenv at %d", ri, ci)
			}
		}},
		{"engine file of another container", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/clients/docker/data/containers/victim/hosts", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"engine file of another tenant's sandbox", func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-id": "0ther5a4db0x"}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/clients/sandboxes/0ther5a4db0x/hosts", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"engine file of an unknown sandbox, not a pod member", func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-id": "unknown1"}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/clients/sandboxes/unknown1/hosts", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"engine file of the container", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/clients/docker/data/containers/c1/hosts", Options: []string{"bind"}})
		}, "", nil},
		{"scratch /var/tmp after a /var volume", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/var", Type: "bind", Source: "/srv/tenants/t1/data", Options: []string{"rbind"}})
		}, "", func(t *testing.T, s *specs.Spec) {
			vi := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/var" })
			ti := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/var/tmp" })
			if ti < vi {
				t.Fatalf("/var/tmp at %d hidden by /var at %d", ti, vi)
			}
		}},
		{"engine file to odd destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/shadow", Type: "bind", Source: "/tmp/clients/podman/run/x/userdata/hosts", Options: []string{"bind"}})
		}, "mounts[7].source", nil},
		{"user ns added with tenant range", nil, "", func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 300000, Size: 65536}) {
				t.Fatalf("uid map %v", s.Linux.UIDMappings)
			}
		}},
		{"engine mapping inside range kept", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 1000}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 310000, Size: 1000}}
		}, "", func(t *testing.T, s *specs.Spec) {
			if s.Linux.GIDMappings[0].HostID != 310000 {
				t.Fatal("mapping changed")
			}
		}},
		{"uid outside a narrow mapping", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 1000}}
			s.Process.User.UID = 5000
		}, "process.user.uid", nil},
		{"huge uid", func(s *specs.Spec) { s.Process.User.UID = 4294967295 }, "process.user.uid", nil},
		{"mapping of other tenant", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
		}, "linux.uidMappings", nil},
		{"ns path of same tenant", func(s *specs.Spec) { s.Linux.Namespaces[2].Path = "/proc/4298/ns/ipc" }, "linux.namespaces[2].path", nil}, // owned by "default", not t1
		{"ns path of other tenant", func(s *specs.Spec) { s.Linux.Namespaces[2].Path = "/proc/7777/ns/ipc" }, "linux.namespaces[2].path", nil},
		{"engine netns", func(s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "/var/run/netns/cni-ec9eeae7-4d4a-2f3e-0630-47cda8301dac"
		}, "", nil},
		{"unknown netns path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/tmp/netns-x" }, "linux.namespaces[1].path", nil},
		{"host pid ns via symlink", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/run/tenantrun-test/host-pidns" }, "linux.namespaces[0].path", nil},
		{"no ipc ns", func(s *specs.Spec) { s.Linux.Namespaces = slices.Delete(s.Linux.Namespaces, 2, 3) }, "linux.namespaces", nil},
		{"timeOffsets without time ns", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets", nil},
		{"caps quiet drop", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_NET_RAW", "CAP_MKNOD")
		}, "", func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			if slices.Contains(c.Bounding, "CAP_NET_RAW") || slices.Contains(c.Bounding, "CAP_AUDIT_WRITE") || len(c.Ambient) != 0 || !slices.Contains(c.Bounding, "CAP_KILL") {
				t.Fatalf("caps %+v", c)
			}
		}},
		{"cap unknown", func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_FOO")
		}, "process.capabilities.effective", nil},
		{"dangerous cap in inheritable", func(s *specs.Spec) {
			s.Process.Capabilities.Inheritable = []string{"CAP_SYS_PTRACE"}
		}, "process.capabilities.inheritable", nil},
		{"nnp forced", func(s *specs.Spec) { s.Process.NoNewPrivileges = false }, "", func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Fatal("nnp")
			}
		}},
		{"args via /proc", func(s *specs.Spec) { s.Process.Args = []string{"/proc/self/fd/7/../../bin/sh"} }, "process.args[0]", nil},
		{"args dotdot", func(s *specs.Spec) { s.Process.Args = []string{"../../bin/sh"} }, "process.args[0]", nil},
		{"cwd unclean", func(s *specs.Spec) { s.Process.Cwd = "/app/../proc" }, "process.cwd", nil},
		{"env too big", func(s *specs.Spec) { s.Process.Env = []string{"A=" + strings.Repeat("x", 2<<20)} }, "process.env", nil},
		{"rlimits clamped", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 20, Soft: 1 << 20}, {Type: "RLIMIT_CORE", Hard: 1 << 40, Soft: 1 << 40}, {Type: "RLIMIT_NPROC", Hard: 1 << 20, Soft: 10}}
		}, "", func(t *testing.T, s *specs.Spec) {
			// The bundle's three clamped, then the absent-field table's fills (absent.go).
			want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 4096}, {Type: "RLIMIT_CORE"}, {Type: "RLIMIT_NPROC", Hard: 64, Soft: 10},
				{Type: "RLIMIT_RTPRIO"}, {Type: "RLIMIT_NICE"}, {Type: "RLIMIT_MEMLOCK", Hard: 8 << 20, Soft: 8 << 20}, {Type: "RLIMIT_MSGQUEUE", Hard: 819200, Soft: 819200}}
			if !slices.Equal(s.Process.Rlimits, want) {
				t.Fatalf("rlimits %v", s.Process.Rlimits)
			}
		}},
		{"rlimit unknown", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} }, "process.rlimits[0].type", nil},
		{"oom floor", func(s *specs.Spec) { v := -998; s.Process.OOMScoreAdj = &v }, "", func(t *testing.T, s *specs.Spec) {
			if *s.Process.OOMScoreAdj != 0 {
				t.Fatal("oom")
			}
		}},
		{"sched batch nice ok", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5} }, "", nil},
		{"sched negative nice", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: -5} }, "process.scheduler.nice", nil},
		{"ioprio RT", func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_RT} }, "process.ioPriority", nil},
		{"exec cpu affinity", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"} }, "process.execCPUAffinity", nil},
		{"selinux spc_t", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:spc_t:s0" }, "process.selinuxLabel", nil},
		{"terminal without console socket", func(s *specs.Spec) { s.Process.Terminal = true }, "process.terminal", nil},
		{"sysctl safe", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"} }, "", nil},
		{"sysctl newline", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1\nkernel.x=1"} }, "linux.sysctl", nil},
		{"sysctl slash form", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net/../kernel/core_pattern": "x"} }, "linux.sysctl", nil},
		{"device default ok", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}
		}, "", nil},
		{"device kvm", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kvm", Type: "c", Major: 10, Minor: 232}}
		}, "linux.devices[0]", nil},
		{"device renamed null", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "b", Major: 8, Minor: 0}}
		}, "linux.devices[0]", nil},
		{"memoryPolicy", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND"} }, "linux.memoryPolicy", nil},
		{"masked paths restored", func(s *specs.Spec) { s.Linux.MaskedPaths = nil; s.Linux.ReadonlyPaths = nil }, "", func(t *testing.T, s *specs.Spec) {
			if !slices.Contains(s.Linux.MaskedPaths, "/proc/keys") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sysrq-trigger") {
				t.Fatal("masks")
			}
		}},
		{"annotation informational ok", func(s *specs.Spec) { s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-namespace": "x"} }, "", nil},
		{"annotation criu", func(s *specs.Spec) { s.Annotations = map[string]string{"org.criu.config": "/etc/x"} }, "annotations", nil},
		{"seccomp trace", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActTrace} }, "linux.seccomp.defaultAction", nil},
		{"seccomp replaced", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow} }, "", func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp.DefaultAction == specs.ActAllow {
				t.Fatal("seccomp kept")
			}
		}},
		{"cgroupsPath override", func(s *specs.Spec) { s.Linux.CgroupsPath = "/../../x" }, "", func(t *testing.T, s *specs.Spec) {
			if s.Linux.CgroupsPath != "/tenantrun/t1/c1" {
				t.Fatal(s.Linux.CgroupsPath)
			}
		}},
		{"realtime cpu", func(s *specs.Spec) {
			v := int64(1000)
			s.Linux.Resources.CPU = &specs.LinuxCPU{RealtimeRuntime: &v}
		}, "linux.resources.cpu.realtimeRuntime", nil},
		{"unified key", func(s *specs.Spec) { s.Linux.Resources.Unified = map[string]string{"memory.max": "max"} }, "linux.resources.unified", nil},
		{"disable oom killer", func(s *specs.Spec) { b := true; s.Linux.Resources.Memory = &specs.LinuxMemory{DisableOOMKiller: &b} }, "linux.resources.memory.disableOOMKiller", nil},
		{"windows section", func(s *specs.Spec) { s.Windows = &specs.Windows{} }, "windows", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, ds, err := run(t, c.mut, func(r *Request) {
				r.Config.Defaults.Hooks = []HookDecl{{Path: "/usr/libexec/ok-hook", Args: []string{"/usr/libexec/ok-hook"}, Env: DefaultHookEnv}}
			})
			if c.refuse != "" {
				refusedAt(t, err, c.refuse)
				if !slices.ContainsFunc(ds, func(d Decision) bool { return d.Action == ActionRefuse }) {
					t.Fatal("refusal not among decisions")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.check != nil {
				c.check(t, out)
			}
		})
	}
}

func TestTerminalWithConsoleSocket(t *testing.T) {
	_, _, err := run(t, func(s *specs.Spec) { s.Process.Terminal = true }, func(r *Request) { r.ConsoleSocket = true })
	if err != nil {
		t.Fatal(err)
	}
}

func TestPodMemberSandboxFiles(t *testing.T) {
	cfg := engineTestConfig(t)
	mk := func(sandbox string, joinPath string) error {
		s := baseSpec(t)
		s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-id": sandbox}
		if joinPath != "" {
			s.Linux.Namespaces[2].Path = joinPath
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/tmp/ctrd/root/sandboxes/" + sandbox + "/resolv.conf", Options: []string{"rbind"}})
		_, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg, Host: newFakeHost()})
		return err
	}
	if err := mk("00158cf3156d2818cf3cd85aa5f4ed92b009ea5585799234d41ebae65a024c30", ""); err != nil {
		t.Fatalf("sandbox known to be the tenant's: %v", err)
	}
	if err := mk("unknownsandbox", "/proc/4298/ns/ipc"); err != nil {
		t.Fatalf("unknown sandbox, but a member of the tenant's pod: %v", err)
	}
	if err := mk("unknownsandbox", ""); err == nil {
		t.Fatal("unknown sandbox and no pod membership accepted")
	}
	// kubelet's per-pod files (etc-hosts, termination-log, service-account token).
	kube := func(join bool) error {
		s := baseSpec(t)
		s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-uid": "0b6d5a1c-1111-4222-8333-944455556666",
			"io.kubernetes.cri.sandbox-id": "00158cf3156d2818cf3cd85aa5f4ed92b009ea5585799234d41ebae65a024c30"}
		if join {
			s.Linux.Namespaces[2].Path = "/proc/4298/ns/ipc"
		}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/clients/kubelet/pods/0b6d5a1c-1111-4222-8333-944455556666/etc-hosts", Options: []string{"rbind"}},
			specs.Mount{Destination: "/var/run/secrets/kubernetes.io/serviceaccount", Type: "bind", Source: "/tmp/clients/kubelet/pods/0b6d5a1c-1111-4222-8333-944455556666/volumes/token", Options: []string{"rbind", "ro"}})
		_, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg, Host: newFakeHost()})
		return err
	}
	if err := kube(true); err != nil {
		t.Fatalf("kubelet files of the tenant's pod: %v", err)
	}
	if err := kube(false); err == nil {
		t.Fatal("kubelet files accepted without pod membership")
	}
}

func TestSameTenantNamespace(t *testing.T) {
	cfg := engineTestConfig(t)
	s := baseSpec(t)
	s.Linux.Namespaces[2].Path = "/proc/4298/ns/ipc"
	_, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["default"], Config: cfg, Host: newFakeHost()})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSystemdCgroupsPath(t *testing.T) {
	out, _, err := run(t, nil, func(r *Request) { r.SystemdCgroup = true })
	if err != nil || out.Linux.CgroupsPath != "tenantrun-t1.slice:tenantrun-t1:c1" {
		t.Fatalf("%v %v", out, err)
	}
	// A "-" in the tenant (or the top) is escaped: unescaped, systemd would nest tenant
	// "acme-web" inside tenant "acme"'s slice and charge it to acme's limits.
	cfg := &Config{Defaults: Defaults{CgroupParent: "tenant-run"}}
	if got, want := CgroupsPath(cfg, &Tenant{Name: "acme-web"}, "c1", true), `tenant\x2drun-acme\x2dweb.slice:tenant\x2drun-acme\x2dweb:c1`; got != want {
		t.Errorf("CgroupsPath = %q, want %q", got, want)
	}
}

// Finding 7: the scope unit of a container names its tenant, so one id under two tenants
// (two --roots) is two units, never one that the second start collides with (UnitExists)
// and whose rollback stops the first tenant's scope. The unit name is libcontainer's
// "<ScopePrefix>-<Name>.scope" from the cgroupsPath's second and third parts.
func TestSystemdScopeUnitNamesTenant(t *testing.T) {
	cfg := &Config{Defaults: Defaults{CgroupParent: "tenantrun"}}
	unit := func(tenant, id string) string {
		p := strings.Split(CgroupsPath(cfg, &Tenant{Name: tenant}, id, true), ":")
		if len(p) != 3 {
			t.Fatalf("systemd cgroupsPath %v: want slice:prefix:name", p)
		}
		u := p[1] + "-" + p[2] + ".scope"
		if u != SystemdScopeUnit("tenantrun", tenant, id) {
			t.Errorf("SystemdScopeUnit(%q, %q) = %q, cgroupsPath gives %q", tenant, id, SystemdScopeUnit("tenantrun", tenant, id), u)
		}
		return u
	}
	if got := unit("t1", "web"); got != "tenantrun-t1-web.scope" {
		t.Errorf("unit = %q", got)
	}
	// Pairs that concatenate alike must still be distinct units.
	pairs := [][2]string{{"t1", "web"}, {"t2", "web"}, {"a", "b-c"}, {"a-b", "c"}, {"a", "b"}, {"a-b", "b"}, {"a_b", "c"}, {"a", "b_c"}}
	seen := map[string][2]string{}
	for _, pr := range pairs {
		u := unit(pr[0], pr[1])
		if o, dup := seen[u]; dup {
			t.Errorf("tenant %q id %q and tenant %q id %q share the unit %q", pr[0], pr[1], o[0], o[1], u)
		}
		seen[u] = pr
		if !validSystemdUnitName(u) {
			t.Errorf("%q is not a valid systemd unit name", u)
		}
	}
}

// validSystemdUnitName is systemd's unit_name_is_valid for a plain (non-template) name:
// [A-Za-z0-9:_.\\-]+, a suffix, at most 255 bytes.
func validSystemdUnitName(u string) bool {
	if len(u) == 0 || len(u) > 255 || !strings.HasSuffix(u, ".scope") {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":_.\\-", r)) {
			return false
		}
	}
	return true
}

func TestEnforceDoesNotMutate(t *testing.T) {
	s := baseSpec(t)
	before, _ := json.Marshal(s)
	cfg := t1Config(t)
	if _, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants["t1"], Config: cfg, Host: newFakeHost()}); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(s)
	if string(before) != string(after) {
		t.Fatal("input mutated")
	}
}

func TestTrustedAndAudit(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[tenants.sys]
uid_range = "500000:65536"
trusted = true
[tenants.canary]
uid_range = "600000:65536"
mode = "audit"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := baseSpec(t)
	s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}}}
	out, ds, err := Enforce(Request{Spec: s, Bundle: "/b", ContainerID: "c", Tenant: cfg.Tenants["sys"], Config: cfg, Host: newFakeHost()})
	if err != nil || out.Hooks == nil || len(ds) != 0 || len(out.Linux.UIDMappings) != 0 {
		t.Fatalf("trusted tenant rewritten: %v %v", ds, err)
	}
	if cfg.Tenants["canary"].Mode != "audit" {
		t.Fatal("mode")
	}
	_, ds, err = Enforce(Request{Spec: s, Bundle: "/b", ContainerID: "c", Tenant: cfg.Tenants["canary"], Config: cfg, Host: newFakeHost()})
	if err == nil || len(ds) == 0 {
		t.Fatal("audit tenant: Enforce must still report what enforce mode would do")
	}
}

func TestEnforceProcess(t *testing.T) {
	cfg := t1Config(t)
	tn := cfg.Tenants["t1"]
	all := []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW"}
	_, _, err := EnforceProcess(ProcessRequest{Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Capabilities: &specs.LinuxCapabilities{Bounding: all}}, Tenant: tn, Config: cfg})
	refusedAt(t, err, "process.capabilities.bounding")
	pr := &specs.Process{Args: []string{"id"}, Cwd: "/", Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_NET_RAW"}, Ambient: []string{"CAP_CHOWN"}}}
	out, ds, err := EnforceProcess(ProcessRequest{Process: pr, Tenant: tn, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Capabilities.Ambient) != 0 || slices.Contains(out.Capabilities.Bounding, "CAP_NET_RAW") || !out.NoNewPrivileges || len(ds) == 0 {
		t.Fatalf("%+v", out)
	}
	if len(pr.Capabilities.Ambient) != 1 {
		t.Fatal("input mutated")
	}
	_, _, err = EnforceProcess(ProcessRequest{Process: &specs.Process{Args: []string{"sh"}, Cwd: "/proc/self/fd/3"}, Tenant: tn, Config: cfg})
	refusedAt(t, err, "process.cwd")
	_, _, err = EnforceProcess(ProcessRequest{Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Terminal: true}, Tenant: tn, Config: cfg})
	refusedAt(t, err, "process.terminal")
}

func TestClampResources(t *testing.T) {
	cfg := t1Config(t)
	tn := cfg.Tenants["t1"]
	big := int64(8 << 30)
	neg := int64(-1)
	r, ds := ClampResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &big}, Pids: &specs.LinuxPids{Limit: &neg}}, tn)
	if *r.Memory.Limit != 128<<20 || *r.Memory.Swap != 128<<20 || *r.Pids.Limit != 64 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || len(ds) < 3 {
		t.Fatalf("%+v %+v %+v", r.Memory, r.Pids, r.CPU)
	}
	if big != 8<<30 {
		t.Fatal("input mutated")
	}
	r, _ = ClampResources(nil, tn)
	if r.Memory == nil || r.Pids == nil || r.CPU == nil {
		t.Fatal("not filled")
	}
	small := int64(64 << 20)
	r, _ = ClampResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &small, Swap: &small}}, tn)
	if *r.Memory.Limit != small {
		t.Fatal("a smaller limit must be kept")
	}
	// update: only what is present
	q := int64(900000)
	r, _ = ClampUpdate(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &q}}, tn)
	if r.Memory != nil || r.Pids != nil || *r.CPU.Quota != 50000 {
		t.Fatalf("update: %+v", r)
	}
	r, _ = ClampUpdate(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &neg}}, tn)
	if *r.Memory.Limit != 128<<20 {
		t.Fatal("update -1 must become the maximum")
	}
	r, _ = ClampUpdate(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}, tn)
	if len(r.Devices) != 0 {
		t.Fatal("update may not change device rules")
	}
	_, ds = ClampResources(&specs.LinuxResources{Unified: map[string]string{"memory.max": "max"}}, tn)
	if !slices.ContainsFunc(ds, func(d Decision) bool { return d.Action == ActionRefuse }) {
		t.Fatal("unified key not refused")
	}
	pr := TenantParentResources(tn)
	if *pr.Memory.Limit != 128<<20 || *pr.Pids.Limit != 64 {
		t.Fatal("parent")
	}
}

// Invariant 3 (docs/security.md): a joined namespace is decided by what the kernel says
// (the fake's NSOwners), never by a record of which container had which pid.
func TestNamespaceOwnerRule(t *testing.T) {
	t1 := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	t2 := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
	straddle := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 1000}, {ContainerID: 1000, HostID: 400000, Size: 1000}}
	const engine = "/run/netns/cni-1"
	for _, c := range []struct {
		name  string
		typ   int // index in baseSpec's namespaces (0 pid, 1 network, 2 ipc)
		path  string
		owner *NSOwner // nil: owned by the host's user namespace, nobody in it
		ok    bool
	}{
		{"t1's user namespace owns it", 2, "/proc/9/ns/ipc", &NSOwner{UIDMap: t1, GIDMap: t1}, true},
		{"nested user namespace inside t1's range", 2, "/proc/9/ns/ipc", &NSOwner{UIDMap: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300100, Size: 10}}, GIDMap: t1}, true},
		{"t2's user namespace owns it", 2, "/proc/9/ns/ipc", &NSOwner{UIDMap: t2, GIDMap: t2}, false},
		{"uid map inside, gid map t2's", 2, "/proc/9/ns/ipc", &NSOwner{UIDMap: t1, GIDMap: t2}, false},
		{"mapping straddles t1 and t2", 0, "/proc/9/ns/pid", &NSOwner{UIDMap: straddle, GIDMap: t1}, false},
		{"no mapping written yet", 0, "/proc/9/ns/pid", &NSOwner{GIDMap: t1}, false},
		{"host-owned ipc namespace", 2, "/proc/9/ns/ipc", nil, false},
		// A user namespace made inside a container (not the host's child) holds every
		// capability over the netns it owns: it could rewrite the network policy.
		{"netns of t1's runtime-made user namespace", 1, "/proc/11/ns/net", &NSOwner{UIDMap: t1, GIDMap: t1}, true},
		{"netns of a user namespace nested in t1's", 1, "/proc/11/ns/net", &NSOwner{UIDMap: t1, GIDMap: t1, Nested: true}, false},
		{"ipc of a user namespace nested in t1's", 2, "/proc/9/ns/ipc", &NSOwner{UIDMap: t1, GIDMap: t1, Nested: true}, true},
		{"host-owned netns outside netns_dirs", 1, "/tmp/netns-x", nil, false},
		{"engine netns, empty, unclaimed", 1, engine, nil, true},
		{"engine netns with a t1 thread", 1, engine, &NSOwner{HostUserNS: true, Procs: []NSProc{{PID: 5, UIDs: []uint32{300000, 300000, 300000, 300000}, GIDs: []uint32{300000, 300000, 300000, 300000}}}}, true},
		{"engine netns with a t2 thread", 1, engine, &NSOwner{HostUserNS: true, Procs: []NSProc{{PID: 5, UIDs: []uint32{400000, 400000, 400000, 400000}, GIDs: []uint32{300000}}}}, false},
		{"engine netns with a host thread", 1, engine, &NSOwner{HostUserNS: true, Procs: []NSProc{{PID: 5, UIDs: []uint32{0, 0, 0, 0}, GIDs: []uint32{0}}}}, false},
		{"engine netns with a t2 gid", 1, engine, &NSOwner{HostUserNS: true, Procs: []NSProc{{PID: 5, UIDs: []uint32{300000}, GIDs: []uint32{400001}}}}, false},
		{"engine netns claimed by t2", 1, engine, &NSOwner{HostUserNS: true, Holder: "t2", HolderContainer: "c2"}, false},
		{"engine netns claimed by t1", 1, engine, &NSOwner{HostUserNS: true, Holder: "t1", HolderContainer: "c0"}, true},
		// A pod member names its infra container's /proc/<pid>/ns/net: the engine's netns
		// when that very namespace is mounted in netns_dirs (below), else a host-owned one.
		{"infra's netns by /proc path, mounted in netns_dirs", 1, "/proc/9/ns/net", nil, true},
		{"host-owned netns by /proc path, not mounted in netns_dirs", 1, "/proc/10/ns/net", nil, false},
		{"infra's netns by /proc path, with a t2 thread", 1, "/proc/9/ns/net", &NSOwner{HostUserNS: true, Procs: []NSProc{{PID: 5, UIDs: []uint32{400000}}}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, func(s *specs.Spec) { s.Linux.Namespaces[c.typ].Path = c.path }, func(r *Request) {
				h := r.Host.(*FakeHost)
				id := NSID{Dev: 4, Ino: 99}
				h.NS[c.path] = id
				if c.path == "/proc/9/ns/net" {
					h.NS["/var/run/netns/cni-9"] = id
				}
				if c.owner != nil {
					h.NSOwners[id] = *c.owner
				}
			})
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok {
				refusedAt(t, err, fmt.Sprintf("linux.namespaces[%d].path", c.typ))
			}
		})
	}
}

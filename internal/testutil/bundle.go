package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SpecVersion is the ociVersion of the default spec (the shape `runc spec` writes; tenantrun
// refuses versions newer than it supports).
const SpecVersion = "1.2.0"

// Bundle is an OCI bundle on disk: Dir/config.json and Dir/rootfs.
type Bundle struct {
	Dir  string
	Spec *specs.Spec
	t    testing.TB
}

// BundleOption patches the spec before it is written.
type BundleOption func(*specs.Spec)

// ConfigPath is Dir/config.json.
func (b *Bundle) ConfigPath() string { return filepath.Join(b.Dir, "config.json") }

// Rootfs is Dir/rootfs.
func (b *Bundle) Rootfs() string { return filepath.Join(b.Dir, "rootfs") }

// DefaultSpec is a runc-spec-like config (see ../shared/hostile/base.json) that runs under
// plain runc and under tenantrun's default tenant policy alike: read-only root, a tmpfs /tmp
// (the only place tests write to), no ambient capabilities, terminal false.
func DefaultSpec() *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: SpecVersion,
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh", "-c", "echo ok"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  append([]string(nil), caps...),
				Effective: append([]string(nil), caps...),
				Permitted: append([]string(nil), caps...),
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "tenant",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=16m"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// WithArgs sets process.args.
func WithArgs(args ...string) BundleOption {
	return func(s *specs.Spec) { s.Process.Args = args }
}

// WithShell sets process.args to sh -c script.
func WithShell(script string) BundleOption { return WithArgs("sh", "-c", script) }

// WithEnv appends KEY=VALUE entries to process.env.
func WithEnv(kv ...string) BundleOption {
	return func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, kv...) }
}

// WithTerminal sets process.terminal (a console socket is then needed).
func WithTerminal(on bool) BundleOption {
	return func(s *specs.Spec) { s.Process.Terminal = on }
}

// WithCwd sets process.cwd.
func WithCwd(dir string) BundleOption { return func(s *specs.Spec) { s.Process.Cwd = dir } }

// WithUser sets process.user uid/gid.
func WithUser(uid, gid uint32) BundleOption {
	return func(s *specs.Spec) { s.Process.User = specs.User{UID: uid, GID: gid} }
}

// WithMount appends a mount.
func WithMount(m specs.Mount) BundleOption {
	return func(s *specs.Spec) { s.Mounts = append(s.Mounts, m) }
}

// WithSpec applies an arbitrary patch.
func WithSpec(f func(*specs.Spec)) BundleOption { return BundleOption(f) }

// NewBundle creates a bundle in a fresh directory (readable by a user-namespaced root) with a
// copy of the busybox rootfs and config.json from DefaultSpec patched by opts. The directory is
// removed when the test ends.
func NewBundle(t testing.TB, opts ...BundleOption) *Bundle {
	t.Helper()
	return NewBundleIn(t, TempDir(t, "bundle"), opts...)
}

// NewBundleIn is NewBundle in a directory the caller owns (it must exist and be empty or absent).
func NewBundleIn(t testing.TB, dir string, opts ...BundleOption) *Bundle {
	t.Helper()
	tmpl := BusyboxRootfs(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &Bundle{Dir: dir, Spec: DefaultSpec(), t: t}
	if err := CopyRootfs(tmpl, b.Rootfs()); err != nil {
		t.Fatalf("copy rootfs: %v", err)
	}
	for _, o := range opts {
		o(b.Spec)
	}
	b.Write()
	return b
}

// Write (re)writes config.json from b.Spec.
func (b *Bundle) Write() {
	b.t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	if err != nil {
		b.t.Fatal(err)
	}
	b.WriteRaw(data)
}

// Patch applies opts to b.Spec and rewrites config.json.
func (b *Bundle) Patch(opts ...BundleOption) {
	b.t.Helper()
	for _, o := range opts {
		o(b.Spec)
	}
	b.Write()
}

// WriteRaw replaces config.json with data as it is (for malformed-input tests).
func (b *Bundle) WriteRaw(data []byte) {
	b.t.Helper()
	if err := os.WriteFile(b.ConfigPath(), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// PatchJSON edits config.json as generic JSON (to insert fields the specs types cannot hold,
// such as unknown fields or values of the wrong type).
func (b *Bundle) PatchJSON(f func(m map[string]any)) {
	b.t.Helper()
	data, err := json.Marshal(b.Spec)
	if err != nil {
		b.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		b.t.Fatal(err)
	}
	f(m)
	out, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		b.t.Fatal(err)
	}
	b.WriteRaw(out)
}

// ProcessJSON writes p as a process.json file in the bundle dir and returns its path
// (for `exec --process FILE`).
func (b *Bundle) ProcessJSON(name string, p *specs.Process) string {
	b.t.Helper()
	data, err := json.MarshalIndent(p, "", "\t")
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(b.Dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// WithArgsRewrite sets process.args, rewrites config.json and returns b (for chaining).
func (b *Bundle) WithArgsRewrite(t testing.TB, args ...string) *Bundle {
	t.Helper()
	b.Patch(WithArgs(args...))
	return b
}

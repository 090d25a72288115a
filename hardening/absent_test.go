package hardening

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Invariant 5 (docs/security.md): no field's absence means "unrestricted" downstream.

// absentCase is, for one row of AbsentFields, how to make the field absent and what
// the enforced spec must then hold: the tenant's value, written out here rather than
// taken from the table.
type absentCase struct {
	clear func(s *specs.Spec)
	want  func(t *testing.T, out *specs.Spec, ten *Tenant)
}

func rlimitOf(pr *specs.Process, typ string) (specs.POSIXRlimit, bool) {
	for _, r := range pr.Rlimits {
		if r.Type == typ {
			return r, true
		}
	}
	return specs.POSIXRlimit{}, false
}

func clearRlimit(typ string) func(s *specs.Spec) {
	return func(s *specs.Spec) {
		s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
	}
}

func wantRlimit(typ string, v func(ten *Tenant) uint64) func(t *testing.T, out *specs.Spec, ten *Tenant) {
	return func(t *testing.T, out *specs.Spec, ten *Tenant) {
		r, ok := rlimitOf(out.Process, typ)
		if n := v(ten); !ok || r.Hard != n || r.Soft != n {
			t.Errorf("%s: got %+v (present %v), want %d/%d", typ, r, ok, n, n)
		}
	}
}

func clearCapSet(set func(c *specs.LinuxCapabilities) *[]string) func(s *specs.Spec) {
	return func(s *specs.Spec) {
		if s.Process.Capabilities != nil {
			*set(s.Process.Capabilities) = nil
		}
	}
}

func wantEmptyCapSet(name string, set func(c *specs.LinuxCapabilities) *[]string) func(t *testing.T, out *specs.Spec, ten *Tenant) {
	return func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if c := out.Process.Capabilities; c == nil || *set(c) == nil || len(*set(c)) != 0 {
			t.Errorf("capabilities.%s: want an explicit empty set, got %+v", name, c)
		}
	}
}

func deleteNS(typ specs.LinuxNamespaceType) func(s *specs.Spec) {
	return func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
	}
}

func wantNS(typ specs.LinuxNamespaceType) func(t *testing.T, out *specs.Spec, ten *Tenant) {
	return func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if !privateNamespace(out, typ) {
			t.Errorf("no new %s namespace: %+v", typ, out.Linux.Namespaces)
		}
	}
}

var absentCases = map[string]absentCase{
	"process.capabilities": {func(s *specs.Spec) { s.Process.Capabilities = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		c := out.Process.Capabilities
		if c == nil || !slices.Equal(c.Bounding, ten.Capabilities) || !slices.Equal(c.Effective, ten.Capabilities) ||
			!slices.Equal(c.Permitted, ten.Capabilities) || c.Inheritable == nil || len(c.Inheritable) != 0 || c.Ambient == nil || len(c.Ambient) != 0 {
			t.Errorf("capabilities: %+v, want the tenant allowlist %v", c, ten.Capabilities)
		}
	}},
	"process.capabilities.bounding": {clearCapSet(func(c *specs.LinuxCapabilities) *[]string { return &c.Bounding }),
		wantEmptyCapSet("bounding", func(c *specs.LinuxCapabilities) *[]string { return &c.Bounding })},
	"process.capabilities.effective": {clearCapSet(func(c *specs.LinuxCapabilities) *[]string { return &c.Effective }),
		wantEmptyCapSet("effective", func(c *specs.LinuxCapabilities) *[]string { return &c.Effective })},
	"process.capabilities.permitted": {clearCapSet(func(c *specs.LinuxCapabilities) *[]string { return &c.Permitted }),
		wantEmptyCapSet("permitted", func(c *specs.LinuxCapabilities) *[]string { return &c.Permitted })},
	"process.capabilities.inheritable": {clearCapSet(func(c *specs.LinuxCapabilities) *[]string { return &c.Inheritable }),
		wantEmptyCapSet("inheritable", func(c *specs.LinuxCapabilities) *[]string { return &c.Inheritable })},
	"process.capabilities.ambient": {clearCapSet(func(c *specs.LinuxCapabilities) *[]string { return &c.Ambient }),
		wantEmptyCapSet("ambient", func(c *specs.LinuxCapabilities) *[]string { return &c.Ambient })},
	"process.noNewPrivileges": {func(s *specs.Spec) { s.Process.NoNewPrivileges = false }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if !out.Process.NoNewPrivileges {
			t.Error("noNewPrivileges false")
		}
	}},
	"process.oomScoreAdj": {func(s *specs.Spec) { s.Process.OOMScoreAdj = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if v := out.Process.OOMScoreAdj; v == nil || *v != ten.OOMScoreAdjMin {
			t.Errorf("oomScoreAdj %v, want %d", v, ten.OOMScoreAdjMin)
		}
	}},
	"process.rlimits.RLIMIT_NOFILE":   {clearRlimit("RLIMIT_NOFILE"), wantRlimit("RLIMIT_NOFILE", func(ten *Tenant) uint64 { return ten.Container.Nofile })},
	"process.rlimits.RLIMIT_CORE":     {clearRlimit("RLIMIT_CORE"), wantRlimit("RLIMIT_CORE", func(*Tenant) uint64 { return 0 })},
	"process.rlimits.RLIMIT_RTPRIO":   {clearRlimit("RLIMIT_RTPRIO"), wantRlimit("RLIMIT_RTPRIO", func(*Tenant) uint64 { return 0 })},
	"process.rlimits.RLIMIT_NICE":     {clearRlimit("RLIMIT_NICE"), wantRlimit("RLIMIT_NICE", func(*Tenant) uint64 { return 0 })},
	"process.rlimits.RLIMIT_MEMLOCK":  {clearRlimit("RLIMIT_MEMLOCK"), wantRlimit("RLIMIT_MEMLOCK", func(*Tenant) uint64 { return 8 << 20 })},
	"process.rlimits.RLIMIT_MSGQUEUE": {clearRlimit("RLIMIT_MSGQUEUE"), wantRlimit("RLIMIT_MSGQUEUE", func(*Tenant) uint64 { return 819200 })},
	"process.apparmorProfile": {func(s *specs.Spec) { s.Process.ApparmorProfile = "" }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if out.Process.ApparmorProfile != ten.Apparmor {
			t.Errorf("apparmorProfile %q, want %q", out.Process.ApparmorProfile, ten.Apparmor)
		}
	}},
	"process.selinuxLabel": {func(s *specs.Spec) { s.Process.SelinuxLabel = "" }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if out.Process.SelinuxLabel != ten.SELinuxLabel {
			t.Errorf("selinuxLabel %q, want %q", out.Process.SelinuxLabel, ten.SELinuxLabel)
		}
	}},
	"hostname": {func(s *specs.Spec) { s.Hostname = "" }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if out.Hostname != "c1" {
			t.Errorf("hostname %q, want the container id", out.Hostname)
		}
	}},
	"linux.namespaces.user":   {deleteNS(specs.UserNamespace), wantNS(specs.UserNamespace)},
	"linux.namespaces.cgroup": {deleteNS(specs.CgroupNamespace), wantNS(specs.CgroupNamespace)},
	"linux.uidMappings": {func(s *specs.Spec) { s.Linux.UIDMappings = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: ten.UIDs.Start, Size: ten.UIDs.Size}}; !slices.Equal(out.Linux.UIDMappings, want) {
			t.Errorf("uidMappings %v, want %v", out.Linux.UIDMappings, want)
		}
	}},
	"linux.gidMappings": {func(s *specs.Spec) { s.Linux.GIDMappings = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: ten.GIDs.Start, Size: ten.GIDs.Size}}; !slices.Equal(out.Linux.GIDMappings, want) {
			t.Errorf("gidMappings %v, want %v", out.Linux.GIDMappings, want)
		}
	}},
	"linux.seccomp": {func(s *specs.Spec) { s.Linux.Seccomp = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		want, err := newFakeHost().SeccompProfile(ten.SeccompProfile, "")
		if err != nil || !reflect.DeepEqual(out.Linux.Seccomp, want) {
			t.Errorf("seccomp is not the tenant's %q profile (%v)", ten.SeccompProfile, err)
		}
	}},
	"linux.maskedPaths": {func(s *specs.Spec) { s.Linux.MaskedPaths = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		for _, p := range DefaultMaskedPaths {
			if !slices.Contains(out.Linux.MaskedPaths, p) {
				t.Errorf("maskedPaths lack %s", p)
			}
		}
	}},
	"linux.readonlyPaths": {func(s *specs.Spec) { s.Linux.ReadonlyPaths = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		for _, p := range DefaultReadonlyPaths {
			if !slices.Contains(out.Linux.ReadonlyPaths, p) {
				t.Errorf("readonlyPaths lack %s", p)
			}
		}
	}},
	"linux.rootfsPropagation": {func(s *specs.Spec) { s.Linux.RootfsPropagation = "" }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if out.Linux.RootfsPropagation != "rprivate" {
			t.Errorf("rootfsPropagation %q", out.Linux.RootfsPropagation)
		}
	}},
	"linux.mountLabel": {func(s *specs.Spec) { s.Linux.MountLabel = "" }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if out.Linux.MountLabel != ten.MountLabel {
			t.Errorf("mountLabel %q, want %q", out.Linux.MountLabel, ten.MountLabel)
		}
	}},
	"linux.resources.devices": {func(s *specs.Spec) { s.Linux.Resources.Devices = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		d := out.Linux.Resources.Devices
		if len(d) < 2 || d[0].Allow || d[0].Type != "" || d[0].Access != "rwm" || d[0].Major != nil {
			t.Errorf("device rules do not start with deny-all: %+v", d)
		}
	}},
	"linux.resources.memory.limit": {func(s *specs.Spec) { s.Linux.Resources.Memory = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if m := out.Linux.Resources.Memory; m == nil || m.Limit == nil || *m.Limit != ten.Container.Memory {
			t.Errorf("memory %+v, want limit %d", m, ten.Container.Memory)
		}
	}},
	"linux.resources.memory.swap": {func(s *specs.Spec) {
		if s.Linux.Resources.Memory != nil {
			s.Linux.Resources.Memory.Swap = nil
		}
	}, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if m := out.Linux.Resources.Memory; m == nil || m.Swap == nil || m.Limit == nil || *m.Swap != *m.Limit {
			t.Errorf("memory %+v, want swap = limit", m)
		}
	}},
	"linux.resources.pids.limit": {func(s *specs.Spec) { s.Linux.Resources.Pids = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		if p := out.Linux.Resources.Pids; p == nil || p.Limit == nil || *p.Limit != ten.Container.Pids {
			t.Errorf("pids %+v, want %d", p, ten.Container.Pids)
		}
	}},
	"linux.resources.cpu": {func(s *specs.Spec) { s.Linux.Resources.CPU = nil }, func(t *testing.T, out *specs.Spec, ten *Tenant) {
		c := out.Linux.Resources.CPU
		if c == nil || c.Quota == nil || c.Period == nil || *c.Period != 100000 || *c.Quota != int64(ten.Container.CPUs*100000) {
			t.Errorf("cpu %+v, want quota %v of period 100000", c, ten.Container.CPUs*100000)
		}
	}},
}

// absentTOML: a tenant with a value for every row (LSM values included).
const absentTOML = `
[tenants.full]
uid_range = "300000:65536"
gid_range = "400000:65536"
oom_score_adj_min = 100
apparmor_profile = "tenantrun-full"
selinux_label = "system_u:system_r:container_t:s0:c1,c2"
mount_label = "system_u:object_r:container_file_t:s0:c1,c2"
apparmor_allowed = ["tenantrun-other"]
selinux_allowed = ["system_u:system_r:container_t:s0:c3,c4"]
mount_label_allowed = ["system_u:object_r:container_file_t:s0:c3,c4"]
[tenants.full.quota]
memory = "256M"
pids = 100
cpus = 0.5
nofile = 2000
`

// fullSpec has every field of the table present with a value the policy keeps, so
// clearing one leaves exactly that one absent.
func fullSpec(t *testing.T) *specs.Spec {
	s := baseSpec(t)
	s.Process.Capabilities.Inheritable = []string{}
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1000, Soft: 1000}, {Type: "RLIMIT_NPROC", Hard: 50, Soft: 50},
		{Type: "RLIMIT_CORE"}, {Type: "RLIMIT_RTPRIO"}, {Type: "RLIMIT_NICE", Hard: 10, Soft: 10},
		{Type: "RLIMIT_MEMLOCK", Hard: 1 << 20, Soft: 1 << 20}, {Type: "RLIMIT_MSGQUEUE", Hard: 1000, Soft: 1000}}
	s.Process.NoNewPrivileges = true
	s.Process.OOMScoreAdj = ptr(500)
	s.Process.ApparmorProfile = "tenantrun-other"
	s.Process.SelinuxLabel = "system_u:system_r:container_t:s0:c3,c4"
	s.Hostname = "given"
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 1000}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 1000}}
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	s.Linux.RootfsPropagation = "rprivate"
	s.Linux.MountLabel = "system_u:object_r:container_file_t:s0:c3,c4"
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(100 << 20)), Swap: ptr(int64(100 << 20))}
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(20))}
	s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(10000)), Period: ptr(uint64(100000))}
	return s
}

func enforceFull(t *testing.T, mut func(s *specs.Spec)) (*specs.Spec, []Decision, *Tenant) {
	t.Helper()
	s := fullSpec(t)
	mut(s)
	out, ds, ten, err := enforceTOML(t, absentTOML, "full", s)
	if err != nil {
		t.Fatal(err)
	}
	return out, ds, ten
}

// TestAbsentFields: each field of the table absent (one at a time, then all at once)
// comes out with the tenant's value; a present one is left to the rules.
func TestAbsentFields(t *testing.T) {
	full, _, _ := enforceFull(t, func(*specs.Spec) {})
	if full.Hostname != "given" || full.Process.ApparmorProfile != "tenantrun-other" || *full.Process.OOMScoreAdj != 500 {
		t.Fatalf("a present value was filled over: hostname %q, apparmor %q, oom %d", full.Hostname, full.Process.ApparmorProfile, *full.Process.OOMScoreAdj)
	}
	if r, _ := rlimitOf(full.Process, "RLIMIT_NOFILE"); r.Hard != 1000 {
		t.Fatalf("present RLIMIT_NOFILE changed: %+v", r)
	}
	for _, row := range AbsentFields {
		c, ok := absentCases[row.Field()]
		if !ok {
			continue // TestAbsentTableCovered reports it
		}
		t.Run(row.Field(), func(t *testing.T) {
			out, ds, ten := enforceFull(t, c.clear)
			c.want(t, out, ten)
			if row.action != "" && !slices.ContainsFunc(ds, func(d Decision) bool { return d.Old == nil && d.Reason == rowReason(row, ten) }) {
				t.Errorf("filled without its decision")
			}
		})
	}
	t.Run("all", func(t *testing.T) {
		out, _, ten := enforceFull(t, func(s *specs.Spec) {
			for _, c := range absentCases {
				c.clear(s)
			}
		})
		for f, c := range absentCases {
			if strings.HasPrefix(f, "process.capabilities.") || f == "linux.resources.memory.swap" {
				continue // their parent was absent too; checked by the parent's case
			}
			c.want(t, out, ten)
		}
		if inv := invariantViolations(out, ten, &Config{Defaults: Defaults{CgroupParent: DefaultCgroupParent}}, "c1"); len(inv) > 0 {
			t.Errorf("invariants: %v", inv)
		}
	})
}

func rowReason(row AbsentRow, ten *Tenant) string {
	if row.reasonFor != nil {
		return row.reasonFor(ten)
	}
	return row.reason
}

// TestAbsentTableCovered: every row of the table has a case above, every case a row,
// every row is documented in docs/security.md's absent-field table, and each says what
// absence means and what fills it.
func TestAbsentTableCovered(t *testing.T) {
	rows := map[string]bool{}
	for _, row := range AbsentFields {
		f := row.Field()
		if rows[f] {
			t.Errorf("row %s twice", f)
		}
		rows[f] = true
		if _, ok := absentCases[f]; !ok {
			t.Errorf("row %s has no test case", f)
		}
		if row.Means == "" || row.Fill == "" {
			t.Errorf("row %s: Means or Fill empty", f)
		}
	}
	var extra []string
	for f := range absentCases {
		if !rows[f] {
			extra = append(extra, f)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("test cases without a row: %v", extra)
	}
	doc, err := os.ReadFile("../docs/security.md")
	requireTool(t, err == nil, "docs/security.md")
	_, sec, _ := strings.Cut(string(doc), "### Absent fields (invariant 5)")
	sec, _, _ = strings.Cut(sec, "\n### ")
	for f := range rows {
		if !strings.Contains(sec, "`"+f+"`") {
			t.Errorf("docs/security.md's absent-field table lacks `%s`", f)
		}
	}
}

// TestAbsentExecProcess: exec's process.json gets the process rows.
func TestAbsentExecProcess(t *testing.T) {
	cfg, err := ParseConfig([]byte(absentTOML))
	if err != nil {
		t.Fatal(err)
	}
	ten := cfg.Tenants["full"]
	pr := &specs.Process{Args: []string{"sh"}, Cwd: "/"}
	out, _, err := EnforceProcess(ProcessRequest{Process: pr, ContainerID: "c1", Tenant: ten, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	s := &specs.Spec{Process: out}
	for f, c := range absentCases {
		if strings.HasPrefix(f, "process.") && !strings.HasPrefix(f, "process.capabilities.") {
			c.want(t, s, ten)
		}
	}
}

// TestClampResourcesFillsAbsent: ClampResources (create) fills the resource rows;
// ClampUpdate leaves absent limits absent.
func TestClampResourcesFillsAbsent(t *testing.T) {
	cfg, err := ParseConfig([]byte(absentTOML))
	if err != nil {
		t.Fatal(err)
	}
	ten := cfg.Tenants["full"]
	r, _ := ClampResources(nil, ten)
	s := &specs.Spec{Linux: &specs.Linux{Resources: r}}
	for _, f := range []string{"linux.resources.memory.limit", "linux.resources.memory.swap", "linux.resources.pids.limit", "linux.resources.cpu"} {
		absentCases[f].want(t, s, ten)
	}
	if r, _ := ClampUpdate(&specs.LinuxResources{}, ten); r.Memory != nil || r.Pids != nil || r.CPU != nil {
		t.Errorf("update filled absent limits: %+v", r)
	}
}

// TestAbsentHostname: the filled hostname fits HOST_NAME_MAX, and a joined uts
// namespace (a pod's) keeps its name.
func TestAbsentHostname(t *testing.T) {
	long := strings.Repeat("a", 100)
	out, _, err := run(t, func(s *specs.Spec) { s.Hostname = "" }, func(r *Request) { r.ContainerID = long })
	if err != nil || out.Hostname != long[:64] {
		t.Fatalf("hostname %q: %v", out.Hostname, err)
	}
	c := &absentCtx{s: &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UTSNamespace, Path: "/proc/1/ns/uts"}}}}, id: "c1"}
	for _, row := range AbsentFields {
		if row.Path == "hostname" && row.absent(c) {
			t.Error("hostname filled in a joined uts namespace")
		}
	}
}

package hardening

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const lsmTOML = `
[defaults]
apparmor_allowed = ["tenantrun-default", "ns//hat"]
selinux_allowed = ["system_u:system_r:container_t:s0:c100,c200"]
mount_label_allowed = ["system_u:object_r:container_file_t:s0:c100,c200"]
[tenants.forced]
uid_range = "300000:65536"
apparmor_profile = "tenantrun-forced"
selinux_label = "system_u:system_r:container_t:s0:c1,c2"
mount_label = "system_u:object_r:container_file_t:s0:c1,c2"
[tenants.bare]
uid_range = "400000:65536"
[tenants.own]
uid_range = "500000:65536"
apparmor_allowed = []
selinux_allowed = ["system_u:system_r:container_t:s0:c7,c8"]
`

// lsmHostile are values a bundle may carry that are neither a tenant's forced value nor
// allowlisted: each must come out as the tenant's value, or cleared, or be refused.
var lsmHostile = []string{
	"", "unconfined", "crun", "runc", "docker-default", "lxc-container-default-with-nesting",
	"unconfined ", " unconfined", "Unconfined", "tenantrun-default\n", "tenantrun-default ", "tenantrun default",
	"my profile", "crun\nunconfined", "tenantrun-forced-x", "ns//hat//x", "\x00",
	"system_u:system_r:container_runtime_t:s0",
	"system_u:system_r:container_runtime_t:s0-s0:c0.c1023",
	"system_u:system_r:unconfined_t:s0",
	"unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
	"staff_u:staff_r:unconfined_t:s0",
	"user_u:object_r:unconfined_t",
	"system_u:system_r:spc_t:s0",
	"system_u:system_r:spc_t:s0:c1,c2",
	"system_u:system_r:kernel_t:s0",
	"system_u:system_r:init_t:s0",
	"system_u:system_r:container_t:s0",
	"system_u:system_r:container_t:s0:c100,c201",
	"system_u:system_r:container_t:s0:c100,c200 ",
	"system_u:system_r:container_t:s0:c100,c200\n",
	"system_u:system_r:container_t:s0:c100,c200\nsystem_u:system_r:spc_t:s0",
	"system_u:object_r:container_file_t:s0:c100,c201",
	"system_u:object_r:etc_t:s0",
	"container_t",
}

// enforceTOML enforces s (as container c1 of the hostile runner's bundle layout) for a
// tenant of a configuration given as TOML.
func enforceTOML(t *testing.T, conf, tenant string, s *specs.Spec) (*specs.Spec, []Decision, *Tenant, error) {
	t.Helper()
	cfg, err := ParseConfig([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	ten := cfg.Tenants[tenant]
	out, ds, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: ten, Config: cfg, Host: newFakeHost()})
	return out, ds, ten, err
}

func lsmReq(t *testing.T, tenant string, mut func(s *specs.Spec)) (*specs.Spec, []Decision, error) {
	t.Helper()
	s := baseSpec(t)
	mut(s)
	out, ds, _, err := enforceTOML(t, lsmTOML, tenant, s)
	return out, ds, err
}

type lsmField struct {
	path  string
	set   func(s *specs.Spec, v string)
	get   func(s *specs.Spec) string
	force func(t *Tenant) string
	allow func(t *Tenant) []string
}

var lsmFields = []lsmField{
	{"process.apparmorProfile", func(s *specs.Spec, v string) { s.Process.ApparmorProfile = v }, func(s *specs.Spec) string { return s.Process.ApparmorProfile },
		func(t *Tenant) string { return t.Apparmor }, func(t *Tenant) []string { return t.ApparmorAllowed }},
	{"process.selinuxLabel", func(s *specs.Spec, v string) { s.Process.SelinuxLabel = v }, func(s *specs.Spec) string { return s.Process.SelinuxLabel },
		func(t *Tenant) string { return t.SELinuxLabel }, func(t *Tenant) []string { return t.SELinuxAllowed }},
	{"linux.mountLabel", func(s *specs.Spec, v string) { s.Linux.MountLabel = v }, func(s *specs.Spec) string { return s.Linux.MountLabel },
		func(t *Tenant) string { return t.MountLabel }, func(t *Tenant) []string { return t.MountLabelAllowed }},
}

// TestLSMHostileValuesNeverPassThrough: a value that is neither the tenant's nor on the
// allowlist is replaced by the tenant's value, cleared when the tenant has none, or (a
// value that only asks for no confinement) refused; never run as given.
func TestLSMHostileValuesNeverPassThrough(t *testing.T) {
	cfg, err := ParseConfig([]byte(lsmTOML))
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"forced", "bare", "own"} {
		ten := cfg.Tenants[tn]
		for _, f := range lsmFields {
			for _, v := range lsmHostile {
				out, ds, err := lsmReq(t, tn, func(s *specs.Spec) { f.set(s, v) })
				if err != nil {
					var re *RefusedError
					if !errors.As(err, &re) || len(re.Refusals) != 1 || re.Refusals[0].Path != f.path {
						t.Errorf("%s %s=%q: %v", tn, f.path, v, err)
					} else if !badLabel(v) && v != "unconfined" {
						t.Errorf("%s %s=%q refused, want overridden or cleared: %v", tn, f.path, v, err)
					}
					continue
				}
				if got, want := f.get(out), f.force(ten); got != want {
					t.Errorf("%s %s=%q: got %q, want the tenant's %q", tn, f.path, v, got, want)
				}
				if v != f.force(ten) && !hasDecision(ds, f.path, "") {
					t.Errorf("%s %s=%q: changed without a decision", tn, f.path, v)
				}
			}
		}
	}
}

// TestLSMAllowlistedKeptExactly: an allowlisted value is kept byte for byte, with an
// allow decision; the tenant's own value is kept quietly.
func TestLSMAllowlistedKeptExactly(t *testing.T) {
	cfg, err := ParseConfig([]byte(lsmTOML))
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"forced", "bare", "own"} {
		ten := cfg.Tenants[tn]
		for _, f := range lsmFields {
			for _, v := range f.allow(ten) {
				out, ds, err := lsmReq(t, tn, func(s *specs.Spec) { f.set(s, v) })
				if err != nil {
					t.Fatalf("%s %s=%q: %v", tn, f.path, v, err)
				}
				if got := f.get(out); got != v {
					t.Errorf("%s %s=%q: got %q", tn, f.path, v, got)
				}
				if !hasDecision(ds, f.path, ActionAllow) {
					t.Errorf("%s %s=%q: kept without an allow decision", tn, f.path, v)
				}
			}
			if v := f.force(ten); v != "" {
				out, _, err := lsmReq(t, tn, func(s *specs.Spec) { f.set(s, v) })
				if err != nil || f.get(out) != v {
					t.Errorf("%s %s: the tenant's own %q not kept: %v", tn, f.path, v, err)
				}
			}
		}
	}
	// A tenant's list replaces the defaults': "own" allows no AppArmor profile at all.
	if own := cfg.Tenants["own"]; len(own.ApparmorAllowed) != 0 || len(own.SELinuxAllowed) != 1 || len(own.MountLabelAllowed) != 1 {
		t.Errorf("own: %q %q %q", own.ApparmorAllowed, own.SELinuxAllowed, own.MountLabelAllowed)
	}
	out, _, err := lsmReq(t, "own", func(s *specs.Spec) { s.Process.ApparmorProfile = "tenantrun-default" })
	if err != nil || out.Process.ApparmorProfile != "" {
		t.Errorf("own: the defaults' profile kept although the tenant's list replaces it: %v", err)
	}
}

// TestLSMExecProcess: exec's process.json gets the same rule.
func TestLSMExecProcess(t *testing.T) {
	cfg, err := ParseConfig([]byte(lsmTOML))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "crun", "system_u:system_r:container_runtime_t:s0"} {
		pr := baseSpec(t).Process
		pr.ApparmorProfile, pr.SelinuxLabel = v, v
		out, _, err := EnforceProcess(ProcessRequest{Process: pr, ContainerID: "c1", Tenant: cfg.Tenants["forced"], Config: cfg})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if out.ApparmorProfile != "tenantrun-forced" || out.SelinuxLabel != "system_u:system_r:container_t:s0:c1,c2" {
			t.Errorf("exec %q: %q %q", v, out.ApparmorProfile, out.SelinuxLabel)
		}
	}
	pr := baseSpec(t).Process
	pr.ApparmorProfile = "unconfined"
	if _, _, err := EnforceProcess(ProcessRequest{Process: pr, ContainerID: "c1", Tenant: cfg.Tenants["bare"], Config: cfg}); err == nil {
		t.Error("exec with apparmorProfile unconfined ran")
	}
}

// TestLSMConfigValidated: allowlists and forced values are checked at load.
func TestLSMConfigValidated(t *testing.T) {
	for _, c := range []struct{ toml, key string }{
		{`[defaults]` + "\n" + `apparmor_allowed = ["unconfined"]`, "defaults.apparmor_allowed[0]"},
		{`[defaults]` + "\n" + `apparmor_allowed = ["a", "a"]`, "defaults.apparmor_allowed[1]"},
		{`[defaults]` + "\n" + `apparmor_allowed = [""]`, "defaults.apparmor_allowed[0]"},
		{`[defaults]` + "\n" + `apparmor_allowed = ["my profile"]`, "defaults.apparmor_allowed[0]"},
		{`[defaults]` + "\n" + `apparmor_allowed = ["crun\n"]`, "defaults.apparmor_allowed[0]"},
		{`[defaults]` + "\n" + `selinux_allowed = ["system_u:system_r:spc_t:s0"]`, "defaults.selinux_allowed[0]"},
		{`[defaults]` + "\n" + `selinux_allowed = ["system_u:system_r:container_runtime_t:s0"]`, "defaults.selinux_allowed[0]"},
		{`[defaults]` + "\n" + `selinux_allowed = ["container_t"]`, "defaults.selinux_allowed[0]"},
		{`[defaults]` + "\n" + `mount_label_allowed = ["system_u:object_r:x_t:s0 "]`, "defaults.mount_label_allowed[0]"},
		{`[tenants.a]` + "\n" + `uid_range = "300000:65536"` + "\n" + `apparmor_profile = "unconfined"`, "tenants.a.apparmor_profile"},
		{`[tenants.a]` + "\n" + `uid_range = "300000:65536"` + "\n" + `selinux_label = "unconfined_u:unconfined_r:unconfined_t:s0"`, "tenants.a.selinux_label"},
		{`[tenants.a]` + "\n" + `uid_range = "300000:65536"` + "\n" + `mount_label = "x:y"`, "tenants.a.mount_label"},
		{`[tenants.a]` + "\n" + `uid_range = "300000:65536"` + "\n" + `selinux_allowed = ["system_u:system_r:kernel_t:s0"]`, "tenants.a.selinux_allowed[0]"},
	} {
		_, err := ParseConfig([]byte(c.toml))
		if err == nil || !strings.Contains(err.Error(), "key "+c.key+":") {
			t.Errorf("%s: want an error naming key %s, got %v", c.toml, c.key, err)
		}
	}
}

// hasDecision: a decision at path (with action a, unless a is "").
func hasDecision(ds []Decision, path string, a Action) bool {
	return slices.ContainsFunc(ds, func(d Decision) bool { return d.Path == path && (a == "" || d.Action == a) })
}

// TestLSMNeedsTheHostsLSM: on a host that does not enforce an LSM, no value of that LSM
// reaches libcontainer: a tenant's forced value and an allowlisted bundle value are
// refused naming the field and the key; a value that would be cleared is still cleared.
func TestLSMNeedsTheHostsLSM(t *testing.T) {
	cfg, err := ParseConfig([]byte(lsmTOML))
	if err != nil {
		t.Fatal(err)
	}
	run := func(noLSM string, tenant string, mut func(s *specs.Spec)) (*specs.Spec, error) {
		s := baseSpec(t)
		mut(s)
		h := newFakeHost()
		h.NoLSM = map[string]bool{noLSM: true}
		out, _, err := Enforce(Request{Spec: s, Bundle: hostileBundleParent + "/c1", ContainerID: "c1", Tenant: cfg.Tenants[tenant], Config: cfg, Host: h})
		return out, err
	}
	refusedAt := func(t *testing.T, err error, path, want string) {
		t.Helper()
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("want a refusal at %s, got %v", path, err)
		}
		for _, r := range re.Refusals {
			if r.Path == path && strings.Contains(r.Reason, want) {
				return
			}
		}
		t.Fatalf("no refusal at %s mentioning %q: %v", path, want, err)
	}
	t.Run("forced-apparmor", func(t *testing.T) {
		_, err := run("apparmor", "forced", func(s *specs.Spec) {})
		refusedAt(t, err, "process.apparmorProfile", `"tenantrun-forced" (the tenant's apparmor_profile) needs AppArmor`)
	})
	t.Run("forced-selinux", func(t *testing.T) {
		_, err := run("selinux", "forced", func(s *specs.Spec) {})
		refusedAt(t, err, "process.selinuxLabel", "needs SELinux")
		refusedAt(t, err, "linux.mountLabel", "needs SELinux")
	})
	t.Run("allowlisted-apparmor", func(t *testing.T) {
		_, err := run("apparmor", "bare", func(s *specs.Spec) { s.Process.ApparmorProfile = "tenantrun-default" })
		refusedAt(t, err, "process.apparmorProfile", "on the operator's apparmor_allowed")
	})
	t.Run("cleared-stays-cleared", func(t *testing.T) {
		out, err := run("apparmor", "bare", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" })
		if err != nil || out.Process.ApparmorProfile != "" {
			t.Fatalf("a value on no allowlist is cleared, host LSM or not: %v %q", err, out.Process.ApparmorProfile)
		}
	})
	t.Run("other-lsm-unaffected", func(t *testing.T) {
		out, err := run("selinux", "bare", func(s *specs.Spec) { s.Process.ApparmorProfile = "tenantrun-default" })
		if err != nil || out.Process.ApparmorProfile != "tenantrun-default" {
			t.Fatalf("AppArmor on a host without SELinux: %v", err)
		}
	})
	t.Run("unconfined-refused-once", func(t *testing.T) {
		_, err := run("apparmor", "bare", func(s *specs.Spec) { s.Process.ApparmorProfile = "unconfined" })
		refusedAt(t, err, "process.apparmorProfile", "is unconfined")
	})
}

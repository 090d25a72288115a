package hardening

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LSM fields: process.apparmorProfile, process.selinuxLabel, linux.mountLabel.
//
// The invariant (docs/security.md, invariant 10): what reaches libcontainer is the
// tenant's configured value, a value on the operator's allowlist (exact match), or
// nothing. A bundle's own value is never judged by its name: an unconfined domain has
// any name the host's policy gives it (container_runtime_t, or an AppArmor profile
// loaded with flags=(unconfined) such as Ubuntu 24.04's `crun`), so a denylist always
// misses one. Absence is filled by the absent-field table (absent.go).

// lsmKind describes one LSM field.
type lsmKind struct {
	what      string // "AppArmor profile"
	lsm       string // Host.LSMEnabled's name: "apparmor", "selinux"
	lsmName   string // "AppArmor"
	forcedKey string // tenant key of the forced value
	allowKey  string // key of the allowlist
	// refused: a value that only asks for no confinement at all; refused so the user
	// learns why (the hostile corpus and policy reference require it), not overridden.
	refused func(string) bool
	// check: why a value cannot be configured (load time); "" if it can.
	check func(string) string
}

var (
	lsmAppArmor = lsmKind{"AppArmor profile", "apparmor", "AppArmor", "apparmor_profile", "apparmor_allowed",
		func(v string) bool { return v == "unconfined" }, checkAppArmorName}
	lsmSELinux = lsmKind{"SELinux process label", "selinux", "SELinux", "selinux_label", "selinux_allowed",
		badLabel, checkSELinuxLabel}
	lsmMount = lsmKind{"SELinux mount label", "selinux", "SELinux", "mount_label", "mount_label_allowed",
		badLabel, checkSELinuxLabel}
)

// badLabel: an SELinux label naming the super-privileged or unconfined domain.
func badLabel(l string) bool {
	return strings.Contains(l, "spc_t") || strings.Contains(l, "unconfined_t")
}

// unconfinedSELinuxTypes are types of the targeted and MLS policies that are unconfined
// or run the host; an operator list naming one is a configuration error.
var unconfinedSELinuxTypes = []string{"spc_t", "unconfined_t", "unconfined_service_t", "container_runtime_t",
	"kernel_t", "init_t", "initrc_t", "sysadm_t", "docker_t"}

// printableNoSpace: printable ASCII without spaces (libcontainer writes the value into
// /proc/self/attr/* as one word).
func printableNoSpace(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

func checkAppArmorName(v string) string {
	switch {
	case v == "":
		return "empty"
	case len(v) > 1024:
		return "longer than 1024 bytes"
	case !printableNoSpace(v):
		return "contains a space, a control character or non-ASCII"
	case v == "unconfined":
		return "is AppArmor's unconfined mode"
	}
	return ""
}

func checkSELinuxLabel(v string) string {
	switch {
	case v == "":
		return "empty"
	case len(v) > 4096:
		return "longer than 4096 bytes"
	case !printableNoSpace(v):
		return "contains a space, a control character or non-ASCII"
	}
	parts := strings.SplitN(v, ":", 4)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "is not user:role:type[:level]"
	}
	if slices.Contains(unconfinedSELinuxTypes, parts[2]) || badLabel(v) {
		return fmt.Sprintf("names the unconfined domain %s", parts[2])
	}
	return ""
}

// checkLSMList validates an allowlist: every entry a valid value, no duplicates.
func checkLSMList(key string, k lsmKind, list []string) error {
	for i, v := range list {
		if why := k.check(v); why != "" {
			return fmt.Errorf("key %s.%s[%d]: %q %s", key, k.allowKey, i, v, why)
		}
		if slices.Index(list, v) != i {
			return fmt.Errorf("key %s.%s[%d]: %q listed twice", key, k.allowKey, i, v)
		}
	}
	return nil
}

func checkLSMAllowlists(key string, apparmor, selinux, mount []string) error {
	for _, l := range []struct {
		k    lsmKind
		list []string
	}{{lsmAppArmor, apparmor}, {lsmSELinux, selinux}, {lsmMount, mount}} {
		if err := checkLSMList(key, l.k, l.list); err != nil {
			return err
		}
	}
	return nil
}

// buildTenantLSM resolves a tenant's forced LSM values and allowlists (a tenant's own
// list replaces the [defaults] one).
func buildTenantLSM(k string, r *rawTenant, d *Defaults, t *Tenant) error {
	for _, f := range []struct {
		kind lsmKind
		v    string
	}{{lsmAppArmor, r.Apparmor}, {lsmSELinux, r.SELinuxLabel}, {lsmMount, r.MountLabel}} {
		if f.v == "" {
			continue
		}
		if why := f.kind.check(f.v); why != "" {
			return fmt.Errorf("key %s.%s: %q %s", k, f.kind.forcedKey, f.v, why)
		}
	}
	t.Apparmor, t.SELinuxLabel, t.MountLabel = r.Apparmor, r.SELinuxLabel, r.MountLabel
	pick := func(own *[]string, def []string) []string {
		if own != nil {
			return slices.Clone(*own)
		}
		return slices.Clone(def)
	}
	t.ApparmorAllowed = pick(r.ApparmorAllowed, d.ApparmorAllowed)
	t.SELinuxAllowed = pick(r.SELinuxAllowed, d.SELinuxAllowed)
	t.MountLabelAllowed = pick(r.MountLabelAllowed, d.MountLabelAllowed)
	return checkLSMAllowlists(k, t.ApparmorAllowed, t.SELinuxAllowed, t.MountLabelAllowed)
}

// enforceLSMProcess applies the LSM rule to a process (config.json's or exec's).
func (p *pol) enforceLSMProcess(base string, pr *specs.Process, t *Tenant) {
	pr.ApparmorProfile = p.lsmValue(base+".apparmorProfile", pr.ApparmorProfile, t.Apparmor, t.ApparmorAllowed, lsmAppArmor)
	pr.SelinuxLabel = p.lsmValue(base+".selinuxLabel", pr.SelinuxLabel, t.SELinuxLabel, t.SELinuxAllowed, lsmSELinux)
}

// enforceMountLabel applies the LSM rule to linux.mountLabel.
func (p *pol) enforceMountLabel(l *specs.Linux, t *Tenant) {
	l.MountLabel = p.lsmValue("linux.mountLabel", l.MountLabel, t.MountLabel, t.MountLabelAllowed, lsmMount)
}

// lsmValue is the value of one LSM field: the tenant's forced value or an allowlisted
// one is kept; a value that asks for no confinement is refused; anything else becomes
// the tenant's value, or nothing when the tenant has none. Never the bundle's own. A
// value on a host that does not enforce its LSM is refused.
func (p *pol) lsmValue(path, have, forced string, allowed []string, k lsmKind) string {
	v := p.lsmChoice(path, have, forced, allowed, k)
	// A value reaches libcontainer only where the kernel enforces it: on a host without
	// the LSM the confinement the operator asked for cannot be given, and libcontainer
	// would fail inside the container's init. Refused here, before anything is set up.
	if v != "" && v == have && k.refused(v) {
		return v // already refused
	}
	if v != "" && p.host != nil && !p.host.LSMEnabled(k.lsm) {
		src := fmt.Sprintf("the tenant's %s", k.forcedKey)
		if v != forced {
			src = fmt.Sprintf("on the operator's %s", k.allowKey)
		}
		p.refuse(path, fmt.Sprintf("%s %q (%s) needs %s, which this host does not enforce: enable it or remove the value from the configuration", k.what, v, src, k.lsmName))
	}
	return v
}

// lsmChoice is lsmValue's choice, before the host check.
func (p *pol) lsmChoice(path, have, forced string, allowed []string, k lsmKind) string {
	switch {
	case have == forced, have == "": // "" only when the tenant has no value (absent.go fills it)
		return have
	case k.refused(have):
		p.refuse(path, fmt.Sprintf("%q is unconfined", have))
		return have
	case slices.Contains(allowed, have):
		p.decide(path, ActionAllow, have, have, fmt.Sprintf("on the operator's %s", k.allowKey))
		return have
	case forced != "":
		p.decide(path, ActionOverride, have, forced, fmt.Sprintf("not on the operator's %s: the tenant's %s (%s)", k.allowKey, k.what, k.forcedKey))
		return forced
	}
	p.decide(path, ActionOverride, have, "", fmt.Sprintf("not on the operator's %s and the tenant sets no %s: cleared", k.allowKey, k.forcedKey))
	return ""
}

package hardening

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allCaps are the capability names this policy knows (Linux 6.x).
var allCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func knownCap(c string) bool { return slices.Contains(allCaps, c) }

// dangerousCaps are refused in any set: only someone trying to escalate asks for them.
var dangerousCaps = map[string]string{
	"CAP_SYS_ADMIN":          "mount, namespaces, most of the kernel's admin interfaces",
	"CAP_SYS_MODULE":         "loads kernel modules",
	"CAP_SYS_PTRACE":         "traces and reads other processes",
	"CAP_DAC_READ_SEARCH":    "open_by_handle_at escapes bind mounts (shocker)",
	"CAP_NET_ADMIN":          "reconfigures networking and netfilter",
	"CAP_BPF":                "loads BPF programs",
	"CAP_PERFMON":            "perf events expose kernel and other tenants' activity",
	"CAP_SYS_RAWIO":          "raw I/O ports and devices",
	"CAP_SYS_BOOT":           "reboot and kexec",
	"CAP_SYS_TIME":           "sets the host clock",
	"CAP_SYS_RESOURCE":       "overrides resource limits and quotas",
	"CAP_SYS_NICE":           "real-time scheduling starves other tenants",
	"CAP_SYS_PACCT":          "process accounting on the host",
	"CAP_SYS_TTY_CONFIG":     "reconfigures terminals",
	"CAP_MAC_ADMIN":          "changes the LSM policy",
	"CAP_MAC_OVERRIDE":       "bypasses the LSM policy",
	"CAP_SYSLOG":             "reads the kernel log and kernel addresses",
	"CAP_AUDIT_CONTROL":      "changes the host audit configuration",
	"CAP_AUDIT_READ":         "reads the host audit log",
	"CAP_LINUX_IMMUTABLE":    "changes immutable and append-only flags",
	"CAP_IPC_OWNER":          "bypasses IPC permission checks",
	"CAP_IPC_LOCK":           "locks memory outside the memory limit's reclaim",
	"CAP_WAKE_ALARM":         "wakes the host from suspend",
	"CAP_BLOCK_SUSPEND":      "blocks host suspend",
	"CAP_CHECKPOINT_RESTORE": "checkpoint/restore of other processes",
	"CAP_LEASE":              "file leases on shared files",
	"CAP_NET_BROADCAST":      "broadcast and multicast listening",
}

// capSets returns pointers to the five capability sets with their JSON names.
func capSets(c *specs.LinuxCapabilities) []struct {
	name string
	set  *[]string
} {
	return []struct {
		name string
		set  *[]string
	}{
		{"bounding", &c.Bounding}, {"effective", &c.Effective}, {"permitted", &c.Permitted},
		{"inheritable", &c.Inheritable}, {"ambient", &c.Ambient},
	}
}

// enforceCaps strips every set to the tenant allowlist, refuses dangerous or unknown
// capabilities, and empties inheritable and ambient.
//
// An absent capabilities object (every capability to libcontainer) or set was filled
// by the absent-field table (absent.go) before this runs.
func (p *pol) enforceCaps(base string, c *specs.LinuxCapabilities, t *Tenant) *specs.LinuxCapabilities {
	for _, s := range capSets(c) {
		path := base + "." + s.name
		var kept, dropped []string
		for _, name := range *s.set {
			switch {
			case !knownCap(name):
				p.refuse(path, fmt.Sprintf("unknown capability %q", name))
			case dangerousCaps[name] != "":
				p.refuseIn(path, fmt.Sprintf("%s is never granted to a tenant (%s)", name, dangerousCaps[name]), path, groupCaps, name)
			case s.name == "inheritable" || s.name == "ambient":
				dropped = append(dropped, name)
			case slices.Contains(t.Capabilities, name):
				if !slices.Contains(kept, name) {
					kept = append(kept, name)
				} else {
					dropped = append(dropped, name)
				}
			default: // NET_RAW, MKNOD, AUDIT_WRITE and any harmless capability the tenant lacks
				dropped = append(dropped, name)
			}
		}
		if len(dropped) > 0 {
			old := *s.set
			if kept == nil {
				kept = []string{}
			}
			reason := "capabilities outside the tenant allowlist dropped"
			if s.name == "inheritable" || s.name == "ambient" {
				reason = s.name + " capabilities survive exec (CVE-2022-29162); always empty"
			}
			*s.set = kept
			p.decide(path, ActionOverride, old, kept, reason)
		}
	}
	return c
}

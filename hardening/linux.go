package hardening

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultMaskedPaths and DefaultReadonlyPaths are runc's defaults plus what Podman adds.
var DefaultMaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
	"/proc/interrupts", "/sys/devices/virtual/powercap", "/sys/dev/block",
}
var DefaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// safeSysctls are namespaced sysctls (the Kubernetes safe set plus IPC and net.*).
var safeSysctlExact = map[string]bool{
	"kernel.shm_rmid_forced": true, "kernel.shmmax": true, "kernel.shmall": true, "kernel.shmmni": true,
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"net.core.somaxconn": true, "net.unix.max_dgram_qlen": true,
}
var safeSysctlPrefixes = []string{"fs.mqueue.", "net.ipv4.", "net.ipv6."}

type devKey struct {
	typ          string
	major, minor int64
}

// defaultDevices are the only device nodes a tenant gets (fuse optional).
var defaultDevices = map[string]devKey{
	"/dev/null": {"c", 1, 3}, "/dev/zero": {"c", 1, 5}, "/dev/full": {"c", 1, 7},
	"/dev/random": {"c", 1, 8}, "/dev/urandom": {"c", 1, 9}, "/dev/tty": {"c", 5, 0}, "/dev/ptmx": {"c", 5, 2},
}

var fuseDevice = devKey{"c", 10, 229}

func i64(v int64) *int64 { return &v }

// defaultDeviceRules: deny everything, then allow the default device set, the console
// (libcontainer allows c 5:1 itself) and ptys.
func defaultDeviceRules(fuse bool) []specs.LinuxDeviceCgroup {
	r := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	keys := []devKey{{"c", 1, 3}, {"c", 1, 5}, {"c", 1, 7}, {"c", 1, 8}, {"c", 1, 9}, {"c", 5, 0}, {"c", 5, 1}, {"c", 5, 2}}
	if fuse {
		keys = append(keys, fuseDevice)
	}
	for _, k := range keys {
		r = append(r, specs.LinuxDeviceCgroup{Allow: true, Type: k.typ, Major: i64(k.major), Minor: i64(k.minor), Access: "rwm"})
	}
	r = append(r, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(136), Access: "rwm"}) // /dev/pts/*
	return r
}

func (p *pol) enforceLinuxMisc(s *specs.Spec, t *Tenant) {
	l := s.Linux
	// sysctl
	keys := make([]string, 0, len(l.Sysctl))
	for k := range l.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := l.Sysctl[k]
		if !safeSysctl(k) {
			p.refuse("linux.sysctl", fmt.Sprintf("%s is not a namespaced sysctl a tenant may set", k))
			continue
		}
		if strings.ContainsAny(v, "\n\r+=\x00|") || len(v) > 256 {
			p.refuse("linux.sysctl", fmt.Sprintf("value of %s contains forbidden characters (CVE-2022-0811 injection)", k))
		}
	}
	// devices
	for i, d := range l.Devices {
		want, ok := defaultDevices[d.Path]
		got := devKey{d.Type, d.Major, d.Minor}
		if d.Path == "/dev/fuse" && t.AllowFuse && got == fuseDevice {
			continue
		}
		if !ok || got != want {
			p.refuseIn(fmt.Sprintf("linux.devices[%d]", i), fmt.Sprintf("device %s (%s %d:%d) is not one of the default devices", d.Path, d.Type, d.Major, d.Minor),
				"linux.devices", groupDevices, fmt.Sprintf("%s %s %d:%d", d.Path, d.Type, d.Major, d.Minor))
		}
	}
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	rules := defaultDeviceRules(t.AllowFuse)
	for i, d := range l.Resources.Devices {
		if !d.Allow {
			continue
		}
		if !ruleCovered(d, rules) {
			p.refuse(fmt.Sprintf("linux.resources.devices[%d]", i), fmt.Sprintf("allows device access %s %s:%s %q beyond the default devices", orStar(d.Type), ptrStr(d.Major), ptrStr(d.Minor), d.Access))
		}
	}
	if !devRulesEqual(l.Resources.Devices, rules) {
		p.decide("linux.resources.devices", ActionOverride, len(l.Resources.Devices), len(rules), "deny all devices, then allow only the default set")
		l.Resources.Devices = rules
	}
	if l.IntelRdt != nil {
		p.refuse("linux.intelRdt", "a shared closID rewrites cache allocation for everyone")
	}
	if l.NetDevices != nil {
		p.refuse("linux.netDevices", "moves a host network interface into the container")
	}
	if l.Personality != nil {
		p.refuse("linux.personality", "legacy execution domains are not allowed")
	}
	if l.MemoryPolicy != nil {
		p.refuse("linux.memoryPolicy", "NUMA placement is not part of a tenant's quota")
	}
	switch l.RootfsPropagation {
	case "rprivate":
	case "private": // absent: filled by the absent-field table
		p.decide("linux.rootfsPropagation", ActionOverride, l.RootfsPropagation, "rprivate", "mounts never propagate between host and container")
		l.RootfsPropagation = "rprivate"
	default:
		p.refuse("linux.rootfsPropagation", fmt.Sprintf("%q propagates mounts between host and container", l.RootfsPropagation))
	}
	p.enforceMountLabel(l, t)
	if nm := unionPaths(l.MaskedPaths, DefaultMaskedPaths); len(nm) != len(l.MaskedPaths) {
		p.decide("linux.maskedPaths", ActionOverride, l.MaskedPaths, nm, "runc's default masks are always applied")
		l.MaskedPaths = nm
	}
	if nr := unionPaths(l.ReadonlyPaths, DefaultReadonlyPaths); len(nr) != len(l.ReadonlyPaths) {
		p.decide("linux.readonlyPaths", ActionOverride, l.ReadonlyPaths, nr, "runc's default read-only paths are always applied")
		l.ReadonlyPaths = nr
	}
}

func safeSysctl(k string) bool {
	if safeSysctlExact[k] {
		return true
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	if strings.Contains(k, "..") {
		return false
	}
	for _, pre := range safeSysctlPrefixes {
		if strings.HasPrefix(k, pre) {
			return true
		}
	}
	return false
}

func unionPaths(have, defaults []string) []string {
	out := have
	for _, d := range defaults {
		if !slices.Contains(out, d) {
			if len(out) == len(have) {
				out = slices.Clone(have)
			}
			out = append(out, d)
		}
	}
	return out
}

func orStar(s string) string {
	if s == "" {
		return "a"
	}
	return s
}

func ptrStr(p *int64) string {
	if p == nil {
		return "*"
	}
	return fmt.Sprint(*p)
}

// ruleCovered reports whether an allow rule grants nothing beyond the default rules.
func ruleCovered(d specs.LinuxDeviceCgroup, rules []specs.LinuxDeviceCgroup) bool {
	if d.Type != "c" || d.Major == nil {
		return false
	}
	for _, r := range rules[1:] {
		if *r.Major != *d.Major {
			continue
		}
		if r.Minor == nil || (d.Minor != nil && *d.Minor == *r.Minor) {
			for _, a := range d.Access {
				if !strings.ContainsRune(r.Access, a) {
					return false
				}
			}
			return true
		}
	}
	return false
}

func devRulesEqual(a, b []specs.LinuxDeviceCgroup) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y *int64) bool { return (x == nil && y == nil) || (x != nil && y != nil && *x == *y) }
	for i := range a {
		if a[i].Allow != b[i].Allow || a[i].Type != b[i].Type || a[i].Access != b[i].Access || !eq(a[i].Major, b[i].Major) || !eq(a[i].Minor, b[i].Minor) {
			return false
		}
	}
	return true
}

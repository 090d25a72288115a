package hardening

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var knownRlimits = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true, "RLIMIT_FSIZE": true,
	"RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true, "RLIMIT_NICE": true,
	"RLIMIT_NOFILE": true, "RLIMIT_NPROC": true, "RLIMIT_RSS": true, "RLIMIT_RTPRIO": true,
	"RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
}

// enforceProcess applies the process rules; base is the JSON path of the process
// ("process" in config.json, also "process" for exec's process.json).
func (p *pol) enforceProcess(base string, pr *specs.Process, t *Tenant, cfg *Config, console bool, um, gm []specs.LinuxIDMapping) {
	if pr.Terminal && !console {
		p.refuse(base+".terminal", "terminal requested but the engine gave no --console-socket")
	}
	p.enforceUser(base+".user", &pr.User, t, um, gm)
	if len(pr.Args) == 0 {
		p.refuse(base+".args", "missing")
	} else if bad := badExecPath(pr.Args[0]); bad != "" {
		p.refuse(base+".args[0]", bad)
	}
	if pr.CommandLine != "" {
		p.refuse(base+".commandLine", "windows only")
	}
	p.enforceEnv(base+".env", pr.Env, cfg)
	if pr.Cwd == "" {
		p.refuse(base+".cwd", "missing")
	} else if bad := badCwd(pr.Cwd); bad != "" {
		p.refuse(base+".cwd", bad)
	}
	pr.Capabilities = p.enforceCaps(base+".capabilities", pr.Capabilities, t)
	p.enforceRlimits(base+".rlimits", pr, t)
	p.enforceLSMProcess(base, pr, t)
	// Absent noNewPrivileges, oomScoreAdj, capabilities, rlimits and LSM values were
	// filled by the absent-field table (absent.go).
	floor := t.OOMScoreAdjMin
	switch {
	case *pr.OOMScoreAdj < floor:
		old := *pr.OOMScoreAdj
		v := floor
		pr.OOMScoreAdj = &v
		p.decide(base+".oomScoreAdj", ActionClamp, old, v, "a negative score makes the OOM killer pick host daemons or other tenants")
	case *pr.OOMScoreAdj > 1000:
		old := *pr.OOMScoreAdj
		v := 1000
		pr.OOMScoreAdj = &v
		p.decide(base+".oomScoreAdj", ActionClamp, old, v, "oom_score_adj range is -1000..1000")
	}
	if s := pr.Scheduler; s != nil {
		switch s.Policy {
		case specs.SchedOther, specs.SchedBatch, specs.SchedIdle:
		default:
			p.refuse(base+".scheduler", fmt.Sprintf("policy %q: real-time and deadline scheduling escape cpu quotas", s.Policy))
		}
		if s.Nice < 0 {
			p.refuse(base+".scheduler.nice", "negative nice raises priority over other tenants")
		}
		if s.Priority != 0 || s.Runtime != 0 || s.Deadline != 0 || s.Period != 0 {
			p.refuse(base+".scheduler", "priority/runtime/deadline/period are real-time settings")
		}
		for _, f := range s.Flags {
			if f != specs.SchedFlagResetOnFork {
				p.refuse(base+".scheduler.flags", fmt.Sprintf("flag %q not allowed", f))
			}
		}
	}
	if io := pr.IOPriority; io != nil {
		switch io.Class {
		case specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
			if io.Priority < 0 || io.Priority > 7 {
				p.refuse(base+".ioPriority.priority", "must be 0..7")
			}
		default:
			p.refuse(base+".ioPriority", fmt.Sprintf("class %q: real-time I/O starves other tenants", io.Class))
		}
	}
	if pr.ExecCPUAffinity != nil {
		p.refuse(base+".execCPUAffinity", "pinning to chosen CPUs is not part of a tenant's quota")
	}
}

// enforceUser keeps ids inside the container side of the mapping.
func (p *pol) enforceUser(base string, u *specs.User, t *Tenant, um, gm []specs.LinuxIDMapping) {
	if u.Username != "" {
		p.refuse(base+".username", "windows only")
	}
	if !idMapped(u.UID, um, t.UIDs.Size) {
		p.refuse(base+".uid", fmt.Sprintf("uid %d is outside the tenant's mapping (0..%d)", u.UID, t.UIDs.Size-1))
	}
	if !idMapped(u.GID, gm, t.GIDs.Size) {
		p.refuse(base+".gid", fmt.Sprintf("gid %d is outside the tenant's mapping (0..%d)", u.GID, t.GIDs.Size-1))
	}
	for i, g := range u.AdditionalGids {
		if !idMapped(g, gm, t.GIDs.Size) {
			p.refuse(fmt.Sprintf("%s.additionalGids[%d]", base, i), fmt.Sprintf("gid %d is outside the tenant's mapping", g))
		}
	}
}

func idMapped(id uint32, m []specs.LinuxIDMapping, size uint32) bool {
	if len(m) == 0 {
		return id < size
	}
	for _, e := range m {
		if uint64(id) >= uint64(e.ContainerID) && uint64(id) < uint64(e.ContainerID)+uint64(e.Size) {
			return true
		}
	}
	return false
}

func badExecPath(a string) string {
	if a == "" {
		return "empty executable"
	}
	c := path.Clean("/" + a)
	if strings.HasPrefix(a, "/") && (c == "/proc" || strings.HasPrefix(c, "/proc/")) {
		return "executables under /proc reach host file descriptors (CVE-2024-21626)"
	}
	for _, el := range strings.Split(a, "/") {
		if el == ".." {
			return "'..' in the executable path"
		}
	}
	if strings.ContainsRune(a, 0) {
		return "NUL in the executable path"
	}
	return ""
}

func badCwd(c string) string {
	if !strings.HasPrefix(c, "/") {
		return "must be absolute"
	}
	if path.Clean(c) != c {
		return "must be a clean path (no '..', '.', '//' or trailing '/')"
	}
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		if c == d || strings.HasPrefix(c, d+"/") {
			return fmt.Sprintf("working directory under %s (CVE-2024-21626 used /proc/self/fd)", d)
		}
	}
	return ""
}

func (p *pol) enforceEnv(base string, env []string, cfg *Config) {
	total := 0
	for i, e := range env {
		total += len(e) + 1
		if strings.ContainsRune(e, 0) {
			p.refuse(fmt.Sprintf("%s[%d]", base, i), "NUL in environment entry")
		}
	}
	max := cfg.Defaults.MaxEnvBytes
	if max == 0 {
		max = DefaultMaxEnvBytes
	}
	if total > max {
		p.refuse(base, fmt.Sprintf("environment of %d bytes exceeds %d", total, max))
	}
}

func (p *pol) enforceRlimits(base string, pr *specs.Process, t *Tenant) {
	q := t.Container
	seen := map[string]bool{}
	for i := range pr.Rlimits {
		r := &pr.Rlimits[i]
		ip := fmt.Sprintf("%s[%d]", base, i)
		if !knownRlimits[r.Type] {
			p.refuse(ip+".type", fmt.Sprintf("unknown rlimit %q", r.Type))
			continue
		}
		if seen[r.Type] {
			p.refuse(ip+".type", fmt.Sprintf("duplicate rlimit %s", r.Type))
			continue
		}
		seen[r.Type] = true
		var max uint64
		var why string
		switch r.Type {
		case "RLIMIT_CORE":
			max, why = 0, "core dumps go to the host's core_pattern handler"
		case "RLIMIT_NOFILE":
			max, why = q.Nofile, "tenant nofile quota"
		case "RLIMIT_NPROC":
			max, why = uint64(q.Pids), "tenant pids quota (NPROC counts per host uid)"
		case "RLIMIT_RTPRIO":
			max, why = 0, "no real-time priority"
		case "RLIMIT_NICE":
			max, why = 20, "nice may not go below 0"
		case "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE":
			max, why = uint64(q.Memory), "tenant memory quota"
		default:
			if r.Soft > r.Hard {
				old := *r
				r.Soft = r.Hard
				p.decide(ip, ActionClamp, old, *r, "soft limit above hard limit")
			}
			continue
		}
		if r.Hard > max || r.Soft > max || r.Soft > r.Hard {
			old := *r
			r.Hard = min(r.Hard, max)
			r.Soft = min(r.Soft, r.Hard)
			p.decide(ip, ActionClamp, old, *r, why)
		}
	}
}

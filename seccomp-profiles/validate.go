package profiles

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// archNames maps the OCI architecture names to libseccomp's names.
var archNames = map[specs.Arch]string{
	specs.ArchX86:         "x86",
	specs.ArchX86_64:      "amd64",
	specs.ArchX32:         "x32",
	specs.ArchARM:         "arm",
	specs.ArchAARCH64:     "arm64",
	specs.ArchMIPS:        "mips",
	specs.ArchMIPS64:      "mips64",
	specs.ArchMIPS64N32:   "mips64n32",
	specs.ArchMIPSEL:      "mipsel",
	specs.ArchMIPSEL64:    "mipsel64",
	specs.ArchMIPSEL64N32: "mipsel64n32",
	specs.ArchPPC:         "ppc",
	specs.ArchPPC64:       "ppc64",
	specs.ArchPPC64LE:     "ppc64le",
	specs.ArchS390:        "s390",
	specs.ArchS390X:       "s390x",
	specs.ArchRISCV64:     "riscv64",
	specs.ArchLOONGARCH64: "loong64",
}

// NativeArch is the OCI name of the architecture this binary runs on.
func NativeArch() specs.Arch {
	for a, n := range archNames {
		if n == goruntime.GOARCH {
			return a
		}
	}
	return specs.Arch("SCMP_ARCH_" + strings.ToUpper(goruntime.GOARCH))
}

var defaultActions = map[specs.LinuxSeccompAction]bool{
	specs.ActErrno:       true,
	specs.ActKill:        true,
	specs.ActKillThread:  true,
	specs.ActKillProcess: true,
	specs.ActTrap:        true,
	specs.ActLog:         true, // audit mode: operator's choice, never a tenant's
}

var ruleActions = map[specs.LinuxSeccompAction]bool{
	specs.ActAllow:       true,
	specs.ActErrno:       true,
	specs.ActKill:        true,
	specs.ActKillThread:  true,
	specs.ActKillProcess: true,
	specs.ActTrap:        true,
	specs.ActLog:         true,
}

var flagsOK = map[specs.LinuxSeccompFlag]bool{
	specs.LinuxSeccompFlagLog:              true,
	"SECCOMP_FILTER_FLAG_TSYNC":            true,
	specs.LinuxSeccompFlagWaitKillableRecv: true,
}

var ops = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual:     true,
	specs.OpLessThan:     true,
	specs.OpLessEqual:    true,
	specs.OpEqualTo:      true,
	specs.OpGreaterEqual: true,
	specs.OpGreaterThan:  true,
	specs.OpMaskedEqual:  true,
}

// Validate checks that a profile is one tenantrun can enforce: an allowlist (default action
// not ALLOW), no user-space notification or tracing (NOTIFY, TRACE, listenerPath), no
// SPEC_ALLOW flag, an explicit architecture list that includes the native one, known syscall
// names and actions, and argument conditions libcontainer can compile. Every problem is
// reported with the JSON path of the offending field.
func Validate(p *specs.LinuxSeccomp) error {
	if p == nil {
		return errors.New("seccomp profile: missing")
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	switch {
	case p.DefaultAction == "":
		bad("defaultAction: missing")
	case p.DefaultAction == specs.ActAllow:
		bad("defaultAction: SCMP_ACT_ALLOW refused: a profile must be an allowlist (use SCMP_ACT_ERRNO, or SCMP_ACT_LOG to audit)")
	case p.DefaultAction == specs.ActNotify || p.DefaultAction == specs.ActTrace:
		bad("defaultAction: %s refused: user-space notification and tracing are not supported", p.DefaultAction)
	case !defaultActions[p.DefaultAction]:
		bad("defaultAction: unknown action %q", p.DefaultAction)
	}
	if p.DefaultErrnoRet != nil && p.DefaultAction != specs.ActErrno {
		bad("defaultErrnoRet: only valid with defaultAction SCMP_ACT_ERRNO (got %s)", p.DefaultAction)
	}
	if p.ListenerPath != "" {
		bad("listenerPath: refused: seccomp notification sends the filter fd to a host socket")
	}
	if p.ListenerMetadata != "" {
		bad("listenerMetadata: refused: seccomp notification is not supported")
	}
	for i, f := range p.Flags {
		switch {
		case f == specs.LinuxSeccompFlagSpecAllow:
			bad("flags[%d]: %s refused: it disables speculative store bypass mitigation", i, f)
		case !flagsOK[f]:
			bad("flags[%d]: unknown or unsupported flag %q", i, f)
		}
	}

	native := NativeArch()
	var arches []string
	hasNative := false
	if len(p.Architectures) == 0 {
		bad("architectures: missing: list the architectures explicitly (e.g. [%q]); 32-bit and x32 calls are then denied by the filter", native)
	}
	seen := map[specs.Arch]bool{}
	for i, a := range p.Architectures {
		n, ok := archNames[a]
		switch {
		case !ok:
			bad("architectures[%d]: unknown architecture %q", i, a)
			continue
		case seen[a]:
			bad("architectures[%d]: %s listed twice", i, a)
			continue
		}
		seen[a] = true
		arches = append(arches, n)
		if a == native {
			hasNative = true
		}
	}
	if len(p.Architectures) > 0 && !hasNative {
		bad("architectures: the native architecture %s is not listed", native)
	}

	for i, s := range p.Syscalls {
		at := fmt.Sprintf("syscalls[%d]", i)
		if len(s.Names) == 0 {
			bad("%s.names: empty", at)
		}
		for j, n := range s.Names {
			if n == "" {
				bad("%s.names[%d]: empty name", at, j)
				continue
			}
			if !syscallKnown(n, arches) {
				bad("%s.names[%d]: unknown syscall %q (for architectures %s)", at, j, n, strings.Join(arches, ","))
			}
		}
		switch {
		case s.Action == "":
			bad("%s.action: missing", at)
		case s.Action == specs.ActNotify || s.Action == specs.ActTrace:
			bad("%s.action: %s refused: user-space notification and tracing are not supported", at, s.Action)
		case !ruleActions[s.Action]:
			bad("%s.action: unknown action %q", at, s.Action)
		}
		if s.ErrnoRet != nil && s.Action != specs.ActErrno {
			bad("%s.errnoRet: only valid with action SCMP_ACT_ERRNO (got %s)", at, s.Action)
		}
		if s.ErrnoRet != nil && *s.ErrnoRet > 4095 {
			bad("%s.errnoRet: %d is not an errno (max 4095)", at, *s.ErrnoRet)
		}
		if len(s.Args) > 6 {
			bad("%s.args: %d conditions, a syscall has at most 6 arguments", at, len(s.Args))
		}
		for k, a := range s.Args {
			if a.Index > 5 {
				bad("%s.args[%d].index: %d out of range (0-5)", at, k, a.Index)
			}
			if !ops[a.Op] {
				bad("%s.args[%d].op: unknown operator %q", at, k, a.Op)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid seccomp profile: %s", strings.Join(errs, "; "))
	}
	return nil
}

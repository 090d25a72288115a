//go:build cgo

package profiles

import (
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Build compiles p into a libseccomp filter context (not loaded), following libcontainer's
// rules for the same JSON (libcontainer/seccomp.InitSeccomp): one rule per name, conditions
// on distinct arguments ANDed, several conditions on the same argument split into separate
// (ORed) rules, rules whose action equals the default skipped, names libseccomp cannot
// resolve skipped, the binary-tree optimisation for more than 32 rules. The bad-architecture
// action is libseccomp's default (kill the thread), as under libcontainer.
//
// It is used by `tenantrun seccomp test` and the compile benchmark; the runtime itself lets
// libcontainer compile and load the profile. Unlike Validate, Build accepts SCMP_ACT_NOTIFY
// (the test tool's supervisor mode). The caller must Release the filter.
func Build(p *specs.LinuxSeccomp) (*libseccomp.ScmpFilter, error) {
	if p == nil {
		return nil, errors.New("nil profile")
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("creating filter: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	for i, a := range p.Architectures {
		n, known := archNames[a]
		if !known {
			return nil, fmt.Errorf("architectures[%d]: unknown %q", i, a)
		}
		sa, err := libseccomp.GetArchFromString(n)
		if err != nil {
			return nil, fmt.Errorf("architectures[%d]: %w", i, err)
		}
		if err := f.AddArch(sa); err != nil {
			return nil, fmt.Errorf("architectures[%d]: %w", i, err)
		}
	}
	rules := 0
	for _, s := range p.Syscalls {
		rules += len(s.Names)
	}
	if rules > 32 {
		_ = f.SetOptimize(2)
	}
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, err
	}
	for i, s := range p.Syscalls {
		act, err := action(s.Action, s.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d].action: %w", i, err)
		}
		if act == def {
			continue
		}
		var conds []libseccomp.ScmpCondition
		perIndex := map[uint]int{}
		for k, a := range s.Args {
			c, err := condition(a)
			if err != nil {
				return nil, fmt.Errorf("syscalls[%d].args[%d]: %w", i, k, err)
			}
			perIndex[a.Index]++
			conds = append(conds, c)
		}
		split := false
		for _, n := range perIndex {
			if n > 1 {
				split = true
			}
		}
		for _, name := range s.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // as libcontainer: unknown to this libseccomp, left to the default action
			}
			switch {
			case len(conds) == 0:
				err = f.AddRule(nr, act)
			case split:
				for _, c := range conds {
					if err = f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
						break
					}
				}
			default:
				err = f.AddRuleConditional(nr, act, conds)
			}
			if err != nil {
				return nil, fmt.Errorf("syscalls[%d]: rule for %s: %w", i, name, err)
			}
		}
	}
	ok = true
	return f, nil
}

func action(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActErrno:
		e := uint(1) // EPERM
		if errnoRet != nil {
			e = *errnoRet
		}
		return libseccomp.ActErrno.SetReturnCode(int16(e)), nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	case specs.ActNotify:
		return libseccomp.ActNotify, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("unsupported action %q", a)
}

func condition(a specs.LinuxSeccompArg) (libseccomp.ScmpCondition, error) {
	ops := map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
		specs.OpNotEqual:     libseccomp.CompareNotEqual,
		specs.OpLessThan:     libseccomp.CompareLess,
		specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
		specs.OpEqualTo:      libseccomp.CompareEqual,
		specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
		specs.OpGreaterThan:  libseccomp.CompareGreater,
		specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
	}
	op, ok := ops[a.Op]
	if !ok {
		return libseccomp.ScmpCondition{}, fmt.Errorf("unknown operator %q", a.Op)
	}
	if a.Index > 5 {
		return libseccomp.ScmpCondition{}, fmt.Errorf("index %d out of range", a.Index)
	}
	return libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
}

// ExportBPF returns the filter's BPF program (8 bytes per instruction) without loading it.
// (libseccomp-golang's ExportBPFMem needs libseccomp 2.6; this works with 2.5 through a memfd.)
func ExportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("tenantrun-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	file := os.NewFile(uintptr(fd), "tenantrun-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(file)
}

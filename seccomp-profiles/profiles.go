// Package profiles holds tenantrun's embedded seccomp profiles (OCI/Docker JSON format) and
// loads operator profiles from a directory. Every profile is validated when loaded.
//
// Embedded profiles are decoded once, lazily, and cached; Load returns a fresh deep copy on
// every call so callers may modify the result.
package profiles

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

//go:embed *.json
var embedded embed.FS

// Default is the profile a tenant gets when its configuration names none.
const Default = "web"

type cached struct {
	once sync.Once
	p    *specs.LinuxSeccomp
	err  error
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*cached{}
)

// Names lists the embedded profiles, sorted.
func Names() []string {
	ents, err := embedded.ReadDir(".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Load returns the profile called name: an operator profile <operatorDir>/<name>.json when
// operatorDir is set and that file exists (operators may shadow an embedded name), else the
// embedded profile. The result is validated and is a fresh copy owned by the caller.
func Load(name, operatorDir string) (*specs.LinuxSeccomp, error) {
	if name == "" {
		name = Default
	}
	if !validName.MatchString(name) || strings.Contains(name, "..") {
		return nil, fmt.Errorf("seccomp profile %q: invalid name (want letters, digits, '_', '-', '.')", name)
	}
	if operatorDir != "" {
		path := filepath.Join(operatorDir, name+".json")
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			p, err := Parse(data)
			if err != nil {
				return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
			}
			return p, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("seccomp profile %q: %w", name, err)
		}
	}
	p, err := loadEmbedded(name)
	if err != nil {
		// "<profile>-audit": the profile with SCMP_ACT_LOG as its default action (see Audit),
		// unless a profile of that exact name exists.
		if base, ok := strings.CutSuffix(name, AuditSuffix); ok && base != "" {
			bp, berr := Load(base, operatorDir)
			if berr != nil {
				return nil, berr
			}
			return Audit(bp), nil
		}
		return nil, err
	}
	return Copy(p), nil
}

// AuditSuffix turns any profile name into its audit variant: "web-audit" is web with
// SCMP_ACT_LOG as the default action (what web would deny is allowed and logged by the kernel;
// read it back with `tenantrun seccomp log`).
const AuditSuffix = "-audit"

func loadEmbedded(name string) (*specs.LinuxSeccomp, error) {
	cacheMu.Lock()
	c := cache[name]
	if c == nil {
		c = &cached{}
		cache[name] = c
	}
	cacheMu.Unlock()
	c.once.Do(func() {
		data, err := embedded.ReadFile(name + ".json")
		if err != nil {
			c.err = fmt.Errorf("seccomp profile %q: no such embedded profile (have %s)", name, strings.Join(Names(), ", "))
			return
		}
		c.p, c.err = Parse(data)
		if c.err != nil {
			c.err = fmt.Errorf("embedded seccomp profile %q: %w", name, c.err)
		}
	})
	return c.p, c.err
}

// Raw returns the embedded JSON of a profile, as shipped.
func Raw(name string) ([]byte, error) {
	data, err := embedded.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %q: no such embedded profile (have %s)", name, strings.Join(Names(), ", "))
	}
	return data, nil
}

// Audit returns a copy of p whose default action is SCMP_ACT_LOG: everything the profile would
// have denied by default is allowed and logged by the kernel (audit type 1326, or a "seccomp"
// line in the kernel log), so an operator can see what a workload needs. Rules that explicitly
// deny (e.g. clone3 -> ENOSYS) keep their action.
func Audit(p *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	q := Copy(p)
	q.DefaultAction = specs.ActLog
	q.DefaultErrnoRet = nil
	// rules whose action is now the default are redundant; drop them so libseccomp does not
	// complain and so allow rules with argument filters keep their meaning.
	out := q.Syscalls[:0]
	for _, s := range q.Syscalls {
		if s.Action == specs.ActLog {
			continue
		}
		out = append(out, s)
	}
	q.Syscalls = out
	return q
}

// Copy returns a deep copy of p.
func Copy(p *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	if p == nil {
		return nil
	}
	q := *p
	q.DefaultErrnoRet = copyUint(p.DefaultErrnoRet)
	q.Architectures = append([]specs.Arch(nil), p.Architectures...)
	if p.Flags != nil { // keep an explicit empty list: nil means "runc's default" (SPEC_ALLOW)
		q.Flags = append(make([]specs.LinuxSeccompFlag, 0, len(p.Flags)), p.Flags...)
	}
	if p.Syscalls != nil {
		q.Syscalls = make([]specs.LinuxSyscall, len(p.Syscalls))
		for i, s := range p.Syscalls {
			s.Names = append([]string(nil), s.Names...)
			s.ErrnoRet = copyUint(s.ErrnoRet)
			s.Args = append([]specs.LinuxSeccompArg(nil), s.Args...)
			q.Syscalls[i] = s
		}
	}
	return &q
}

func copyUint(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// AllowedNames returns the sorted, de-duplicated syscall names a profile allows (with or without
// argument conditions).
func AllowedNames(p *specs.LinuxSeccomp) []string {
	set := map[string]bool{}
	for _, s := range p.Syscalls {
		if s.Action == specs.ActAllow || (s.Action == specs.ActLog && p.DefaultAction != specs.ActLog) {
			for _, n := range s.Names {
				set[n] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Categories of an expected non-pass.
var categories = map[string]string{
	"env":    "environment of this machine",
	"suite":  "bug in the suite",
	"policy": "policy decision of tenantrun (docs/spec-conformance.md)",
	// runtime: a spec gap of the runtime itself. For runc it is runc's; for tenantrun it
	// only excuses a failure that runc shares in the same run (behaviour inherited from
	// libcontainer or kept for drop-in runc compatibility); a tenantrun-only failure is
	// a bug and is never listed.
	"runtime": "runtime gap shared with runc (inherited from libcontainer or kept for runc compatibility)",
	// bug: a known tenantrun defect, listed so that `make conformance` still catches every
	// new failure; each entry says what is wrong. The report counts these separately.
	"bug": "known tenantrun bug (open; see the entry's reason)",
}

// Target names an expectation can apply to.
var targetSets = map[string][]string{
	"runc":        {"runc"},
	"passthrough": {"passthrough"},
	"enforcing":   {"enforcing"},
	"tenantrun":   {"passthrough", "enforcing"},
	"all":         {"runc", "passthrough", "enforcing"},
}

// Expectation is one line of expected.txt:
//
//	target | program | category | assertion | why
//
// assertion is the TAP description (or skip reason) exactly, where '*' matches any run
// of characters; program-level failures use "(exit status N)", "(timeout)",
// "(plan mismatch)". Status is "fail" by default; "skip:" in front of the assertion
// makes the entry about a skipped point instead; "flaky:" marks a race of the suite
// that only sometimes fails (never reported stale).
type Expectation struct {
	Line      int
	Target    string
	Program   string
	Category  string
	Status    Status
	Assertion string
	Why       string
	// Flaky: the failure is a race in the suite that shows on a loaded machine only
	// sometimes; the entry excuses it but is never reported stale.
	Flaky bool
	used  map[string]bool // target -> matched in this run
}

// LoadExpected parses expected.txt.
func LoadExpected(path string) ([]*Expectation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseExpected(f, path)
}

// ParseExpected parses the expected.txt format; every malformed line is an error.
func ParseExpected(r io.Reader, name string) ([]*Expectation, error) {
	var out []*Expectation
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 fields 'target | program | category | assertion | why'", name, n)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		e := &Expectation{Line: n, Target: f[0], Program: f[1], Category: f[2], Status: Fail, Assertion: f[3], Why: f[4], used: map[string]bool{}}
		if _, ok := targetSets[e.Target]; !ok {
			return nil, fmt.Errorf("%s:%d: unknown target %q", name, n, e.Target)
		}
		if _, ok := categories[e.Category]; !ok {
			return nil, fmt.Errorf("%s:%d: unknown category %q", name, n, e.Category)
		}
		if e.Category == "policy" && (e.Target == "runc" || e.Target == "all") {
			return nil, fmt.Errorf("%s:%d: category policy only applies to tenantrun targets", name, n)
		}
		if strings.HasPrefix(e.Assertion, "flaky:") {
			e.Flaky = true
			e.Assertion = strings.TrimSpace(strings.TrimPrefix(e.Assertion, "flaky:"))
		}
		if strings.HasPrefix(e.Assertion, "skip:") {
			e.Status = Skip
			e.Assertion = strings.TrimSpace(strings.TrimPrefix(e.Assertion, "skip:"))
		}
		if e.Program == "" || e.Assertion == "" || e.Why == "" {
			return nil, fmt.Errorf("%s:%d: empty program, assertion or why", name, n)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// AppliesTo reports whether e covers target.
func (e *Expectation) AppliesTo(target string) bool {
	for _, t := range targetSets[e.Target] {
		if t == target {
			return true
		}
	}
	return false
}

// Match reports whether e covers a point of program in target.
func (e *Expectation) Match(target, program string, st Status, desc string) bool {
	return e.AppliesTo(target) && globMatch(e.Program, program) && e.Status == st && globMatch(e.Assertion, desc)
}

// globMatch matches s against pattern where only '*' is special (descriptions are full of
// '[', '?' and '/', so path.Match will not do).
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

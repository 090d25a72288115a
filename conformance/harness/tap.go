package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Status is the outcome of one TAP test point.
type Status int

const (
	Pass Status = iota
	Fail
	Skip
	// Todo is a failing test point the suite itself marked "# TODO": not counted as a failure.
	Todo
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	case Todo:
		return "todo"
	}
	return "?"
}

// Point is one test point ("ok 3 - description") with the YAML diagnostic blocks
// printed next to it. The suite prints its YAML block sometimes before and sometimes
// after the point, so both neighbours are kept.
type Point struct {
	Num    int
	Status Status
	// Desc is the description (or the skip reason): the assertion's identity.
	Desc       string
	YAMLBefore string
	YAMLAfter  string
	// Diag holds the "# ..." lines printed after the point (the suite explains
	// failures there, e.g. "expect: c 10:229 rwm, actual: ...").
	Diag []string `json:",omitempty"`
	// Inner: the failing checks of runtimetest inside the container, for a point
	// whose verdict is "the container's TAP had a not ok" (see nameInnerFailures).
	Inner []string `json:",omitempty"`
}

// TAP is a parsed TAP stream.
type TAP struct {
	Points   []Point
	Plan     int // -1 when there is no plan line
	PlanSkip string
	BailOut  string
	Diag     []string
	// Orphans are YAML blocks attached to no test point. Several programs of the suite
	// report their only result that way (an "error" key and plan 1..0).
	Orphans []string
}

var (
	pointRe = regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$`)
	planRe  = regexp.MustCompile(`^1\.\.(\d+)\s*(?:#\s*(.*))?$`)
)

// ParseTAP reads TAP version 13 as the runtime-tools suite writes it (tap-go): test
// points and plans at column 0, YAML blocks indented between "  ---" and "  ...".
// prove(1) cannot read this suite's YAML blocks, hence this parser.
func ParseTAP(r io.Reader) (*TAP, error) {
	t := &TAP{Plan: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var (
		inYAML   bool
		yaml     strings.Builder
		pending  string // a YAML block not yet attached as YAMLAfter
		lastIdx  = -1
		lastOpen bool // the last point has no YAMLAfter yet and nothing came between
	)
	for sc.Scan() {
		line := sc.Text()
		if inYAML {
			if strings.TrimSpace(line) == "..." {
				inYAML = false
				block := yaml.String()
				yaml.Reset()
				// The suite's RuntimeInsideValidate prints the container's output
				// ("stdout") before its point, SpecErrorOK its diagnostics after.
				if lastOpen && !strings.Contains(block, `"stdout":`) {
					t.Points[lastIdx].YAMLAfter = block
					lastOpen = false
				} else {
					if pending != "" {
						t.Orphans = append(t.Orphans, pending)
					}
					pending = block
				}
				continue
			}
			yaml.WriteString(strings.TrimPrefix(line, "  "))
			yaml.WriteByte('\n')
			continue
		}
		if strings.HasPrefix(line, " ") && strings.TrimSpace(line) == "---" {
			inYAML = true
			continue
		}
		switch {
		case strings.HasPrefix(line, "TAP version"):
		case planRe.MatchString(line):
			m := planRe.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[1])
			t.Plan = n
			if d := strings.TrimSpace(m[2]); d != "" && strings.HasPrefix(strings.ToLower(d), "skip") {
				t.PlanSkip = d
			}
		case strings.HasPrefix(line, "Bail out!"):
			t.BailOut = strings.TrimSpace(strings.TrimPrefix(line, "Bail out!"))
		case strings.HasPrefix(line, "ok") || strings.HasPrefix(line, "not ok"):
			m := pointRe.FindStringSubmatch(line)
			if m == nil {
				t.Diag = append(t.Diag, line)
				continue
			}
			p := Point{Status: Pass}
			if m[1] == "not ok" {
				p.Status = Fail
			}
			if m[2] != "" {
				p.Num, _ = strconv.Atoi(m[2])
			} else {
				p.Num = len(t.Points) + 1
			}
			desc := m[3]
			if dir, rest, ok := directive(desc); ok {
				switch dir {
				case "skip":
					p.Status = Skip
				case "todo":
					if p.Status == Fail {
						p.Status = Todo
					}
				}
				desc = rest
			}
			p.Desc = strings.TrimSpace(desc)
			p.YAMLBefore = pending
			pending = ""
			t.Points = append(t.Points, p)
			lastIdx = len(t.Points) - 1
			lastOpen = true
		case strings.HasPrefix(line, "#"):
			d := strings.TrimSpace(strings.TrimPrefix(line, "#"))
			t.Diag = append(t.Diag, d)
			if lastIdx >= 0 {
				t.Points[lastIdx].Diag = append(t.Points[lastIdx].Diag, d)
			}
		default:
			// Anything else (stray output of the runtime or the program) is kept as a
			// diagnostic and does not change any count.
			if strings.TrimSpace(line) != "" {
				t.Diag = append(t.Diag, line)
				lastOpen = false
			}
		}
	}
	if pending != "" {
		t.Orphans = append(t.Orphans, pending)
	}
	if inYAML {
		return t, fmt.Errorf("TAP ends inside a YAML block")
	}
	return t, sc.Err()
}

// directive splits "# SKIP reason" / "# TODO reason" off a description. tap-go writes
// "ok 3 # SKIP reason" (no dash) and "not ok 3 # TODO description".
func directive(desc string) (string, string, bool) {
	i := strings.Index(desc, "#")
	if i < 0 {
		return "", desc, false
	}
	before := strings.TrimSpace(desc[:i])
	after := strings.TrimSpace(desc[i+1:])
	low := strings.ToLower(after)
	for _, d := range []string{"skip", "todo"} {
		if strings.HasPrefix(low, d) {
			rest := strings.TrimSpace(after[len(d):])
			if before != "" {
				if rest != "" {
					rest = before + " - " + rest
				} else {
					rest = before
				}
			}
			return d, rest, true
		}
	}
	return "", desc, false
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Finding is one non-pass (fail or skip) and what expected.txt says about it.
type Finding struct {
	Program  string
	Status   Status
	Desc     string
	Detail   string `json:",omitempty"`
	Line     int    `json:",omitempty"` // expected.txt line; 0 = not listed
	Category string `json:",omitempty"`
	Why      string `json:",omitempty"`
}

// TargetRun is one target's pass over the programs.
type TargetRun struct {
	Target   string
	Runtime  string
	Version  string
	Tenant   string `json:",omitempty"`
	Duration time.Duration
	Results  []*ProgramResult
}

// Run is one harness invocation.
type Run struct {
	Started    time.Time
	Programs   []string
	Full       bool
	Targets    []*TargetRun
	FinalLeaks []string
	Stale      []string
}

// Counts sums a target's points.
func (tr *TargetRun) Counts() (p, f, s int) {
	for _, r := range tr.Results {
		a, b, c := r.Counts()
		p, f, s = p+a, f+b, s+c
	}
	return
}

// classify attaches an expectation to every fail and skip of res.
func classify(res *ProgramResult, exps []*Expectation) {
	for _, pt := range res.Points {
		if pt.Status != Fail && pt.Status != Skip {
			continue
		}
		f := Finding{Program: res.Program, Status: pt.Status, Desc: pt.Desc}
		if pt.Status == Fail {
			f.Detail = strings.TrimSpace(pt.YAMLAfter)
			if f.Detail == "" {
				f.Detail = strings.TrimSpace(pt.YAMLBefore)
			}
			if len(pt.Diag) > 0 {
				f.Detail = strings.TrimSpace(f.Detail + "\n# " + strings.Join(pt.Diag, "\n# "))
			}
		}
		for _, e := range exps {
			if e.Match(res.Target, res.Program, pt.Status, pt.Desc) {
				e.used[res.Target] = true
				f.Line, f.Category, f.Why = e.Line, e.Category, e.Why
				break
			}
		}
		if f.Line == 0 && len(pt.Inner) > 0 {
			// The outer verdict of a check run inside the container is explained when
			// every failing check inside is itself listed for this program.
			var lines []int
			var cats []string
			for _, in := range pt.Inner {
				var hit *Expectation
				for _, e := range exps {
					if e.Match(res.Target, res.Program, Fail, in) {
						hit = e
						break
					}
				}
				if hit == nil {
					lines = nil
					break
				}
				lines = append(lines, hit.Line)
				if !contains(cats, hit.Category) {
					cats = append(cats, hit.Category)
				}
			}
			if len(lines) > 0 {
				for _, e := range exps {
					for _, l := range lines {
						if e.Line == l {
							e.used[res.Target] = true
						}
					}
				}
				f.Line, f.Category = lines[0], strings.Join(cats, "+")
				f.Why = fmt.Sprintf("only listed checks fail inside the container (expected.txt lines %v)", lines)
			}
		}
		res.Findings = append(res.Findings, f)
	}
}

// requireSharedWithRunc turns a tenantrun failure excused as "runtime" into an unlisted
// one when runc ran in this invocation and did not fail the same assertion: tenantrun
// may only share runc's gaps, never add its own.
func requireSharedWithRunc(run *Run) {
	var runc *TargetRun
	for _, tr := range run.Targets {
		if tr.Target == "runc" {
			runc = tr
		}
	}
	if runc == nil {
		return
	}
	failed := map[string]bool{}
	for _, r := range runc.Results {
		for _, fd := range r.Findings {
			if fd.Status == Fail {
				failed[r.Program+"\x00"+baseDesc(fd.Desc)] = true
			}
		}
	}
	for _, tr := range run.Targets {
		if tr.Target == "runc" {
			continue
		}
		for _, r := range tr.Results {
			for i := range r.Findings {
				fd := &r.Findings[i]
				if fd.Status == Fail && fd.Category == "runtime" && !failed[r.Program+"\x00"+baseDesc(fd.Desc)] {
					fd.Why = fmt.Sprintf("listed as a runtime gap shared with runc (expected.txt:%d), but runc passes it in this run: a tenantrun bug", fd.Line)
					fd.Line, fd.Category = 0, ""
				}
			}
		}
	}
}

// staleExpectations lists entries that matched nothing in a target and program this run
// covered: a listed non-pass that no longer happens must leave the list.
func staleExpectations(exps []*Expectation, run *Run) []string {
	ran := map[string][]string{} // target -> programs run
	for _, tr := range run.Targets {
		for _, r := range tr.Results {
			ran[tr.Target] = append(ran[tr.Target], r.Program)
		}
	}
	covered := func(t, pattern string) bool {
		for _, p := range ran[t] {
			if globMatch(pattern, p) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, e := range exps {
		if e.Flaky {
			continue
		}
		if strings.Contains(e.Program, "*") && !run.Full {
			continue // a pattern over programs is judged on full runs only
		}
		for _, t := range targetSets[e.Target] {
			if covered(t, e.Program) && !e.used[t] {
				out = append(out, fmt.Sprintf("expected.txt:%d: %s %s %q (%s) no longer happens", e.Line, t, e.Program, e.Assertion, e.Status))
			}
		}
	}
	return out
}

func printProgram(r *ProgramResult) {
	p, f, s := r.Counts()
	mark := "ok  "
	unexpected := 0
	for _, fd := range r.Findings {
		if fd.Line == 0 {
			unexpected++
		}
	}
	if unexpected > 0 {
		mark = "FAIL"
	}
	fmt.Printf("  %s %-34s %4d passed %3d failed %3d skipped  %5.1fs\n", mark, r.Program, p, f, s, r.Duration.Seconds())
	skipsListed := 0
	for _, fd := range r.Findings {
		if fd.Status == Skip && fd.Line != 0 {
			skipsListed++
			continue
		}
		tag := "UNEXPECTED (not in expected.txt)"
		if fd.Line != 0 {
			tag = fmt.Sprintf("[%s, expected.txt:%d] %s", fd.Category, fd.Line, fd.Why)
		}
		fmt.Printf("         %s %s  %s\n", strings.ToUpper(fd.Status.String()), fd.Desc, tag)
		if fd.Line == 0 && fd.Detail != "" {
			for _, l := range strings.Split(tail(fd.Detail, 600), "\n") {
				fmt.Printf("              | %s\n", l)
			}
		}
	}
	if skipsListed > 0 {
		fmt.Printf("         (%d skips, all listed)\n", skipsListed)
	}
	if r.Retried != "" {
		fmt.Printf("         retried once: %s\n", r.Retried)
	}
	for _, l := range r.Leaks {
		fmt.Printf("         left behind (cleaned up): %s\n", l)
	}
}

// printVerdict prints the side-by-side totals, what is wrong, and the final line.
func printVerdict(run *Run) int {
	fmt.Println()
	fmt.Printf("%-12s %8s %8s %8s\n", "target", "passed", "failed", "skipped")
	for _, tr := range run.Targets {
		p, f, s := tr.Counts()
		fmt.Printf("%-12s %8d %8d %8d\n", tr.Target, p, f, s)
	}
	bad := 0
	for _, tr := range run.Targets {
		for _, r := range tr.Results {
			for _, fd := range r.Findings {
				if fd.Line == 0 {
					bad++
				}
			}
			for _, l := range r.Leaks {
				if strings.HasPrefix(l, "NOT CLEANED") {
					fmt.Printf("%s %s: %s\n", tr.Target, r.Program, l)
					bad++
				}
			}
		}
	}
	for _, l := range run.FinalLeaks {
		fmt.Printf("left behind by the run: %s\n", l)
		if strings.HasPrefix(l, "NOT CLEANED") {
			bad++
		}
	}
	for _, s := range run.Stale {
		fmt.Println(s)
	}
	unexpected := bad
	bad += len(run.Stale)
	if bad == 0 {
		fmt.Println("conformance: every non-pass is listed in expected.txt and every listed one still happens")
	} else {
		fmt.Printf("conformance: FAILED: %d unexpected non-passes or residues, %d stale expected.txt entries\n", unexpected, len(run.Stale))
	}
	// The final line: tenantrun's totals (both modes) when it ran, else everything.
	var p, f, s int
	label := "all targets"
	var names []string
	for _, tr := range run.Targets {
		if tr.Target != "runc" {
			names = append(names, tr.Target)
		}
	}
	for _, tr := range run.Targets {
		if len(names) > 0 && tr.Target == "runc" {
			continue
		}
		a, b, c := tr.Counts()
		p, f, s = p+a, f+b, s+c
	}
	if len(names) > 0 {
		label = "tenantrun (" + strings.Join(names, " + ") + ")"
	}
	fmt.Printf("total, %s:\n", label)
	fmt.Printf("%d passed, %d failed, %d skipped\n", p, f, s)
	if bad > 0 {
		return 1
	}
	return 0
}

func runtimeVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]), " ")
}

func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func renderReport(run *Run, exps []*Expectation) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# OCI runtime-tools validation suite: tenantrun vs runc\n\n")
	w("Generated by `make conformance` (conformance/harness) on %s, kernel %s, runtime-tools v0.9.0.\n", run.Started.Format("2006-01-02 15:04 MST"), kernelRelease())
	if !run.Full {
		w("Partial run: programs %s.\n", strings.Join(run.Programs, ", "))
	}
	w("Counts are TAP test points: `ok` = passed, `not ok` = failed, `# SKIP` = skipped; a program that exits non-zero, times out or breaks its plan adds one failed point.\n\n")
	w("| target | runtime | passed | failed | skipped | time |\n|---|---|---:|---:|---:|---:|\n")
	for _, tr := range run.Targets {
		p, f, s := tr.Counts()
		rt := tr.Version
		if tr.Tenant != "" {
			rt += fmt.Sprintf(" (tenant `%s`)", tr.Tenant)
		}
		w("| %s | %s | %d | %d | %d | %s |\n", tr.Target, rt, p, f, s, tr.Duration.Round(time.Second))
	}
	w("\n## Per program (passed/failed/skipped)\n\n| program |")
	for _, tr := range run.Targets {
		w(" %s |", tr.Target)
	}
	w("\n|---|")
	for range run.Targets {
		w("---|")
	}
	w("\n")
	for i, prog := range run.Programs {
		w("| %s |", prog)
		for _, tr := range run.Targets {
			if i < len(tr.Results) {
				p, f, s := tr.Results[i].Counts()
				cell := fmt.Sprintf("%d/%d/%d", p, f, s)
				if f > 0 {
					cell = "**" + cell + "**"
				}
				w(" %s |", cell)
			} else {
				w(" – |")
			}
		}
		w("\n")
	}
	w("\n## Failures and their classification\n\n")
	w("Categories (conformance/expected.txt): ")
	var cats []string
	for k, v := range categories {
		cats = append(cats, fmt.Sprintf("`%s` %s", k, v))
	}
	sort.Strings(cats)
	w("%s.\n\n", strings.Join(cats, "; "))
	for _, tr := range run.Targets {
		w("### %s\n\n", tr.Target)
		n := 0
		for _, r := range tr.Results {
			for _, fd := range r.Findings {
				if fd.Status != Fail {
					continue
				}
				n++
				cls := "**UNEXPECTED**"
				if fd.Line != 0 {
					cls = fmt.Sprintf("%s: %s", fd.Category, fd.Why)
				}
				w("- `%s` — %s — %s\n", r.Program, mdEscape(fd.Desc), cls)
			}
		}
		if n == 0 {
			w("No failures.\n")
		}
		w("\n")
	}
	w("## Skips, by reason\n\n| target | program | skipped | reason | classification |\n|---|---|---:|---|---|\n")
	for _, tr := range run.Targets {
		type key struct{ prog, desc string }
		counts := map[key]int{}
		cls := map[key]string{}
		var order []key
		for _, r := range tr.Results {
			for _, fd := range r.Findings {
				if fd.Status != Skip {
					continue
				}
				k := key{r.Program, fd.Desc}
				if fd.Line != 0 {
					// Group by expectation so a glob entry shows once.
					k.desc = expAssertion(exps, fd.Line)
					cls[k] = fmt.Sprintf("%s: %s", fd.Category, fd.Why)
				} else {
					cls[k] = "**UNEXPECTED**"
				}
				if counts[k] == 0 {
					order = append(order, k)
				}
				counts[k]++
			}
		}
		for _, k := range order {
			w("| %s | %s | %d | %s | %s |\n", tr.Target, k.prog, counts[k], mdEscape(k.desc), cls[k])
		}
	}
	w("\n## Retried programs (timing flakes on a loaded machine; only the second run counts)\n\n")
	retried := false
	for _, tr := range run.Targets {
		for _, r := range tr.Results {
			if r.Retried != "" {
				retried = true
				w("- %s `%s`: %s\n", tr.Target, r.Program, mdEscape(r.Retried))
			}
		}
	}
	if !retried {
		w("None.\n")
	}
	w("\n## Left behind by the suite or the runtime (cleaned up by the harness)\n\n")
	any := false
	for _, tr := range run.Targets {
		for _, r := range tr.Results {
			var ls []string
			for _, l := range r.Leaks {
				if !strings.HasPrefix(l, "bundle/temp ") {
					ls = append(ls, l)
				}
			}
			if len(ls) > 0 {
				any = true
				w("- %s `%s`: %s\n", tr.Target, r.Program, mdEscape(strings.Join(ls, "; ")))
			}
		}
	}
	for _, l := range run.FinalLeaks {
		any = true
		w("- after the run: %s\n", mdEscape(l))
	}
	if !any {
		w("Nothing.\n")
	}
	if len(run.Stale) > 0 {
		w("\n## Stale expected.txt entries\n\n")
		for _, s := range run.Stale {
			w("- %s\n", mdEscape(s))
		}
	}
	return b.String()
}

func expAssertion(exps []*Expectation, line int) string {
	for _, e := range exps {
		if e.Line == line {
			return e.Assertion
		}
	}
	return ""
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

var exitCauseRe = regexp.MustCompile(`^(\(?exit status \d+\)?):.*$`)

// baseDesc drops what the harness appended to a description (the runtime's error
// message, the failing checks inside the container), for comparing runtimes whose
// messages differ.
func baseDesc(d string) string {
	if i := strings.Index(d, " [inside: "); i >= 0 {
		d = d[:i]
	}
	return exitCauseRe.ReplaceAllString(d, "$1")
}

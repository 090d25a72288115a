package main

import (
	"strings"
	"testing"
)

// A stream shaped like the suite's: YAML before a point (RuntimeInsideValidate) and
// after one (SpecErrorOK), skips without a dash, a TODO, stray output, a plan at the end.
const sample = `TAP version 13
ok 1 - has expected hostname
  ---
  {
    "actual": "mrsdalloway"
  }
  ...
not ok 2 - memory kernel is set correctly
  ---
  {
    "reference": "https://example/config.md"
  }
  ...
ok 3 # SKIP linux.sysctl not set
# a diagnostic
  ---
  {
    "stdout": "ok 1 - nested\nnot ok 2 - nested"
  }
  ...
not ok 4 - process.capabilities # a hash, not a directive
not ok 5 # TODO not implemented
ok 6 - /dev/null (default device) has unconfigured permissions # skip
time="x" level=error msg="stray runtime output"
1..6
`

func TestParseTAP(t *testing.T) {
	tap, err := ParseTAP(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if tap.Plan != 6 || len(tap.Points) != 6 {
		t.Fatalf("plan %d, %d points", tap.Plan, len(tap.Points))
	}
	want := []struct {
		st   Status
		desc string
	}{
		{Pass, "has expected hostname"},
		{Fail, "memory kernel is set correctly"},
		{Skip, "linux.sysctl not set"},
		{Fail, "process.capabilities # a hash, not a directive"},
		{Todo, "not implemented"},
		{Skip, "/dev/null (default device) has unconfigured permissions"},
	}
	for i, w := range want {
		p := tap.Points[i]
		if p.Status != w.st || p.Desc != w.desc || p.Num != i+1 {
			t.Errorf("point %d: got %v %q #%d, want %v %q", i+1, p.Status, p.Desc, p.Num, w.st, w.desc)
		}
	}
	if !strings.Contains(tap.Points[1].YAMLAfter, "reference") {
		t.Errorf("YAML after point 2 not attached: %q", tap.Points[1].YAMLAfter)
	}
	if !strings.Contains(tap.Points[0].YAMLAfter, "mrsdalloway") {
		t.Errorf("YAML after point 1 not attached")
	}
	// A block with the container's "stdout" belongs to the next point (the suite's
	// RuntimeInsideValidate prints it first); a diagnostic line does not detach.
	if !strings.Contains(tap.Points[3].YAMLBefore, "nested") || len(tap.Points[2].Diag) != 1 {
		t.Errorf("point 4: YAML before %q, point 3 diag %q", tap.Points[3].YAMLBefore, tap.Points[2].Diag)
	}
	r := &ProgramResult{Points: tap.Points}
	if p, f, s := r.Counts(); p != 1 || f != 2 || s != 2 {
		t.Errorf("counts %d/%d/%d, want 1/2/2", p, f, s)
	}
}

func TestParseTAPPlanFirstAndSkipAll(t *testing.T) {
	tap, err := ParseTAP(strings.NewReader("TAP version 13\n1..1\nok 1 # SKIP cgroup v2 only\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tap.Plan != 1 || len(tap.Points) != 1 || tap.Points[0].Status != Skip || tap.Points[0].Desc != "cgroup v2 only" {
		t.Fatalf("%+v", tap)
	}
	tap, _ = ParseTAP(strings.NewReader("1..0 # Skipped: no runtime\n"))
	if tap.Plan != 0 || tap.PlanSkip != "Skipped: no runtime" {
		t.Fatalf("%+v", tap)
	}
}

func TestParseTAPUnterminatedYAML(t *testing.T) {
	if _, err := ParseTAP(strings.NewReader("ok 1 - x\n  ---\n  {\n")); err == nil {
		t.Fatal("want an error for a YAML block without its end")
	}
}

func TestOrphanYAML(t *testing.T) {
	in := "TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\\nRefer to: x\"\n  }\n  ...\n1..0\n"
	tap, err := ParseTAP(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(tap.Points) != 0 || len(tap.Orphans) != 1 {
		t.Fatalf("%+v", tap)
	}
	if got := yamlError(tap.Orphans); got != "Hooks MUST be called in the listed order" {
		t.Fatalf("yamlError = %q", got)
	}
}

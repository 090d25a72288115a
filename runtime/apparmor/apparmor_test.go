package apparmor

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeKernel points the package at a profiles list and an apparmor_parser stand-in that
// appends "tenantrun-default (enforce)" to it and counts its calls.
func fakeKernel(t *testing.T, on bool, listed string) (calls func() int) {
	t.Helper()
	d := t.TempDir()
	pf := filepath.Join(d, "profiles")
	if err := os.WriteFile(pf, []byte(listed), 0o644); err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(d, "calls")
	parser := filepath.Join(d, "apparmor_parser")
	script := "#!/bin/sh\n[ \"$1 $2\" = '-K -r' ] || exit 3\ngrep -q '^profile tenantrun-default ' || exit 4\necho x >>" + count + "\necho 'tenantrun-default (enforce)' >>" + pf + "\n"
	if err := os.WriteFile(parser, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	oldP, oldS, oldE, oldPP := profilesFile, StateDir, enabled, parserPaths
	profilesFile, StateDir, enabled, parserPaths = pf, filepath.Join(d, "state"), func() bool { return on }, []string{parser}
	t.Cleanup(func() { profilesFile, StateDir, enabled, parserPaths = oldP, oldS, oldE, oldPP })
	return func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "x")
	}
}

func TestPrepareLoadsTheDefaultOnce(t *testing.T) {
	calls := fakeKernel(t, true, "docker-default (enforce)\n")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = Prepare(DefaultName) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls(); n != 1 {
		t.Fatalf("apparmor_parser ran %d times for 8 concurrent creates, want 1", n)
	}
	if err := Prepare(DefaultName); err != nil || calls() != 1 {
		t.Fatalf("a loaded, stamped profile is not loaded again: %v, %d calls", err, calls())
	}
	// A stale stamp (another tenantrun version loaded other text) reloads.
	if err := os.WriteFile(filepath.Join(StateDir, DefaultName+".sha256"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(DefaultName); err != nil || calls() != 2 {
		t.Fatalf("stale stamp: %v, %d calls", err, calls())
	}
}

func TestPrepareOtherProfiles(t *testing.T) {
	calls := fakeKernel(t, true, "docker-default (enforce)\nns//hat (complain)\n")
	for _, ok := range []string{"", "docker-default", "ns//hat"} {
		if err := Prepare(ok); err != nil {
			t.Errorf("%q is loaded: %v", ok, err)
		}
	}
	for _, bad := range []string{"docker", "docker-default (enforce)", "nope"} {
		err := Prepare(bad)
		if err == nil || !strings.Contains(err.Error(), "is not loaded on this host") {
			t.Errorf("%q: want 'not loaded', got %v", bad, err)
		}
	}
	if calls() != 0 {
		t.Fatal("only tenantrun-default is ever loaded by tenantrun")
	}
}

func TestPrepareWithoutAppArmorOrParser(t *testing.T) {
	calls := fakeKernel(t, false, "")
	if err := Prepare(DefaultName); err != nil || calls() != 0 {
		t.Fatalf("no AppArmor: nothing to do (the policy engine refuses): %v", err)
	}
	fakeKernel(t, true, "")
	parserPaths = []string{"/nonexistent/apparmor_parser"}
	if err := Prepare(DefaultName); err == nil || !strings.Contains(err.Error(), "apt install apparmor") {
		t.Fatalf("no parser: %v", err)
	}
}

func TestProfileText(t *testing.T) {
	p := string(defaultProfile)
	for _, want := range []string{"profile tenantrun-default ", "deny mount,", "deny /proc/sys/** w,", "deny /sys/** wkl,", "deny /tmp/** x,"} {
		if !strings.Contains(p, want) {
			t.Errorf("profile lacks %q", want)
		}
	}
}

package hardening

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPolicyEngineIsPure: the policy engine does no I/O of its own. Only host_linux.go (the
// real Host) may import the packages that reach the file system, processes or the kernel;
// every other non-test file of the package reaches the host through the Host interface.
func TestPolicyEngineIsPure(t *testing.T) {
	io := map[string]bool{"os": true, "os/exec": true, "io/ioutil": true, "syscall": true, "net": true,
		"golang.org/x/sys/unix": true, "github.com/moby/sys/mountinfo": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "host_linux.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if io[p] {
				t.Errorf("%s imports %s: host I/O belongs in host_linux.go behind the Host interface", f, p)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d files checked: run from the package directory", checked)
	}
}

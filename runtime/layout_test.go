package runtime

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSubsystemsImportNothingUpward: the host subsystems below runtime/ (idmap, tenantcg,
// claims, ...) import neither runtime nor cmd, so data flows one way:
// cmd -> runtime -> subsystems and hardening -> libcontainer and the kernel.
func TestSubsystemsImportNothingUpward(t *testing.T) {
	const mod = "github.com/tenantrun/tenantrun/"
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(e.Name(), "*.go"))
		if len(files) == 0 {
			continue
		}
		pkgs++
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range af.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if p == mod+"runtime" || strings.HasPrefix(p, mod+"cmd/") {
					t.Errorf("%s imports %s: a subsystem must not import upward", f, p)
				}
			}
		}
	}
	if pkgs < 8 {
		t.Fatalf("only %d subsystem packages found", pkgs)
	}
}

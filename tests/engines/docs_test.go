package engines

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/tenantrun/tenantrun/hardening"
)

// TestDocsSnippets parses every toml and json block of docs/engines.md, and checks the tenant
// configuration block with tenantrun's own config parser, so the documented snippets cannot rot.
// (The engine configurations up.sh generates from the same shapes are exercised by the tests.)
func TestDocsSnippets(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "engines.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(toml|json|yaml|sh)\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 6 {
		t.Fatalf("found %d code blocks in docs/engines.md", len(blocks))
	}
	tenantCfg := 0
	for i, m := range blocks {
		lang, body := m[1], m[2]
		switch lang {
		case "toml":
			var v map[string]any
			if err := toml.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("block %d (toml) does not parse: %v\n%s", i, err, body)
				continue
			}
			if _, ok := v["tenants"]; ok {
				tenantCfg++
				if _, err := hardening.ParseConfig([]byte(body)); err != nil {
					t.Errorf("block %d: tenantrun refuses the documented tenant config: %v", i, err)
				}
			}
		case "json":
			var v map[string]any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("block %d (json) does not parse: %v\n%s", i, err, body)
			}
		case "yaml":
			if !strings.Contains(body, "kind: RuntimeClass") || !strings.Contains(body, "handler: tenantrun") {
				t.Errorf("block %d: the RuntimeClass must name handler tenantrun", i)
			}
		}
	}
	if tenantCfg == 0 {
		t.Error("docs/engines.md has no tenant configuration block")
	}
}

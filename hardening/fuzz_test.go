package hardening

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	dir := os.Getenv("TENANTRUN_SHARED")
	if dir == "" {
		dir, _ = filepath.Abs("../../shared")
	}
	seeds, _ := filepath.Glob(filepath.Join(dir, "engine-configs", "*.json"))
	seeds = append(seeds, filepath.Join(dir, "hostile", "base.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(minimalSpec))
	// Every hostile case, patched as the runner does (when jq is there).
	cases, _ := filepath.Glob(filepath.Join(dir, "hostile", "cases", "*.json"))
	base := filepath.Join(dir, "hostile", "base.json")
	for _, c := range cases {
		var hc hostileCase
		b, _ := os.ReadFile(c)
		if json.Unmarshal(b, &hc) != nil {
			continue
		}
		if out, err := exec.Command("jq", "--arg", "bundle", hostileBundleParent+"/fuzz-1", "--arg", "id", "fuzz-1", hc.Patch, base).Output(); err == nil {
			f.Add(out)
		}
	}
}

const minimalSpec = `{"ociVersion":"1.2.0","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]}}`

var (
	fuzzCfgOnce sync.Once
	fuzzCfg     *Config
)

// enforceTwice runs the policy on data and checks the invariants and idempotence.
func enforceTwice(t *testing.T, data []byte) {
	spec, err := DecodeSpec(data)
	if err != nil {
		return
	}
	fuzzCfgOnce.Do(func() { fuzzCfg = engineTestConfig(t) })
	cfg := fuzzCfg
	tenant := cfg.Tenants["default"]
	host := newFakeHost()
	host.engineNetns(spec)
	const id = "fuzz-1"
	bundle := hostileBundleParent + "/" + id
	req := Request{Spec: spec, Bundle: bundle, ContainerID: id, Tenant: tenant, Config: cfg, Host: host}
	before, _ := json.Marshal(spec)
	out, _, err := Enforce(req)
	after, _ := json.Marshal(spec)
	if !bytes.Equal(before, after) {
		t.Fatalf("Enforce mutated its input")
	}
	if err != nil {
		var re *RefusedError
		if !errors.As(err, &re) || len(re.Refusals) == 0 {
			t.Fatalf("error that is not a refusal: %v", err)
		}
		return
	}
	if v := invariantViolations(out, tenant, cfg, id); len(v) > 0 {
		t.Fatalf("invariants broken: %v\nin: %s", v, data)
	}
	// The output must survive a JSON round trip through the strict decoder.
	b1, _ := json.Marshal(out)
	again, err := DecodeSpec(b1)
	if err != nil {
		t.Fatalf("enforced spec does not decode: %v", err)
	}
	req.Spec = again
	out2, _, err := Enforce(req)
	if err != nil {
		t.Fatalf("Enforce(Enforce(x)) refused: %v\nfirst output: %s", err, b1)
	}
	b2, _ := json.Marshal(out2)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("not idempotent:\n%s\n%s", b1, b2)
	}
}

func FuzzEnforce(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		enforceTwice(t, data)
	})
}

// TestIdempotentCorpus runs the fuzz property over every engine config and hostile case.
func TestIdempotentCorpus(t *testing.T) {
	dir := sharedDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "engine-configs", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		t.Run(filepath.Base(f), func(t *testing.T) { enforceTwice(t, b) })
	}
	cases, _ := filepath.Glob(filepath.Join(dir, "hostile", "cases", "*.json"))
	base := filepath.Join(dir, "hostile", "base.json")
	for _, f := range cases {
		var c hostileCase
		b, _ := os.ReadFile(f)
		_ = json.Unmarshal(b, &c)
		t.Run(filepath.Base(f), func(t *testing.T) {
			id := "fuzz-1"
			enforceTwice(t, jqBundle(t, base, c.Patch, hostileBundleParent+"/"+id, id))
		})
	}
}

package security

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 14 (docs/security.md): an allowlisted hook runs exactly as the operator
// declared it. The bundle names the operator's hook (a script that records its argv and
// environment) with LD_PRELOAD, LD_LIBRARY_PATH and PATH into the tenant's bind root,
// where a "cat" of the tenant's waits to be found on PATH, extra args and a timeout too
// short for the hook: the hook must run with the declared args and env only (nothing of
// the bundle's, nothing of the runtime's own environment), under the declared timeout,
// and no tenant program may run.
func TestHookRunsAsDeclared(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	base := tu.TestBase(t)
	hookDir, bindRoot := filepath.Join(base, "operator-hooks"), filepath.Join(base, "tenant-data")
	for _, d := range []string{hookDir, bindRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	record, marker := filepath.Join(hookDir, "record"), filepath.Join(base, "tenant-code-ran")
	hook := filepath.Join(hookDir, "hook.sh")
	// Each run appends RUN, its args (argv[0] is the script's path once the kernel has
	// read the #! line, so only argv[1:] is observable) and its whole environment. cat is
	// looked up on PATH; sleep outlasts a 1-second timeout.
	tu.WriteFile(t, hook, fmt.Sprintf(`#!/bin/sh
{ echo RUN; for a in "$@"; do echo "ARG=$a"; done; /usr/bin/env | /bin/sed 's/^/ENV=/'; } >> %s
cat > /dev/null
/bin/sleep 2
`, record))
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	evil := fmt.Sprintf("#!/bin/sh\necho ran >> %s\n", marker)
	tu.WriteFile(t, filepath.Join(bindRoot, "cat"), evil)
	if err := os.Chmod(filepath.Join(bindRoot, "cat"), 0o755); err != nil {
		t.Fatal(err)
	}
	tu.WriteFile(t, filepath.Join(bindRoot, "evil.so"), "not an ELF: the loader only warns, the variable must not reach it at all")

	tenant := tu.NewID() + "-hooks"
	h.Leaks.AddID(tenant)
	h.UseConfig(fmt.Sprintf(`
[defaults]
[[defaults.hook]]
path = %q
args = ["hook", "--mode", "operator"]
env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOOK_OWNER=operator"]
timeout = 30
[tenants.%q]
uid_range = "3500000:65536"
bind_roots = [%q]
`, hook, tenant, bindRoot))
	rt := *h.RT
	rt.Tenant = tenant

	one := 1
	bundleHook := specs.Hook{
		Path:    hook,
		Args:    []string{"hook", "--mode", "tenant", "--config", filepath.Join(bindRoot, "evil.toml")},
		Env:     []string{"LD_PRELOAD=" + filepath.Join(bindRoot, "evil.so"), "LD_LIBRARY_PATH=" + bindRoot, "PATH=" + bindRoot, "HOOK_OWNER=tenant"},
		Timeout: &one,
	}
	b := h.Bundle(tu.WithShell("echo STARTED"), tu.WithSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{bundleHook}, Poststop: []specs.Hook{bundleHook}}
	}))
	id := h.ID("hooks")
	r := rt.RunCall(t, tu.Call{Timeout: 90 * time.Second, Env: []string{"TENANTRUN_RUNTIME_ENV_LEAK=1"}}, "run", "--bundle", b.Dir, id)
	rt.Run(t, "delete", "--force", id)
	if r.Code != 0 || !strings.Contains(r.Stdout, "STARTED") {
		t.Errorf("run with an allowlisted hook (the bundle's 1s timeout must not apply): %s", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the tenant's program ran as the hook's cat: the bundle's PATH reached the hook")
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the hook never ran: %v", err)
	}
	runs := strings.Split(strings.TrimPrefix(string(data), "RUN\n"), "RUN\n")
	if len(runs) != 2 {
		t.Errorf("want the hook to run twice (createRuntime, poststop), got %d runs:\n%s", len(runs), data)
	}
	// What a shell may add to its children's environment by itself.
	shellAdds := []string{"PWD", "OLDPWD", "SHLVL", "_"}
	for i, run := range runs {
		var args, env []string
		for _, l := range strings.Split(strings.TrimSuffix(run, "\n"), "\n") {
			if a, ok := strings.CutPrefix(l, "ARG="); ok {
				args = append(args, a)
			} else if e, ok := strings.CutPrefix(l, "ENV="); ok {
				if n, _, _ := strings.Cut(e, "="); !slices.Contains(shellAdds, n) {
					env = append(env, e)
				}
			}
		}
		if want := []string{"--mode", "operator"}; !slices.Equal(args, want) {
			t.Errorf("run %d: hook argv[1:] %q, want the operator's %q", i, args, want)
		}
		slices.Sort(env)
		if want := []string{"HOOK_OWNER=operator", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}; !slices.Equal(env, want) {
			t.Errorf("run %d: hook environment %q, want exactly the operator's %q", i, env, want)
		}
	}
}

// TestFailingPoststopHookLeavesNothing: an operator's poststop hook that fails makes the
// delete fail (as runc does), after libcontainer has removed the container. What tenantrun
// set up for it (the idmapped root, the tenant's claims, its record's mounts) must go too:
// the harness's leak check at the end is the assertion, and a claim under the container's
// name is looked for directly.
func TestFailingPoststopHookLeavesNothing(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	tenant := tu.NewID() + "-poststop"
	h.Leaks.AddID(tenant)
	h.UseConfig(fmt.Sprintf("[defaults]\nhooks = [\"/bin/false\"]\n[tenants.%q]\nuid_range = \"3600000:65536\"\n", tenant))
	rt := *h.RT
	rt.Tenant = tenant
	b := h.Bundle(tu.WithArgs("sleep", "300"), tu.WithSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/false"}}}
	}))
	id := h.ID("poststop")
	if r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "run", "-d", "--bundle", b.Dir, id); r.Code != 0 {
		t.Fatalf("run -d: %s", r)
	}
	r := rt.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "delete", "--force", id)
	if r.Code == 0 || !strings.Contains(r.Stderr, "poststop") {
		t.Errorf("delete with a failing poststop hook: want the hook's failure reported, as runc does: %s", r)
	}
	if _, err := h.TryState(id); err == nil {
		t.Errorf("the container is still there after its delete")
	}
	ents, _ := os.ReadDir(tu.ClaimsDir())
	for _, e := range ents {
		holders, _ := os.ReadDir(filepath.Join(tu.ClaimsDir(), e.Name()))
		for _, hd := range holders {
			data, _ := os.ReadFile(filepath.Join(tu.ClaimsDir(), e.Name(), hd.Name()))
			if strings.Contains(string(data), id) {
				t.Errorf("claim %s still held by the deleted container: %s", e.Name(), data)
			}
		}
	}
}

package security

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

// Invariant 13 (docs/security.md), finding 5: every verb on an existing container acts only
// for the container's own tenant.
// Engines of different tenants share a --root (podman's wrappers all use /run/tenantrun):
// t1's wrapper must not reach t2's containers through it. Root without --tenant (the
// operator, or the one trusted-annotation handler on its own root) still reaches all.

func verbTenants(h *tu.H) (t1, t2 string) { return twoTenants(h, 4200000, 4300000) }

// wantNotYours: refused, non-zero, naming the container but not its tenant.
func wantNotYours(t *testing.T, what, id, owner string, r *tu.Result) {
	t.Helper()
	if r.Code == 0 {
		t.Errorf("%s: want refused, got %s", what, r)
		return
	}
	if !strings.Contains(r.Stderr, id) || !strings.Contains(r.Stderr, "does not belong to the calling tenant") {
		t.Errorf("%s: want the refusal naming %s, got %s", what, id, r)
	}
	if strings.Contains(r.Stderr+r.Stdout, owner) {
		t.Errorf("%s: the refusal names the other tenant %s: %s", what, owner, r)
	}
}

func listIDs(t *testing.T, rt *tu.Runtime) string {
	t.Helper()
	r := rt.Run(t, "list", "--format", "json")
	if r.Code != 0 {
		t.Fatalf("list: %s", r)
	}
	var rows []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("list: %v: %s", err, r)
	}
	var ids []string
	for _, row := range rows {
		ids = append(ids, row.ID)
	}
	return " " + strings.Join(ids, " ") + " "
}

func TestVerbsOnAnotherTenantsContainerRefused(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, t2 := verbTenants(h)
	a, b, op := as(h, t1, ""), as(h, t2, ""), as(h, "", "")
	victim := h.ID("t2-victim")
	pid := runDetached(t, h, b, victim)
	created := h.ID("t2-created")
	h.Leaks.AddID(created)
	t.Cleanup(func() { b.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", created) })
	cb := h.Bundle(tu.WithShell("echo STARTED"))
	if r := b.RunCall(t, tu.Call{Timeout: 60 * time.Second}, "create", "--bundle", cb.Dir, created); r.Code != 0 {
		t.Fatalf("create %s: %s", created, r)
	}
	pidsMax := func() string {
		p, err := tu.CgroupFile(pid, "pids", "pids.max")
		if err != nil {
			return ""
		}
		return tu.ReadTrim(p)
	}
	pidsBefore := pidsMax()

	marker := "/tmp/pwned"
	for _, c := range []struct {
		what string
		id   string
		args []string
	}{
		{"exec", victim, []string{"exec", victim, "sh", "-c", "touch " + marker}},
		{"exec --detach", victim, []string{"exec", "--detach", victim, "sh", "-c", "touch " + marker}},
		{"kill", victim, []string{"kill", victim, "KILL"}},
		{"kill --all", victim, []string{"kill", "--all", victim, "9"}},
		{"pause", victim, []string{"pause", victim}},
		{"resume", victim, []string{"resume", victim}},
		{"update", victim, []string{"update", "--pids-limit", "7", victim}},
		{"ps", victim, []string{"ps", victim}},
		{"state", victim, []string{"state", victim}},
		{"events --stats", victim, []string{"events", "--stats", victim}},
		{"delete", victim, []string{"delete", victim}},
		{"delete --force", victim, []string{"delete", "--force", victim}},
		{"start", created, []string{"start", created}},
		{"delete of a created container", created, []string{"delete", created}},
	} {
		r := a.RunCall(t, tu.Call{Timeout: 30 * time.Second}, c.args...)
		wantNotYours(t, "t1 "+c.what+" on t2's container", c.id, t2, r)
	}
	// Nothing changed: still running (not paused), no marker, limit untouched, still created.
	waitState(t, b, victim, "running")
	waitState(t, b, created, "created")
	if r := b.Run(t, "exec", victim, "test", "-e", marker); r.Code == 0 {
		t.Errorf("t1's exec ran in t2's container (%s exists)", marker)
	}
	if got := pidsMax(); got != pidsBefore {
		t.Errorf("t1's update changed t2's pids.max: %q -> %q", pidsBefore, got)
	}

	// list: a tenant sees its own, the operator all.
	if l := listIDs(t, a); strings.Contains(l, " "+victim+" ") || strings.Contains(l, " "+created+" ") {
		t.Errorf("t1's list shows t2's containers: %s", l)
	}
	if l := listIDs(t, b); !strings.Contains(l, " "+victim+" ") || !strings.Contains(l, " "+created+" ") {
		t.Errorf("t2's list misses its containers: %s", l)
	}
	if l := listIDs(t, op); !strings.Contains(l, " "+victim+" ") {
		t.Errorf("the operator's list misses t2's container: %s", l)
	}

	// The operator (root, no --tenant) acts on any tenant's container.
	if r := op.Run(t, "exec", victim, "true"); r.Code != 0 {
		t.Errorf("operator exec: %s", r)
	}
	if r := op.Run(t, "state", victim); r.Code != 0 {
		t.Errorf("operator state: %s", r)
	}

	// The owner's own verbs work.
	for _, args := range [][]string{
		{"exec", victim, "true"},
		{"ps", victim},
		{"pause", victim},
		{"resume", victim},
		{"update", "--pids-limit", "50", victim},
		{"events", "--stats", victim},
		{"start", created},
	} {
		if r := b.RunCall(t, tu.Call{Timeout: 30 * time.Second}, args...); r.Code != 0 {
			t.Errorf("t2 %v on its own container: %s", args, r)
		}
	}
	if r := b.RunCall(t, tu.Call{Timeout: 30 * time.Second}, "delete", "--force", victim); r.Code != 0 {
		t.Errorf("t2 delete --force of its own container: %s", r)
	}
	// delete --force of a container that is gone still succeeds (podman relies on it).
	if r := a.Run(t, "delete", "--force", victim); r.Code != 0 {
		t.Errorf("delete --force of a missing container: %s", r)
	}
}

// A leftover of a crashed create (state libcontainer cannot load) that records another
// tenant is not removed by this tenant's delete: the operator's delete (or gc) removes it.
func TestDeleteOfAnotherTenantsLeftoverRefused(t *testing.T) {
	tu.TenantrunOnly(t)
	h := tu.New(t)
	t1, t2 := verbTenants(h)
	id := h.ID("t2-leftover")
	dir := h.RT.Root + "/" + id
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tu.WriteFile(t, dir+"/tenantrun.json", fmt.Sprintf(`{"tenant":%q,"mode":"enforce","bundle":"/nonexistent"}`, t2))
	t.Cleanup(func() { os.RemoveAll(dir) })
	wantNotYours(t, "t1 delete --force of t2's leftover", id, t2, as(h, t1, "").Run(t, "delete", "--force", id))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("t1's delete removed t2's leftover: %v", err)
	}
	if r := as(h, t2, "").Run(t, "delete", "--force", id); r.Code != 0 {
		t.Errorf("t2 delete --force of its leftover: %s", r)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("t2's delete left its leftover: %v", err)
	}
}

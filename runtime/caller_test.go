package runtime

import (
	"testing"

	"github.com/tenantrun/tenantrun/hardening"
)

// Who a verb on an existing container acts for (finding 5): the operator (root, no
// --tenant) may act on every container; anyone else only on its own tenant's.
func TestCallerFor(t *testing.T) {
	const conf = `
[defaults]
fallback_tenant = "fb"
[tenants.alpha]
uid_range = "300000:65536"
users = [1000]
[tenants.beta]
uid_range = "400000:65536"
[tenants.fb]
uid_range = "500000:65536"
`
	load := func() (*hardening.Config, error) { return hardening.ParseConfig([]byte(conf)) }
	for _, c := range []struct {
		name     string
		flag     string
		uid      int
		wantErr  bool
		operator bool
		tenant   string
	}{
		{name: "root without --tenant is the operator", operator: true},
		{name: "root with --tenant", flag: "beta", tenant: "beta"},
		{name: "root with a tenant no longer configured (its containers stay deletable)", flag: "gone", tenant: "gone"},
		{name: "uid of a tenant", uid: 1000, tenant: "alpha"},
		{name: "uid of a tenant repeating it", uid: 1000, flag: "alpha", tenant: "alpha"},
		{name: "uid of a tenant naming another", uid: 1000, flag: "beta", wantErr: true},
		{name: "uid in no tenant naming one", uid: 2000, flag: "beta", wantErr: true},
		{name: "uid in no tenant is the fallback, never the operator", uid: 2000, tenant: "fb"},
	} {
		got, err := callerFor(c.flag, c.uid, load)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v", c.name, err)
			continue
		}
		if err == nil && (got.operator != c.operator || got.tenant != c.tenant) {
			t.Errorf("%s: got %+v", c.name, got)
		}
	}
	// A uid in no tenant without a fallback is refused outright.
	noFB := func() (*hardening.Config, error) {
		return hardening.ParseConfig([]byte("[tenants.alpha]\nuid_range = \"300000:65536\"\nusers = [1000]\n"))
	}
	if _, err := callerFor("", 2000, noFB); err == nil {
		t.Error("uid in no tenant, no fallback: want refused")
	}

	op, alpha := caller{operator: true}, caller{tenant: "alpha"}
	for _, c := range []struct {
		who    caller
		tenant string
		want   bool
	}{
		{op, "alpha", true}, {op, "", true},
		{alpha, "alpha", true}, {alpha, "beta", false},
		{alpha, "", false}, // no record: whose it is is unknown, so only the operator's
	} {
		if got := c.who.mayAct(c.tenant); got != c.want {
			t.Errorf("%+v acting on a container of %q: got %v", c.who, c.tenant, got)
		}
	}
}

package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tenantrun/tenantrun/hardening"
)

// PolicyOptions are the flags of `policy explain` and `policy check`.
type PolicyOptions struct {
	Bundle        string
	ID            string // container id to judge the bundle as (cgroup path, namespace checks)
	Format        string // text|json (explain)
	ConsoleSocket bool   // judge as if an engine passed --console-socket
}

// judge runs the tenant policy on a bundle without creating anything.
func judge(g *Global, o PolicyOptions) (*hardening.Explanation, error) {
	root, err := g.stateRoot()
	if err != nil {
		return nil, err
	}
	bundle := o.Bundle
	if bundle == "" {
		bundle = "."
	}
	if bundle, err = filepath.Abs(bundle); err != nil {
		return nil, fmt.Errorf("--bundle: %w", err)
	}
	id := o.ID
	if id == "" {
		id = "policy-check"
	}
	cfg, spec, err := loadBundle(g, root, bundle)
	switch {
	case err != nil && cfg == nil:
		return nil, err
	case err != nil: // the decode refused it: explain that
		return hardening.NewExplanation(nil, nil, err, cfg, nil), nil
	}
	t, err := resolveTenant(g, cfg, root, spec.Annotations)
	if err != nil {
		return nil, err
	}
	files := hardening.NewNSFiles()
	defer files.Close()
	host := osHost(root, files)
	out, ds, err := hardening.Enforce(hardening.Request{
		Spec: spec, Bundle: bundle, ContainerID: id, Tenant: t, Config: cfg,
		Host: host, ConsoleSocket: o.ConsoleSocket, SystemdCgroup: g.SystemdCgroup,
	})
	if err == nil && t.EffectiveMode() != hardening.ModeAudit && !t.Trusted {
		_, err = hardening.Adapt(host, spec, out, &ds)
	}
	e := hardening.NewExplanation(out, ds, err, cfg, t)
	if err == nil && out != nil {
		e.Network = explainNetwork(t, out)
	}
	return e, nil
}

// PolicyExplain prints what the tenant policy would do to a bundle: every
// decision (path, action, old → new, why) and the rewritten config.
func PolicyExplain(g *Global, o PolicyOptions, w io.Writer) error {
	e, err := judge(g, o)
	if err != nil {
		return err
	}
	out, err := e.Render(o.Format)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// PolicyCheck exits 0 if the bundle would run under its tenant's policy and
// returns the refusal otherwise (exit 1), for operators and CI pipelines.
func PolicyCheck(g *Global, o PolicyOptions, w io.Writer) error {
	e, err := judge(g, o)
	if err != nil {
		return err
	}
	if e.Verdict != "run" {
		return fmt.Errorf("%s", e.Error)
	}
	fmt.Fprintf(w, "ok: tenant %s would run this bundle (%d decisions; `tenantrun policy explain` lists them)\n", e.Tenant, len(e.Decisions))
	return nil
}

var _ = os.Stdout

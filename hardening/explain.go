package hardening

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PolicyDigest is the sha256 of the policy in force for a tenant (the tenant's
// resolved settings, the defaults that apply to it and the policy version), for the
// audit log: two runs with the same digest were judged by the same policy.
func PolicyDigest(c *Config, t *Tenant) string {
	doc := struct {
		PolicyVersion string
		OCIVersion    string
		Defaults      Defaults
		Tenant        *Tenant
	}{"tenantrun-policy/4", SupportedOCIVersion, c.Defaults, t} // 2: absent-field table, LSM allowlists; 3: hooks run as declared, tmpcopyup dropped; 4: network policy
	b, _ := json.Marshal(doc)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Explanation is what `tenantrun policy explain --format json` prints.
type Explanation struct {
	Verdict   string     `json:"verdict"` // "run" or "refused"
	Tenant    string     `json:"tenant,omitempty"`
	Mode      string     `json:"mode,omitempty"`
	Digest    string     `json:"policyDigest,omitempty"`
	Error     string     `json:"error,omitempty"`
	Decisions []Decision `json:"decisions"`
	// Network is the network policy ruleset the container's namespace gets (NetRuleset's
	// nft rendering); empty when the tenant has none.
	Network string      `json:"network,omitempty"`
	Config  *specs.Spec `json:"config,omitempty"`
}

// NewExplanation builds an Explanation from Enforce's results.
func NewExplanation(spec *specs.Spec, decisions []Decision, err error, c *Config, t *Tenant) *Explanation {
	e := &Explanation{Verdict: "run", Decisions: decisions, Config: spec}
	if e.Decisions == nil {
		e.Decisions = []Decision{}
	}
	if t != nil {
		e.Tenant, e.Mode = t.Name, string(t.EffectiveMode())
		if c != nil {
			e.Digest = PolicyDigest(c, t)
		}
	}
	if err != nil {
		e.Verdict, e.Error, e.Config = "refused", err.Error(), nil
	}
	return e
}

// Explain renders an explanation as "json" or "text" (the default): the decisions
// as a table, then the rewritten config.
func Explain(spec *specs.Spec, decisions []Decision, format string) ([]byte, error) {
	return NewExplanation(spec, decisions, nil, nil, nil).Render(format)
}

// Render prints the explanation in "json" or "text".
func (e *Explanation) Render(format string) ([]byte, error) {
	switch format {
	case "json":
		b, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	case "", "text":
	default:
		return nil, fmt.Errorf("unknown format %q (text or json)", format)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "verdict: %s\n", e.Verdict)
	if e.Tenant != "" {
		fmt.Fprintf(&buf, "tenant:  %s (%s)\npolicy:  %s\n", e.Tenant, e.Mode, e.Digest)
	}
	if e.Error != "" {
		fmt.Fprintf(&buf, "error:   %s\n", e.Error)
	}
	fmt.Fprintf(&buf, "\ndecisions (%d):\n", len(e.Decisions))
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ACTION\tPATH\tOLD -> NEW\tWHY")
	for _, d := range e.Decisions {
		change := ""
		if d.Action != ActionRefuse {
			change = short(d.Old) + " -> " + short(d.New)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.Action, d.Path, change, d.Reason)
	}
	tw.Flush()
	if e.Network != "" {
		buf.WriteString("\nnetwork policy (installed in the container's network namespace before its process starts):\n")
		buf.WriteString(e.Network)
	}
	if e.Config != nil {
		b, err := json.MarshalIndent(e.Config, "", "  ")
		if err != nil {
			return nil, err
		}
		buf.WriteString("\nrewritten config.json:\n")
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

func short(v any) string {
	if v == nil {
		return "-"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := strings.ReplaceAll(string(b), "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

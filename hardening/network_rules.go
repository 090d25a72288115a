package hardening

// The ruleset a container's network namespace gets from its tenant's NetPolicy.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NetFacts are what only the host knows when a container's rules are made.
type NetFacts struct {
	// HostAddrs are the host's own addresses (its initial network namespace): a
	// container never reaches the host's services, whatever an allow rule says.
	HostAddrs []netip.Addr
	// Gateways are the next hops of the container namespace's default routes (the
	// engine's bridge): denied like the host, except DNS and rules naming the address.
	Gateways []netip.Addr
}

// Verdicts of a NetMatch.
const (
	NetAccept = "accept"
	NetReject = "reject" // outbound: the application gets an error at once
	NetDrop   = "drop"   // inbound
)

// Counter names of the ruleset (named counters in the table, read by `tenantrun tenants`).
const (
	CounterEgressDenied  = "egress_denied"  // outbound connections refused by the allowlist
	CounterDenySet       = "deny_set"       // outbound to the host, the gateway, link-local, multicast
	CounterIngressDenied = "ingress_denied" // inbound connections to a port not in ingress_ports
	CounterConnCap       = "conn_cap"       // connections refused by max_connections
	CounterRateCap       = "rate_cap"       // connections refused by new_connections_per_second
	CounterSourceCap     = "source_cap"     // inbound connections refused by per_source_connections
)

// NetCounters lists every counter name, in display order.
var NetCounters = []string{CounterEgressDenied, CounterDenySet, CounterIngressDenied, CounterConnCap, CounterRateCap, CounterSourceCap}

// NetMatch is one rule: packets of new connections matching every set field get Verdict.
type NetMatch struct {
	Why     string
	Nets    []netip.Prefix // destination (egress) or source (ingress); empty: any
	Proto   string         // "tcp", "udp", "icmp", "" (any)
	Ports   []PortRange    // destination ports; empty: any
	Verdict string
	Counter string // the named counter the rule counts into ("" none)
}

// NetRuleset is what runtime/netpolicy installs as one table in the container's network
// namespace, in one transaction. Loopback and packets of established connections always
// pass; the caps apply to new connections in both directions.
type NetRuleset struct {
	Audit bool // every drop and reject is logged and counted instead
	// Egress is matched in order on the output hook, then EgressDefault.
	Egress        []NetMatch
	EgressDefault string
	// Ingress is matched in order on the input hook; what matches none is accepted.
	Ingress []NetMatch
	// Caps (0: none).
	MaxConnections          int
	NewConnectionsPerSecond int
	NewConnectionsBurst     int
	PerSourceConnections    int
}

// CompileNetPolicy is the ruleset of a container of a tenant with policy p on a host with
// facts f. The built-in deny set comes before any allow rule, so no rule opens it; the
// gateway's DNS (and ports a rule names the gateway's own address for) come before that.
func CompileNetPolicy(p NetPolicy, f NetFacts) NetRuleset {
	rs := NetRuleset{Audit: p.Audit, EgressDefault: NetReject,
		MaxConnections: p.MaxConnections, NewConnectionsPerSecond: p.NewConnectionsPerSecond,
		NewConnectionsBurst: p.NewConnectionsBurst, PerSourceConnections: p.PerSourceConnections}
	if p.EgressAllow {
		rs.EgressDefault = NetAccept
	}
	dns := []PortRange{{53, 53}}
	gws := hostPrefixes(f.Gateways)
	// The gateway: DNS when the resolvers allow it, and what a rule names it for.
	if !p.NoDNS {
		var to []netip.Prefix
		for _, g := range gws {
			if len(p.Resolvers) == 0 || slices.ContainsFunc(p.Resolvers, func(r netip.Prefix) bool { return r.Contains(g.Addr()) }) {
				to = append(to, g)
			}
		}
		if len(to) > 0 {
			for _, proto := range []string{"udp", "tcp"} {
				rs.Egress = append(rs.Egress, NetMatch{Why: "DNS to the engine's gateway (its resolver)", Nets: to, Proto: proto, Ports: dns, Verdict: NetAccept})
			}
		}
	}
	for _, r := range p.Allow {
		if r.Net.IsSingleIP() && slices.ContainsFunc(gws, func(g netip.Prefix) bool { return g == r.Net }) {
			rs.Egress = append(rs.Egress, NetMatch{Why: "an allow rule names the gateway's address", Nets: []netip.Prefix{r.Net}, Proto: r.Proto, Ports: r.Ports, Verdict: NetAccept})
		}
	}
	deny := append(slices.Clone(NetDenied), hostPrefixes(f.HostAddrs)...)
	deny = append(deny, gws...)
	rs.Egress = append(rs.Egress, NetMatch{Why: "built-in deny set: the host's addresses, the gateway, link-local (metadata), multicast, broadcast",
		Nets: uniqPrefixes(deny), Verdict: NetReject, Counter: CounterDenySet})
	if !p.NoDNS && !p.EgressAllow {
		for _, proto := range []string{"udp", "tcp"} {
			rs.Egress = append(rs.Egress, NetMatch{Why: "DNS to the resolvers", Nets: p.Resolvers, Proto: proto, Ports: dns, Verdict: NetAccept})
		}
	}
	if !p.EgressAllow {
		for _, r := range p.Allow {
			rs.Egress = append(rs.Egress, NetMatch{Why: "allow rule", Nets: []netip.Prefix{r.Net}, Proto: r.Proto, Ports: r.Ports, Verdict: NetAccept})
		}
	}
	if p.IngressPorts != nil {
		for _, proto := range []string{"tcp", "udp"} {
			if len(p.IngressPorts) > 0 {
				rs.Ingress = append(rs.Ingress, NetMatch{Why: "ingress_ports", Proto: proto, Ports: p.IngressPorts, Verdict: NetAccept})
			}
		}
		for _, proto := range []string{"tcp", "udp"} {
			rs.Ingress = append(rs.Ingress, NetMatch{Why: "a port not in ingress_ports", Proto: proto, Verdict: NetDrop, Counter: CounterIngressDenied})
		}
	}
	return rs
}

func hostPrefixes(as []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range as {
		a = a.Unmap()
		if a.IsValid() && !a.IsLoopback() {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func uniqPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}

// String renders the ruleset in nft's syntax, as `policy explain` shows it.
func (rs NetRuleset) String() string {
	var b strings.Builder
	mode := "enforce"
	if rs.Audit {
		mode = "audit: drops and rejects are logged and counted, nothing is dropped"
	}
	fmt.Fprintf(&b, "table inet tenantrun  # network policy, %s\n", mode)
	fmt.Fprintf(&b, "  output: oif lo accept; ct state established,related accept\n")
	if caps := rs.capsString(); caps != "" {
		fmt.Fprintf(&b, "  new connections (both directions): %s\n", caps)
	}
	for _, m := range rs.Egress {
		fmt.Fprintf(&b, "  output: %s  # %s\n", m.nft("daddr"), m.Why)
	}
	fmt.Fprintf(&b, "  output: %s  # egress default\n", verdictWord(rs.EgressDefault, ""))
	fmt.Fprintf(&b, "  input: iif lo accept; ct state established,related accept\n")
	if rs.PerSourceConnections > 0 {
		fmt.Fprintf(&b, "  input: ct count per source address over %d reject  # per_source_connections\n", rs.PerSourceConnections)
	}
	for _, m := range rs.Ingress {
		fmt.Fprintf(&b, "  input: %s  # %s\n", m.nft("saddr"), m.Why)
	}
	fmt.Fprintf(&b, "  input: accept\n")
	return b.String()
}

func (rs NetRuleset) capsString() string {
	var parts []string
	if rs.MaxConnections > 0 {
		parts = append(parts, fmt.Sprintf("ct count over %d reject (max_connections)", rs.MaxConnections))
	}
	if rs.NewConnectionsPerSecond > 0 {
		parts = append(parts, fmt.Sprintf("limit rate over %d/second burst %d reject (new_connections_per_second)", rs.NewConnectionsPerSecond, max(rs.NewConnectionsBurst, 1)))
	}
	return strings.Join(parts, "; ")
}

func (m NetMatch) nft(dir string) string {
	var parts []string
	if len(m.Nets) > 0 {
		var ns []string
		for _, n := range m.Nets {
			if n.IsSingleIP() {
				ns = append(ns, n.Addr().String())
			} else {
				ns = append(ns, n.String())
			}
		}
		parts = append(parts, fmt.Sprintf("ip %s { %s }", dir, strings.Join(ns, ", ")))
	}
	if m.Proto == "icmp" {
		parts = append(parts, "meta l4proto { icmp, ipv6-icmp }")
	} else if m.Proto != "" {
		ps := make([]string, len(m.Ports))
		for i, p := range m.Ports {
			ps[i] = p.String()
		}
		if len(ps) > 0 {
			parts = append(parts, fmt.Sprintf("%s dport { %s }", m.Proto, strings.Join(ps, ", ")))
		} else {
			parts = append(parts, "meta l4proto "+m.Proto)
		}
	}
	parts = append(parts, verdictWord(m.Verdict, m.Counter))
	return strings.Join(parts, " ")
}

func verdictWord(v, counter string) string {
	if counter != "" {
		return fmt.Sprintf("counter name %q %s", counter, v)
	}
	return v
}

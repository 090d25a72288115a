package hardening

// The tenant network policy ([defaults.network], [tenants.NAME.network]): its
// configuration, and the ruleset it compiles to for one container's network namespace.
// The runtime installs the ruleset (runtime/netpolicy); nothing here touches the host.

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// NetPolicy is a tenant's network policy.
type NetPolicy struct {
	// Enabled: the policy applies (enabled = false turns it off for the tenant).
	Enabled bool
	// Audit (network_mode = "audit"): matching traffic that would be dropped is logged and
	// counted, not dropped.
	Audit bool
	// EgressAllow: egress = "allow": outbound traffic that no built-in deny matches is
	// allowed; "deny" (the built-in): only Allow, DNS to Resolvers and loopback.
	EgressAllow bool
	Allow       []NetRule
	// Resolvers are where DNS (udp and tcp 53) may go; empty: anywhere outside the
	// built-in deny set, the engine's gateway included (podman's aardvark-dns, docker's
	// embedded resolver live there).
	Resolvers []netip.Prefix
	// NoDNS: resolvers = [] was written: no DNS at all.
	NoDNS bool
	// IngressPorts are the ports inbound connections may open (tcp and udp); nil: any.
	IngressPorts []PortRange
	// Per container, 0 = no cap: concurrent connections (conntrack entries, either
	// direction), new connections per second (with a burst), concurrent inbound
	// connections from one source address.
	MaxConnections          int
	NewConnectionsPerSecond int
	NewConnectionsBurst     int
	PerSourceConnections    int
}

// NetRule is one egress allow rule: to Net (an address is a /32 or /128), on Ports
// (all when Any), with Proto "tcp", "udp" or "icmp" (icmp has no ports).
type NetRule struct {
	Net   netip.Prefix
	Proto string
	Ports []PortRange
}

// PortRange is [Lo, Hi].
type PortRange struct{ Lo, Hi uint16 }

func (p PortRange) String() string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// Built-in network policy values.
var (
	// DefaultNetAllow is the built-in egress allowlist: the web (http and https).
	DefaultNetAllow = []NetRule{
		{Net: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Ports: []PortRange{{80, 80}, {443, 443}}},
		{Net: netip.MustParsePrefix("::/0"), Proto: "tcp", Ports: []PortRange{{80, 80}, {443, 443}}},
	}
	// NetDenied is the built-in deny set that no allow rule opens: link-local (the cloud
	// metadata address 169.254.169.254 among them), multicast and limited broadcast.
	// The host's own addresses and the engine's gateway are added per container
	// (NetFacts).
	NetDenied = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("ff00::/8"),
		netip.MustParsePrefix("255.255.255.255/32"),
	}
)

// DefaultNetPolicy is the built-in policy of a tenant that sets none: egress denied
// except DNS and the web, every ingress port, no connection caps.
func DefaultNetPolicy() NetPolicy {
	return NetPolicy{Enabled: true, Allow: slices.Clone(DefaultNetAllow)}
}

type rawNetRule struct {
	To    string `toml:"to"`
	Ports any    `toml:"ports"`
	Proto string `toml:"proto"`
}

type rawNetwork struct {
	Enabled                 *bool         `toml:"enabled"`
	NetworkMode             string        `toml:"network_mode"`
	Egress                  string        `toml:"egress"`
	Allow                   *[]rawNetRule `toml:"allow"`
	Resolvers               *[]string     `toml:"resolvers"`
	IngressPorts            any           `toml:"ingress_ports"`
	MaxConnections          *int          `toml:"max_connections"`
	NewConnectionsPerSecond *int          `toml:"new_connections_per_second"`
	NewConnectionsBurst     *int          `toml:"new_connections_burst"`
	PerSourceConnections    *int          `toml:"per_source_connections"`
}

// buildNetwork applies a [network] table over base (the defaults' policy, or the
// built-in one): every key given replaces base's value.
func buildNetwork(k string, r *rawNetwork, base NetPolicy) (NetPolicy, error) {
	p := base
	p.Allow = slices.Clone(base.Allow)
	p.Resolvers = slices.Clone(base.Resolvers)
	p.IngressPorts = slices.Clone(base.IngressPorts)
	if r == nil {
		return p, nil
	}
	if r.Enabled != nil {
		p.Enabled = *r.Enabled
	}
	switch r.NetworkMode {
	case "":
	case "enforce":
		p.Audit = false
	case "audit":
		p.Audit = true
	default:
		return p, fmt.Errorf("key %s.network_mode: %q must be \"enforce\" or \"audit\"", k, r.NetworkMode)
	}
	switch r.Egress {
	case "":
	case "deny":
		p.EgressAllow = false
	case "allow":
		p.EgressAllow = true
	default:
		return p, fmt.Errorf("key %s.egress: %q must be \"deny\" or \"allow\"", k, r.Egress)
	}
	if r.Allow != nil {
		p.Allow = nil
		for i, rr := range *r.Allow {
			rule, err := parseNetRule(fmt.Sprintf("%s.allow[%d]", k, i), rr)
			if err != nil {
				return p, err
			}
			p.Allow = append(p.Allow, rule)
		}
	}
	if r.Resolvers != nil {
		p.Resolvers, p.NoDNS = nil, len(*r.Resolvers) == 0
		for i, s := range *r.Resolvers {
			pf, err := parseNet(s)
			if err != nil {
				return p, fmt.Errorf("key %s.resolvers[%d]: %w", k, i, err)
			}
			if deniedNet(pf) {
				return p, fmt.Errorf("key %s.resolvers[%d]: %s is in the built-in deny set (link-local, multicast, broadcast), which no rule opens", k, i, pf)
			}
			p.Resolvers = append(p.Resolvers, pf)
		}
	}
	if r.IngressPorts != nil {
		ports, err := parsePorts(k+".ingress_ports", r.IngressPorts)
		if err != nil {
			return p, err
		}
		p.IngressPorts = ports
		if p.IngressPorts == nil {
			p.IngressPorts = []PortRange{} // [] = no inbound connections at all
		}
	}
	for _, c := range []struct {
		key string
		v   *int
		dst *int
		max int
	}{
		{"max_connections", r.MaxConnections, &p.MaxConnections, 1 << 24},
		{"new_connections_per_second", r.NewConnectionsPerSecond, &p.NewConnectionsPerSecond, 1 << 20},
		{"new_connections_burst", r.NewConnectionsBurst, &p.NewConnectionsBurst, 1 << 20},
		{"per_source_connections", r.PerSourceConnections, &p.PerSourceConnections, 1 << 24},
	} {
		if c.v == nil {
			continue
		}
		if *c.v < 0 || *c.v > c.max {
			return p, fmt.Errorf("key %s.%s: %d must be in 0..%d (0: no cap)", k, c.key, *c.v, c.max)
		}
		*c.dst = *c.v
	}
	if p.NewConnectionsBurst > 0 && p.NewConnectionsPerSecond == 0 {
		return p, fmt.Errorf("key %s.new_connections_burst: needs new_connections_per_second", k)
	}
	return p, nil
}

func parseNetRule(k string, r rawNetRule) (NetRule, error) {
	if r.To == "" {
		return NetRule{}, fmt.Errorf("key %s.to: missing (a CIDR such as \"10.0.0.0/8\" or an address)", k)
	}
	pf, err := parseNet(r.To)
	if err != nil {
		return NetRule{}, fmt.Errorf("key %s.to: %w", k, err)
	}
	if deniedNet(pf) {
		return NetRule{}, fmt.Errorf("key %s.to: %s lies in the built-in deny set (link-local, multicast, broadcast), which no rule opens", k, pf)
	}
	rule := NetRule{Net: pf, Proto: r.Proto}
	switch r.Proto {
	case "":
		rule.Proto = "tcp"
	case "tcp", "udp":
	case "icmp":
		if r.Ports != nil {
			return NetRule{}, fmt.Errorf("key %s.ports: icmp has no ports", k)
		}
		return rule, nil
	default:
		return NetRule{}, fmt.Errorf("key %s.proto: %q must be \"tcp\", \"udp\" or \"icmp\"", k, r.Proto)
	}
	if r.Ports == nil {
		return NetRule{}, fmt.Errorf("key %s.ports: missing (a port, \"LO-HI\", or a list of them; \"1-65535\" for all)", k)
	}
	if rule.Ports, err = parsePorts(k+".ports", r.Ports); err != nil {
		return NetRule{}, err
	}
	if len(rule.Ports) == 0 {
		return NetRule{}, fmt.Errorf("key %s.ports: empty (leave the rule out instead)", k)
	}
	return rule, nil
}

// parseNet reads a CIDR or a single address (a /32 or /128), masked.
func parseNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an address", s)
		}
		if pf.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zones are not allowed", s)
		}
		return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-unmapBits(pf.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address loses when unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// deniedNet: pf lies entirely inside the built-in deny set.
func deniedNet(pf netip.Prefix) bool {
	for _, d := range NetDenied {
		if d.Addr().Is4() == pf.Addr().Is4() && d.Bits() <= pf.Bits() && d.Contains(pf.Addr()) {
			return true
		}
	}
	return false
}

// parsePorts reads a port (number), "LO-HI", or a list of them.
func parsePorts(k string, v any) ([]PortRange, error) {
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	default:
		items = []any{x}
	}
	var out []PortRange
	for i, it := range items {
		ik := k
		if _, list := v.([]any); list {
			ik = fmt.Sprintf("%s[%d]", k, i)
		}
		var lo, hi int64
		switch x := it.(type) {
		case int64:
			lo, hi = x, x
		case string:
			a, b, isRange := strings.Cut(strings.TrimSpace(x), "-")
			var err1, err2 error
			lo, err1 = strconv.ParseInt(strings.TrimSpace(a), 10, 32)
			hi = lo
			if isRange {
				hi, err2 = strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			}
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("key %s: %q is not a port or \"LO-HI\"", ik, x)
			}
		default:
			return nil, fmt.Errorf("key %s: %v is not a port, \"LO-HI\" or a list of them", ik, it)
		}
		if lo < 1 || hi > 65535 || lo > hi {
			return nil, fmt.Errorf("key %s: %d-%d must lie in 1-65535, low end first", ik, lo, hi)
		}
		out = append(out, PortRange{uint16(lo), uint16(hi)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	return out, nil
}

package hardening

import (
	"net/netip"
	"strings"
	"testing"
)

func netConfig(t *testing.T, network string, tenantKeys ...string) (*Tenant, error) {
	t.Helper()
	c, err := ParseConfig([]byte("[tenants.t]\nuid_range = \"1000000:65536\"\n" + strings.Join(tenantKeys, "\n") + "\n[tenants.t.network]\n" + network + "\n"))
	if err != nil {
		return nil, err
	}
	return c.Tenants["t"], nil
}

// Every network key is checked at load, with an error that names it.
func TestNetworkConfigErrors(t *testing.T) {
	for network, want := range map[string]string{
		`egress = "open"`:                                             "tenants.t.network.egress",
		`network_mode = "log"`:                                        "tenants.t.network.network_mode",
		`allow = [{ ports = [80] }]`:                                  "tenants.t.network.allow[0].to: missing",
		`allow = [{ to = "10.0.0.0/33", ports = [80] }]`:              "tenants.t.network.allow[0].to",
		`allow = [{ to = "10.0.0.1" }]`:                               "tenants.t.network.allow[0].ports: missing",
		`allow = [{ to = "10.0.0.1", ports = [0] }]`:                  "tenants.t.network.allow[0].ports[0]",
		`allow = [{ to = "10.0.0.1", ports = "90-80" }]`:              "tenants.t.network.allow[0].ports",
		`allow = [{ to = "10.0.0.1", ports = [80], proto = "sctp" }]`: "tenants.t.network.allow[0].proto",
		`allow = [{ to = "10.0.0.1", ports = [80], proto = "icmp" }]`: "icmp has no ports",
		`allow = [{ to = "169.254.169.254", ports = [80] }]`:          "built-in deny set",
		`allow = [{ to = "224.0.0.1", ports = [80] }]`:                "built-in deny set",
		`resolvers = ["fe80::1"]`:                                     "tenants.t.network.resolvers[0]",
		`ingress_ports = ["http"]`:                                    "tenants.t.network.ingress_ports",
		`max_connections = -1`:                                        "tenants.t.network.max_connections",
		`new_connections_burst = 5`:                                   "needs new_connections_per_second",
		`bogus = 1`:                                                   "unknown key tenants.t.network.bogus",
	} {
		if _, err := netConfig(t, network); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", network, err, want)
		}
	}
	if _, err := netConfig(t, "", `capabilities = ["CAP_CHOWN", "CAP_NET_RAW"]`); err == nil || !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Errorf("CAP_NET_RAW with a network policy: %v", err)
	}
	if _, err := netConfig(t, "enabled = false", `capabilities = ["CAP_NET_RAW"]`); err != nil {
		t.Errorf("CAP_NET_RAW without a network policy: %v", err)
	}
}

// Defaults: the built-in policy, [defaults.network] under every tenant, the tenant's keys
// over it.
func TestNetworkConfigLayers(t *testing.T) {
	c := BuiltinConfig()
	p := c.Tenants["default"].Network
	if !p.Enabled || p.EgressAllow || p.Audit || len(p.Allow) != 2 || p.IngressPorts != nil {
		t.Fatalf("built-in policy: %+v", p)
	}
	c, err := ParseConfig([]byte(`
[defaults.network]
max_connections = 100
egress = "allow"
[tenants.a]
uid_range = "1000000:65536"
[tenants.b]
uid_range = "2000000:65536"
[tenants.b.network]
egress = "deny"
ingress_ports = [80, "8000-8010"]
resolvers = ["10.0.0.53", "2001:db8::53"]
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Tenants["a"].Network, c.Tenants["b"].Network
	if !a.EgressAllow || a.MaxConnections != 100 {
		t.Errorf("tenant a does not inherit [defaults.network]: %+v", a)
	}
	if b.EgressAllow || b.MaxConnections != 100 || len(b.IngressPorts) != 2 || b.IngressPorts[1] != (PortRange{8000, 8010}) || len(b.Resolvers) != 2 {
		t.Errorf("tenant b: %+v", b)
	}
	if p, _ := netConfig(t, `resolvers = []`); !p.Network.NoDNS {
		t.Error("resolvers = [] does not turn DNS off")
	}
	if p, _ := netConfig(t, `ingress_ports = []`); p.Network.IngressPorts == nil || len(p.Network.IngressPorts) != 0 {
		t.Error("ingress_ports = [] does not close every port")
	}
}

// The compiled ruleset: the gateway's DNS first, then the deny set (host addresses and
// the gateway included), then DNS and the allow rules, then the default; no allow rule
// comes before the deny set, whatever the policy says.
func TestCompileNetPolicyOrder(t *testing.T) {
	gw, host := netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("192.0.2.7")
	p := DefaultNetPolicy()
	p.Allow = append(p.Allow,
		NetRule{Net: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Ports: []PortRange{{1, 65535}}},
		NetRule{Net: netip.PrefixFrom(gw, 32), Proto: "tcp", Ports: []PortRange{{8080, 8080}}})
	rs := CompileNetPolicy(p, NetFacts{HostAddrs: []netip.Addr{host, netip.MustParseAddr("127.0.0.1")}, Gateways: []netip.Addr{gw}})
	deny := -1
	for i, m := range rs.Egress {
		if m.Counter == CounterDenySet {
			deny = i
			for _, want := range []string{"10.88.0.1/32", "192.0.2.7/32", "169.254.0.0/16", "224.0.0.0/4"} {
				found := false
				for _, n := range m.Nets {
					found = found || n.String() == want
				}
				if !found {
					t.Errorf("deny set lacks %s: %v", want, m.Nets)
				}
			}
			for _, n := range m.Nets {
				if n.Addr().IsLoopback() {
					t.Errorf("loopback in the deny set: %v", n)
				}
			}
		}
	}
	if deny < 0 {
		t.Fatal("no deny set")
	}
	for i, m := range rs.Egress[:deny] {
		if m.Verdict != NetAccept || len(m.Nets) != 1 || m.Nets[0].Addr() != gw {
			t.Errorf("rule %d before the deny set is not a gateway exception: %+v", i, m)
		}
		if len(m.Ports) != 1 || (m.Ports[0] != PortRange{53, 53} && m.Ports[0] != PortRange{8080, 8080}) {
			t.Errorf("gateway exception %d opens %v", i, m.Ports)
		}
	}
	if rs.EgressDefault != NetReject {
		t.Errorf("egress default %s", rs.EgressDefault)
	}
	// egress = "allow": no allow rules needed, the deny set still first.
	p.EgressAllow = true
	rs = CompileNetPolicy(p, NetFacts{})
	if rs.EgressDefault != NetAccept || rs.Egress[len(rs.Egress)-1].Counter != CounterDenySet {
		t.Errorf("egress allow: %+v", rs)
	}
	// resolvers limit the gateway's DNS: a gateway outside them gets none.
	p = DefaultNetPolicy()
	p.Resolvers = []netip.Prefix{netip.MustParsePrefix("10.0.0.53/32")}
	rs = CompileNetPolicy(p, NetFacts{Gateways: []netip.Addr{gw}})
	if rs.Egress[0].Counter != CounterDenySet {
		t.Errorf("a gateway outside the resolvers got DNS: %+v", rs.Egress[0])
	}
	if s := rs.String(); !strings.Contains(s, "deny_set") || !strings.Contains(s, "10.0.0.53") {
		t.Errorf("rendering: %s", s)
	}
}

package testutil

import (
	"github.com/google/nftables"
)

// nftIsolationTables lists the host's tenant isolation tables (runtime/netpolicy,
// "<family> tenantrun_isolation") that exist now: they hold the addresses of live policed
// containers and must be gone with the last one.
func nftIsolationTables() map[string]bool {
	out := map[string]bool{}
	c, err := nftables.New()
	if err != nil {
		return out
	}
	ts, err := c.ListTables()
	if err != nil {
		return out
	}
	for _, t := range ts {
		if t.Name == "tenantrun_isolation" {
			out[familyName(t.Family)+" "+t.Name] = true
		}
	}
	return out
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	}
	return "family?"
}

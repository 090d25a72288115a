package netpolicy

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"

	"github.com/tenantrun/tenantrun/internal/testutil"
)

// isoMembers is the addresses of the named set in the inet isolation table (nil: no set).
func isoMembers(t *testing.T, set string) []netip.Addr {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	els, err := c.GetSetElements(&nftables.Set{Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: IsolationTable}, Name: set})
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			out = append(out, a)
		}
	}
	return out
}

// TestIsolationStaleEntries attacks the bookkeeping of the host's isolation tables: an
// address a crashed container of tenant a never released is reused by tenant b's container
// (it must move to b: a's rules must not treat b's container as a's), a's late release
// must not take b's entry away (b's container would become reachable from every tenant),
// a release repeated must be harmless, and the tables go with the last address.
func TestIsolationStaleEntries(t *testing.T) {
	testutil.RequireRoot(t)
	if st, err := readIsoState(mustConn(t)); err != nil || len(st) != 0 {
		testutil.Require(t, false, "the host's isolation tables are in use (a running container of a policed tenant); this test needs them for itself")
	}
	a, b := "isotesta", "isotestb"
	x, y := netip.MustParseAddr("10.244.0.5"), netip.MustParseAddr("fd00:244::5")
	t.Cleanup(func() { _ = Release(a, []netip.Addr{x, y}); _ = Release(b, []netip.Addr{x, y}) })
	if err := Isolate(a, []netip.Addr{x, y}); err != nil {
		t.Fatal(err)
	}
	if err := Isolate(b, []netip.Addr{x}); err != nil { // x reused: a's entry is stale
		t.Fatalf("a reused address: %v", err)
	}
	if got := isoMembers(t, "a4_"+b); !slices.Contains(got, x) {
		t.Errorf("b's set lacks the reused address: %v", got)
	}
	if got := isoMembers(t, "a4_"+a); slices.Contains(got, x) {
		t.Errorf("a's set still holds the address b's container has now: %v", got)
	}
	if err := Release(a, []netip.Addr{x, y}); err != nil { // a's late release
		t.Fatal(err)
	}
	if got := isoMembers(t, "p4"); !slices.Contains(got, x) {
		t.Errorf("a's late release took b's container out of the policed set: %v", got)
	}
	if got := isoMembers(t, "a6_"+a); got != nil {
		t.Errorf("a's sets were left after its last address: %v", got)
	}
	if err := Release(a, []netip.Addr{x, y}); err != nil {
		t.Errorf("a release repeated: %v", err)
	}
	if err := Release(b, []netip.Addr{x}); err != nil {
		t.Fatal(err)
	}
	if st, err := readIsoState(mustConn(t)); err != nil || len(st) != 0 {
		t.Errorf("isolation tables left after the last address: %v %v", st, err)
	}
}

func mustConn(t *testing.T) *nftables.Conn {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

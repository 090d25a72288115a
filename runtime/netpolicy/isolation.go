package netpolicy

// Isolation between tenants on a shared network (podman's default bridge, a CNI bridge
// for CRI pods, Docker's bridge): no container of a policed tenant can exchange a packet
// with a container of another policed tenant, whatever its allow rules say; containers
// of one tenant reach each other as their rules allow. The check sits where every such
// packet passes, the host's namespace: bridged between two ports of one bridge (the
// bridge family's forward hook) or routed between two networks (the inet forward hook).
// It is two tables the runtime owns there, "bridge tenantrun_isolation" and "inet
// tenantrun_isolation", made with the first policed container's addresses and removed
// with the last one's:
//
//	set p4, p6                every policed container address
//	map o4, o6                address -> jump t_<tenant>
//	set a4_<tenant>, a6_...   the tenant's addresses
//	chain forward             ip saddr vmap @o4; ip6 saddr vmap @o6
//	chain t_<tenant>          ip daddr @a4_<tenant> return; ip daddr @p4 counter crossed_<tenant> drop (and ip6)
//
// A create adds its addresses, a delete removes them, each in one transaction under an
// exclusive lock, so a table is never seen half made.

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// IsolationTable names the two host tables.
const IsolationTable = "tenantrun_isolation"

// CounterCrossed names the per-tenant counters ("crossed_<tenant>") of packets dropped
// between that tenant's containers and another tenant's.
const CounterCrossed = "crossed"

// LockPath serialises every change of the isolation tables (a variable for tests).
var LockPath = "/run/tenantrun/isolation.lock"

var isoFamilies = []nftables.TableFamily{nftables.TableFamilyBridge, nftables.TableFamilyINet}

// ContainerAddrs are the global addresses of the namespace nsFD's interfaces (not
// loopback, not link-local): what other containers on its network see it as.
func ContainerAddrs(nsFD int) ([]netip.Addr, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(nsFD))
	if err != nil {
		return nil, fmt.Errorf("the container's addresses: %w", err)
	}
	defer h.Close()
	list, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("the container's addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range list {
		ad, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ad = ad.Unmap()
		if ad.IsLoopback() || ad.IsLinkLocalUnicast() || ad.IsMulticast() || ad.IsUnspecified() {
			continue
		}
		out = append(out, ad)
	}
	return out, nil
}

func lockIsolation() (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(LockPath), 0o700); err != nil {
		return nil, err
	}
	return fsutil.LockFile(LockPath, unix.LOCK_EX)
}

// Isolate records addrs as tenant's container addresses in the host's isolation tables,
// making them (and the tenant's chain) when missing. An address recorded for another
// tenant before (a stale entry of a reused address) is moved to this one.
//
// The common case costs one dump and one transaction: the dump of the host's chains says
// which tables and tenant chains exist, and the transaction adds the addresses without
// reading the sets. A stale entry of another tenant makes the kernel refuse the whole
// transaction (the map's element exists with another verdict), and only then are the
// maps read and the entry moved.
func Isolate(tenant string, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return nil
	}
	lk, c, err := isolationConn()
	if err != nil {
		return err
	}
	defer lk.Close()
	defer c.CloseLasting()
	var errs []error
	for _, stale := range []bool{false, true} {
		st, err := readIsoState(c)
		if err != nil {
			return err
		}
		for _, fam := range isoFamilies {
			if err := isolateIn(c, fam, tenant, addrs, st, stale); err != nil {
				return err
			}
		}
		if err = c.Flush(); err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("tenant isolation: %w", errors.Join(errs...))
}

// isoState is what one dump of the host's chains says about the isolation tables: the
// families whose table exists, and the tenants whose chain it has.
type isoState map[nftables.TableFamily]map[string]bool

func readIsoState(c *nftables.Conn) (isoState, error) {
	chains, err := c.ListChains()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	st := isoState{}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != IsolationTable {
			continue
		}
		if st[ch.Table.Family] == nil {
			st[ch.Table.Family] = map[string]bool{}
		}
		if tenant, ok := strings.CutPrefix(ch.Name, "t_"); ok {
			st[ch.Table.Family][tenant] = true
		}
	}
	return st, nil
}

// isolationConn takes the exclusive lock and opens the one netlink socket for it.
func isolationConn() (*os.File, *nftables.Conn, error) {
	lk, err := lockIsolation()
	if err != nil {
		return nil, nil, fmt.Errorf("tenant isolation: %w", err)
	}
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		lk.Close()
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return lk, c, nil
}

type isoSets struct {
	p4, p6, o4, o6 *nftables.Set
}

func isoSetsOf(t *nftables.Table) isoSets {
	return isoSets{
		p4: &nftables.Set{Table: t, Name: "p4", KeyType: nftables.TypeIPAddr},
		p6: &nftables.Set{Table: t, Name: "p6", KeyType: nftables.TypeIP6Addr},
		o4: &nftables.Set{Table: t, Name: "o4", KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict, IsMap: true},
		o6: &nftables.Set{Table: t, Name: "o6", KeyType: nftables.TypeIP6Addr, DataType: nftables.TypeVerdict, IsMap: true},
	}
}

func tenantSets(t *nftables.Table, tenant string) (a4, a6 *nftables.Set) {
	return &nftables.Set{Table: t, Name: "a4_" + tenant, KeyType: nftables.TypeIPAddr},
		&nftables.Set{Table: t, Name: "a6_" + tenant, KeyType: nftables.TypeIP6Addr}
}

// familySets are, for an address of one family, the policed set, the owner map and the
// tenant's own set (a4 or a6).
func familySets(sets isoSets, a4, a6 *nftables.Set, v6 bool) (p, o, own *nftables.Set) {
	if v6 {
		return sets.p6, sets.o6, a6
	}
	return sets.p4, sets.o4, a4
}

// deleteKey adds to the transaction the removal of key from each of ss.
func deleteKey(c *nftables.Conn, key []byte, ss ...*nftables.Set) error {
	for _, s := range ss {
		if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: key}}); err != nil {
			return fmt.Errorf("tenant isolation: %w", err)
		}
	}
	return nil
}

// l3 matches IPv4 or IPv6 in the table's family: the ether type on a bridge, the
// netfilter family in inet.
func l3(fam nftables.TableFamily, v6 bool) []expr.Any {
	if fam == nftables.TableFamilyBridge {
		p := []byte{0x08, 0x00}
		if v6 {
			p = []byte{0x86, 0xdd}
		}
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p}}
	}
	p := byte(unix.NFPROTO_IPV4)
	if v6 {
		p = unix.NFPROTO_IPV6
	}
	return nfproto(p)
}

func addrLoad(v6, dst bool) *expr.Payload {
	off, l := uint32(12), uint32(4)
	if v6 {
		off, l = 8, 16
	}
	if dst {
		off += l
	}
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l}
}

// isolateIn adds the transaction's messages for one family's table; with stale, it first
// reads the maps and moves an address another tenant still holds.
func isolateIn(c *nftables.Conn, fam nftables.TableFamily, tenant string, addrs []netip.Addr, st isoState, stale bool) error {
	t := &nftables.Table{Family: fam, Name: IsolationTable}
	sets := isoSetsOf(t)
	have := st[fam] != nil
	if !have {
		c.AddTable(t)
		for _, s := range []*nftables.Set{sets.p4, sets.p6, sets.o4, sets.o6} {
			if err := c.AddSet(s, nil); err != nil {
				return fmt.Errorf("tenant isolation: %w", err)
			}
		}
		accept := nftables.ChainPolicyAccept
		fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		for _, v6 := range []bool{false, true} {
			m := sets.o4
			if v6 {
				m = sets.o6
			}
			ex := append(l3(fam, v6), addrLoad(v6, false), &expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: m.Name, SetID: m.ID})
			c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: ex})
		}
	}
	a4, a6 := tenantSets(t, tenant)
	chain := "t_" + tenant
	if !st[fam][tenant] {
		for _, s := range []*nftables.Set{a4, a6} {
			if err := c.AddSet(s, nil); err != nil {
				return fmt.Errorf("tenant isolation: %w", err)
			}
		}
		c.AddObj(&nftables.CounterObj{Table: t, Name: CounterCrossed + "_" + tenant})
		ch := c.AddChain(&nftables.Chain{Name: chain, Table: t})
		for _, v6 := range []bool{false, true} {
			own, all := a4, sets.p4
			if v6 {
				own, all = a6, sets.p6
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(l3(fam, v6), addrLoad(v6, true),
				&expr.Lookup{SourceRegister: 1, SetName: own.Name, SetID: own.ID}, &expr.Verdict{Kind: expr.VerdictReturn})})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(l3(fam, v6), addrLoad(v6, true),
				&expr.Lookup{SourceRegister: 1, SetName: all.Name, SetID: all.ID},
				&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: CounterCrossed + "_" + tenant}, &expr.Verdict{Kind: expr.VerdictDrop})})
		}
	}
	// A reused address still recorded for another tenant (its container crashed before
	// releasing it): take it away from that one first. The library does not decode a
	// verdict map's data, so the owner is found in the tenants' own sets.
	if have && stale {
		for other := range st[fam] {
			if other == tenant {
				continue
			}
			o4, o6 := tenantSets(t, other)
			for _, v6 := range []bool{false, true} {
				_, m, own := familySets(sets, o4, o6, v6)
				els, err := c.GetSetElements(own)
				if err != nil {
					continue
				}
				for _, e := range els {
					if ad, ok := netip.AddrFromSlice(e.Key); ok && slices.Contains(addrs, ad) {
						if err := deleteKey(c, e.Key, own, m); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	for _, a := range addrs {
		p, o, own := familySets(sets, a4, a6, a.Is6())
		key := a.AsSlice()
		for _, s := range []*nftables.Set{p, own} {
			if err := c.SetAddElements(s, []nftables.SetElement{{Key: key}}); err != nil {
				return fmt.Errorf("tenant isolation: %w", err)
			}
		}
		if err := c.SetAddElements(o, []nftables.SetElement{{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}}); err != nil {
			return fmt.Errorf("tenant isolation: %w", err)
		}
	}
	return nil
}

// Release removes addrs of tenant from the isolation tables: the tenant's chain and sets
// go with its last address, the tables with the last policed address. An address is only
// taken out of the shared sets while the tenant's own set holds it: a stale release never
// removes the entry of another tenant's container that got the address since.
//
// The common case is one dump (the chains) and one transaction that deletes the elements
// without reading the sets (the kernel refuses the whole transaction when one is not
// there, and only then are the sets read); the tenant's sets are read when it may have
// been its last address, the shared ones only when the tenant had no address left.
func Release(tenant string, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return nil
	}
	lk, c, err := isolationConn()
	if err != nil {
		return err
	}
	defer lk.Close()
	defer c.CloseLasting()
	st, err := readIsoState(c)
	if err != nil {
		return err
	}
	var fams []nftables.TableFamily
	for _, fam := range isoFamilies {
		if !st[fam][tenant] {
			continue // nothing of the tenant's in this table
		}
		fams = append(fams, fam)
		t := &nftables.Table{Family: fam, Name: IsolationTable}
		sets := isoSetsOf(t)
		a4, a6 := tenantSets(t, tenant)
		for _, a := range addrs {
			p, o, own := familySets(sets, a4, a6, a.Is6())
			if err := deleteKey(c, a.AsSlice(), own, p, o); err != nil {
				return err
			}
		}
	}
	if len(fams) == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		// An address already released (gc, a release that ran before): read the sets.
		for _, fam := range fams {
			if err := releaseIn(c, fam, tenant, addrs); err != nil {
				return err
			}
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("tenant isolation: %w", err)
		}
	}
	for _, fam := range fams {
		tidyIn(c, fam, tenant)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("tenant isolation: %w", err)
	}
	return nil
}

// releaseIn deletes those of addrs the tenant's own sets still hold, from them and from the
// shared ones, reading the sets first.
func releaseIn(c *nftables.Conn, fam nftables.TableFamily, tenant string, addrs []netip.Addr) error {
	t := &nftables.Table{Family: fam, Name: IsolationTable}
	sets := isoSetsOf(t)
	a4, a6 := tenantSets(t, tenant)
	for _, v6 := range []bool{false, true} {
		p, o, own := familySets(sets, a4, a6, v6)
		els, err := c.GetSetElements(own)
		if err != nil {
			continue // the tenant's sets are gone already
		}
		for _, e := range els {
			ad, ok := netip.AddrFromSlice(e.Key)
			if !ok || !slices.Contains(addrs, ad) {
				continue
			}
			if err := deleteKey(c, e.Key, own, p, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// tidyIn removes the tenant's chain, sets and counter when its sets are empty, and the
// whole table when no policed address is left in it.
func tidyIn(c *nftables.Conn, fam nftables.TableFamily, tenant string) {
	t := &nftables.Table{Family: fam, Name: IsolationTable}
	empty := func(ss ...*nftables.Set) bool {
		for _, s := range ss {
			if els, err := c.GetSetElements(s); err == nil && len(els) > 0 {
				return false
			}
		}
		return true
	}
	a4, a6 := tenantSets(t, tenant)
	if !empty(a4, a6) {
		return
	}
	sets := isoSetsOf(t)
	if empty(sets.p4, sets.p6) {
		c.DelTable(t)
		return
	}
	ch := &nftables.Chain{Table: t, Name: "t_" + tenant}
	c.FlushChain(ch)
	c.DelChain(ch)
	c.DelSet(a4)
	c.DelSet(a6)
	c.DeleteObject(&nftables.CounterObj{Table: t, Name: CounterCrossed + "_" + tenant})
}

// Crossed reads every tenant's crossed counter (packets), summed over both tables.
func Crossed() (map[string]uint64, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, fam := range isoFamilies {
		if have, err := hasTable(c, fam, IsolationTable); err != nil || !have {
			continue
		}
		all, err := namedCounters(c, &nftables.Table{Family: fam, Name: IsolationTable})
		if err != nil {
			return nil, err
		}
		for name, packets := range all {
			if t, ok := strings.CutPrefix(name, CounterCrossed+"_"); ok {
				out[t] += packets
			}
		}
	}
	return out, nil
}

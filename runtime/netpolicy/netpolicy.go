// Package netpolicy installs a tenant's network policy (hardening.NetRuleset) as one
// nftables table, "inet tenantrun", in a container's network namespace, through netlink
// (github.com/google/nftables: no nft binary), in one transaction that replaces whatever
// table of that name was there; reads its counters; and reads the host facts the ruleset
// needs (the host's addresses, the namespace's gateways). Its door is Install, Remove,
// Counters and Facts; each takes the namespace as an open descriptor, never a path, so
// what is changed is the namespace the caller checked.
package netpolicy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
)

// TableName is the table tenantrun owns in every policed network namespace.
const TableName = "tenantrun"

// AuditLogPrefix starts the kernel log line of a packet audit mode let through (logged
// from a container's namespace only with sysctl net.netfilter.nf_log_all_netns = 1).
const AuditLogPrefix = "tenantrun-audit "

// connlimitOver is NFT_CONNLIMIT_F_INV (linux/netfilter/nf_tables.h): "ct count over N".
const connlimitOver = 1

// ErrUnavailable wraps every error that says the kernel has no usable nf_tables.
var ErrUnavailable = errors.New("nf_tables is not available")

func table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}
}

func conn(nsFD int, opts ...nftables.ConnOption) (*nftables.Conn, error) {
	c, err := nftables.New(append(opts, nftables.WithNetNSFd(nsFD))...)
	if err != nil {
		return nil, fmt.Errorf("%w: netlink: %v", ErrUnavailable, err)
	}
	return c, nil
}

// Apply sets up the network namespace nsFD of a container of tenant: the ruleset compile
// makes from the namespace's facts goes into its table (none when compile is nil), and its
// addresses into the host's isolation tables. The two run concurrently (different
// namespaces, different locks): a start waits for the longer one only. On an error
// nothing of it is left in the isolation tables; the addresses are returned on success.
func Apply(nsFD int, tenant string, compile func(hardening.NetFacts) hardening.NetRuleset) (hardening.NetRuleset, []netip.Addr, error) {
	type isolated struct {
		addrs []netip.Addr
		err   error
	}
	done := make(chan isolated, 1)
	go func() {
		addrs, err := ContainerAddrs(nsFD)
		if err == nil {
			err = Isolate(tenant, addrs)
		}
		done <- isolated{addrs, err}
	}()
	var rs hardening.NetRuleset
	var err error
	if compile != nil {
		var facts hardening.NetFacts
		if facts, err = Facts(nsFD); err == nil {
			rs = compile(facts)
			err = Install(nsFD, tenant, rs)
		}
	}
	iso := <-done
	if iso.err != nil {
		return rs, nil, iso.err
	}
	if err != nil {
		if rerr := Release(tenant, iso.addrs); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return rs, nil, err
	}
	return rs, iso.addrs, nil
}

// ownerPrefix names the counter that marks whose policy a table holds.
const ownerPrefix = "owner_"

// Install replaces the tenantrun table in the namespace nsFD with rs for tenant,
// atomically: the namespace has the old table or the new one, never none or half of one.
func Install(nsFD int, tenant string, rs hardening.NetRuleset) error {
	// One netlink socket for the check and the transaction (each new one costs a
	// namespace switch).
	c, err := conn(nsFD, nftables.AsLasting())
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	have, err := hasTable(c, nftables.TableFamilyINet, TableName)
	if err != nil {
		return err
	}
	t := table()
	if have {
		// add (a no-op when it exists), delete, add: the replace idiom of nft -f, one
		// batch. The delete makes the kernel wait for an RCU grace period (~10 ms here),
		// so a fresh namespace (the common case) only gets the add.
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
	} else {
		c.CreateTable(t) // fails if one appeared meanwhile: the transaction is refused, nothing half made
	}
	for _, name := range hardening.NetCounters {
		c.AddObj(&nftables.CounterObj{Table: t, Name: name})
	}
	c.AddObj(&nftables.CounterObj{Table: t, Name: ownerPrefix + tenant})
	b := &builder{c: c, t: t, audit: rs.Audit}
	accept := nftables.ChainPolicyAccept
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	in := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	var caps *nftables.Chain
	if rs.MaxConnections > 0 || rs.NewConnectionsPerSecond > 0 {
		caps = c.AddChain(&nftables.Chain{Name: "newconn", Table: t})
		if rs.MaxConnections > 0 {
			b.stateful(caps, []expr.Any{&expr.Connlimit{Count: uint32(rs.MaxConnections), Flags: connlimitOver}}, hardening.CounterConnCap)
		}
		if rs.NewConnectionsPerSecond > 0 {
			b.stateful(caps, []expr.Any{&expr.Limit{Type: expr.LimitTypePkts, Rate: uint64(rs.NewConnectionsPerSecond), Over: true,
				Unit: expr.LimitTimeSecond, Burst: uint32(max(rs.NewConnectionsBurst, 1))}}, hardening.CounterRateCap)
		}
	}
	// Loopback (the container talking to itself: nginx to php-fpm, an app to its cache)
	// is never filtered, so it is not tracked either: connection tracking would cost
	// every local request ~10 % (TestNetPolicyCost) for state no rule reads. The
	// notrack chains run before conntrack (raw priority); lo is ifindex 1 in every
	// network namespace.
	for _, raw := range []struct {
		name string
		hook *nftables.ChainHook
		key  expr.MetaKey
	}{{"raw_output", nftables.ChainHookOutput, expr.MetaKeyOIF}, {"raw_prerouting", nftables.ChainHookPrerouting, expr.MetaKeyIIF}} {
		ch := c.AddChain(&nftables.Chain{Name: raw.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: raw.hook, Priority: nftables.ChainPriorityRaw, Policy: &accept})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(ifIndexIs(raw.key, loopbackIndex), &expr.Notrack{})})
	}
	for _, ch := range []struct {
		c   *nftables.Chain
		key expr.MetaKey
	}{{out, expr.MetaKeyOIF}, {in, expr.MetaKeyIIF}} {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch.c, Exprs: append(ifIndexIs(ch.key, loopbackIndex), &expr.Verdict{Kind: expr.VerdictAccept})})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch.c, Exprs: append(ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), &expr.Verdict{Kind: expr.VerdictAccept})})
		if caps != nil {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch.c, Exprs: append(ctState(expr.CtStateBitNEW), &expr.Verdict{Kind: expr.VerdictJump, Chain: caps.Name})})
		}
	}
	for _, m := range rs.Egress {
		if err := b.match(out, m, true); err != nil {
			return err
		}
	}
	if rs.EgressDefault != hardening.NetAccept {
		b.rule(out, nil, "", rs.EgressDefault, "", hardening.CounterEgressDenied)
	}
	if rs.PerSourceConnections > 0 {
		for i, fam := range []struct {
			proto byte
			key   nftables.SetDatatype
			off   uint32
			n     uint32
		}{{unix.NFPROTO_IPV4, nftables.TypeIPAddr, 12, 4}, {unix.NFPROTO_IPV6, nftables.TypeIP6Addr, 8, 16}} {
			set := &nftables.Set{Table: t, Name: fmt.Sprintf("source%d", 4+2*i), KeyType: fam.key, Dynamic: true, Size: 65535}
			if err := c.AddSet(set, nil); err != nil {
				return fmt.Errorf("network policy: %w", err)
			}
			ex := append(nfproto(fam.proto), ctState(expr.CtStateBitNEW)...)
			ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: fam.off, Len: fam.n},
				&expr.Dynset{SrcRegKey: 1, SetName: set.Name, SetID: set.ID, Operation: uint32(unix.NFT_DYNSET_OP_ADD),
					Exprs: []expr.Any{&expr.Connlimit{Count: uint32(rs.PerSourceConnections), Flags: connlimitOver}}})
			b.stateful(in, ex, hardening.CounterSourceCap)
		}
	}
	for _, m := range rs.Ingress {
		if err := b.match(in, m, false); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network policy: installing table inet %s: %w", TableName, err)
	}
	return nil
}

// Remove deletes the tenantrun table from the namespace nsFD (nothing if it has none).
func Remove(nsFD int) error {
	c, err := conn(nsFD)
	if err != nil {
		return err
	}
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network policy: removing table inet %s: %w", TableName, err)
	}
	return nil
}

// Counters reads the table's named counters (packets) in the namespace nsFD.
func Counters(nsFD int) (map[string]uint64, error) {
	c, err := conn(nsFD)
	if err != nil {
		return nil, err
	}
	all, err := namedCounters(c, table())
	if err != nil {
		return nil, fmt.Errorf("network policy counters: %w", err)
	}
	out := map[string]uint64{}
	for name, v := range all {
		if !strings.HasPrefix(name, ownerPrefix) {
			out[name] = v
		}
	}
	return out, nil
}

// Owner says for which tenant the namespace nsFD's tenantrun table was installed ("" and
// false: it has none).
func Owner(nsFD int) (string, bool, error) {
	c, err := conn(nsFD)
	if err != nil {
		return "", false, err
	}
	if have, err := hasTable(c, nftables.TableFamilyINet, TableName); err != nil || !have {
		return "", false, err
	}
	all, err := namedCounters(c, table())
	if err != nil {
		return "", false, fmt.Errorf("network policy: %w", err)
	}
	for name := range all {
		if tenant, ok := strings.CutPrefix(name, ownerPrefix); ok {
			return tenant, true, nil
		}
	}
	return "", true, nil
}

// hasTable says whether the namespace c talks to has table name of family fam; an error
// wraps ErrUnavailable (nf_tables does not answer).
func hasTable(c *nftables.Conn, fam nftables.TableFamily, name string) (bool, error) {
	ts, err := c.ListTablesOfFamily(fam)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return slices.ContainsFunc(ts, func(t *nftables.Table) bool { return t.Name == name }), nil
}

// namedCounters reads every named counter of table t: name -> packets (the library
// returns them as CounterObj or as a NamedObj holding a Counter, by kernel version).
func namedCounters(c *nftables.Conn, t *nftables.Table) (map[string]uint64, error) {
	objs, err := c.GetNamedObjects(t)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, o := range objs {
		if co, ok := o.(*nftables.CounterObj); ok {
			out[co.Name] = co.Packets
		} else if no, ok := o.(*nftables.NamedObj); ok {
			if ce, ok := no.Obj.(*expr.Counter); ok {
				out[no.Name] = ce.Packets
			}
		}
	}
	return out, nil
}

// Facts are the host's own addresses (read in the caller's namespace, the host's) and
// the gateways of the namespace nsFD's default routes (none when nsFD is negative).
func Facts(nsFD int) (hardening.NetFacts, error) {
	var f hardening.NetFacts
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return f, fmt.Errorf("the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ad, ok := netip.AddrFromSlice(ipn.IP); ok {
				f.HostAddrs = append(f.HostAddrs, ad.Unmap())
			}
		}
	}
	if nsFD < 0 {
		return f, nil
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(nsFD))
	if err != nil {
		return f, fmt.Errorf("the container's routes: %w", err)
	}
	defer h.Close()
	routes, err := h.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return f, fmt.Errorf("the container's routes: %w", err)
	}
	for _, r := range routes {
		if r.Gw == nil || (r.Dst != nil && !isDefault(r.Dst)) {
			continue
		}
		if ad, ok := netip.AddrFromSlice(r.Gw); ok {
			f.Gateways = append(f.Gateways, ad.Unmap())
		}
	}
	return f, nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

// OpenNetns opens a network namespace file for the functions above.
func OpenNetns(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil || st.Type != unix.NSFS_MAGIC {
		f.Close()
		return nil, fmt.Errorf("%s is not a namespace file", path)
	}
	return f, nil
}

// builder turns NetMatch rules into nftables rules.
type builder struct {
	c     *nftables.Conn
	t     *nftables.Table
	audit bool
	sets  int // named sets made so far (m1, m2, ...)
}

// match adds m to chain ch; egress matches destinations, ingress sources.
func (b *builder) match(ch *nftables.Chain, m hardening.NetMatch, egress bool) error {
	var v4, v6 []netip.Prefix
	for _, n := range m.Nets {
		if n.Addr().Is4() {
			v4 = append(v4, n)
		} else {
			v6 = append(v6, n)
		}
	}
	// One rule per address family the match names (none: any address), the family's
	// addresses one comparison or, for several, a lookup in a set of their ranges: the
	// kernel's cost of a table grows with its rules (TestNetPolicyCost).
	type target struct {
		ex []expr.Any // nil: any address
		v6 bool
	}
	var targets []target
	if len(m.Nets) == 0 {
		targets = append(targets, target{})
	}
	for i, fam := range [][]netip.Prefix{v4, v6} {
		if len(fam) == 0 {
			continue
		}
		ex, err := b.addrMatch(fam, egress)
		if err != nil {
			return err
		}
		targets = append(targets, target{ex, i == 1})
	}
	var ports []expr.Any
	if len(m.Ports) > 0 && (m.Proto == "tcp" || m.Proto == "udp") {
		ports = []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}}
		if len(m.Ports) == 1 && m.Ports[0].Lo == m.Ports[0].Hi {
			ports = append(ports, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(m.Ports[0].Lo)})
		} else if len(m.Ports) == 1 {
			ports = append(ports, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(m.Ports[0].Lo), ToData: be16(m.Ports[0].Hi)})
		} else {
			var rs []keyRange
			for _, pr := range m.Ports {
				rs = append(rs, keyRange{be16(pr.Lo), be16(pr.Hi)})
			}
			set, err := b.set(nftables.TypeInetService, rs)
			if err != nil {
				return err
			}
			ports = append(ports, &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID})
		}
	}
	for _, tg := range targets {
		ex := clone(tg.ex)
		switch m.Proto {
		case "tcp", "udp":
			p := byte(unix.IPPROTO_TCP)
			if m.Proto == "udp" {
				p = unix.IPPROTO_UDP
			}
			ex = append(ex, l4(p)...)
			ex = append(ex, ports...)
		case "icmp":
			// icmp for IPv4, ipv6-icmp for IPv6: one rule each when no address says which.
			if tg.ex == nil || !tg.v6 {
				b.rule(ch, append(clone(ex), l4(unix.IPPROTO_ICMP)...), m.Proto, m.Verdict, m.Why, m.Counter)
			}
			if tg.ex != nil && !tg.v6 {
				continue
			}
			ex = append(ex, l4(unix.IPPROTO_ICMPV6)...)
		}
		b.rule(ch, ex, m.Proto, m.Verdict, m.Why, m.Counter)
	}
	return nil
}

// rule adds one rule: the match expressions, then the counter, then the verdict. In audit
// mode a drop or reject is logged and accepted instead. A reject is a TCP reset for TCP
// and an ICMP "administratively prohibited" for everything else (two rules when proto,
// the match's protocol, is "": any).
func (b *builder) rule(ch *nftables.Chain, match []expr.Any, proto, verdict, why, counter string) {
	tail := func(rej expr.Any) []expr.Any {
		var ex []expr.Any
		if counter != "" {
			ex = append(ex, &expr.Objref{Type: int(nftables.ObjTypeCounter), Name: counter})
		}
		switch {
		case verdict == hardening.NetAccept:
			return append(ex, &expr.Verdict{Kind: expr.VerdictAccept})
		case b.audit:
			ex = append(ex, &expr.Log{Key: 1 << unix.NFTA_LOG_PREFIX, Data: []byte(AuditLogPrefix + logWord(counter, why))})
			return append(ex, &expr.Verdict{Kind: expr.VerdictAccept})
		case verdict == hardening.NetDrop:
			return append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
		default:
			return append(ex, rej)
		}
	}
	add := func(ex []expr.Any) {
		b.c.AddRule(&nftables.Rule{Table: b.t, Chain: ch, Exprs: ex})
	}
	icmpx := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	if verdict != hardening.NetReject || b.audit {
		add(append(clone(match), tail(icmpx)...))
		return
	}
	if proto == "tcp" {
		add(append(clone(match), tail(&expr.Reject{Type: unix.NFT_REJECT_TCP_RST})...))
		return
	}
	if proto == "" {
		tcp := append(clone(match), l4(unix.IPPROTO_TCP)...)
		add(append(tcp, tail(&expr.Reject{Type: unix.NFT_REJECT_TCP_RST})...))
	}
	add(append(clone(match), tail(icmpx)...))
}

// stateful adds a reject rule whose match holds state (a connection count, a rate): one
// rule, so the state is consulted once per packet, with an ICMP "administratively
// prohibited" for every protocol (a TCP connect gets EHOSTUNREACH at once).
func (b *builder) stateful(ch *nftables.Chain, match []expr.Any, counter string) {
	ex := append(clone(match), &expr.Objref{Type: int(nftables.ObjTypeCounter), Name: counter})
	if b.audit {
		ex = append(ex, &expr.Log{Key: 1 << unix.NFTA_LOG_PREFIX, Data: []byte(AuditLogPrefix + logWord(counter, ""))}, &expr.Verdict{Kind: expr.VerdictAccept})
	} else {
		ex = append(ex, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
	}
	b.c.AddRule(&nftables.Rule{Table: b.t, Chain: ch, Exprs: ex})
}

func logWord(counter, why string) string {
	w := counter
	if w == "" {
		w = strings.ReplaceAll(why, " ", "_")
	}
	if len(w) > 100 {
		w = w[:100]
	}
	return w + " "
}

func clone(ex []expr.Any) []expr.Any { return append([]expr.Any(nil), ex...) }

// l4 matches the transport protocol p.
func l4(p byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// loopbackIndex is lo's interface index, the same in every network namespace
// (LOOPBACK_IFINDEX).
const loopbackIndex = 1

func ifIndexIs(key expr.MetaKey, index uint32) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, index)}}
}

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}}
}

// addrMatch matches the destination (egress) or source address against prefixes of one
// family: nothing but the family for a /0, one comparison for one prefix, else a lookup in
// a set of their merged ranges.
func (b *builder) addrMatch(ns []netip.Prefix, dst bool) ([]expr.Any, error) {
	var off, l uint32 = 12, 4
	proto, key := byte(unix.NFPROTO_IPV4), nftables.TypeIPAddr
	if ns[0].Addr().Is6() {
		off, l, proto, key = 8, 16, unix.NFPROTO_IPV6, nftables.TypeIP6Addr
	}
	if dst {
		off += l
	}
	ex := nfproto(proto)
	if slices.ContainsFunc(ns, func(n netip.Prefix) bool { return n.Bits() == 0 }) {
		return ex, nil
	}
	ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l})
	if len(ns) == 1 {
		n := ns[0]
		if n.Bits() < n.Addr().BitLen() {
			mask := net.CIDRMask(n.Bits(), n.Addr().BitLen())
			ex = append(ex, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: l, Mask: mask, Xor: make([]byte, l)})
		}
		return append(ex, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.Masked().Addr().AsSlice()}), nil
	}
	var rs []keyRange
	for _, n := range ns {
		lo, hi := prefixRange(n)
		rs = append(rs, keyRange{lo, hi})
	}
	set, err := b.set(key, rs)
	if err != nil {
		return nil, err
	}
	return append(ex, &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID}), nil
}

// keyRange is an inclusive range of big-endian keys of one length.
type keyRange struct{ lo, hi []byte }

// prefixRange is the first and last address of n.
func prefixRange(n netip.Prefix) (lo, hi []byte) {
	lo = n.Masked().Addr().AsSlice()
	hi = slices.Clone(lo)
	host := n.Addr().BitLen() - n.Bits()
	for i := len(hi) - 1; host > 0; i-- {
		k := min(host, 8)
		hi[i] |= byte(1<<k - 1)
		host -= k
	}
	return lo, hi
}

// set adds a named constant interval set of the ranges (merged where they overlap or
// touch, as the kernel wants them) to the table; a rule and its twin (the TCP reset and
// the ICMP reject) share it, which an anonymous set would not allow.
func (b *builder) set(key nftables.SetDatatype, rs []keyRange) (*nftables.Set, error) {
	slices.SortFunc(rs, func(x, y keyRange) int { return bytes.Compare(x.lo, y.lo) })
	var merged []keyRange
	for _, r := range rs {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if next, ok := successor(last.hi); !ok || bytes.Compare(r.lo, next) <= 0 {
				if bytes.Compare(r.hi, last.hi) > 0 {
					last.hi = r.hi
				}
				continue
			}
		}
		merged = append(merged, r)
	}
	var els []nftables.SetElement
	for _, r := range merged {
		els = append(els, nftables.SetElement{Key: r.lo})
		if end, ok := successor(r.hi); ok {
			els = append(els, nftables.SetElement{Key: end, IntervalEnd: true})
		}
	}
	b.sets++
	s := &nftables.Set{Table: b.t, Name: fmt.Sprintf("m%d", b.sets), KeyType: key, Interval: true, Constant: true}
	if err := b.c.AddSet(s, els); err != nil {
		return nil, fmt.Errorf("network policy: %w", err)
	}
	return s, nil
}

// successor is k+1 as a big-endian number of k's length; ok is false when k is the largest.
func successor(k []byte) ([]byte, bool) {
	out := slices.Clone(k)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, true
		}
	}
	return nil, false
}

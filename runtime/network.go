package runtime

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/claims"
	"github.com/tenantrun/tenantrun/runtime/netpolicy"
	"github.com/tenantrun/tenantrun/runtime/record"
)

// The create path's network policy step (docs/network.md): the tenant's rules go into the
// container's network namespace before its process starts. A namespace the engine made
// (podman, CNI, a CRI pod sandbox) gets them right after the claims, through the descriptor
// the policy checked; one tenantrun makes gets them once the init exists (the engine's
// network hook has run by then) and before `start` can exec the program.

// netPolicy is the policy the container gets: none for a trusted tenant, or one whose
// network policy is off. The tenant's mode = "audit" does not relax the network: only
// network_mode = "audit" does (the host and metadata addresses stay out of reach while an
// operator audits the rest of the policy).
func (p *prepared) netPolicy() (hardening.NetPolicy, bool) {
	return netPolicyOf(p.tenant, p.rec.Mode)
}

func netPolicyOf(t *hardening.Tenant, mode hardening.Mode) (hardening.NetPolicy, bool) {
	return t.Network, mode.Policed() && t.Network.Enabled
}

// isolated says whether the container's addresses go into the host's isolation tables:
// every container of a policed tenant, with or without a network policy of its own
// (enabled = false gives a tenant no rules, never a way to or from another tenant's
// containers). Only a trusted tenant's containers (the operator's own, e.g. a front
// proxy) stay out.
func (p *prepared) isolated() bool { return p.rec.Mode.Policed() }

// joinedNetns is the checked descriptor (a /proc/<pid>/fd reference) of the network
// namespace the spec joins, or "" when the container gets a new one.
func joinedNetns(s *specs.Spec) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

// applyNetSysctls writes the net sysctls hardening.Adapt moved out of the spec into the
// host-owned network namespace the spec joins (the container's init has no capability
// there), before the container starts.
func (p *prepared) applyNetSysctls() error {
	if len(p.adapt.NetSysctls) == 0 {
		return nil
	}
	ref := joinedNetns(p.spec)
	if ref == "" {
		return nil
	}
	f, err := netpolicy.OpenNetns(ref)
	if err != nil {
		return fmt.Errorf("linux.sysctl: the container's network namespace: %w", err)
	}
	defer f.Close()
	if err := netpolicy.SetSysctls(int(f.Fd()), p.adapt.NetSysctls); err != nil {
		return fmt.Errorf("linux.sysctl: %w", err)
	}
	return nil
}

// installJoinedNetPolicy installs the rules in the engine's namespace the spec joins, once
// per namespace and tenant: a pod member finds its sandbox's table and keeps it (and its
// counters); a table another tenant left in a reused namespace is replaced.
func (p *prepared) installJoinedNetPolicy() error {
	if ref := joinedNetns(p.spec); ref != "" {
		return p.installNetPolicy(ref, true)
	}
	return nil
}

// installOwnNetPolicy installs the rules in the new namespace of the container whose init
// is proc (waiting on the exec fifo).
func (p *prepared) installOwnNetPolicy(proc *libcontainer.Process) error {
	if joinedNetns(p.spec) != "" || !p.isolated() {
		return nil
	}
	pid, err := proc.Pid()
	if err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	if err := p.installNetPolicy(fmt.Sprintf("/proc/%d/ns/net", pid), false); err != nil {
		return err
	}
	if len(p.rec.NetAddrs) == 0 {
		return nil // nothing went into the host's tables (a namespace without interfaces)
	}
	// The addresses now in the host's isolation tables are on record before anything
	// else can fail or crash: delete and gc release them from it.
	return record.Write(filepath.Join(p.root, p.id), p.rec)
}

func (p *prepared) installNetPolicy(nsPath string, shared bool) error {
	if !p.isolated() {
		return nil
	}
	np, ok := p.netPolicy()
	if err := failpointNoNftables(); err != nil {
		if !ok {
			return nil // no rules to enforce, and no policed tenant can run here either
		}
		return p.netUnavailable(fmt.Errorf("%w: %v", netpolicy.ErrUnavailable, err))
	}
	f, err := netpolicy.OpenNetns(nsPath)
	if err != nil {
		return fmt.Errorf("network policy: the container's network namespace: %w", err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if shared && len(p.adapt.Netns) > 0 {
		p.rec.NetnsKey = netnsKey(p.adapt.Netns[0])
	}
	install := ok
	if ok && shared {
		owner, has, err := netpolicy.Owner(fd)
		if err != nil {
			return p.netUnavailable(err)
		}
		install = !has || owner != p.tenant.Name
	}
	var compile func(hardening.NetFacts) hardening.NetRuleset
	if install {
		compile = func(f hardening.NetFacts) hardening.NetRuleset { return hardening.CompileNetPolicy(np, f) }
	}
	// The rules and the isolation tables' update, concurrently; every member of a shared
	// namespace records its addresses, so whichever goes last releases them.
	rs, addrs, err := netpolicy.Apply(fd, p.tenant.Name, compile)
	if err != nil {
		if !ok && errors.Is(err, netpolicy.ErrUnavailable) {
			// A host without nf_tables runs no policed tenant's container, so
			// there is nobody to keep this one from.
			logrus.Warnf("tenant isolation: %v", err)
			return nil
		}
		return p.netUnavailable(err)
	}
	for _, a := range addrs {
		p.rec.NetAddrs = append(p.rec.NetAddrs, a.String())
	}
	if install {
		// In the audit log with the create's other decisions.
		p.decisions = append(p.decisions, hardening.Decision{Path: "network", Action: hardening.ActionOverride,
			New: netSummary(np, rs), Reason: "the tenant's network policy, installed as table inet tenantrun in the container's network namespace before its process starts (docs/network.md)"})
	}
	return nil
}

// releaseNet removes the container's addresses from the host's isolation tables once no
// other live container holds its network namespace (call it after the claims are
// released: a pod member still running keeps them).
func releaseNet(r *record.Record) {
	if r == nil || len(r.NetAddrs) == 0 {
		return
	}
	if r.NetnsKey != "" {
		if _, held := claims.Owner("netns", r.NetnsKey); held {
			return
		}
	}
	var addrs []netip.Addr
	for _, s := range r.NetAddrs {
		if a, err := netip.ParseAddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	if err := netpolicy.Release(r.Tenant, addrs); err != nil {
		logrus.Warnf("tenant isolation: releasing %v: %v", r.NetAddrs, err)
	}
}

// netUnavailable explains a host that cannot enforce the policy: never run without it.
func (p *prepared) netUnavailable(err error) error {
	if errors.Is(err, netpolicy.ErrUnavailable) {
		return fmt.Errorf("refused: tenant %s has a network policy, and this host cannot enforce it (%v): "+
			"load nf_tables (modprobe nf_tables), or set tenants.%s.network.enabled = false to run this tenant without one",
			p.tenant.Name, err, p.tenant.Name)
	}
	return fmt.Errorf("network policy: %w", err)
}

// explainNetwork is the ruleset `policy explain` shows for a container of tenant t with
// spec s: the gateways are read from the namespace the spec joins; a namespace the
// container makes gets its gateway from the engine later (shown as none).
func explainNetwork(t *hardening.Tenant, s *specs.Spec) string {
	np, ok := netPolicyOf(t, t.EffectiveMode())
	if !ok {
		return ""
	}
	var facts hardening.NetFacts
	if ref := joinedNetns(s); ref != "" {
		if f, err := netpolicy.OpenNetns(ref); err == nil {
			facts, _ = netpolicy.Facts(int(f.Fd()))
			f.Close()
		}
	} else {
		facts, _ = netpolicy.Facts(-1)
	}
	return hardening.CompileNetPolicy(np, facts).String()
}

// netSummary is the one-line account of a container's network policy for the audit log.
func netSummary(np hardening.NetPolicy, rs hardening.NetRuleset) string {
	mode, egress := "enforce", "deny"
	if np.Audit {
		mode = "audit"
	}
	if np.EgressAllow {
		egress = "allow"
	}
	return fmt.Sprintf("mode %s, egress %s, %d allow rules, %d egress and %d ingress matches, max_connections %d, new_connections_per_second %d, per_source_connections %d",
		mode, egress, len(np.Allow), len(rs.Egress), len(rs.Ingress), np.MaxConnections, np.NewConnectionsPerSecond, np.PerSourceConnections)
}

// netDeleteAudit prepares, before a delete, the audit record of a policed container's
// network counters, which die with its namespace: they are read through the init while it
// lives, else through the engine's namespace, found among the configured netns_dirs by the
// identity the record keeps. The returned function appends the record once the delete is
// done; it does nothing when there are no counters to read (a stopped container's own
// namespace is gone) or no audit log, and a delete never fails on it. The configuration
// is read once, and only when there is something to record.
func netDeleteAudit(h *handle, st libcontainer.Status) func() {
	none := func() {}
	if h.rec == nil || len(h.rec.NetAddrs) == 0 && h.rec.NetnsKey == "" {
		return none
	}
	var cfg *hardening.Config
	config := func() *hardening.Config {
		if cfg == nil {
			if c, err := loadConfig(h.g); err == nil {
				cfg = c
			}
		}
		return cfg
	}
	var f *os.File
	if st != libcontainer.Stopped {
		if s, err := h.c.State(); err == nil && s.InitProcessPid > 0 {
			f, _ = netpolicy.OpenNetns(fmt.Sprintf("/proc/%d/ns/net", s.InitProcessPid))
		}
	}
	if f == nil && h.rec.NetnsKey != "" && config() != nil {
		var id hardening.NSID
		if _, err := fmt.Sscanf(h.rec.NetnsKey, "%d-%d", &id.Dev, &id.Ino); err == nil {
			if path, ok := (hardening.OSHost{}).NetnsPinned(id, cfg.Defaults.NetnsDirs); ok {
				f, _ = netpolicy.OpenNetns(path)
			}
		}
	}
	if f == nil {
		return none
	}
	counters, err := netpolicy.Counters(int(f.Fd()))
	f.Close()
	if err != nil || config() == nil {
		return none
	}
	t, ok := cfg.Tenants[h.rec.Tenant]
	if !ok {
		return none
	}
	return func() {
		if err := writeAuditRecord(cfg, t, h.id, "delete", "deleted", nil, nil, counters); err != nil {
			logrus.Warnf("audit log: %v", err)
		}
	}
}

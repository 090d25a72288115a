package runtime

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/opencontainers/cgroups"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/blkdev"
	"github.com/tenantrun/tenantrun/runtime/projquota"
)

// ConfigCheck loads the operator's configuration (--config) exactly as create does (the
// strict parse that names an unknown or bad key, the tenants' ID ranges assigned and
// checked against each other) and prints what it found. The error is the one every
// create would fail with: check a new file with it before putting it in place.
func ConfigCheck(g *Global, w io.Writer) error {
	path := g.ConfigPath
	if path == "" {
		path = DefaultConfig
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		fmt.Fprintf(w, "%s: no such file; the built-in configuration applies (docs/config.md)\n", path)
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cfg.Tenants))
	for n := range cfg.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%s: OK, %d tenants\n", path, len(names))
	for _, n := range names {
		t := cfg.Tenants[n]
		var notes []string
		if t.Trusted {
			notes = append(notes, "trusted: no policy")
		} else {
			notes = append(notes, "mode "+string(t.EffectiveMode()))
			if t.Network.Enabled {
				notes = append(notes, "network policy")
			} else {
				notes = append(notes, "no network policy")
			}
		}
		if t.Quota.HasIOLimits() || t.Container.HasIOLimits() {
			notes = append(notes, "I/O limits")
		}
		if t.Quota.HasDiskQuota() {
			notes = append(notes, "disk quota")
		}
		fmt.Fprintf(w, "  %-20s uids %s gids %s (%s)\n", n, t.UIDs, t.GIDs, strings.Join(notes, ", "))
		for _, warn := range append(ioWarnings(t), diskWarnings(t)...) {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
	}
	return nil
}

// diskWarnings name the bind roots that do not carry the tenant's disk quota yet (create
// would refuse to bind them).
func diskWarnings(t *hardening.Tenant) []string {
	if !t.Quota.HasDiskQuota() {
		return nil
	}
	var out []string
	for _, r := range t.BindRoots {
		if _, err := projquota.Check(r, t.Project(), t.Quota.Disk, t.Quota.Inodes); err != nil {
			out = append(out, fmt.Sprintf("bind root %s: %v: containers binding it are refused until `tenantrun tenants quota apply %s`", r, err, t.Name))
		}
	}
	return out
}

// ioWarnings say what of a tenant's I/O keys this host cannot do: create refuses a tenant
// with I/O limits where the cgroups cannot throttle at all, and cgroup v1 throttles each
// container on its own (the tenant aggregate is written to its parent, where the kernel
// ignores it for the containers below).
func ioWarnings(t *hardening.Tenant) []string {
	if !t.Quota.HasIOLimits() && !t.Container.HasIOLimits() {
		return nil
	}
	if err := blkdev.Available(); err != nil {
		return []string{fmt.Sprintf("its containers will be refused: it has I/O limits, but %v", err)}
	}
	if !cgroups.IsCgroup2UnifiedMode() && t.Quota.HasIOLimits() {
		return []string{"cgroup v1 throttles each container on its own: every container keeps to the [container] io_* limits, but the tenant's [quota] io_* aggregate is not enforced across its containers (it is on cgroup v2)"}
	}
	return nil
}

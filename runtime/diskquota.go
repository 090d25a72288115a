package runtime

// Disk-space and inode quotas on the tenants' bind roots (runtime/projquota): `tenants
// quota apply`, the check every create makes, and the usage `tenants` reports.

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/bindpin"
	"github.com/tenantrun/tenantrun/runtime/projquota"
)

// TenantsQuotaApply sets each named tenant's (every tenant with disk or inodes, when none is
// named) project quota on its bind roots. Idempotent.
func TenantsQuotaApply(g *Global, names []string, w io.Writer) error {
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		for n, t := range cfg.Tenants {
			if t.Quota.HasDiskQuota() {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			fmt.Fprintln(w, "no tenant has disk or inodes in its [quota]")
			return nil
		}
	}
	projects := map[uint32]string{}
	for n, t := range cfg.Tenants {
		if p := t.Project(); p != 0 {
			if o, ok := projects[p]; ok && t.Quota.HasDiskQuota() {
				return fmt.Errorf("tenants %s and %s share project id %d: give one a project_id of its own", o, n, p)
			}
			projects[p] = n
		}
	}
	var errs []string
	for _, n := range names {
		t, ok := cfg.Tenants[n]
		if !ok {
			return fmt.Errorf("tenant %q is not in %s", n, g.ConfigPath)
		}
		q := t.Quota
		if !q.HasDiskQuota() {
			return fmt.Errorf("tenant %s has neither disk nor inodes in [tenants.%s.quota]", n, n)
		}
		if len(t.BindRoots) == 0 {
			fmt.Fprintf(w, "%s: no bind_roots: nothing to put a quota on\n", n)
			continue
		}
		for _, root := range t.BindRoots {
			files, err := projquota.Apply(root, t.Project(), q.Disk, q.Inodes)
			if err != nil {
				errs = append(errs, fmt.Sprintf("tenant %s: %v", n, err))
				continue
			}
			fmt.Fprintf(w, "%s: %s: project %d, disk %s, inodes %s (%d files and directories)\n", n, root, t.Project(),
				limitText(float64(q.Disk), tenantHumanBytes), limitText(float64(q.Inodes), func(v float64) string { return fmt.Sprintf("%.0f", v) }), files)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func limitText(v float64, show func(float64) string) string {
	if v <= 0 {
		return "not limited"
	}
	return show(v)
}

// checkDiskQuota refuses a container of a tenant with a disk quota that binds a source in a
// bind root without the tenant's project quota: its files would be unbounded there.
func (p *prepared) checkDiskQuota() error {
	t := p.tenant
	if !t.Quota.HasDiskQuota() || p.spec == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range p.spec.Mounts {
		if !bindpin.IsBind(m) || !filepath.IsAbs(m.Source) {
			continue
		}
		for _, r := range t.BindRoots {
			r = filepath.Clean(r)
			if (m.Source != r && !strings.HasPrefix(m.Source, r+"/")) || seen[r] {
				continue
			}
			seen[r] = true
			if _, err := projquota.Check(r, t.Project(), t.Quota.Disk, t.Quota.Inodes); err != nil {
				return fmt.Errorf("tenant %s has a disk quota ([tenants.%s.quota] disk/inodes), but its bind root %s does not carry it: %v; run `tenantrun tenants quota apply %s`", t.Name, t.Name, r, err, t.Name)
			}
		}
	}
	return nil
}

// diskUsage fills the rows' disk figures: each tenant's project on its bind roots.
func diskUsage(cfg *hardening.Config, rows []TenantUsage) {
	if cfg == nil {
		return
	}
	for i := range rows {
		t, ok := cfg.Tenants[rows[i].Tenant]
		if !ok || !t.Quota.HasDiskQuota() {
			continue
		}
		seen := map[uint64]bool{} // a project is per filesystem: roots on one count once
		for _, root := range t.BindRoots {
			var st unix.Stat_t
			if unix.Stat(root, &st) != nil || seen[st.Dev] {
				continue
			}
			seen[st.Dev] = true
			u, err := projquota.Read(root, t.Project())
			if err != nil {
				continue
			}
			rows[i].DiskBytes += u.Bytes
			rows[i].DiskLimitBytes += u.BytesLimit
			rows[i].Inodes += u.Inodes
			rows[i].InodesLimit += u.InodesLimit
		}
	}
}

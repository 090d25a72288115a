package hardening

// Which tenant a call is for, and the tenants' id ranges.

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
)

func parseRange(key, s string) (IDRange, error) {
	r, err := ParseIDRange(s)
	if err != nil {
		return IDRange{}, fmt.Errorf("key %s: %w", key, err)
	}
	start, size := uint64(r.Start), uint64(r.Size)
	if start < 65536 {
		return IDRange{}, fmt.Errorf("key %s: start %d is below 65536 (host root and host users live there)", key, start)
	}
	if size < 1 || start+size > math.MaxUint32 {
		return IDRange{}, fmt.Errorf("key %s: size %d must be at least 1 and the range must end below 4294967295", key, size)
	}
	return r, nil
}

// TenantRequest carries the sources a tenant cannot write.
type TenantRequest struct {
	Flag        string            // --tenant
	CallerUID   int               // the calling user's uid
	Root        string            // --root (identifies the engine)
	Annotations map[string]string // only keys declared trusted for the engine are read
}

// ResolveTenant picks the tenant from sources a tenant cannot write, in this order:
// a non-root caller's uid (rootless; --tenant may only repeat it), --tenant, an
// annotation declared trusted for the engine whose --root this is, the fallback tenant.
func (c *Config) ResolveTenant(r TenantRequest) (*Tenant, error) {
	if r.CallerUID > 0 {
		for _, n := range c.tenantNames() {
			t := c.Tenants[n]
			for _, u := range t.Users {
				if u == r.CallerUID {
					if r.Flag != "" && r.Flag != n {
						return nil, fmt.Errorf("tenant: --tenant %q does not match the calling user's tenant %q", r.Flag, n)
					}
					return t, nil
				}
			}
		}
		if r.Flag != "" {
			return nil, fmt.Errorf("tenant: uid %d may not choose tenant %q with --tenant (not in its users)", r.CallerUID, r.Flag)
		}
		if f := c.Defaults.FallbackTenant; f != "" {
			return c.Tenants[f], nil
		}
		return nil, fmt.Errorf("tenant: uid %d belongs to no tenant and no fallback_tenant is configured", r.CallerUID)
	}
	if r.Flag != "" {
		t, ok := c.Tenants[r.Flag]
		if !ok {
			return nil, fmt.Errorf("tenant: unknown tenant %q (--tenant)", r.Flag)
		}
		return t, nil
	}
	root := filepath.Clean(r.Root)
	for _, ta := range c.Defaults.TrustedAnnotations {
		if r.Root == "" || !within(root, ta.Root) {
			continue
		}
		v, ok := r.Annotations[ta.Key]
		if !ok || v == "" {
			continue
		}
		name := v
		if len(ta.Map) > 0 {
			m, ok := ta.Map[v]
			if !ok {
				continue
			}
			name = m
		}
		if t, ok := c.Tenants[name]; ok {
			return t, nil
		}
	}
	if f := c.Defaults.FallbackTenant; f != "" {
		return c.Tenants[f], nil
	}
	return nil, fmt.Errorf("tenant: no --tenant, no trusted annotation and no fallback_tenant: refusing to guess")
}

func (c *Config) tenantNames() []string {
	n := make([]string, 0, len(c.Tenants))
	for k := range c.Tenants {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// within reports whether clean absolute path p is dir or below it (component-wise).
func within(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// AssignRange gives an "auto" tenant its allocated block (uids and gids alike),
// refusing one that overlaps another tenant's range or starts below 65536.
func (c *Config) AssignRange(name string, r IDRange) error {
	t, ok := c.Tenants[name]
	if !ok || !t.AutoRange {
		return fmt.Errorf("tenant %q has no uid_range = \"auto\"", name)
	}
	if r.Start < 65536 || r.Size == 0 || uint64(r.Start)+uint64(r.Size) > math.MaxUint32 {
		return fmt.Errorf("tenant %s: allocated range %s is not usable", name, r)
	}
	for _, n := range c.tenantNames() {
		o := c.Tenants[n]
		if n == name {
			continue
		}
		if o.UIDs.Overlaps(r) || o.GIDs.Overlaps(r) {
			return fmt.Errorf("tenant %s: allocated range %s overlaps tenant %s (%s)", name, r, n, o.UIDs)
		}
	}
	t.UIDs, t.GIDs = r, r
	return nil
}

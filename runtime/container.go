package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/record"
)

// handle is a loaded container with its per-container lock held.
type handle struct {
	g        *Global
	c        *libcontainer.Container
	id       string
	stateDir string
	lock     *os.File
	rec      *record.Record // nil if the record is missing (crash during create)
}

func (h *handle) close() {
	if h.lock != nil {
		_ = h.lock.Close() // releases the flock
		h.lock = nil
	}
}

// errNotExist is returned for unknown container ids.
type notExistError struct{ id string }

func (e *notExistError) Error() string { return fmt.Sprintf("container %q does not exist", e.id) }

// notYoursError refuses a verb on a container of another tenant than the caller's
// (or one with no tenant record, to a caller acting for a tenant). It names the
// container, never the tenant the container belongs to. It is not a notExistError:
// `delete --force` of another tenant's container fails instead of "succeeding".
type notYoursError struct{ id string }

func (e *notYoursError) Error() string {
	return fmt.Sprintf("container %q does not belong to the calling tenant: refusing to act on it", e.id)
}

// caller is who a verb on an existing container acts for: an operator (root with no
// --tenant: every container under --root) or one tenant.
type caller struct {
	operator bool
	tenant   string
}

// callerOf resolves the caller's tenant the way create does, minus the bundle's
// annotations (a verb on an existing container has no bundle): a non-root caller is
// its uid's tenant (--tenant may only repeat it; a uid in no tenant is the
// fallback tenant or refused), root with --tenant is that tenant. Root without
// --tenant is the operator: engines that act for one tenant call through the
// operator's wrapper, which passes --tenant; the one handler that takes the tenant
// from a trusted annotation has its own --root, which holds only the containers it
// created. Root with --tenant needs no policy: the name is compared with the record,
// so a tenant removed from the config can still have its containers deleted.
func callerOf(g *Global) (caller, error) {
	return callerFor(g.Tenant, os.Getuid(), func() (*hardening.Config, error) { return loadConfig(g) })
}

func callerFor(flag string, uid int, loadCfg func() (*hardening.Config, error)) (caller, error) {
	if uid == 0 {
		if flag == "" {
			return caller{operator: true}, nil
		}
		return caller{tenant: flag}, nil
	}
	cfg, err := loadCfg()
	if err != nil {
		return caller{}, err
	}
	t, err := cfg.ResolveTenant(hardening.TenantRequest{Flag: flag, CallerUID: uid})
	if err != nil {
		return caller{}, err
	}
	return caller{tenant: t.Name}, nil
}

// mayAct reports whether the caller may act on a container recorded for tenant
// ("" = no record: only the operator).
func (c caller) mayAct(tenant string) bool {
	return c.operator || (tenant != "" && tenant == c.tenant)
}

// mayActOn is mayAct for a container's record (nil: none).
func (c caller) mayActOn(s *record.Record) bool {
	if s == nil {
		return c.operator
	}
	return c.mayAct(s.Tenant)
}

// open loads container id under the global root, holding its lock. It is the one
// way every verb on an existing container (start, state, kill, exec, ps, pause,
// resume, update, events, delete) reaches it, so it is where the caller's tenant is
// checked against the container's record: another tenant's container is refused
// (notYoursError) with nothing done to it.
func open(g *Global, id string) (*handle, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	who, err := callerOf(g)
	if err != nil {
		return nil, err
	}
	root, err := g.stateRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	lock, err := record.Lock(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &notExistError{id}
		}
		return nil, err
	}
	c, err := libcontainer.Load(root, id)
	if err != nil {
		lock.Close()
		if errors.Is(err, libcontainer.ErrNotExist) {
			return nil, &notExistError{id}
		}
		return nil, err
	}
	h := &handle{g: g, c: c, id: id, stateDir: dir, lock: lock}
	if r, err := record.Read(dir); err == nil {
		h.rec = r
	}
	if !who.mayActOn(h.rec) {
		h.close()
		return nil, &notYoursError{id}
	}
	return h, nil
}

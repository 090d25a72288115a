package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/tenantrun/tenantrun/runtime/bindpin"
	"github.com/tenantrun/tenantrun/runtime/idmap"
	"github.com/tenantrun/tenantrun/runtime/record"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

// GC removes what crashed runtime invocations left behind under --root: state
// directories libcontainer cannot load (killed mid-create) that no running
// tenantrun holds, and idmapped root filesystems whose container is gone.
// Containers that exist (created, running, stopped) are never touched.
func GC(g *Global, w io.Writer) error {
	root, err := g.stateRoot()
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		id := e.Name()
		dir := filepath.Join(root, id)
		if _, err := libcontainer.Load(root, id); err == nil {
			continue
		}
		// Skipped unless its lock can be taken now: a create (or delete) of this id is in
		// progress, or the directory is already gone.
		lk, ok := record.TryLock(dir)
		if !ok {
			continue
		}
		lk.Close()
		if _, err := deleteOrphan(g, id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(w, "removed leftover state of %s\n", id)
	}
	// idmapped roots of this state root whose container no longer exists.
	prefix := filepath.Base(idmapWorkDir(root, "x"))
	prefix = strings.TrimSuffix(prefix, "x")
	if mnts, err := os.ReadDir(idmapRoot); err == nil {
		for _, m := range mnts {
			id, ok := strings.CutPrefix(m.Name(), prefix)
			if !ok {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, id)); err == nil {
				continue
			}
			if idmap.WorkDirBusy(filepath.Join(idmapRoot, m.Name())) {
				continue // a create of this id is between its setup and libcontainer.Create
			}
			_ = bindpin.Cleanup(filepath.Join(idmapRoot, m.Name()))
			if err := idmap.Cleanup(filepath.Join(idmapRoot, m.Name())); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(w, "removed leftover idmapped rootfs of %s\n", id)
		}
	}
	// Tenant parents whose last container's create was killed before its own
	// cgroup existed.
	tenantcg.GC()
	return errors.Join(errs...)
}

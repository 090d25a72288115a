package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/runc/libcontainer"
)

// ContainerInfo is one row of `list` (the same JSON fields as runc's list).
type ContainerInfo struct {
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
	Tenant      string            `json:"tenant,omitempty"`
}

// listContainers loads every container under the root without taking locks
// (list must stay fast with thousands of containers and never block on one).
func listContainers(g *Global) ([]ContainerInfo, error) {
	root, err := g.stateRoot()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []ContainerInfo
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c, err := libcontainer.Load(root, e.Name())
		if err != nil {
			continue // being created or deleted right now, or a crash leftover (see gc)
		}
		st, err := c.OCIState()
		if err != nil {
			continue
		}
		info := ContainerInfo{
			ID: st.ID, Pid: st.Pid, Status: string(st.Status), Bundle: st.Bundle,
			Rootfs: c.Config().Rootfs, Annotations: st.Annotations, Owner: "root",
		}
		if s, err := c.State(); err == nil {
			info.Created = s.Created
		}
		info.Tenant = tenantOf(root, st.ID)
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// List prints the containers under --root: a table, JSON, or ids only.
func List(g *Global, format string, quiet bool, w io.Writer) error {
	cs, err := listContainers(g)
	if err != nil {
		return err
	}
	if quiet {
		for _, c := range cs {
			fmt.Fprintln(w, c.ID)
		}
		return nil
	}
	switch format {
	case "json":
		if cs == nil {
			cs = []ContainerInfo{}
		}
		return json.NewEncoder(w).Encode(cs)
	case "", "table":
		tw := tabwriter.NewWriter(w, 12, 1, 3, ' ', 0)
		fmt.Fprint(tw, "ID\tPID\tSTATUS\tTENANT\tBUNDLE\tCREATED\tOWNER\n")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Pid, c.Status, c.Tenant, c.Bundle,
				c.Created.Format(time.RFC3339Nano), c.Owner)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("--format %q: must be table or json", format)
	}
}

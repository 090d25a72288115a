package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/tenantrun/tenantrun/runtime/fsutil"
	"github.com/tenantrun/tenantrun/runtime/record"
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

// recordInit is what the container's record keeps for `list` once its init exists:
// enough to tell the status without decoding libcontainer's whole state (17 KB,
// mostly seccomp).
func recordInit(c *libcontainer.Container) (*record.Init, error) {
	st, err := c.State()
	if err != nil {
		return nil, err
	}
	oci, err := c.OCIState()
	if err != nil {
		return nil, err
	}
	in := &record.Init{Pid: oci.Pid, PidStart: st.InitProcessStartTime, Created: st.Created,
		Rootfs: c.Config().Rootfs, Annotations: oci.Annotations}
	if p := st.CgroupPaths["freezer"]; p != "" {
		in.FreezerFile = filepath.Join(p, "freezer.state")
	} else if p := st.CgroupPaths[""]; p != "" {
		in.FreezerFile = filepath.Join(p, "cgroup.freeze")
	}
	return in, nil
}

// fromRecord is a container's row from its record, with the status derived from the
// live system: init gone (or its pid reused) = stopped; exec fifo still there =
// created; frozen cgroup = paused; else running. ok is false when the record is
// missing or has no init yet. buf is scratch space.
func fromRecord(dir string, buf *[]byte) (ContainerInfo, bool) {
	l, err := record.ReadListing(dir, buf)
	if err != nil || l.Init == nil {
		return ContainerInfo{}, false
	}
	in := l.Init
	info := ContainerInfo{ID: filepath.Base(dir), Pid: in.Pid, Bundle: l.Bundle, Rootfs: in.Rootfs,
		Created: in.Created, Annotations: in.Annotations, Owner: "root", Tenant: l.Tenant}
	alive := false
	if in.Pid > 0 {
		if f := procStatBuf(in.Pid, buf); len(f) >= 20 && f[0] != "Z" && f[0] != "X" {
			start, _ := strconv.ParseUint(f[19], 10, 64)
			alive = start == in.PidStart
		}
	}
	switch {
	case !alive:
		info.Status, info.Pid = "stopped", 0
	default:
		info.Status = "running"
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, "exec.fifo"), &st) == nil {
			info.Status = "created"
		} else if in.FreezerFile != "" {
			if b, err := fsutil.ReadSmall(in.FreezerFile, buf); err == nil {
				if v := strings.TrimSpace(string(b)); v == "FROZEN" || v == "1" {
					info.Status = "paused"
				}
			}
		}
	}
	return info, true
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) []string {
	var buf []byte
	return procStatBuf(pid, &buf)
}

func procStatBuf(pid int, buf *[]byte) []string {
	data, err := fsutil.ReadSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf)
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// procStart is field 22 of /proc/PID/stat (0 if the process is gone).
func procStart(pid int) uint64 {
	f := procStat(pid)
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// listContainers lists every container under the root without taking locks
// (list must stay fast with thousands of containers and never block on one).
// The directories are read by one worker per CPU: each costs a handful of
// syscalls and a small JSON decode, and nothing is shared but the index.
func listContainers(g *Global) ([]ContainerInfo, error) {
	root, err := g.stateRoot()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	rows := make([]ContainerInfo, len(ents))
	ok := make([]bool, len(ents))
	// At most one per CPU, 8 in all, and one per 64 directories (a small root is not worth a goroutine).
	workers := min(goruntime.GOMAXPROCS(0), 8, max(len(ents)/64, 1))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ents) {
					return
				}
				if ents[i].IsDir() {
					rows[i], ok[i] = listOne(root, ents[i].Name(), &buf)
				}
			}
		}()
	}
	wg.Wait()
	var out []ContainerInfo
	for i := range rows {
		if ok[i] {
			out = append(out, rows[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// listOne is one container's row: from its record, or (a container whose init
// was not recorded: made by an older tenantrun, or the record write failed)
// libcontainer's state.
func listOne(root, name string, buf *[]byte) (ContainerInfo, bool) {
	if info, ok := fromRecord(filepath.Join(root, name), buf); ok {
		return info, true
	}
	c, err := libcontainer.Load(root, name)
	if err != nil {
		return ContainerInfo{}, false // being created or deleted right now, or a crash leftover (see gc)
	}
	st, err := c.OCIState()
	if err != nil {
		return ContainerInfo{}, false
	}
	info := ContainerInfo{
		ID: st.ID, Pid: st.Pid, Status: string(st.Status), Bundle: st.Bundle,
		Rootfs: c.Config().Rootfs, Annotations: st.Annotations, Owner: "root",
	}
	if s, err := c.State(); err == nil {
		info.Created = s.Created
	}
	info.Tenant = record.TenantOf(filepath.Join(root, st.ID))
	return info, true
}

// List prints the containers under --root: a table, JSON, or ids only.
// A caller acting for a tenant (--tenant, or a non-root uid) sees only that tenant's
// containers, the ones the other verbs let it act on (open); the operator sees all.
func List(g *Global, format string, quiet bool, w io.Writer) error {
	who, err := callerOf(g)
	if err != nil {
		return err
	}
	all, err := listContainers(g)
	if err != nil {
		return err
	}
	var cs []ContainerInfo
	for _, c := range all {
		if who.mayAct(c.Tenant) {
			cs = append(cs, c)
		}
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

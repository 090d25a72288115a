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

// listRecordName is a compact per-container record written once the
// container has started: what `list` prints, plus what it needs to tell the
// status without decoding libcontainer's whole state (17 KB, mostly seccomp).
const listRecordName = "list.json"

type listRecord struct {
	ContainerInfo
	PidStart    uint64 `json:"pidStart"`
	FreezerFile string `json:"freezerFile,omitempty"` // freezer.state (v1) or cgroup.freeze (v2)
}

// writeListRecord records c for `list` (best effort: list falls back to
// libcontainer's state when the record is missing).
func writeListRecord(stateDir string, c *libcontainer.Container, tenant string) {
	st, err := c.State()
	if err != nil {
		return
	}
	oci, err := c.OCIState()
	if err != nil {
		return
	}
	r := listRecord{
		ContainerInfo: ContainerInfo{ID: oci.ID, Pid: oci.Pid, Bundle: oci.Bundle, Rootfs: c.Config().Rootfs,
			Created: st.Created, Annotations: oci.Annotations, Owner: "root", Tenant: tenant},
		PidStart: st.InitProcessStartTime,
	}
	if p := st.CgroupPaths["freezer"]; p != "" {
		r.FreezerFile = filepath.Join(p, "freezer.state")
	} else if p := st.CgroupPaths[""]; p != "" {
		r.FreezerFile = filepath.Join(p, "cgroup.freeze")
	}
	data, err := json.Marshal(r)
	if err != nil {
		return
	}
	_ = fsutil.WriteFileAtomic(filepath.Join(stateDir, listRecordName), data, 0o600)
}

// fromListRecord reads a container's list record and derives its status from
// the live system: init gone (or its pid reused) = stopped; exec fifo still
// there = created; frozen cgroup = paused; else running. buf is scratch space.
func fromListRecord(dir string, buf *[]byte) (ContainerInfo, bool) {
	data, err := readSmall(filepath.Join(dir, listRecordName), buf)
	if err != nil {
		return ContainerInfo{}, false
	}
	var r listRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return ContainerInfo{}, false
	}
	info := r.ContainerInfo
	alive := false
	if r.Pid > 0 {
		if f := procStatBuf(r.Pid, buf); len(f) >= 20 && f[0] != "Z" && f[0] != "X" {
			start, _ := strconv.ParseUint(f[19], 10, 64)
			alive = start == r.PidStart
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
		} else if r.FreezerFile != "" {
			if b, err := readSmall(r.FreezerFile, buf); err == nil {
				if v := strings.TrimSpace(string(b)); v == "FROZEN" || v == "1" {
					info.Status = "paused"
				}
			}
		}
	}
	return info, true
}

// readSmall reads a small file into *buf (grown as needed) with plain
// open/read/close: os.ReadFile also fstats the file and registers it with the
// Go poller, which doubles the syscalls `list` makes per container.
func readSmall(path string, buf *[]byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if len(*buf) == 0 {
		*buf = make([]byte, 4096)
	}
	n := 0
	for {
		if n == len(*buf) {
			*buf = append(*buf, make([]byte, len(*buf))...)
		}
		m, err := unix.Read(fd, (*buf)[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return (*buf)[:n], nil
		}
		n += m
	}
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) []string {
	var buf []byte
	return procStatBuf(pid, &buf)
}

func procStatBuf(pid int, buf *[]byte) []string {
	data, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf)
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

// listOne is one container's row: from its list record, or (a container made
// before records existed, or whose record write failed) libcontainer's state.
func listOne(root, name string, buf *[]byte) (ContainerInfo, bool) {
	if info, ok := fromListRecord(filepath.Join(root, name), buf); ok {
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
	info.Tenant = tenantOf(root, st.ID)
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

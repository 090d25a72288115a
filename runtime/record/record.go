// Package record is tenantrun's one record of a container, kept next to libcontainer's
// state.json in the container's state directory (<root>/<id>/tenantrun.json) so that
// libcontainer's Destroy removes both together.
//
// The record says whose the container is (every verb compares the caller's tenant with
// Tenant, nothing else), how the policy judged it, the hardened process exec starts
// from, the host objects tenantrun made for it outside --root (mounts, work directory,
// cgroups, claims), and, once its init runs, what `list` prints without decoding
// libcontainer's state. Reading, writing and locking it happen here and nowhere else:
//
//   - Write replaces the record atomically (a reader sees the old or the new one whole);
//   - Read and Listing read it (Listing decodes only what `list` needs);
//   - Lock serialises the verbs on one container: an exclusive flock on the state
//     directory, which dies with the process, so a crash never wedges an id.
package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// Name is the record's file name in the container's state directory.
const Name = "tenantrun.json"

// Record is what tenantrun remembers about a container beyond libcontainer's state.
type Record struct {
	// The listing part comes first: Write keeps it at the head of the file, where
	// ReadListing stops (see Listing).
	Tenant string `json:"tenant"`
	Bundle string `json:"bundle"`
	// Init is set once the container's init exists (the end of create).
	Init *Init `json:"init,omitempty"`

	Mode         hardening.Mode `json:"mode"`
	PolicyDigest string         `json:"policyDigest,omitempty"`
	// Process is the hardened process: exec starts from it and judges against it.
	Process      *specs.Process `json:"process,omitempty"`
	CgroupParent string         `json:"cgroupParent,omitempty"` // the tenant's parent cgroup (removed with its last container)
	CgroupsPath  string         `json:"cgroupsPath,omitempty"`  // the container's own cgroup, for orphan cleanup
	Systemd      bool           `json:"systemd,omitempty"`
	Mounts       []string       `json:"mounts,omitempty"`  // host mounts tenantrun made for this container (idmapped rootfs…), removed on delete
	WorkDir      string         `json:"workDir,omitempty"` // directory holding those mounts, removed after them
	// DeferredRlimits are the rlimits tenantrun applies itself right before the user
	// program runs (RLIMIT_AS).
	DeferredRlimits []specs.POSIXRlimit `json:"deferredRlimits,omitempty"`
	// PodUID is the kubelet pod uid of the container's pod (hardening.PodUIDAnnotations),
	// claimed host-wide for the tenant at create (claims kind "pod"): a member's kubelet
	// files (pods/<uid>/…) are accepted only for the uid its sandbox recorded here.
	PodUID string `json:"podUID,omitempty"`
	// RootfsKey is the device and inode ("<dev>-<ino>") of the rootfs descriptor the
	// runtime opened, claimed host-wide for the tenant (claims kind "rootfs").
	RootfsKey string `json:"rootfsKey,omitempty"`
	// NetAddrs are the container's addresses recorded in the host's tenant isolation
	// tables (runtime/netpolicy), released when the last container in its network
	// namespace goes; NetnsKey is the claim key of that namespace when an engine made it
	// (shared by a pod's members), "" when it is the container's own.
	NetAddrs []string `json:"netAddrs,omitempty"`
	NetnsKey string   `json:"netnsKey,omitempty"`
}

// Init is what `list` prints of a container whose init exists, and what it needs to
// tell the status from the live system (see Listing).
type Init struct {
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"` // field 22 of /proc/<pid>/stat: a reused pid does not match
	Created     time.Time         `json:"created"`
	Rootfs      string            `json:"rootfs"`
	Annotations map[string]string `json:"annotations,omitempty"`
	FreezerFile string            `json:"freezerFile,omitempty"` // freezer.state (v1) or cgroup.freeze (v2)
}

// Path is the record's path in state directory dir.
func Path(dir string) string { return filepath.Join(dir, Name) }

// Write replaces the record in dir atomically.
func Write(dir string, r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(Path(dir), data, 0o600); err != nil {
		return fmt.Errorf("writing container record: %w", err)
	}
	return nil
}

// Read reads the record in dir. A missing record (a create that crashed before writing
// it) is an error that wraps os.ErrNotExist.
func Read(dir string) (*Record, error) {
	data, err := os.ReadFile(Path(dir))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("container record %s: %w", Path(dir), err)
	}
	return &r, nil
}

// Listing is the part of a record that `list` decodes: tenant, bundle and init, the
// first three keys of a record Write made. ReadListing decodes those and stops at the
// first other key once it has all three, so the hardened process (most of the record)
// is not scanned once per container per list; a record with its keys in another order
// is decoded whole.
type Listing struct {
	Tenant string `json:"tenant"`
	Bundle string `json:"bundle"`
	Init   *Init  `json:"init,omitempty"`
}

// ReadListing decodes the listing part of the record in dir, reading into *buf
// (scratch space grown as needed, reused across containers).
func ReadListing(dir string, buf *[]byte) (Listing, error) {
	data, err := fsutil.ReadSmall(Path(dir), buf)
	if err != nil {
		return Listing{}, err
	}
	l, err := decodeListing(data)
	if err != nil {
		return Listing{}, fmt.Errorf("container record %s: %w", Path(dir), err)
	}
	return l, nil
}

func decodeListing(data []byte) (Listing, error) {
	var l Listing
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return l, json.Unmarshal(data, &l) // not an object: Unmarshal says why
	}
	seen := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return l, err
		}
		var v any
		switch t {
		case "tenant":
			v = &l.Tenant
		case "bundle":
			v = &l.Bundle
		case "init":
			v = &l.Init
		default:
			if seen == 3 {
				return l, nil
			}
			v = &json.RawMessage{}
		}
		if err := dec.Decode(v); err != nil {
			return l, err
		}
		if v != nil {
			if _, skip := v.(*json.RawMessage); !skip {
				seen++
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return l, err
	}
	return l, nil
}

// TenantOf is the tenant recorded in dir ("" if there is no readable record).
func TenantOf(dir string) string {
	r, err := Read(dir)
	if err != nil {
		return ""
	}
	return r.Tenant
}

// Lock takes the container's exclusive lock: a flock on its state directory dir,
// released by closing the file (or by the process's death). A missing directory is an
// error that wraps os.ErrNotExist.
func Lock(dir string) (*os.File, error) { return fsutil.LockDir(dir, unix.LOCK_EX) }

// TryLock is Lock without waiting: ok is false when another verb holds the lock, or
// the directory is gone.
func TryLock(dir string) (f *os.File, ok bool) {
	f, err := fsutil.LockDir(dir, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return nil, false
	}
	return f, true
}

// Package claims keeps host-wide records of which tenant holds a host object (an
// engine-made network namespace, a rootfs directory) that containers may share.
//
// The invariant it serves (docs/security.md, "namespaces" and "engine storage"): the
// tenant that holds an object is decided by a record that no --root, no stopped
// container and no reused pid can change. A claim lives in Dir, which is the same for
// every state root. Each object is a directory named by its kind and key; each
// container holding it is one file in that directory, named by a hash of its state
// root and id and holding its record. A holder whose state directory is gone (deleted
// without tenantrun, a crash) is stale and is dropped the next time the object is
// claimed. Every change happens under one flock, so two creates cannot both win.
package claims

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// Dir holds every claim. Tests may point it elsewhere.
var Dir = "/run/tenantrun/claims"

// Holder is one container holding an object.
type Holder struct {
	Tenant    string `json:"tenant"`
	Container string `json:"container"`
	Root      string `json:"root"` // the container's --root
}

// Claimed is returned when another tenant holds the object.
type Claimed struct {
	Kind, Key string
	Tenant    string
	Container string
}

func (e *Claimed) Error() string {
	return fmt.Sprintf("%s %s is held by tenant %s (container %s)", e.Kind, e.Key, e.Tenant, e.Container)
}

var keyRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}$`)

func objectDir(kind, key string) (string, error) {
	if !keyRe.MatchString(kind) || !keyRe.MatchString(key) {
		return "", fmt.Errorf("claims: invalid kind/key %q/%q", kind, key)
	}
	return filepath.Join(Dir, kind+"-"+key), nil
}

func holderName(root, container string) string {
	s := sha256.Sum256([]byte(filepath.Clean(root) + "\x00" + container))
	return hex.EncodeToString(s[:12])
}

// lock takes the claims lock; the returned func releases it.
func lock() (func(), error) {
	if err := os.MkdirAll(Dir, 0o700); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	f, err := fsutil.LockFile(filepath.Join(Dir, ".lock"), unix.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("claims: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// alive says whether the holder's container still has its state directory.
func alive(h Holder) bool {
	if h.Root == "" || h.Container == "" || strings.Contains(h.Container, "/") {
		return false
	}
	_, err := os.Lstat(filepath.Join(h.Root, h.Container))
	return err == nil
}

// holders reads the live holders of an object, removing stale ones.
func holders(dir string) []Holder {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Holder
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		var h Holder
		if err != nil || json.Unmarshal(b, &h) != nil || !alive(h) {
			os.Remove(p)
			continue
		}
		out = append(out, h)
	}
	return out
}

// Claim records h as a holder of the object. It fails with *Claimed when a live
// container of another tenant holds it. Claiming again is harmless.
func Claim(kind, key string, h Holder) error {
	dir, err := objectDir(kind, key)
	if err != nil {
		return err
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	for _, o := range holders(dir) {
		if o.Tenant != h.Tenant {
			return &Claimed{Kind: kind, Key: key, Tenant: o.Tenant, Container: o.Container}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	b, _ := json.Marshal(h)
	p := filepath.Join(dir, holderName(h.Root, h.Container))
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}

// Owner says which tenant holds the object, if a live container does.
func Owner(kind, key string) (Holder, bool) {
	dir, err := objectDir(kind, key)
	if err != nil {
		return Holder{}, false
	}
	unlock, err := lock()
	if err != nil {
		return Holder{}, false
	}
	defer unlock()
	hs := holders(dir)
	if len(hs) == 0 {
		os.Remove(dir)
		return Holder{}, false
	}
	return hs[0], true
}

// ReleaseAll drops every claim held by the container (on delete, and when a
// create fails after claiming).
func ReleaseAll(root, container string) error {
	unlock, err := lock()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer unlock()
	name := holderName(root, container)
	objs, err := os.ReadDir(Dir)
	if err != nil {
		return nil
	}
	for _, o := range objs {
		if !o.IsDir() {
			continue
		}
		d := filepath.Join(Dir, o.Name())
		os.Remove(filepath.Join(d, name))
		os.Remove(d) // only when empty
	}
	return nil
}

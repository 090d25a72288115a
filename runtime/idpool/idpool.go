// Package idpool hands tenants with uid_range = "auto" their exclusive id blocks, carved
// from the pool user's ranges in /etc/subuid and /etc/subgid and recorded in
// defaults.id_allocations under an exclusive lock. Its door is Assign.
package idpool

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/fsutil"
)

// Paths of the operator's id pools (variables so tests can point elsewhere).
var (
	subuidFile = "/etc/subuid"
	subgidFile = "/etc/subgid"
)

// Assign gives every tenant with uid_range = "auto" its exclusive
// block: the one recorded in defaults.id_allocations, or a new one carved from
// the pool user's ranges in /etc/subuid and /etc/subgid, recorded under an
// exclusive lock so that two creates never hand out the same block. Blocks
// never overlap each other or any tenant's configured range, and never start
// below 65536. Nothing is read when no tenant is "auto".
func Assign(cfg *hardening.Config) error {
	var auto []string
	for name, t := range cfg.Tenants {
		if t.AutoRange {
			auto = append(auto, name)
		}
	}
	if len(auto) == 0 {
		return nil
	}
	sort.Strings(auto)
	d := cfg.Defaults
	if err := os.MkdirAll(filepath.Dir(d.IDAllocations), 0o700); err != nil {
		return fmt.Errorf("id allocations: %w", err)
	}
	lock, err := fsutil.LockFile(d.IDAllocations+".lock", unix.LOCK_EX)
	if err != nil {
		return fmt.Errorf("id allocations: %w", err)
	}
	defer lock.Close()
	alloc := map[string]string{}
	if data, err := os.ReadFile(d.IDAllocations); err == nil {
		if err := json.Unmarshal(data, &alloc); err != nil {
			return fmt.Errorf("id allocations %s: %w", d.IDAllocations, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("id allocations: %w", err)
	}
	changed := false
	for _, name := range auto {
		if v, ok := alloc[name]; ok {
			r, err := hardening.ParseIDRange(v)
			if err != nil {
				return fmt.Errorf("id allocations %s: tenant %s: %w", d.IDAllocations, name, err)
			}
			if err := cfg.AssignRange(name, r); err != nil {
				return err
			}
			continue
		}
		r, err := carveBlock(cfg, alloc, d.IDPoolUser, d.IDBlock)
		if err != nil {
			return fmt.Errorf("tenant %s: uid_range = \"auto\": %w", name, err)
		}
		if err := cfg.AssignRange(name, r); err != nil {
			return err
		}
		alloc[name] = r.String()
		changed = true
	}
	if !changed {
		return nil
	}
	data, _ := json.MarshalIndent(alloc, "", "  ")
	if err := fsutil.WriteFileAtomic(d.IDAllocations, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("id allocations: %w", err)
	}
	return nil
}

// subRanges reads the ranges of user in a subuid/subgid file (with
// others=true: the ranges of every other user instead).
func subRanges(file, user string, others ...bool) ([]hardening.IDRange, error) {
	other := len(others) > 0 && others[0]
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []hardening.IDRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] == user) == other {
			continue
		}
		r, err := hardening.ParseIDRange(parts[1] + ":" + parts[2])
		if err == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// carveBlock finds the lowest free block of size n that lies in the pool
// user's subuid and subgid ranges and overlaps no tenant and no allocation.
func carveBlock(cfg *hardening.Config, alloc map[string]string, user string, n uint32) (hardening.IDRange, error) {
	uids, err := subRanges(subuidFile, user)
	if err != nil {
		return hardening.IDRange{}, fmt.Errorf("reading %s: %w", subuidFile, err)
	}
	gids, err := subRanges(subgidFile, user)
	if err != nil {
		return hardening.IDRange{}, fmt.Errorf("reading %s: %w", subgidFile, err)
	}
	if len(uids) == 0 {
		return hardening.IDRange{}, fmt.Errorf("%s has no range for user %q (defaults.id_pool_user): add e.g. \"%s:10000000:65536000\" to %s and %s", subuidFile, user, user, subuidFile, subgidFile)
	}
	var taken []hardening.IDRange
	for _, t := range cfg.Tenants {
		if t.UIDs.Size > 0 {
			taken = append(taken, t.UIDs, t.GIDs)
		}
	}
	for _, v := range alloc {
		if r, err := hardening.ParseIDRange(v); err == nil {
			taken = append(taken, r)
		}
	}
	// Other users' subordinate ranges (rootless podman users…) are theirs.
	for _, f := range []string{subuidFile, subgidFile} {
		if rs, err := subRanges(f, user, true); err == nil {
			taken = append(taken, rs...)
		}
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i].Start < uids[j].Start })
	for _, pool := range uids {
		start := max(uint64(pool.Start), 65536)
		for start+uint64(n) <= uint64(pool.Start)+uint64(pool.Size) {
			free := true
			for _, t := range taken {
				if t.Overlaps(hardening.IDRange{Start: uint32(start), Size: n}) {
					free = false
					start = uint64(t.Start) + uint64(t.Size)
					break
				}
			}
			if !free {
				continue
			}
			inG := false
			for _, g := range gids {
				if g.Contains(start, uint64(n)) {
					inG = true
				}
			}
			if !inG {
				return hardening.IDRange{}, fmt.Errorf("block %d:%d of %s is not in %s's ranges for %q: keep the two files alike", start, n, subuidFile, subgidFile, user)
			}
			return hardening.IDRange{Start: uint32(start), Size: n}, nil
		}
	}
	return hardening.IDRange{}, fmt.Errorf("the id pool of %q in %s is exhausted (blocks of %d)", user, subuidFile, n)
}

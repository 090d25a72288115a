package testutil

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// CgroupRoot is where the cgroup hierarchies are mounted.
const CgroupRoot = "/sys/fs/cgroup"

// LeakScope says what belongs to a test. Other engineers run containers on the same machine at
// the same time, so only things that mention the test's ids or paths count.
type LeakScope struct {
	IDs        []string // container ids (fresh and unique per test)
	StateRoots []string // --root dirs: must be empty at the end (besides KeepInRoot names)
	KeepInRoot []string // names a test put into a state root itself (e.g. a filler file)
	Paths      []string // bundle dirs and other test paths: no mount or process may mention them
	// ScratchDirs are directories where the runtime keeps per-container files outside --root
	// (default: ScratchDirs()); no entry there may name an id.
	ScratchDirs []string
}

// ScratchDirs is $TENANTRUN_TEST_SCRATCH_DIRS (colon-separated) or tenantrun's per-container
// directories outside --root: /run/tenantrun-rootfs (idmapped rootfs views).
func ScratchDirs() []string {
	if v := os.Getenv("TENANTRUN_TEST_SCRATCH_DIRS"); v != "" {
		return strings.Split(v, ":")
	}
	return []string{"/run/tenantrun-rootfs"}
}

// LeakChecker snapshots the host before a test and reports what the test left behind.
type LeakChecker struct {
	mu        sync.Mutex
	scope     LeakScope
	cgBefore  map[string]bool // hierarchy-relative cgroup dirs ("memory/foo/bar") before the test
	mtBefore  map[string]bool // mountinfo keys before the test
	observed  map[string]bool // cgroup dirs of the test's containers seen while they ran
	nftBefore map[string]bool // the host's tenant isolation tables before the test
	// Wait is how long Check polls for things to settle (processes exit and cgroups are
	// removed asynchronously after a kill) before it reports a leak.
	Wait time.Duration
}

// NewLeakChecker takes the "before" snapshot.
func NewLeakChecker(scope LeakScope) *LeakChecker {
	if scope.ScratchDirs == nil {
		scope.ScratchDirs = ScratchDirs()
	}
	lc := &LeakChecker{scope: scope, observed: map[string]bool{}, Wait: 5 * time.Second}
	lc.cgBefore = cgroupDirs()
	lc.nftBefore = nftIsolationTables()
	lc.mtBefore = map[string]bool{}
	for _, m := range readMountinfo() {
		lc.mtBefore[m.key] = true
	}
	return lc
}

// CheckNoLeaks snapshots now and registers a t.Cleanup that fails the test if anything of
// scope (ids, state roots, paths) is left: state dir entries, cgroup dirs in any hierarchy
// (v1 controllers, named ones and the unified mount), mounts or processes. Register it before
// the cleanups that delete containers (t.Cleanup runs last-registered first).
func CheckNoLeaks(t testing.TB, ids ...string) *LeakChecker {
	t.Helper()
	lc := NewLeakChecker(LeakScope{IDs: ids})
	t.Cleanup(func() { lc.Check(t) })
	return lc
}

// AddID adds container ids to the scope.
func (lc *LeakChecker) AddID(ids ...string) {
	lc.mu.Lock()
	lc.scope.IDs = append(lc.scope.IDs, ids...)
	lc.mu.Unlock()
}

// AddStateRoot adds a --root dir that must be empty at the end.
func (lc *LeakChecker) AddStateRoot(dirs ...string) {
	lc.mu.Lock()
	lc.scope.StateRoots = append(lc.scope.StateRoots, dirs...)
	lc.mu.Unlock()
}

// KeepInRoot names entries of a state root the test created itself.
func (lc *LeakChecker) KeepInRoot(names ...string) {
	lc.mu.Lock()
	lc.scope.KeepInRoot = append(lc.scope.KeepInRoot, names...)
	lc.mu.Unlock()
}

// AddPath adds a path no mount or process may mention at the end.
func (lc *LeakChecker) AddPath(paths ...string) {
	lc.mu.Lock()
	lc.scope.Paths = append(lc.scope.Paths, paths...)
	lc.mu.Unlock()
}

// ObservePID records the cgroups of a running container process, so that Check also proves
// the parents the runtime created for it (tenant parents) are gone once empty.
func (lc *LeakChecker) ObservePID(pid int) {
	for _, p := range ProcCgroupDirs(pid) {
		lc.mu.Lock()
		lc.observed[p] = true
		lc.mu.Unlock()
	}
}

// Check polls until nothing is left (or Wait passes) and reports every leak as a test error.
func (lc *LeakChecker) Check(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(lc.Wait)
	var leaks []string
	for {
		leaks = lc.Leaks()
		if len(leaks) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range leaks {
		t.Errorf("LEAK: %s", l)
	}
	if len(leaks) > 0 {
		lc.Reap()
		if left := lc.Leaks(); len(left) > 0 {
			t.Errorf("could not remove %d leaked things; clean up by hand: %v", len(left), left)
		}
	}
}

// Leaks returns a description of everything of the scope still present.
func (lc *LeakChecker) Leaks() []string {
	lc.mu.Lock()
	scope := lc.scope
	scope.IDs = append([]string(nil), scope.IDs...)
	observed := make([]string, 0, len(lc.observed))
	for p := range lc.observed {
		observed = append(observed, p)
	}
	lc.mu.Unlock()
	sort.Strings(observed)

	var leaks []string
	// State roots.
	keep := map[string]bool{}
	for _, k := range scope.KeepInRoot {
		keep[k] = true
	}
	for _, root := range scope.StateRoots {
		ents, err := os.ReadDir(root)
		if err != nil {
			continue // gone is fine
		}
		for _, e := range ents {
			if !keep[e.Name()] {
				leaks = append(leaks, fmt.Sprintf("state root %s still holds %q", root, e.Name()))
			}
		}
	}
	// Runtime scratch dirs outside --root.
	for _, dir := range scope.ScratchDirs {
		for _, name := range entriesNaming(dir, scope.IDs) {
			leaks = append(leaks, fmt.Sprintf("runtime scratch dir entry %s", filepath.Join(dir, name)))
		}
	}
	// Cgroups: any dir naming an id, in every hierarchy.
	after := cgroupDirs()
	for d := range after {
		for _, id := range scope.IDs {
			if id != "" && pathMentions(d, id) {
				leaks = append(leaks, fmt.Sprintf("cgroup %s/%s (container %s)", CgroupRoot, d, id))
				break
			}
		}
	}
	// Cgroup parents created for the test's containers (e.g. tenantrun/<tenant>) that are now
	// empty: the runtime should remove what it created. A parent that still has children is
	// shared with someone else's containers and not counted.
	// The top level under a hierarchy (e.g. tenantrun/) is shared by everyone and may stay.
	// Keys are "<hierarchy>/<path>" on v1 and hybrid hosts but "<path>" on pure v2 (the one
	// hierarchy is the root): a parent is at least one level below the top there.
	seen := map[string]bool{}
	minSlash := 2
	if CgroupV2() {
		minSlash = 1
	}
	for _, p := range observed {
		for a := filepath.Dir(p); strings.Count(a, "/") >= minSlash; a = filepath.Dir(a) {
			if seen[a] || lc.cgBefore[a] || !after[a] {
				continue
			}
			seen[a] = true
			if !hasSubdir(filepath.Join(CgroupRoot, a)) {
				leaks = append(leaks, fmt.Sprintf("empty cgroup parent %s/%s created during the test", CgroupRoot, a))
			}
		}
	}
	// Mounts mentioning an id or a test path that were not there before.
	for _, m := range readMountinfo() {
		if lc.mtBefore[m.key] {
			continue
		}
		if what := mentions(m.line, scope); what != "" {
			leaks = append(leaks, fmt.Sprintf("mount (%s): %s", what, m.line))
		}
	}
	// Host-wide claims (rootfs, engine netns, pod) held by the test's containers.
	for _, c := range claimLeaks(scope) {
		leaks = append(leaks, fmt.Sprintf("claim %s held by container %s (root %s)", c.object, c.container, c.root))
	}
	// The host's nftables tables tenantrun made for policed containers (tenant isolation),
	// made during the test and still there.
	for tbl := range nftIsolationTables() {
		if !lc.nftBefore[tbl] {
			leaks = append(leaks, fmt.Sprintf("nftables table %s on the host", tbl))
		}
	}
	// Processes.
	leaks = append(leaks, processLeaks(scope)...)
	sort.Strings(leaks)
	return leaks
}

// ClaimsDir is $TENANTRUN_TEST_CLAIMS_DIR or where tenantrun keeps its host-wide claims
// (runtime/claims.Dir): one directory per claimed object, one file per holder.
func ClaimsDir() string {
	if v := os.Getenv("TENANTRUN_TEST_CLAIMS_DIR"); v != "" {
		return v
	}
	return "/run/tenantrun/claims"
}

type claimHolder struct {
	object, container, root, file string
}

// claimLeaks lists the holders of any claim that are containers of the scope (by id) or
// live in one of its state roots.
func claimLeaks(scope LeakScope) []claimHolder {
	dir := ClaimsDir()
	objs, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []claimHolder
	for _, o := range objs {
		if !o.IsDir() {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(dir, o.Name()))
		for _, f := range files {
			p := filepath.Join(dir, o.Name(), f.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var h struct {
				Container string `json:"container"`
				Root      string `json:"root"`
			}
			if json.Unmarshal(data, &h) != nil {
				continue
			}
			mine := false
			for _, id := range scope.IDs {
				if id != "" && h.Container == id {
					mine = true
				}
			}
			for _, r := range scope.StateRoots {
				if r != "" && filepath.Clean(h.Root) == filepath.Clean(r) {
					mine = true
				}
			}
			if mine {
				out = append(out, claimHolder{o.Name(), h.Container, h.Root, p})
			}
		}
	}
	return out
}

func mentions(s string, scope LeakScope) string {
	for _, id := range scope.IDs {
		if id != "" && strings.Contains(s, id) {
			return "id " + id
		}
	}
	for _, p := range append(append([]string(nil), scope.Paths...), scope.StateRoots...) {
		if p != "" && strings.Contains(s, p) {
			return "path " + p
		}
	}
	return ""
}

// pathMentions reports whether a component of the slash-separated path contains id.
func pathMentions(p, id string) bool {
	for _, c := range strings.Split(p, "/") {
		if strings.Contains(c, id) {
			return true
		}
	}
	return false
}

func hasSubdir(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}

// CgroupHierarchies lists the cgroup mounts under /sys/fs/cgroup (v1 controllers, named
// hierarchies, the unified cgroup2 mount), relative to /sys/fs/cgroup.
func CgroupHierarchies() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range readMountinfo() {
		f := strings.Fields(m.line)
		// fstype follows the " - " separator.
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		if fstype := f[sep+1]; fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		if m.point == CgroupRoot {
			if !seen["."] {
				seen["."] = true
				out = append(out, ".")
			}
			continue
		}
		if rel, ok := strings.CutPrefix(m.point, CgroupRoot+"/"); ok && !strings.Contains(rel, "/") && !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out
}

// cgroupDirs walks every hierarchy; keys are "<hierarchy>/<path>" relative to /sys/fs/cgroup.
func cgroupDirs() map[string]bool {
	out := map[string]bool{}
	for _, h := range CgroupHierarchies() {
		base := filepath.Join(CgroupRoot, h)
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.IsDir() || p == base {
				return nil
			}
			rel, _ := filepath.Rel(CgroupRoot, p)
			out[rel] = true
			return nil
		})
	}
	return out
}

// ProcCgroupDirs returns the cgroup dirs of a process as "<hierarchy>/<path>" keys (as
// cgroupDirs uses), for every hierarchy mounted under /sys/fs/cgroup.
func ProcCgroupDirs(pid int) []string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	hier := map[string]bool{}
	for _, h := range CgroupHierarchies() {
		hier[h] = true
	}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		var names []string
		switch {
		case parts[0] == "0" && parts[1] == "":
			names = []string{"unified", "."}
		default:
			for _, c := range strings.Split(parts[1], ",") {
				names = append(names, strings.TrimPrefix(c, "name="))
			}
			names = append(names, parts[1])
		}
		for _, n := range names {
			if hier[n] {
				out = append(out, filepath.Clean(n+"/"+parts[2]))
				break
			}
		}
	}
	return out
}

// CgroupV2 reports whether /sys/fs/cgroup is a pure cgroup v2 host (one unified mount, as on
// Debian 12, Ubuntu 22.04+, RHEL 9), not v1 or hybrid.
func CgroupV2() bool {
	_, err := os.Stat(filepath.Join(CgroupRoot, "cgroup.controllers"))
	return err == nil
}

// cgroupV2Files maps v1 control files to the v2 files holding the same value format.
var cgroupV2Files = map[string]string{
	"memory.limit_in_bytes": "memory.max",
	"memory.usage_in_bytes": "memory.current",
}

// unifiedPath is the process's "0::/path" entry of /proc/<pid>/cgroup.
func unifiedPath(pid int) (string, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, true
		}
	}
	return "", false
}

// CgroupFile returns the path of a control file of a process's cgroup in a v1 controller
// hierarchy (or the unified one, "unified" on hybrid hosts, "." on v2), e.g.
// CgroupFile(pid, "memory", "memory.limit_in_bytes"). On a pure v2 host every hierarchy name
// is the one unified cgroup ("0::/path"), and a v1 file name with a v2 equivalent of the same
// value format (memory.limit_in_bytes: memory.max) is mapped to it; CgroupRead also maps
// values (freezer.state).
func CgroupFile(pid int, hierarchy, file string) (string, error) {
	if CgroupV2() {
		p, ok := unifiedPath(pid)
		if !ok {
			return "", fmt.Errorf("pid %d has no cgroup v2 entry (0::) in /proc/%d/cgroup", pid, pid)
		}
		if f, ok := cgroupV2Files[file]; ok {
			file = f
		}
		return filepath.Join(CgroupRoot, p, file), nil
	}
	for _, d := range ProcCgroupDirs(pid) {
		if d == hierarchy || strings.HasPrefix(d, hierarchy+"/") {
			return filepath.Join(CgroupRoot, d, file), nil
		}
	}
	return "", fmt.Errorf("pid %d has no cgroup in hierarchy %s", pid, hierarchy)
}

// CgroupRead reads a control file of a process's cgroup by its v1 name (CgroupFile), in v1's
// value format also on v2: freezer.state is cgroup.freeze's 1/0 as FROZEN/THAWED, a limit of
// "max" is v1's unlimited 9223372036854771712 for memory.limit_in_bytes.
func CgroupRead(pid int, hierarchy, file string) (string, error) {
	if CgroupV2() && file == "freezer.state" {
		p, err := CgroupFile(pid, hierarchy, "cgroup.freeze")
		if err != nil {
			return "", err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(string(b)) == "1" {
			return "FROZEN", nil
		}
		return "THAWED", nil
	}
	p, err := CgroupFile(pid, hierarchy, file)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if CgroupV2() && file == "memory.limit_in_bytes" && v == "max" {
		v = "9223372036854771712"
	}
	return v, nil
}

func processLeaks(scope LeakScope) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var leaks []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // a zombie holds no resources; PID 1 here reaps late
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cmd := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		for _, src := range []struct{ what, s string }{{"cmdline", cmd}, {"cgroup", string(cg)}, {"cwd", cwd}} {
			if what := mentions(src.s, scope); what != "" {
				leaks = append(leaks, fmt.Sprintf("process %d %q: %s mentions %s", pid, cmd, src.what, what))
				break
			}
		}
	}
	return leaks
}

// Reap removes what Leaks reports, after it has been reported: the machine is shared, so a
// runtime's leak must not outlive the test that found it. Only things of the scope are touched:
// processes mentioning the ids/paths are SIGKILLed (their freezer cgroups thawed first), cgroup
// dirs naming an id and empty parents created for the test's containers are removed (deepest
// first), new mounts mentioning the ids/paths are detached.
func (lc *LeakChecker) Reap() {
	lc.mu.Lock()
	scope := lc.scope
	scope.IDs = append([]string(nil), scope.IDs...)
	lc.mu.Unlock()
	var dirs []string
	for d := range cgroupDirs() {
		for _, id := range scope.IDs {
			if id != "" && pathMentions(d, id) {
				dirs = append(dirs, d)
				break
			}
		}
	}
	for _, d := range dirs {
		if strings.HasPrefix(d, "freezer/") {
			_ = os.WriteFile(filepath.Join(CgroupRoot, d, "freezer.state"), []byte("THAWED"), 0o644)
		}
	}
	for i := 0; i < 3; i++ {
		pids := processPids(scope)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscallKill(pid)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range readMountinfo() {
		if !lc.mtBefore[m.key] && mentions(m.line, scope) != "" {
			_ = unmountDetach(m.point)
		}
	}
	lc.mu.Lock()
	for p := range lc.observed {
		for a := p; strings.Count(a, "/") >= 2; a = filepath.Dir(a) {
			if !lc.cgBefore[a] {
				dirs = append(dirs, a)
			}
		}
	}
	lc.mu.Unlock()
	// Scratch dir entries of the test's ids that are no longer mount points or hold none.
	for _, dir := range scope.ScratchDirs {
		for _, name := range entriesNaming(dir, scope.IDs) {
			if p := filepath.Join(dir, name); len(MountsUnder(p)) == 0 {
				_ = os.RemoveAll(p)
			}
		}
	}
	// State dirs of the test's ids (under the test's own --root).
	for _, root := range scope.StateRoots {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			for _, id := range scope.IDs {
				if id != "" && strings.Contains(e.Name(), id) {
					_ = os.RemoveAll(filepath.Join(root, e.Name()))
					break
				}
			}
		}
	}
	// Claims of the test's containers (their holder files; an emptied object dir too).
	for _, c := range claimLeaks(scope) {
		_ = os.Remove(c.file)
		_ = os.Remove(filepath.Dir(c.file))
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		_ = os.Remove(filepath.Join(CgroupRoot, d)) // rmdir; fails harmlessly if not empty
	}
}

func processPids(scope LeakScope) []int {
	var out []int
	for _, l := range processLeaks(scope) {
		var pid int
		if _, err := fmt.Sscanf(l, "process %d ", &pid); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func entriesNaming(dir string, ids []string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		for _, id := range ids {
			if id != "" && strings.Contains(e.Name(), id) {
				out = append(out, e.Name())
				break
			}
		}
	}
	return out
}

// ClaimsOf lists the claimed objects (claims directory names, e.g. "rootfs-2049-1234")
// that container id under state root holds.
func ClaimsOf(root, id string) []string {
	var out []string
	for _, c := range claimLeaks(LeakScope{IDs: []string{id}}) {
		if filepath.Clean(c.root) == filepath.Clean(root) {
			out = append(out, c.object)
		}
	}
	sort.Strings(out)
	return out
}

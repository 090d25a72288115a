package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Everything here removes only what this run created: state dirs under the target's
// private --root, mounts under the target's work dir, processes and cgroups whose cgroup
// path names a container id the suite used in this program (or the suite's fixed
// cgroup names, or this run's tenants), and only cgroups that did not exist when the run
// started.

// suiteCgroupNames are the fixed cgroup paths of runtime-tools v0.9.0
// (cgroups.AbsCgroupPath "/cgrouptest", RelCgroupPath "testdir/cgrouptest/container").
var suiteCgroupNames = []string{"cgrouptest", "testdir"}

type mountEntry struct {
	ID, Parent int
	Point      string
	FSType     string
}

func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		var m mountEntry
		m.ID, _ = strconv.Atoi(fields[0])
		m.Parent, _ = strconv.Atoi(fields[1])
		m.Point = unescapeMount(fields[4])
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) {
				m.FSType = fields[i+1]
				break
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// cgroupWatch knows the cgroup hierarchies and which directories existed before the run.
type cgroupWatch struct {
	roots   []string
	before  map[string]bool
	tenants []string // tenantrun tenant names of this run: their cgroups are ours too
}

func newCgroupWatch(tenants []string) (*cgroupWatch, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	w := &cgroupWatch{before: map[string]bool{}, tenants: tenants}
	for _, m := range ms {
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			w.roots = append(w.roots, m.Point)
		}
	}
	sort.Strings(w.roots)
	for _, d := range w.walk() {
		w.before[d] = true
	}
	return w, nil
}

func (w *cgroupWatch) walk() []string {
	var dirs []string
	for _, r := range w.roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() && p != r {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	return dirs
}

// ours reports whether a cgroup directory is one this run created: it did not exist
// before, and a component of its path is a suite cgroup name, one of ids, or a tenant.
func (w *cgroupWatch) ours(dir string, ids []string) bool {
	if w.before[dir] {
		return false
	}
	for _, c := range strings.Split(dir, "/") {
		for _, n := range suiteCgroupNames {
			if c == n {
				return true
			}
		}
		for _, id := range ids {
			if strings.Contains(c, id) {
				return true
			}
		}
		for _, t := range w.tenants {
			if c == t {
				return true
			}
		}
	}
	return false
}

// procsInOurCgroups lists pids whose cgroup path (any hierarchy) names one of ids or a
// suite cgroup name.
func procsInOurCgroups(ids []string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if zombie(pid) {
			// Exited, waiting for its parent (here PID 1) to reap it: holds nothing.
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		match := false
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			for _, c := range strings.Split(parts[2], "/") {
				if c == "cgrouptest" {
					match = true
				}
				for _, id := range ids {
					if c != "" && strings.Contains(c, id) {
						match = true
					}
				}
			}
		}
		if match {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cleanup removes what one program left behind and describes it. Anything it cannot
// remove is reported with the prefix "NOT CLEANED".
func cleanup(t *Target, ids []string, cg *cgroupWatch) []string {
	var leaks []string
	// 1. Containers still known to the runtime (private --root: all of them are ours).
	if ents, err := os.ReadDir(t.stateRoot()); err == nil {
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			id := e.Name()
			leaks = append(leaks, "container state "+id)
			exec.Command(t.wrapper(), "kill", id, "KILL").Run()
			time.Sleep(200 * time.Millisecond)
			if out, err := exec.Command(t.wrapper(), "delete", "--force", id).CombinedOutput(); err != nil {
				leaks = append(leaks, fmt.Sprintf("NOT CLEANED: %s delete --force %s: %v: %s", t.Name, id, err, strings.TrimSpace(string(out))))
			}
			ids = append(ids, id)
		}
	}
	// 2. Processes in this program's containers' cgroups.
	for i := 0; i < 3; i++ {
		pids := procsInOurCgroups(ids)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if i == 0 {
				leaks = append(leaks, fmt.Sprintf("process %d (%s)", pid, cmdline(pid)))
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(300 * time.Millisecond)
		if i == 2 {
			leaks = append(leaks, fmt.Sprintf("NOT CLEANED: processes %v", pids))
		}
	}
	// 3. Mounts under the target's work dir (deepest first): the work dir is this run's
	// alone and nothing is mounted there between programs.
	leaks = append(leaks, unmountUnder(t.Dir)...)
	// ...and mounts elsewhere named after this program's containers (tenantrun keeps
	// idmapped root filesystems under /run/tenantrun-rootfs/<id>); the suite's ids are
	// fresh UUIDs, so a path holding one is this run's.
	leaks = append(leaks, unmountNamed(ids)...)
	// 4. Cgroups this program created (deepest first).
	leaks = append(leaks, cg.removeOurs(ids, false)...)
	// 5. Bundles the suite did not remove.
	if ents, err := os.ReadDir(t.tmpDir()); err == nil {
		for _, e := range ents {
			p := filepath.Join(t.tmpDir(), e.Name())
			leaks = append(leaks, "bundle/temp "+e.Name())
			if mountedUnder(p) {
				// Never recurse into a mount: it could be a host directory.
				leaks = append(leaks, fmt.Sprintf("NOT CLEANED: %s: still has mounts", p))
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				leaks = append(leaks, fmt.Sprintf("NOT CLEANED: %s: %v", p, err))
			}
		}
	}
	return leaks
}

// removeOurs removes this run's new cgroups for ids (and, with tenants, this run's
// tenant cgroups), killing what is left inside first.
func (w *cgroupWatch) removeOurs(ids []string, tenants bool) []string {
	var leaks []string
	var dirs []string
	for _, d := range w.walk() {
		if !w.ours(d, ids) {
			continue
		}
		if !tenants && !w.ours(d, ids) {
			continue
		}
		dirs = append(dirs, d)
	}
	if !tenants {
		// Per program, a tenant's own cgroup (a parent of the containers) is kept for
		// the next program; only container and suite cgroups count.
		var keep []string
		for _, d := range dirs {
			if w.onlyTenant(d, ids) {
				continue
			}
			keep = append(keep, d)
		}
		dirs = keep
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		leaks = append(leaks, "cgroup "+d)
		if b, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		var err error
		for i := 0; i < 10; i++ {
			if err = syscall.Rmdir(d); err == nil || err == syscall.ENOENT {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			leaks = append(leaks, fmt.Sprintf("NOT CLEANED: rmdir %s: %v", d, err))
		}
	}
	return leaks
}

// onlyTenant: d is ours only because it is (or lies under) a tenant cgroup, without a
// container id or suite name in it.
func (w *cgroupWatch) onlyTenant(d string, ids []string) bool {
	save := w.tenants
	w.tenants = nil
	defer func() { w.tenants = save }()
	return !w.ours(d, ids)
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st == 'Z' || st == 'X'
}

// unmountUnder detaches every mount at or below dir, deepest first, and describes them.
func unmountUnder(dir string) []string {
	leaks, left, err := unmountMatching(func(point string) bool { return under(point, dir) })
	switch {
	case err != nil:
		leaks = append(leaks, "NOT CLEANED: reading mountinfo: "+err.Error())
	case len(left) > 0:
		leaks = append(leaks, "NOT CLEANED: mounts remain under "+dir)
	}
	return leaks
}

func mountedUnder(dir string) bool {
	ms, _ := readMounts()
	for _, m := range ms {
		if under(strings.TrimSuffix(m.Point, "//deleted"), dir) {
			return true
		}
	}
	return false
}

// unmountNamed detaches mounts whose path has a component containing one of ids.
func unmountNamed(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	leaks, left, err := unmountMatching(func(point string) bool {
		for _, c := range strings.Split(point, "/") {
			if c != "" && containsAny(c, ids) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return append(leaks, "NOT CLEANED: reading mountinfo: "+err.Error())
	}
	for _, m := range left {
		leaks = append(leaks, "NOT CLEANED: mount "+m.Point)
	}
	return leaks
}

// unmountMatching detaches the mounts whose point (without a "//deleted" suffix) match
// selects, deepest first, in up to 5 rounds (a detach can uncover the mount beneath). It
// describes what it found in the first round and returns what still matches after the
// fifth: the callers say how it was left.
func unmountMatching(match func(point string) bool) (found []string, left []mountEntry, err error) {
	for round := 0; ; round++ {
		ms, err := readMounts()
		if err != nil {
			return found, nil, err
		}
		var stray []mountEntry
		for _, m := range ms {
			if match(strings.TrimSuffix(m.Point, "//deleted")) {
				stray = append(stray, m)
			}
		}
		if len(stray) == 0 {
			return found, nil, nil
		}
		if round == 5 {
			return found, stray, nil
		}
		sort.SliceStable(stray, func(i, j int) bool { return len(stray[i].Point) > len(stray[j].Point) })
		for _, m := range stray {
			if round == 0 {
				found = append(found, fmt.Sprintf("mount %s (%s)", m.Point, m.FSType))
			}
			syscall.Unmount(m.Point, syscall.MNT_DETACH)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

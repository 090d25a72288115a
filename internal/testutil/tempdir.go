package testutil

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	baseMu   sync.Mutex
	baseDirs = map[testing.TB]string{}
)

// TestBase is the per-test scratch directory (short, under /tmp, mode 0755 so a
// user-namespaced container root can traverse it; unix socket paths stay short). It is removed
// when the test ends, after any mount left under it has been detached (a leak the leak checker
// reports; detaching first keeps RemoveAll from descending into a mounted filesystem).
func TestBase(t testing.TB) string {
	t.Helper()
	baseMu.Lock()
	defer baseMu.Unlock()
	if d, ok := baseDirs[t]; ok {
		return d
	}
	d, err := os.MkdirTemp("", "trt-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	baseDirs[t] = d
	t.Cleanup(func() {
		baseMu.Lock()
		delete(baseDirs, t)
		baseMu.Unlock()
		for _, m := range MountsUnder(d) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
		if len(MountsUnder(d)) > 0 {
			t.Errorf("mounts still under %s; not removing it", d)
			return
		}
		_ = os.RemoveAll(d)
	})
	return d
}

// TempDir makes a fresh 0755 directory under TestBase.
func TempDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp(TestBase(t), prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// MountsUnder lists the mount points at or under dir in this mount namespace, deepest first.
func MountsUnder(dir string) []string {
	var out []string
	for _, m := range readMountinfo() {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			out = append(out, m.point)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

type mountEntry struct {
	line  string // the whole mountinfo line
	key   string // mount id + mount point: identifies a mount across snapshots
	point string
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := 0
			ok := true
			for j := 1; j <= 3; j++ {
				c := s[i+j]
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + int(c-'0')
			}
			if ok {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readMountinfo() []mountEntry {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		point := filepath.Clean(unescapeMount(fields[4]))
		out = append(out, mountEntry{line: line, key: fields[0] + " " + point, point: point})
	}
	return out
}

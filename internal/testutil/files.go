package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// WriteFile writes content to path (0644) or fails the test.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadPidFile reads a --pid-file.
func ReadPidFile(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q", path, b)
	}
	return pid
}

// ReadTrim reads a file and trims white space ("" on error).
func ReadTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Remove removes a file or fails the test.
func Remove(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// RemoveAll removes a tree or fails the test.
func RemoveAll(t testing.TB, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// FillFS fills the filesystem at dir: its blocks (one big file named filler) and, when inodes
// is true, its inodes too (empty files filler-N).
func FillFS(t testing.TB, dir string, inodes bool) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	for i := 0; inodes; i++ {
		g, err := os.Create(filepath.Join(dir, "filler-"+strconv.Itoa(i)))
		if err != nil {
			break
		}
		g.Close()
		if i > 100000 {
			t.Fatalf("%s does not fill up", dir)
		}
	}
}

// FillerNames lists the filler files FillFS created in dir.
func FillerNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "filler") {
			out = append(out, e.Name())
		}
	}
	return out
}

// CopyFile copies src to dst with mode, or fails the test.
func CopyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	if err := copyFile(src, dst, mode); err != nil {
		t.Fatal(err)
	}
}

// HashFile is the hex sha256 of a file, or fails the test.
func HashFile(t testing.TB, path string) string {
	t.Helper()
	h, err := fileHash(path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

const suiteModule = "github.com/opencontainers/runtime-tools"

// buildSuite builds the validation programs and runtimetest from the module pinned in
// conformance/go.mod (never vendored into this repository) into
// <cacheRoot>/<key>/, key = hash of go.mod, go.sum and the Go version, so that a pin
// change rebuilds and an unchanged tree reuses the programs. It returns that directory,
// which holds bin/<program>, runtimetest and rootfs-<arch>.tar.gz.
func buildSuite(moduleDir, cacheRoot string, log io.Writer) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(moduleDir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n%s\n", f, b)
	}
	gover, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	fmt.Fprintf(h, "%s%s", gover, runtime.GOARCH)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(cacheRoot, key)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		fmt.Fprintf(log, "suite: cached build %s\n", dir)
		return dir, nil
	}
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheRoot, key+".building.")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(log, "suite: building %s validation programs into %s (takes about 2 minutes on 2 cores)\n", suiteModule, dir)
	gobuild := func(cgo string, args ...string) error {
		cmd := exec.Command("nice", append([]string{"go", "build", "-mod=readonly", "-trimpath"}, args...)...)
		cmd.Dir = moduleDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOFLAGS=-mod=readonly", "GOWORK=off")
		cmd.Stdout = log
		cmd.Stderr = log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
	if err := os.Mkdir(filepath.Join(tmp, "bin"), 0o755); err != nil {
		return "", err
	}
	if err := gobuild("0", "-o", filepath.Join(tmp, "bin")+"/", suiteModule+"/validation/..."); err != nil {
		return "", err
	}
	// runtimetest runs inside the container's busybox rootfs: static, no cgo.
	if err := gobuild("0", "-o", filepath.Join(tmp, "runtimetest"), suiteModule+"/cmd/runtimetest"); err != nil {
		return "", err
	}
	// The rootfs tarball ships inside the module.
	lm := exec.Command("go", "list", "-mod=readonly", "-m", "-f", "{{.Dir}}", suiteModule)
	lm.Dir = moduleDir
	lm.Env = append(os.Environ(), "GOWORK=off")
	out, err := lm.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", suiteModule, err)
	}
	tarball := "rootfs-" + runtime.GOARCH + ".tar.gz"
	if err := copyFile(filepath.Join(strings.TrimSpace(string(out)), tarball), filepath.Join(tmp, tarball)); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(key+"\n"), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir) // an incomplete earlier attempt
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// suitePrograms lists the built validation programs, sorted.
func suitePrograms(suiteDir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(suiteDir, "bin"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

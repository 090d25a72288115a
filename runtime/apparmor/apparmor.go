// Package apparmor makes sure the AppArmor profile a container is given is loaded in the
// kernel before anything of the container is set up, and loads the one profile tenantrun
// ships (tenantrun-default, the file next to this one) when a container needs it.
//
// The policy engine (hardening/lsm.go) decides which profile a process gets and refuses
// one on a host that does not enforce AppArmor; this package only deals with the kernel.
package apparmor

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runc/libcontainer/apparmor"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/runtime/fsutil"

	_ "embed"
)

// DefaultName is the profile tenantrun ships and loads itself.
const DefaultName = "tenantrun-default"

//go:embed tenantrun-default
var defaultProfile []byte

// Where the kernel lists its profiles, and where tenantrun keeps the digest of the
// tenantrun-default text it loaded (host-wide, like the claims: every --root shares one
// kernel). Variables for tests.
var (
	profilesFile = "/sys/kernel/security/apparmor/profiles"
	StateDir     = "/run/tenantrun/apparmor"
	enabled      = apparmor.IsEnabled
	parserPaths  = []string{"apparmor_parser", "/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"}
)

// Enabled says whether the host enforces AppArmor.
func Enabled() bool { return enabled() }

// Prepare makes sure profile name is loaded. "" needs nothing; on a host without
// AppArmor it does nothing either (the policy engine refuses a tenant's profile there;
// a trusted tenant's bundle is left to libcontainer). tenantrun-default is loaded, or
// replaced, when the kernel does not have this binary's text of it; any other profile
// must already be loaded by the operator.
func Prepare(name string) error {
	if name == "" || !enabled() {
		return nil
	}
	loaded, err := isLoaded(name)
	if err != nil {
		return err
	}
	if name != DefaultName {
		if !loaded {
			return fmt.Errorf("AppArmor profile %q is not loaded on this host (load it with apparmor_parser -r <file>, or name %s, which tenantrun loads itself)", name, DefaultName)
		}
		return nil
	}
	sum := sha256.Sum256(defaultProfile)
	digest := hex.EncodeToString(sum[:])
	stamp := filepath.Join(StateDir, DefaultName+".sha256")
	if loaded && readStamp(stamp) == digest {
		return nil
	}
	// Serialise loads host-wide; the second waiter finds the stamp written.
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return fmt.Errorf("AppArmor: %w", err)
	}
	lf, err := fsutil.LockFile(filepath.Join(StateDir, ".lock"), unix.LOCK_EX)
	if err != nil {
		return fmt.Errorf("AppArmor: %w", err)
	}
	defer lf.Close()
	if loaded, err = isLoaded(name); err != nil {
		return err
	} else if loaded && readStamp(stamp) == digest {
		return nil
	}
	if err := load(defaultProfile); err != nil {
		return fmt.Errorf("AppArmor profile %s: %w", DefaultName, err)
	}
	if loaded, err = isLoaded(name); err != nil {
		return err
	} else if !loaded {
		return fmt.Errorf("AppArmor profile %s: apparmor_parser succeeded but the kernel does not list it in %s", DefaultName, profilesFile)
	}
	if err := fsutil.WriteFileAtomic(stamp, []byte(digest+"\n"), 0o600); err != nil {
		return fmt.Errorf("AppArmor: %w", err)
	}
	return nil
}

// isLoaded reads the kernel's list ("name (mode)" per line).
func isLoaded(name string) (bool, error) {
	f, err := os.Open(profilesFile)
	if err != nil {
		return false, fmt.Errorf("AppArmor: cannot list the loaded profiles: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if i := strings.LastIndex(l, " ("); i >= 0 && l[:i] == name {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("AppArmor: %s: %w", profilesFile, err)
	}
	return false, nil
}

func readStamp(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// load compiles and loads (or replaces) the profile text: apparmor_parser, without its
// cache (-K: the text is this binary's, not a file the cache could key on).
func load(text []byte) error {
	var parser string
	for _, p := range parserPaths {
		if lp, err := exec.LookPath(p); err == nil {
			parser = lp
			break
		}
	}
	if parser == "" {
		return errors.New("it is not loaded and apparmor_parser was not found (Debian and Ubuntu: apt install apparmor)")
	}
	cmd := exec.Command(parser, "-K", "-r")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -K -r: %w: %s", parser, err, strings.TrimSpace(string(out)))
	}
	return nil
}

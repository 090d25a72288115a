// Package runtime implements tenantrun's OCI verbs on runc's libcontainer.
// Every verb is one exported function taking the global flags (Global) and the
// verb's own options; cmd/tenantrun only parses flags and calls these.
package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tenantrun/tenantrun/hardening"
)

// DefaultRoot is where container state lives unless --root says otherwise.
const DefaultRoot = "/run/tenantrun"

// DefaultConfig is the operator's tenant configuration file.
const DefaultConfig = "/etc/tenantrun/config.toml"

// Global holds the global command-line flags, shared by every verb.
type Global struct {
	Root          string // --root: state directory
	Log           string // --log: log file (engines read the last JSON error line)
	LogFormat     string // --log-format: text|json
	Debug         bool   // --debug
	SystemdCgroup bool   // --systemd-cgroup
	ConfigPath    string // --config: tenant policy (TOML)
	Tenant        string // --tenant: tenant name chosen by the operator/engine wrapper
}

// ExitError carries a process exit status through the CLI without printing an
// error message (the container's own exit code, for run and exec).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// validateID refuses ids that could escape the state directory or confuse tools: the one
// rule the policy applies too (hardening.CheckContainerID).
func validateID(id string) error { return hardening.CheckContainerID(id) }

// stateRoot returns the absolute state root, creating it (0700) if needed.
func (g *Global) stateRoot() (string, error) {
	root := g.Root
	if root == "" {
		root = DefaultRoot
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("--root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return "", fmt.Errorf("--root %q: cannot create state directory: %w", abs, err)
	}
	return abs, nil
}

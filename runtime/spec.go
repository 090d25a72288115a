package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer/specconv"
)

// Spec writes a starter config.json into bundle: runc's example, adjusted to
// what the tenant policy will enforce anyway (read-only root, no terminal
// unless an engine passes a console socket), so it runs unchanged.
func Spec(bundle string, rootless bool) error {
	if bundle == "" {
		bundle = "."
	}
	path := filepath.Join(bundle, "config.json")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; remove it first", path)
	}
	s := specconv.Example()
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "echo hello from tenantrun"}
	s.Root.Readonly = true
	if rootless {
		specconv.ToRootless(s)
	}
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

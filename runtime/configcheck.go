package runtime

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// ConfigCheck loads the operator's configuration (--config) exactly as create does (the
// strict parse that names an unknown or bad key, the tenants' ID ranges assigned and
// checked against each other) and prints what it found. The error is the one every
// create would fail with: check a new file with it before putting it in place.
func ConfigCheck(g *Global, w io.Writer) error {
	path := g.ConfigPath
	if path == "" {
		path = DefaultConfig
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		fmt.Fprintf(w, "%s: no such file; the built-in configuration applies (docs/config.md)\n", path)
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cfg.Tenants))
	for n := range cfg.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%s: OK, %d tenants\n", path, len(names))
	for _, n := range names {
		t := cfg.Tenants[n]
		var notes []string
		if t.Trusted {
			notes = append(notes, "trusted: no policy")
		} else {
			notes = append(notes, "mode "+string(t.EffectiveMode()))
			if t.Network.Enabled {
				notes = append(notes, "network policy")
			} else {
				notes = append(notes, "no network policy")
			}
		}
		fmt.Fprintf(w, "  %-20s uids %s gids %s (%s)\n", n, t.UIDs, t.GIDs, strings.Join(notes, ", "))
	}
	return nil
}

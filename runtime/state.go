package runtime

import (
	"encoding/json"
	"io"
)

// State prints the OCI state of a container as JSON.
func State(g *Global, id string, w io.Writer) error {
	h, err := open(g, id)
	if err != nil {
		return err
	}
	defer h.close()
	st, err := h.c.OCIState()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

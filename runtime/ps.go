package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// Ps lists the processes of a container: `--format json` prints the host pids
// (what containerd's shim reads); `table` runs ps(1) with psArgs and keeps the
// container's rows.
func Ps(g *Global, id, format string, psArgs []string, w io.Writer) error {
	h, err := open(g, id)
	if err != nil {
		return err
	}
	pids, err := h.c.Processes()
	h.close()
	if err != nil {
		return err
	}
	switch format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		return json.NewEncoder(w).Encode(pids)
	case "", "table":
	default:
		return fmt.Errorf("--format %q: must be table or json", format)
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("running ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 0 {
		return nil
	}
	pidCol := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return fmt.Errorf("ps output has no PID column")
	}
	fmt.Fprintln(w, lines[0])
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= pidCol {
			continue
		}
		if p, err := strconv.Atoi(f[pidCol]); err == nil && want[p] {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

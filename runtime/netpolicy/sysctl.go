package netpolicy

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// SetSysctls writes net sysctls into the network namespace nsFD from a thread that joins
// it (/proc/sys/net shows the namespace of the thread that opens it). The thread is never
// returned to the Go scheduler: it ends with the goroutine, so no other code runs in the
// container's namespace. Keys are checked (net.*, no "..", no "/") before any write.
func SetSysctls(nsFD int, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		if !strings.HasPrefix(k, "net.") || strings.Contains(k, "..") || strings.Contains(k, "/") {
			return fmt.Errorf("sysctl %q: not a net sysctl", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("joining the container's network namespace: %w", err)
			return
		}
		for _, k := range keys {
			p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
			if err := os.WriteFile(p, []byte(kv[k]), 0); err != nil {
				done <- fmt.Errorf("sysctl %s = %q in the container's network namespace: %w", k, kv[k], err)
				return
			}
		}
		done <- nil
	}()
	return <-done
}

package testutil

import (
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// InNetns runs f on a thread in the network namespace at path (a socket belongs to the
// namespace its thread was in when it was made). The thread never returns to the Go
// scheduler: it ends with the goroutine, so nothing else runs in that namespace.
func InNetns(t testing.TB, path string, f func()) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

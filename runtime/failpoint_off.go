//go:build !failpoints

package runtime

// The product binary has no failpoints (see failpoint.go, built with -tags failpoints for
// the reliability tests): these are no-ops the compiler removes.

func failpoint(string) {}

func failpointLeakFD() {}

func failpointNoNftables() error { return nil }

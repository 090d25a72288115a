//go:build cgo

package profiles

import (
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// syscallKnown reports whether libseccomp (the library libcontainer compiles the filter with)
// knows name on at least one of arches. libcontainer silently ignores names it cannot
// resolve, so an unknown name here is a profile bug (a typo would silently deny the call).
func syscallKnown(name string, arches []string) bool {
	for _, a := range arches {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			continue
		}
		if _, err := libseccomp.GetSyscallFromNameByArch(name, arch); err == nil {
			return true
		}
	}
	return false
}

package runtime

import (
	"slices"

	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/tenantrun/tenantrun/runtime/bindpin"
)

// compatSpec smooths over places where libcontainer v1.5 is stricter than
// the runtime spec and than runc 1.1 (which engines' and the OCI validation
// suite's bundles were written against). Nothing here widens what a container
// may do.
func compatSpec(s *specs.Spec) {
	if s.Linux != nil {
		// A FIFO has no device number; libcontainer refuses one that names it.
		for i := range s.Linux.Devices {
			if d := &s.Linux.Devices[i]; d.Type == "p" && (d.Major != 0 || d.Minor != 0) {
				logrus.Debugf("linux.devices[%d]: ignoring major/minor of FIFO %s", i, d.Path)
				d.Major, d.Minor = 0, 0
			}
		}
		// libcontainer closes the init's leftover file descriptors after the
		// container's seccomp filter is loaded, and that step uses statx on
		// /proc: a profile that never mentions statx (written before glibc
		// used it) would make every start fail with ENOSYS. statx reveals no
		// more than stat/newfstatat, which every such profile allows.
		if sc := s.Linux.Seccomp; sc != nil && sc.DefaultAction != specs.ActAllow && sc.DefaultAction != specs.ActLog {
			mentioned := false
			for _, r := range sc.Syscalls {
				if slices.Contains(r.Names, "statx") {
					mentioned = true
					break
				}
			}
			if !mentioned {
				sc.Syscalls = append(sc.Syscalls, specs.LinuxSyscall{Names: []string{"statx"}, Action: specs.ActAllow})
			}
		}
	}
	// Bind mounts take no filesystem data; runc 1.1 ignored such options,
	// libcontainer 1.5 refuses the mount.
	known := specconv.KnownMountOptions()
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if !bindpin.IsBind(*m) {
			continue
		}
		kept := m.Options[:0:0]
		for _, o := range m.Options {
			if slices.Contains(known, o) {
				kept = append(kept, o)
			} else {
				logrus.Debugf("mounts[%d]: ignoring option %q of a bind mount", i, o)
			}
		}
		m.Options = kept
	}
}

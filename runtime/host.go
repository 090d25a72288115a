package runtime

import (
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// cleanupSidecar removes what tenantrun itself set up on the host for a
// container: its cgroup if libcontainer never got to own it (crash), mounts
// tenantrun made (idmapped rootfs…), and the tenant's parent cgroup once empty.
func cleanupSidecar(s *sidecar) {
	if s == nil {
		return
	}
	if s.CgroupsPath != "" {
		destroyCgroup(s.CgroupsPath, s.Systemd)
	}
	for i := len(s.Mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(s.Mounts[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			logrus.Warnf("unmounting %s: %v", s.Mounts[i], err)
		}
	}
	if s.WorkDir != "" {
		if err := pinCleanup(s.WorkDir); err != nil {
			logrus.Warnf("removing pinned binds of %s: %v", s.WorkDir, err)
		}
		if err := idmapCleanup(s.WorkDir); err != nil {
			logrus.Warnf("removing %s: %v", s.WorkDir, err)
		}
	}
	releaseTenantParent(s)
}

// destroyCgroup kills every process left in a cgroup and removes it.
func destroyCgroup(path string, systemd bool) {
	m, err := manager.New(&cgroups.Cgroup{Path: path, Systemd: systemd, Resources: &cgroups.Resources{}})
	if err != nil {
		logrus.Debugf("cgroup %s: %v", path, err)
		return
	}
	if !m.Exists() {
		return
	}
	_ = m.Freeze(cgroups.Frozen)
	if pids, err := m.GetAllPids(); err == nil {
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	_ = m.Freeze(cgroups.Thawed)
	if err := m.Destroy(); err != nil {
		logrus.Warnf("removing cgroup %s: %v", path, err)
	}
}

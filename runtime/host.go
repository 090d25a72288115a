package runtime

import (
	"fmt"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/runtime/bindpin"
	"github.com/tenantrun/tenantrun/runtime/idmap"
	"github.com/tenantrun/tenantrun/runtime/record"
	"github.com/tenantrun/tenantrun/runtime/tenantcg"
)

// cleanupRecord removes what tenantrun itself set up on the host for a
// container: its cgroup if libcontainer never got to own it (crash), mounts
// tenantrun made (idmapped rootfs…), and the tenant's parent cgroup once empty.
func cleanupRecord(s *record.Record) {
	if s == nil {
		return
	}
	if s.CgroupsPath != "" {
		destroyCgroup(s.CgroupsPath, s.Systemd, s.Tenant)
	}
	for i := len(s.Mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(s.Mounts[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			logrus.Warnf("unmounting %s: %v", s.Mounts[i], err)
		}
	}
	if s.WorkDir != "" {
		if err := bindpin.Cleanup(s.WorkDir); err != nil {
			logrus.Warnf("removing pinned binds of %s: %v", s.WorkDir, err)
		}
		if err := idmap.Cleanup(s.WorkDir); err != nil {
			logrus.Warnf("removing %s: %v", s.WorkDir, err)
		}
	}
	tenantcg.Release(s.CgroupParent, s.Systemd)
}

// destroyCgroup kills every process left in a cgroup and removes it.
func destroyCgroup(path string, systemd bool, tenant string) {
	cg, err := cgroupConfigOf(path, systemd, tenant)
	if err != nil {
		logrus.Warnf("cgroup %s: %v", path, err)
		return
	}
	m, err := manager.New(cg)
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

// cgroupConfigOf is the libcontainer cgroup config of a recorded cgroupsPath, as
// libcontainer's specconv builds it: a Path for cgroupfs; for systemd the three parts
// "slice:prefix:name" as Parent, ScopePrefix and Name, from which the systemd manager
// derives the scope unit "<prefix>-<name>.scope" it stops (a Path alone would name the
// unit "-.scope" and miss the container's). A systemd record whose prefix does not name
// tenant (one written before scope names carried the tenant, "tenantrun-<id>.scope",
// which another tenant's container of the same id may own) is refused: stopping that
// unit could stop another tenant's container.
func cgroupConfigOf(path string, systemd bool, tenant string) (*cgroups.Cgroup, error) {
	cg := &cgroups.Cgroup{Systemd: systemd, Resources: &cgroups.Resources{}}
	if !systemd {
		cg.Path = path
		return cg, nil
	}
	parts := strings.Split(path, ":")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, fmt.Errorf("systemd cgroupsPath must be slice:prefix:name")
	}
	if tenant == "" || !strings.HasSuffix(parts[1], "-"+hardening.SystemdEscapeDash(tenant)) {
		return nil, fmt.Errorf("scope prefix %q does not name the container's tenant: its scope unit is left alone", parts[1])
	}
	cg.Parent, cg.ScopePrefix, cg.Name = parts[0], parts[1], parts[2]
	return cg, nil
}

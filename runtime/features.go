package runtime

import (
	"encoding/json"
	"io"

	"github.com/opencontainers/runc/libcontainer/capabilities"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/opencontainers/selinux/go-selinux"

	"github.com/tenantrun/tenantrun/runtime/apparmor"
)

// Features prints the runtime-spec features document (containerd reads it).
// It states what this runtime implements; the tenant policy may still refuse
// a feature for a given bundle (intelRdt, netDevices and hooks always are,
// unless an operator allowlists a hook). AppArmor and SELinux are reported as the
// host has them.
func Features(version, commit string, w io.Writer) error {
	t, f := true, false
	// What the host enforces, as the policy engine asks it: a profile or label is only
	// handed on where the kernel applies it.
	aa, se := apparmor.Enabled(), selinux.GetEnabled()
	feat := features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         configs.KnownHookNames(),
		MountOptions:  specconv.KnownMountOptions(),
		Annotations: map[string]string{
			"io.github.tenantrun.version": version,
			"io.github.tenantrun.commit":  commit,
			"io.github.tenantrun.policy":  "every bundle is rewritten or refused by the tenant policy",
		},
		PotentiallyUnsafeConfigAnnotations: []string{"bundle", "org.systemd.property.", "org.criu.config", "run.oci.", "io.containers.trace-syscall"},
		Linux: &features.Linux{
			Namespaces:   specconv.KnownNamespaces(),
			Capabilities: capabilities.KnownCapabilities(),
			Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: &t, SystemdUser: &f, Rdma: &t},
			Apparmor:     &features.Apparmor{Enabled: &aa},
			Selinux:      &features.Selinux{Enabled: &se},
			IntelRdt:     &features.IntelRdt{Enabled: &f},
			NetDevices:   &features.NetDevices{Enabled: &f},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &t},
			},
		},
	}
	if seccomp.Enabled {
		major, minor, patch := seccomp.Version()
		feat.Annotations["io.github.seccomp.libseccomp.version"] = itoa(int(major)) + "." + itoa(int(minor)) + "." + itoa(int(patch))
		feat.Linux.Seccomp = &features.Seccomp{
			Enabled:        &t,
			Actions:        seccomp.KnownActions(),
			Operators:      seccomp.KnownOperators(),
			Archs:          seccomp.KnownArchs(),
			KnownFlags:     seccomp.KnownFlags(),
			SupportedFlags: seccomp.SupportedFlags(),
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(feat)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

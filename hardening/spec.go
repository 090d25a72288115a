package hardening

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// enforceHooks refuses every hook whose path is not on the operator's allowlist and
// makes every allowlisted one run exactly as the operator declared it: hooks run as
// host root, so the bundle's args, env and timeout are replaced by the declared ones
// (docs/security.md, invariant 14). A bundle value is never merged in: LD_PRELOAD,
// LD_LIBRARY_PATH or PATH into a tenant-writable tree, or an extra --config, would run
// tenant code or tenant choices as root.
func (p *pol) enforceHooks(s *specs.Spec, cfg *Config, id string) {
	h := s.Hooks
	if h == nil {
		return
	}
	phases := []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
	}
	for _, ph := range phases {
		for i := range ph.hooks {
			hk := &ph.hooks[i] // the spec's own element: the slices share their array
			at := fmt.Sprintf("hooks.%s[%d]", ph.name, i)
			d := cfg.Defaults.HookDecl(hk.Path)
			if d == nil {
				d = p.binaryHook(cfg, hk, at)
			}
			if d == nil {
				p.refuse(at, fmt.Sprintf("hook %q runs a host program as root and is not on the operator's hooks allowlist", hk.Path))
				continue
			}
			args, err := d.ArgsFor(id, hk.Args)
			if err != nil {
				p.refuse(at, err.Error())
				continue
			}
			if !slices.Equal(hk.Args, args) {
				p.decide(at+".args", ActionOverride, hk.Args, args, "a hook runs as host root with the argv the operator declared, never the bundle's")
				hk.Args = args
			}
			if !slices.Equal(hk.Env, d.Env) {
				// Logged by name only: a bundle's env may carry secrets.
				p.decide(at+".env", ActionOverride, envNames(hk.Env), envNames(d.Env), "a hook runs as host root with the environment the operator declared, never the bundle's (LD_PRELOAD, PATH, ...)")
				hk.Env = slices.Clone(d.Env)
			}
			if !equalIntPtr(hk.Timeout, d.Timeout) {
				p.decide(at+".timeout", ActionOverride, intPtrValue(hk.Timeout), intPtrValue(d.Timeout), "a hook runs with the timeout the operator declared, never the bundle's")
				hk.Timeout = nil
				if d.Timeout != nil {
					v := *d.Timeout
					hk.Timeout = &v
				}
			}
		}
	}
}

// binaryHook is the declaration by binary that the bundle hook hk (at) names as
// /proc/<pid>/exe, asked of the kernel: the process's program must be the declared file
// itself. The hook then runs as that file's path, so what runs no longer depends on the
// pid (which a daemon restart hands to another process, maybe a tenant's). Nil when no
// declaration matches.
func (p *pol) binaryHook(cfg *Config, hk *specs.Hook, at string) *HookDecl {
	pid := ProcExePid(hk.Path)
	if pid == 0 || p.host == nil {
		return nil
	}
	for _, d := range cfg.Defaults.BinaryHookDecls() {
		if ok, err := p.host.ProcExeIs(pid, d.Binary); err == nil && ok {
			p.decide(at+".path", ActionOverride, hk.Path, d.Binary, "the hook names a running "+d.Binary+" by pid; it runs as the declared binary itself, so the pid (reused after a daemon restart) decides nothing")
			hk.Path = d.Binary
			return d
		}
	}
	return nil
}

// envNames is env's variable names, for decisions (values may be secrets).
func envNames(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		n, _, _ := strings.Cut(e, "=")
		out = append(out, n)
	}
	return out
}

func equalIntPtr(a, b *int) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// intPtrValue is *v for a decision, or nil ("none").
func intPtrValue(v *int) any {
	if v == nil {
		return nil
	}
	return *v
}

// runtimeAnnotationPrefixes change what a runtime does (runc, crun, podman, CRI-O).
var runtimeAnnotationPrefixes = []string{
	"org.systemd.property.", "org.criu.", "run.oci.", "io.containers.trace-syscall",
	"org.opencontainers.runc.", "runc.", "io.kubernetes.cri-o.Devices", "io.kubernetes.cri-o.seccomp",
	"io.kubernetes.cri-o.userns-mode", "io.kubernetes.cri-o.umask", "io.kubernetes.cri-o.ShmSize",
	"io.kubernetes.cri-o.cgroup2-mount-hierarchy-rw", "io.kubernetes.cri-o.UnifiedCgroup",
	"io.kubernetes.cri-o.Devices", "io.kubernetes.cri-o.LinkLogs", "io.kubernetes.cri-o.PlatformRuntimePath",
	"com.github.containers.", "io.github.containers.", "tenantrun.",
}

// enforceAnnotations refuses runtime-behaviour annotations.
func (p *pol) enforceAnnotations(s *specs.Spec, cfg *Config) {
	keys := make([]string, 0, len(s.Annotations))
	for k := range s.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, pre := range append(runtimeAnnotationPrefixes, cfg.Defaults.RefusedAnnotations...) {
			if strings.HasPrefix(k, pre) {
				p.refuse("annotations", fmt.Sprintf("%q changes runtime behaviour (prefix %q)", k, pre))
				break
			}
		}
	}
}

// enforceRoot: the rootfs must be the bundle's or in engine storage; read-only.
func (p *pol) enforceRoot(s *specs.Spec, req Request) {
	if s.Root == nil || s.Root.Path == "" {
		p.refuse("root.path", "missing")
		return
	}
	rp := s.Root.Path
	abs := rp
	if !filepath.IsAbs(rp) {
		abs = path.Join(req.Bundle, rp)
	}
	abs = path.Clean(abs)
	if abs == "/" {
		p.refuse("root.path", "the host's / as rootfs")
		return
	}
	var base string
	switch {
	case req.Bundle != "" && abs != path.Clean(req.Bundle) && within(abs, path.Clean(req.Bundle)):
		base = path.Clean(req.Bundle)
	default:
		for _, r := range req.Config.Defaults.EngineRoots {
			if abs != r && within(abs, r) {
				base = r
				break
			}
		}
	}
	if base == "" {
		p.refuse("root.path", fmt.Sprintf("%q is outside the bundle and the engines' storage", rp))
	} else if why := engineRootCheck(base, abs, req); why != "" {
		p.refuse("root.path", why)
	} else {
		rel := strings.TrimPrefix(strings.TrimPrefix(abs, base), "/")
		if _, kind, err := req.Host.ResolveBeneath(base, rel); err != nil {
			p.refuse("root.path", fmt.Sprintf("%q does not resolve inside %s: %v", rp, base, err))
		} else if kind != KindDir {
			p.refuse("root.path", fmt.Sprintf("%q is a %s, not a directory", rp, kind))
		}
	}
	if !s.Root.Readonly {
		s.Root.Readonly = true
		p.decide("root.readonly", ActionOverride, false, true, "the image stays read-only; scratch space is tmpfs")
	}
}

// engineRootCheck applies the engine layouts to a root.path outside the bundle.
func engineRootCheck(base, abs string, req Request) string {
	if req.Bundle != "" && (base == path.Clean(req.Bundle) || abs == path.Clean(req.Bundle)) {
		// Inside the bundle, or the bundle directory itself (root.path "."; accepted only
		// when the bundle lies in engine storage): the engine named it for this container.
		return ""
	}
	return checkEngineRoot(abs, req)
}

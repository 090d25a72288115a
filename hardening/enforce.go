package hardening

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pol accumulates the decisions and refusals of one Enforce call.
type pol struct {
	decisions []Decision
	refusals  []Refusal
	// joinedSameTenant: the spec joins a namespace of one of the tenant's containers
	// (a pod member); set by enforceNamespaces, read by checkBind.
	joinedSameTenant bool
	// host, when set, says which LSMs the host enforces (lsmValue); nil for an exec's
	// process, whose container was judged on this host.
	host Host
}

func (p *pol) decide(path string, a Action, old, new any, reason string) {
	p.decisions = append(p.decisions, Decision{Path: path, Action: a, Old: old, New: new, Reason: reason})
}

func (p *pol) refuse(path, reason string) {
	p.refuseIn(path, reason, "", "", "")
}

// refuseIn refuses item, a member of a group of similar refusals that the message may
// list in one clause headed groupPath (see summarizeRefusals).
func (p *pol) refuseIn(path, reason, groupPath, group, item string) {
	p.refusals = append(p.refusals, Refusal{Path: path, Reason: reason, groupPath: groupPath, group: group, item: item})
	p.decisions = append(p.decisions, Decision{Path: path, Action: ActionRefuse, Reason: reason})
}

func (p *pol) err() error {
	if len(p.refusals) == 0 {
		return nil
	}
	return &RefusedError{Refusals: p.refusals}
}

// Enforce applies the tenant's policy to a bundle's config. It never mutates
// req.Spec. It returns the rewritten spec and every decision, or a *RefusedError (with
// the decisions made so far, refusals included, for the audit log).
//
// For a tenant with Trusted set, Enforce only validates (Validate) and returns an
// unmodified copy. For Mode "audit" it behaves as in enforce mode: the runtime runs the
// original bundle and logs the decisions.
func Enforce(req Request) (*specs.Spec, []Decision, error) {
	if req.Spec == nil {
		return nil, nil, &RefusedError{Refusals: []Refusal{{Path: "(document)", Reason: "no config"}}}
	}
	if req.Tenant == nil || req.Config == nil || req.Host == nil {
		return nil, nil, errors.New("hardening: Enforce needs Tenant, Config and Host")
	}
	if !req.Tenant.Trusted && req.Tenant.UIDs.Size == 0 {
		return nil, nil, &RefusedError{Refusals: []Refusal{{Path: "linux.uidMappings",
			Reason: fmt.Sprintf("tenant %s has no id range yet (uid_range = \"auto\" was not allocated)", req.Tenant.Name)}}}
	}
	if req.Tenant.Trusted {
		s := deepCopy(req.Spec)
		if err := Validate(s); err != nil {
			return nil, nil, err
		}
		return s, nil, nil
	}
	// The bundle's seccomp section is only read (enforceSeccomp always replaces it with a
	// fresh copy of the tenant's profile), so it is not copied: it is most of the bytes.
	s := copySpecExceptSeccomp(req.Spec)
	p := &pol{host: req.Host}
	if r := checkOCIVersion(s.Version); r != "" {
		p.refuse("ociVersion", r)
	}
	if !validContainerID(req.ContainerID) {
		p.refuse("containerID", fmt.Sprintf("container id %q must be 1-128 characters of [A-Za-z0-9_.-] and not . or ..", req.ContainerID))
	} else if LayoutWords[req.ContainerID] {
		p.refuse("containerID", fmt.Sprintf("container id %q is a directory name of engine storage layouts; it would name engine directories, not a container's", req.ContainerID))
	}
	for _, k := range sandboxAnnotations {
		if v := s.Annotations[k]; v != "" && LayoutWords[v] {
			p.refuse("annotations", fmt.Sprintf("%s %q is a directory name of engine storage layouts", k, v))
		}
	}
	if s.Solaris != nil || s.Windows != nil || s.VM != nil || s.ZOS != nil {
		p.refuse(otherPlatform(s), "only linux containers are supported")
	}
	if s.Process == nil {
		p.refuse("process", "missing")
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	// Every field whose absence means "unrestricted" gets the tenant's value first
	// (absent.go); the rules below then judge it as any present value.
	p.fillAbsent(&absentCtx{s: s, pr: s.Process, base: "process", res: s.Linux.Resources, t: req.Tenant, cfg: req.Config, id: req.ContainerID, host: req.Host},
		scopeProcess, scopeSpec, scopeResources)
	p.enforceHooks(s, req.Config, req.ContainerID)
	p.enforceAnnotations(s, req.Config)
	p.enforceRoot(s, req)
	p.enforceIDMaps(s, req.Tenant)
	p.enforceNamespaces(s, req)
	p.enforceMounts(s, req)
	if s.Process != nil {
		p.enforceProcess("process", s.Process, req.Tenant, req.Config, req.ConsoleSocket, s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	p.enforceLinuxMisc(s, req.Tenant)
	p.enforceSeccomp(s, req.Tenant, req.Config)
	p.enforceCgroups(s, req)
	if err := p.err(); err != nil {
		return nil, p.decisions, err
	}
	return s, p.decisions, nil
}

// Validate is the check a trusted tenant's bundle gets: structurally sound and a
// supported ociVersion; nothing is rewritten.
func Validate(s *specs.Spec) error {
	p := &pol{}
	if r := checkOCIVersion(s.Version); r != "" {
		p.refuse("ociVersion", r)
	}
	if s.Root == nil || s.Root.Path == "" {
		p.refuse("root.path", "missing")
	}
	if s.Process == nil {
		p.refuse("process", "missing")
	}
	return p.err()
}

func otherPlatform(s *specs.Spec) string {
	switch {
	case s.Solaris != nil:
		return "solaris"
	case s.Windows != nil:
		return "windows"
	case s.VM != nil:
		return "vm"
	}
	return "zos"
}

// MaxContainerIDLen is the longest container id tenantrun accepts (engines use 64).
const MaxContainerIDLen = 128

// CheckContainerID is the one rule for a container id, for every verb and the policy: 1 to
// 128 characters of [A-Za-z0-9_.-], never containing "..", so an id is always one path
// component of the state root and of the runtime's host directories.
func CheckContainerID(id string) error {
	switch {
	case id == "":
		return errors.New("container id cannot be empty")
	case len(id) > MaxContainerIDLen:
		return fmt.Errorf("container id is too long (%d characters; at most %d)", len(id), MaxContainerIDLen)
	case id == "." || strings.Contains(id, ".."):
		return fmt.Errorf("invalid container id %q: must not be \".\" or contain \"..\"", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("invalid container id %q: only letters, digits, '_', '-' and '.' are allowed", id)
		}
	}
	return nil
}

func validContainerID(id string) bool { return CheckContainerID(id) == nil }

func copySpecExceptSeccomp(in *specs.Spec) *specs.Spec {
	tmp := *in
	var sc *specs.LinuxSeccomp
	if in.Linux != nil {
		l := *in.Linux
		sc, l.Seccomp = l.Seccomp, nil
		tmp.Linux = &l
	}
	out := deepCopy(&tmp)
	if sc != nil {
		out.Linux.Seccomp = sc // read-only; replaced by enforceSeccomp
	}
	return out
}

// EnforceProcess applies the process rules (capabilities, user, cwd, args, env,
// rlimits, scheduler, I/O priority, LSM labels, terminal, noNewPrivileges, oom score)
// to an exec process.json. It never mutates req.Process. For a trusted tenant the
// process is returned unchanged.
func EnforceProcess(req ProcessRequest) (*specs.Process, []Decision, error) {
	if req.Process == nil {
		return nil, nil, &RefusedError{Refusals: []Refusal{{Path: "process", Reason: "missing"}}}
	}
	if req.Tenant == nil || req.Config == nil {
		return nil, nil, errors.New("hardening: EnforceProcess needs Tenant and Config")
	}
	pr := deepCopy(req.Process)
	if req.Tenant.Trusted {
		return pr, nil, nil
	}
	p := &pol{}
	p.fillAbsent(&absentCtx{pr: pr, base: "process", t: req.Tenant, cfg: req.Config, id: req.ContainerID}, scopeProcess)
	var um, gm []specs.LinuxIDMapping
	if req.Spec != nil && req.Spec.Linux != nil {
		um, gm = req.Spec.Linux.UIDMappings, req.Spec.Linux.GIDMappings
	}
	p.enforceProcess("process", pr, req.Tenant, req.Config, req.ConsoleSocket, um, gm)
	if err := p.err(); err != nil {
		return nil, p.decisions, err
	}
	return pr, p.decisions, nil
}

package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerProfile is the union of the OCI linux.seccomp object and Docker's profile format
// (moby profiles/seccomp/default.json: archMap, includes/excludes, comment). Unknown fields are
// refused.
type dockerProfile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []dockerArchMap          `json:"archMap,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Syscalls         []dockerSyscall          `json:"syscalls,omitempty"`
	Comment          string                   `json:"comment,omitempty"`
}

type dockerArchMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type dockerSyscall struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
	Comment  string                   `json:"comment,omitempty"`
	Includes *dockerFilter            `json:"includes,omitempty"`
	Excludes *dockerFilter            `json:"excludes,omitempty"`
}

type dockerFilter struct {
	Arches    []string `json:"arches,omitempty"`
	Caps      []string `json:"caps,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// Parse decodes a profile in OCI or Docker JSON format (unknown fields refused) and validates it.
//
// Docker-format specifics are resolved conservatively for tenants: archMap contributes only the
// native architecture's entry and never its sub-architectures (listing i386/x32 would open their
// syscall tables); a rule whose "includes" needs capabilities is dropped (tenants do not hold
// those capabilities); a rule whose "includes.arches" does not name this architecture is dropped;
// "excludes" and "minKernel" are ignored (the rule is kept).
func Parse(data []byte) (*specs.LinuxSeccomp, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d dockerProfile
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("decoding profile: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding profile: trailing data after the JSON object")
	}
	p := &specs.LinuxSeccomp{
		DefaultAction:    d.DefaultAction,
		DefaultErrnoRet:  d.DefaultErrnoRet,
		Architectures:    d.Architectures,
		Flags:            d.Flags,
		ListenerPath:     d.ListenerPath,
		ListenerMetadata: d.ListenerMetadata,
	}
	native := NativeArch()
	if len(p.Architectures) == 0 {
		for _, m := range d.ArchMap {
			if m.Arch == native {
				p.Architectures = append(p.Architectures, m.Arch)
			}
		}
	}
	for i, s := range d.Syscalls {
		names := s.Names
		if s.Name != "" {
			if len(names) > 0 {
				return nil, fmt.Errorf("syscalls[%d]: both name and names set", i)
			}
			names = []string{s.Name}
		}
		if s.Includes != nil {
			if len(s.Includes.Caps) > 0 {
				continue
			}
			if len(s.Includes.Arches) > 0 && !containsGoArch(s.Includes.Arches) {
				continue
			}
		}
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names:    names,
			Action:   s.Action,
			ErrnoRet: s.ErrnoRet,
			Args:     s.Args,
		})
	}
	if p.Flags == nil {
		// runc's specconv turns a nil flags list into SECCOMP_FILTER_FLAG_SPEC_ALLOW (speculative
		// store bypass mitigation off for the container). TSYNC is accepted and ignored by
		// libcontainer and, unlike an empty list, survives a JSON round trip (omitempty).
		p.Flags = []specs.LinuxSeccompFlag{FlagTsync}
	}
	if err := Validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

// FlagTsync is the filter flag every loaded profile carries so that runc never applies its
// SPEC_ALLOW default; libcontainer accepts and ignores it.
const FlagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// Docker's includes.arches use Go/uname-ish names ("amd64", "x86_64", "x32", "arm64", ...).
func containsGoArch(arches []string) bool {
	for _, a := range arches {
		switch {
		case a == goruntime.GOARCH:
			return true
		case goruntime.GOARCH == "amd64" && a == "x86_64":
			return true
		case goruntime.GOARCH == "arm64" && a == "aarch64":
			return true
		}
	}
	return false
}

package hardening

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	// MaxDocumentBytes bounds config.json and process.json.
	MaxDocumentBytes = 16 << 20
	// MaxNesting bounds the JSON nesting depth (the spec needs about 8).
	MaxNesting = 32
	// SupportedOCIVersion is the newest runtime-spec version the policy was reviewed for.
	SupportedOCIVersion = "1.3.0"
)

var (
	specType    = reflect.TypeOf(specs.Spec{})
	processType = reflect.TypeOf(specs.Process{})
)

// DecodeSpec decodes a bundle's config.json strictly: unknown fields (matched
// case-sensitively), duplicate keys, trailing data, nesting deeper than MaxNesting,
// documents over MaxDocumentBytes and an ociVersion newer than 1.3.x are refused with
// their JSON path. Syntax errors give the byte offset.
func DecodeSpec(data []byte) (*specs.Spec, error) {
	if err := strictCheck(data, specType); err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, typeError(err)
	}
	if r := checkOCIVersion(s.Version); r != "" {
		return nil, &RefusedError{Refusals: []Refusal{{Path: "ociVersion", Reason: r}}}
	}
	return &s, nil
}

// DecodeProcess decodes an exec process.json with the same strictness as DecodeSpec.
// Paths in errors are relative to the process object (e.g. "capabilities.bounding").
func DecodeProcess(data []byte) (*specs.Process, error) {
	if err := strictCheck(data, processType); err != nil {
		return nil, err
	}
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, typeError(err)
	}
	return &p, nil
}

func typeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &RefusedError{Refusals: []Refusal{{Path: orDoc(te.Field), Reason: fmt.Sprintf("wrong type: JSON %s where %s expected (offset %d)", te.Value, te.Type, te.Offset)}}}
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// checkOCIVersion returns a refusal reason or "".
func checkOCIVersion(v string) string {
	if v == "" {
		return "missing ociVersion"
	}
	maj, min, ok := parseMajorMinor(v)
	if !ok {
		return fmt.Sprintf("unparsable ociVersion %q", v)
	}
	if maj != 1 || min > 3 {
		return fmt.Sprintf("ociVersion %s is newer than the supported %s (fields it adds would be ignored)", v, SupportedOCIVersion)
	}
	return ""
}

func parseMajorMinor(v string) (int, int, bool) {
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return 0, 0, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || p == "" {
			return 0, 0, false
		}
		n[i] = x
	}
	return n[0], n[1], true
}

// strictCheck walks the raw JSON token stream against the Go type the document
// decodes into, refusing unknown fields, duplicate keys and absurd nesting.
func strictCheck(data []byte, t reflect.Type) error {
	if len(data) > MaxDocumentBytes {
		return &RefusedError{Refusals: []Refusal{{Path: "(document)", Reason: fmt.Sprintf("%d bytes exceeds the %d byte limit", len(data), MaxDocumentBytes)}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	fillFieldCache()
	w := &walker{dec: dec}
	if err := w.value(t, "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("invalid JSON: trailing data after the document (offset %d)", dec.InputOffset())
		}
		return fmt.Errorf("invalid JSON at offset %d: %v", dec.InputOffset(), err)
	}
	if len(w.refusals) > 0 {
		return &RefusedError{Refusals: w.refusals}
	}
	return nil
}

type walker struct {
	dec      *json.Decoder
	refusals []Refusal
}

func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("invalid JSON: unexpected end of input (offset %d)", w.dec.InputOffset())
		}
		return nil, fmt.Errorf("invalid JSON at offset %d: %v", w.dec.InputOffset(), err)
	}
	return tok, nil
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// fieldIndex maps JSON names to struct fields for a type (cached).
var fieldCache = map[reflect.Type]map[string]reflect.Type{}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache[t]; ok {
		return m
	}
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if f.Anonymous && f.Tag.Get("json") == "" {
			// An embedded struct's fields are promoted, as encoding/json does
			// (e.g. LinuxWeightDevice embeds LinuxBlockIODevice's major/minor).
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, dup := m[k]; !dup {
						m[k] = v
					}
				}
				continue
			}
		}
		if tag := f.Tag.Get("json"); tag != "" {
			n := strings.Split(tag, ",")[0]
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		m[name] = f.Type
	}
	fieldCache[t] = m
	return m
}

// fillFieldCache fills the cache on the first decode (before any concurrent use: fuzzing,
// benchmarks). Not an init(): every `tenantrun init` child links this package, and filling it
// there cost 0.4-0.6 ms and 1,200 allocations per container start for nothing.
var fillFieldCache = sync.OnceFunc(func() {
	var fill func(t reflect.Type, seen map[reflect.Type]bool)
	fill = func(t reflect.Type, seen map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for _, ft := range jsonFields(t) {
			fill(ft, seen)
		}
	}
	seen := map[reflect.Type]bool{}
	fill(specType, seen)
	fill(processType, seen)
})

// value consumes one JSON value of Go type t at path.
func (w *walker) value(t reflect.Type, path string, depth int) error {
	if depth > MaxNesting {
		return &RefusedError{Refusals: []Refusal{{Path: orDoc(path), Reason: fmt.Sprintf("nesting deeper than %d", MaxNesting)}}}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && scalar(t.Elem()) {
		// []string and the like hold no fields to check: consume the value in one
		// go (seccomp name lists are most of a config's tokens).
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return fmt.Errorf("invalid JSON at offset %d: %v", w.dec.InputOffset(), err)
		}
		return nil
	}
	tok, err := w.token()
	if err != nil {
		return err
	}
	switch d := tok.(type) {
	case json.Delim:
		switch d {
		case '{':
			return w.object(t, path, depth)
		case '[':
			var elem reflect.Type
			if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
				elem = t.Elem()
			}
			for i := 0; w.dec.More(); i++ {
				p := fmt.Sprintf("%s[%d]", path, i)
				if elem == nil {
					if err := w.skip(p, depth+1); err != nil {
						return err
					}
					continue
				}
				if err := w.value(elem, p, depth+1); err != nil {
					return err
				}
			}
			_, err := w.token() // ']'
			return err
		}
	}
	return nil
}

func scalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func orDoc(p string) string {
	if p == "" {
		return "(document)"
	}
	return p
}

func (w *walker) object(t reflect.Type, path string, depth int) error {
	seen := map[string]bool{}
	var fields map[string]reflect.Type
	isStruct := t.Kind() == reflect.Struct
	if isStruct {
		fields = jsonFields(t)
	}
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			w.refusals = append(w.refusals, Refusal{Path: joinPath(path, key), Reason: "duplicate key"})
		}
		seen[key] = true
		switch {
		case isStruct:
			ft, ok := fields[key]
			if !ok {
				w.refusals = append(w.refusals, Refusal{Path: joinPath(path, key), Reason: "unknown field (the policy is an allowlist)"})
				if err := w.skip(joinPath(path, key), depth+1); err != nil {
					return err
				}
				continue
			}
			if err := w.value(ft, joinPath(path, key), depth+1); err != nil {
				return err
			}
		case t.Kind() == reflect.Map:
			if err := w.value(t.Elem(), joinPath(path, key), depth+1); err != nil {
				return err
			}
		default:
			if err := w.skip(joinPath(path, key), depth+1); err != nil {
				return err
			}
		}
	}
	_, err := w.token() // '}'
	return err
}

// skip consumes one value of any shape (bounded in depth).
func (w *walker) skip(path string, depth int) error {
	return w.value(reflect.TypeOf((*any)(nil)).Elem(), path, depth)
}

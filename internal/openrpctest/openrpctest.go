// Package openrpctest checks OpenRPC documents for tests: Validate holds
// a document against the OpenRPC meta-schema (vendored in testdata, see
// its README) and resolves its local references; Load compiles a
// document's schemas so that tests can check real results and events
// against them. Only tests import it: it brings a JSON Schema validator
// that wad and wactl do not link.
package openrpctest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/wad-project/wad/ctl"
)

//go:embed testdata/openrpc-meta-schema.json testdata/json-schema-tools-meta-schema.json
var metaSchemas embed.FS

// The locations the vendored schemas are known by: their $id, and for
// the OpenRPC one also the URL rpc.discover's result refers to.
const (
	openrpcID     = "https://meta.open-rpc.org/"
	openrpcRawURL = "https://raw.githubusercontent.com/open-rpc/meta-schema/master/schema.json"
	jstID         = "https://meta.json-schema.tools/"
	docURL        = "urn:wad:openrpc"
)

// compiler returns a draft-7 compiler that knows both vendored
// meta-schemas and asserts formats. The schemas' own $schema (their
// json-schema.tools dialect of draft 7) is dropped.
func compiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	for _, r := range []struct{ file, url string }{
		{"openrpc-meta-schema.json", openrpcID},
		{"openrpc-meta-schema.json", openrpcRawURL},
		{"json-schema-tools-meta-schema.json", jstID},
		// The OpenRPC meta-schema refers to it without the slash too.
		{"json-schema-tools-meta-schema.json", strings.TrimSuffix(jstID, "/")},
	} {
		b, err := metaSchemas.ReadFile("testdata/" + r.file)
		if err != nil {
			return nil, err
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.file, err)
		}
		m := v.(map[string]any)
		delete(m, "$schema")
		if r.url != openrpcID && r.url != jstID {
			delete(m, "$id")
		}
		if err := c.AddResource(r.url, m); err != nil {
			return nil, fmt.Errorf("%s: %w", r.file, err)
		}
	}
	return c, nil
}

// Validate returns an error unless doc is an OpenRPC document that the
// meta-schema accepts and whose local $refs ("#/...") all point at
// something.
func Validate(doc []byte) error {
	c, err := compiler()
	if err != nil {
		return err
	}
	meta, err := c.Compile(openrpcID)
	if err != nil {
		return fmt.Errorf("compiling the OpenRPC meta-schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("the document is not JSON: %w", err)
	}
	if err := meta.Validate(v); err != nil {
		return fmt.Errorf("the OpenRPC meta-schema refuses the document: %w", err)
	}
	return refs(v, v, "")
}

// refs checks that every local $ref under v resolves in root.
func refs(root, v any, at string) error {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok && strings.HasPrefix(r, "#") {
			if _, err := pointer(root, r[1:]); err != nil {
				return fmt.Errorf("%s: $ref %q: %w", at, r, err)
			}
		}
		for k, e := range v {
			if err := refs(root, e, at+"/"+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := refs(root, e, at+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// pointer resolves a JSON pointer ("/a/0/b") in v.
func pointer(v any, p string) (any, error) {
	if p == "" {
		return v, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := v.(type) {
		case map[string]any:
			e, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no %q", tok)
			}
			v = e
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no element %q", tok)
			}
			v = c[i]
		default:
			return nil, fmt.Errorf("nothing under %q", tok)
		}
	}
	return v, nil
}

// Doc is an OpenRPC document whose schemas check values.
type Doc struct {
	c       *jsonschema.Compiler
	names   []string       // of methods, in the document's order
	methods map[string]int // index in methods
	notes   map[string]int // index in x-notifications
}

// Load validates doc (as Validate does) and prepares its schemas.
func Load(doc []byte) (*Doc, error) {
	if err := Validate(doc); err != nil {
		return nil, err
	}
	c, err := compiler()
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(docURL, v); err != nil {
		return nil, err
	}
	var shape struct {
		Methods       []struct{ Name string } `json:"methods"`
		Notifications []struct{ Name string } `json:"x-notifications"`
	}
	if err := json.Unmarshal(doc, &shape); err != nil {
		return nil, err
	}
	d := &Doc{c: c, methods: map[string]int{}, notes: map[string]int{}}
	for i, m := range shape.Methods {
		d.names = append(d.names, m.Name)
		d.methods[m.Name] = i
	}
	for i, n := range shape.Notifications {
		d.notes[n.Name] = i
	}
	return d, nil
}

// check validates the JSON value against the schema at pointer p.
func (d *Doc) check(p string, value []byte) error {
	s, err := d.c.Compile(docURL + "#" + p)
	if err != nil {
		return fmt.Errorf("compiling the schema at %s: %w", p, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s refuses %s: %w", p, value, err)
	}
	return nil
}

// CheckResult returns an error unless result is a valid result of
// method by the document.
func (d *Doc) CheckResult(method string, result []byte) error {
	i, ok := d.methods[method]
	if !ok {
		return fmt.Errorf("the document has no method %s", method)
	}
	return d.check(fmt.Sprintf("/methods/%d/result/schema", i), result)
}

// CheckSchema returns an error unless value is valid by the schema
// components/schemas/name.
func (d *Doc) CheckSchema(name string, value []byte) error {
	return d.check("/components/schemas/"+name, value)
}

// Methods returns the names of the document's methods in its order.
func (d *Doc) Methods() []string { return slices.Clone(d.names) }

// ListsMethods returns an error unless the document names exactly the
// methods of table, in the table's order.
func (d *Doc) ListsMethods(table []ctl.Method) error {
	var want []string
	for _, m := range table {
		want = append(want, m.Name)
	}
	if !slices.Equal(d.names, want) {
		return fmt.Errorf("the document's methods\n%q\nthe table's\n%q", d.names, want)
	}
	return nil
}

// HasNotification reports whether x-notifications describes name.
func (d *Doc) HasNotification(name string) bool {
	_, ok := d.notes[name]
	return ok
}

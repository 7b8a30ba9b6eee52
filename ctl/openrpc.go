package ctl

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The OpenRPC document (rpc.discover, wactl schema) is generated here by
// reflection over the method table's Params and Result types, so it
// describes what the daemon decodes and encodes and cannot drift from it:
//
//   - a struct's fields are its JSON fields (encoding/json's names and
//     rules: "-" skipped, embedded structs flattened); one without
//     omitempty or omitzero is required; a nil slice or map of a field
//     that is not omitted encodes as null, so such a field may be null;
//   - a named struct type is a schema in components/schemas, referenced
//     with $ref; a method's params are its params struct's fields, by
//     name;
//   - time.Time is a date-time string, []byte a base64 string,
//     json.RawMessage anything, a time.Duration integer nanoseconds;
//   - the value sets this package lists (states, reasons, event kinds,
//     finding statuses, ...) are enum schemas in components/schemas;
//   - every error code is in components/errors, and each method refers
//     to those it may answer with;
//   - the "event" notification, which OpenRPC 1.x cannot describe, is in
//     the extension field x-notifications (when events.subscribe is
//     among the methods), written like a method without a result; its
//     params, Event, are in components/schemas too.

// OpenRPCVersion is the version of the OpenRPC specification the
// document follows.
const OpenRPCVersion = "1.3.2"

// OpenRPCMetaSchema is the JSON Schema of OpenRPC documents, the schema
// of rpc.discover's result.
const OpenRPCMetaSchema = "https://raw.githubusercontent.com/open-rpc/meta-schema/master/schema.json"

// OpenRPC is an OpenRPC document in JSON: the result of rpc.discover.
type OpenRPC json.RawMessage

// MarshalJSON returns the document itself (null when empty).
func (d OpenRPC) MarshalJSON() ([]byte, error) {
	if len(d) == 0 {
		return []byte("null"), nil
	}
	return d, nil
}

// UnmarshalJSON keeps a copy of the document.
func (d *OpenRPC) UnmarshalJSON(b []byte) error {
	*d = append((*d)[:0], b...)
	return nil
}

// codeInfo is one error code as the OpenRPC document names it.
type codeInfo struct {
	code          int
	name, message string
	// protocol codes concern the request line, whatever its method:
	// they are in components/errors but in no method's errors.
	protocol bool
	// client codes come only from methods that act on a client's
	// session (a client or clients param).
	client bool
}

// errorCodes lists every error code, in the order of errors.go.
var errorCodes = []codeInfo{
	{CodeParseError, "ParseError", "the line is not JSON", true, false},
	{CodeInvalidRequest, "InvalidRequest", "JSON, but not a JSON-RPC request; a duplicate id in flight; a line over the size limit", true, false},
	{CodeMethodNotFound, "MethodNotFound", "no such method", true, false},
	{CodeInvalidParams, "InvalidParams", "bad or missing params", false, false},
	{CodeInternal, "Internal", "a bug in wad; the daemon logs it; please report it", false, false},
	{CodeSessionNotFound, "SessionNotFound", "no session for that client", false, true},
	{CodePermissionDenied, "PermissionDenied", "the caller may not do that", false, false},
	{CodeSessionNotReady, "SessionNotReady", "the session is not connected", false, true},
	{CodeBackendUnavailable, "BackendUnavailable", "the backend cannot run or do that here, or wad is shutting down", false, false},
	{CodeUpstream, "Upstream", "WhatsApp or the network refused or failed", false, true},
	{CodeTimeout, "Timeout", "the operation did not finish in time", false, false},
	{CodeLimitReached, "LimitReached", "max_sessions or another limit", false, true},
}

// enumInfo is a value set of string fields, an enum schema of
// components/schemas: its values, and where they apply (a named type,
// or fields by declaring struct and JSON name; a slice field's items).
type enumInfo struct {
	name, description string
	values            []string
	typ               reflect.Type
	fields            []enumField
}

// enumField names a field by its declaring struct and JSON name.
type enumField struct {
	in   reflect.Type
	name string
}

func fieldOf[T any](name string) enumField { return enumField{reflect.TypeFor[T](), name} }

func stateValues() []string {
	out := make([]string, len(States))
	for i, s := range States {
		out[i] = string(s)
	}
	return out
}

// enums lists the value sets ctl defines. A test holds each against the
// constants of its family in ctl's sources.
func enums() []enumInfo {
	return []enumInfo{
		{name: "State", description: "Where a session is in its life.", values: stateValues(), typ: reflect.TypeFor[State]()},
		{name: "Reason", description: "Why a session failed, disconnected or logged out; phone_offline on a connected one.",
			values: []string{ReasonQRTimeout, ReasonNetwork, ReasonStreamReplaced, ReasonClientOutdated, ReasonLoggedOut,
				ReasonStartTimeout, ReasonBrowserExited, ReasonPageCrashed, ReasonBackendError, ReasonShutdown, ReasonStopped,
				ReasonProfileLocked, ReasonMissingModule, ReasonBackendNotBuilt, ReasonConnectionLost, ReasonLogoutRequested,
				ReasonPairingRejected, ReasonStoreError, ReasonTemporarilyBanned, ReasonMainDeviceGone, ReasonPhoneOffline,
				ReasonMemoryLimit},
			fields: []enumField{fieldOf[Session]("reason")}},
		{name: "EventKind", description: "The kind of an event.", values: Kinds,
			fields: []enumField{fieldOf[Event]("kind"), fieldOf[SubscribeParams]("kinds"), fieldOf[DeadLetter]("kind"), fieldOf[WebhookInfo]("kinds")}},
		{name: "MediaKind", description: "The kind of a media file.", values: MediaKinds,
			fields: []enumField{fieldOf[Media]("kind"), fieldOf[MediaInfo]("kind"), fieldOf[DownloadResult]("kind")}},
		{name: "OutgoingState", description: "Where an outgoing message is, in the order reached; failed ends it anywhere before sent.",
			values: []string{OutQueued, OutSent, OutDelivered, OutRead, OutPlayed, OutFailed},
			fields: []enumField{fieldOf[MessageStatus]("state"), fieldOf[SendResult]("state")}},
		{name: "FailReason", description: "Why an outgoing message failed.",
			values: []string{FailReset, FailLoggedOut, FailRejected, FailUpstream},
			fields: []enumField{fieldOf[MessageStatus]("reason")}},
		{name: "ChatPresenceState", description: "What someone does in a chat.",
			values: []string{PresenceTyping, PresenceRecording, PresencePaused},
			fields: []enumField{fieldOf[PresenceParams]("state"), fieldOf[ChatPresence]("state")}},
		{name: "ChatKind", description: "The kind of a chat.",
			values: []string{ChatUser, ChatGroup, ChatBroadcast, ChatNewsletter},
			fields: []enumField{fieldOf[Chat]("kind")}},
		{name: "GroupChangeType", description: "What changed in a group.",
			values: []string{GroupJoined, GroupLeft, GroupAdd, GroupRemove, GroupPromote, GroupDemote, GroupName, GroupTopic,
				GroupAnnounce, GroupLocked, GroupPicture},
			fields: []enumField{fieldOf[GroupChange]("type")}},
		{name: "CallState", description: "Where an incoming call is.",
			values: []string{CallOffer, CallAcceptedElsewhere, CallRejected, CallTerminated},
			fields: []enumField{fieldOf[Call]("state")}},
		{name: "WebhookState", description: "A webhook's delivery state.",
			values: []string{WebhookIdle, WebhookDelivering, WebhookRetrying},
			fields: []enumField{fieldOf[WebhookStatus]("state")}},
		{name: "FindingStatus", description: "How a health check went, worst last.",
			values: []string{FindingOK, FindingWarn, FindingFail},
			fields: []enumField{fieldOf[Finding]("status")}},
		{name: "FindingCheck", description: "What a health check checked.",
			values: []string{CheckConfig, CheckSocket, CheckGroup, CheckStateDir, CheckChromium, CheckSandbox, CheckStore,
				CheckDisk, CheckSession, CheckDevices, CheckUnit, CheckCgroup, CheckDaemon},
			fields: []enumField{fieldOf[Finding]("check")}},
	}
}

// jsonSchema is a JSON Schema (draft 7, as OpenRPC uses it) in the
// generated document.
type jsonSchema struct {
	Ref                  string                 `json:"$ref,omitempty"`
	Title                string                 `json:"title,omitempty"`
	Description          string                 `json:"description,omitempty"`
	Type                 any                    `json:"type,omitempty"` // a name or a list of them
	Format               string                 `json:"format,omitempty"`
	ContentEncoding      string                 `json:"contentEncoding,omitempty"`
	Minimum              *int                   `json:"minimum,omitempty"`
	Enum                 []string               `json:"enum,omitempty"`
	Items                *jsonSchema            `json:"items,omitempty"`
	Properties           map[string]*jsonSchema `json:"properties,omitempty"`
	Required             []string               `json:"required,omitempty"`
	PropertyNames        *jsonSchema            `json:"propertyNames,omitempty"`
	AdditionalProperties *jsonSchema            `json:"additionalProperties,omitempty"`
	AnyOf                []*jsonSchema          `json:"anyOf,omitempty"`
}

type contentDescriptor struct {
	Name     string      `json:"name"`
	Summary  string      `json:"summary,omitempty"`
	Schema   *jsonSchema `json:"schema"`
	Required bool        `json:"required,omitempty"`
}

type refObject struct {
	Ref string `json:"$ref"`
}

type methodObject struct {
	Name           string              `json:"name"`
	Summary        string              `json:"summary,omitempty"`
	Description    string              `json:"description,omitempty"`
	ParamStructure string              `json:"paramStructure"`
	Params         []contentDescriptor `json:"params"`
	Result         *contentDescriptor  `json:"result,omitempty"`
	Errors         []refObject         `json:"errors,omitempty"`
	Access         string              `json:"x-access,omitempty"`
}

type errorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type openrpcDoc struct {
	OpenRPC string `json:"openrpc"`
	Info    struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Version     string `json:"version"`
	} `json:"info"`
	Methods    []methodObject `json:"methods"`
	Components struct {
		Schemas map[string]*jsonSchema `json:"schemas"`
		Errors  map[string]errorObject `json:"errors"`
	} `json:"components"`
	Notifications []methodObject `json:"x-notifications,omitempty"`
}

// OpenRPCDocument returns the OpenRPC document of methods as a daemon of
// version serves them. It fails for a method without Params or Result
// and for a type JSON cannot carry.
func OpenRPCDocument(methods []Method, version string) (OpenRPC, error) {
	g, err := newGenerator()
	if err != nil {
		return nil, err
	}
	var doc openrpcDoc
	doc.OpenRPC = OpenRPCVersion
	doc.Info.Title = "wad"
	doc.Info.Version = version
	doc.Info.Description = "The control API of wad, the daemon supervising WhatsApp sessions: JSON-RPC 2.0 over a Unix socket, " +
		"one message per line, named params only. Fields may be added to any object; ignore those you do not know. " +
		"x-notifications describes the notifications a subscribed connection receives. docs/wire.md is the reference."
	doc.Methods = []methodObject{}
	seen := map[string]bool{}
	for _, m := range methods {
		if seen[m.Name] {
			return nil, fmt.Errorf("openrpc: method %s is in the table twice", m.Name)
		}
		seen[m.Name] = true
		if m.Params == nil || m.Result == nil {
			return nil, fmt.Errorf("openrpc: method %s has no params or result type in the table", m.Name)
		}
		mo, err := g.method(m.Name, m.Summary, reflect.TypeOf(m.Params), reflect.TypeOf(m.Result))
		if err != nil {
			return nil, err
		}
		mo.Access = m.Access.String()
		doc.Methods = append(doc.Methods, mo)
	}
	if seen[MethodSubscribe] {
		ev, err := g.notification(NotifyEvent, reflect.TypeFor[Event]())
		if err != nil {
			return nil, err
		}
		doc.Notifications = []methodObject{ev}
	}
	doc.Components.Schemas = g.schemas
	doc.Components.Errors = map[string]errorObject{}
	for _, c := range errorCodes {
		doc.Components.Errors[c.name] = errorObject{c.code, c.message}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openrpc: %w", err)
	}
	return OpenRPC(b), nil
}

// generator turns Go types into schemas, collecting the named ones.
type generator struct {
	schemas map[string]*jsonSchema
	named   map[reflect.Type]string // types given a components schema
	enums   map[enumField]string
}

// newGenerator returns a generator that knows the enums. It fails when
// an enum names a field its struct does not have (renamed or removed).
func newGenerator() (*generator, error) {
	g := &generator{schemas: map[string]*jsonSchema{}, named: map[reflect.Type]string{}, enums: map[enumField]string{}}
	for _, e := range enums() {
		g.schemas[e.name] = &jsonSchema{Type: "string", Description: e.description, Enum: slices.Clone(e.values)}
		if e.typ != nil {
			g.named[e.typ] = e.name
		}
		for _, f := range e.fields {
			if !slices.ContainsFunc(jsonFields(f.in), func(jf jsonField) bool { return jf.name == f.name && jf.in == f.in }) {
				return nil, fmt.Errorf("openrpc: enum %s: %v has no JSON field %q", e.name, f.in, f.name)
			}
			g.enums[f] = e.name
		}
	}
	return g, nil
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	durationType  = reflect.TypeFor[time.Duration]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	openRPCType   = reflect.TypeFor[OpenRPC]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	bytesType     = reflect.TypeFor[[]byte]()
)

const componentsPath = "#/components/schemas/"

// method describes one method: its params struct's fields by name, its
// result, the errors it may answer with.
func (g *generator) method(name, summary string, params, result reflect.Type) (methodObject, error) {
	mo := methodObject{Name: name, Summary: summary, ParamStructure: "by-name", Params: []contentDescriptor{}}
	ps, err := g.params(name, params)
	if err != nil {
		return mo, err
	}
	mo.Params = ps
	rs, err := g.schema(result)
	if err != nil {
		return mo, fmt.Errorf("openrpc: result of %s: %w", name, err)
	}
	mo.Result = &contentDescriptor{Name: resultName(result), Schema: rs}
	acting := slices.ContainsFunc(ps, func(p contentDescriptor) bool { return p.Name == "client" || p.Name == "clients" })
	for _, c := range errorCodes {
		if !c.protocol && (!c.client || acting) {
			mo.Errors = append(mo.Errors, refObject{"#/components/errors/" + c.name})
		}
	}
	return mo, nil
}

// notification describes a notification the daemon sends, like a
// method without result: its params are the fields of params, whose
// type is also a components schema.
func (g *generator) notification(name string, params reflect.Type) (methodObject, error) {
	mo := methodObject{Name: name, ParamStructure: "by-name",
		Summary: "An event, pushed to a connection that subscribed with " + MethodSubscribe + " (a JSON-RPC notification: no id, no reply)."}
	ps, err := g.params(name, params)
	if err != nil {
		return mo, err
	}
	mo.Params = ps
	if _, err := g.schema(params); err != nil {
		return mo, fmt.Errorf("openrpc: params of %s: %w", name, err)
	}
	return mo, nil
}

func resultName(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return "result"
}

// params returns the content descriptors of a params struct's fields.
func (g *generator) params(method string, t reflect.Type) ([]contentDescriptor, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("openrpc: params of %s: %v is not a struct (wad takes named params only)", method, t)
	}
	out := []contentDescriptor{}
	for _, f := range jsonFields(t) {
		s, err := g.fieldSchema(f)
		if err != nil {
			return nil, fmt.Errorf("openrpc: params of %s: %w", method, err)
		}
		out = append(out, contentDescriptor{Name: f.name, Schema: s, Required: f.required})
	}
	return out, nil
}

// jsonField is a field as encoding/json sees it.
type jsonField struct {
	name     string
	in       reflect.Type // the struct declaring it
	f        reflect.StructField
	required bool // encoded even when zero
	asString bool // the ",string" option
}

// jsonFields lists the JSON fields of struct t in encoding/json's order,
// embedded structs without a name flattened; a field of the outer
// struct hides one of the same name in an embedded one.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		var inner []reflect.Type
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					inner = append(inner, ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			omit := false
			for o := range strings.SplitSeq(opts, ",") {
				omit = omit || o == "omitempty" || o == "omitzero"
			}
			out = append(out, jsonField{name: name, in: t, f: f, required: !omit, asString: strings.Contains(","+opts+",", ",string,")})
		}
		for _, e := range inner {
			walk(e)
		}
	}
	walk(t)
	return out
}

// fieldSchema is the schema of one field: its type's, or the enum
// listed for it; a field that is never omitted and encodes a nil slice,
// map or pointer as null may be null.
func (g *generator) fieldSchema(f jsonField) (*jsonSchema, error) {
	ft := f.f.Type
	var s *jsonSchema
	var err error
	if e, ok := g.enums[enumField{f.in, f.name}]; ok {
		enum := &jsonSchema{Ref: componentsPath + e}
		switch {
		case ft.Kind() == reflect.String:
			s = enum
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			s = &jsonSchema{Type: "array", Items: enum}
		default:
			return nil, fmt.Errorf("enum %s on %v.%s, a %v", e, f.in, f.f.Name, ft)
		}
	} else if f.asString && isScalar(ft) {
		s = &jsonSchema{Type: "string", Description: "a " + ft.Kind().String() + " written as a string"}
	} else if s, err = g.schema(ft); err != nil {
		return nil, fmt.Errorf("%v.%s: %w", f.in, f.f.Name, err)
	}
	if f.required && nullable(ft) {
		s = orNull(s)
	}
	return s, nil
}

func isScalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// nullable reports whether a zero value of t encodes as null.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return t != openRPCType
	}
	return false
}

func orNull(s *jsonSchema) *jsonSchema {
	if s.Ref == "" && s.AnyOf == nil {
		if name, ok := s.Type.(string); ok {
			c := *s
			c.Type = []string{name, "null"}
			return &c
		}
		if s.Type == nil { // anything: null included
			return s
		}
	}
	return &jsonSchema{AnyOf: []*jsonSchema{s, {Type: "null"}}}
}

// schema returns the schema of values of t: a $ref for named structs
// and enums (adding them to components/schemas), else inline.
func (g *generator) schema(t reflect.Type) (*jsonSchema, error) {
	if name, ok := g.named[t]; ok {
		return &jsonSchema{Ref: componentsPath + name}, nil
	}
	switch t {
	case timeType:
		return &jsonSchema{Type: "string", Format: "date-time"}, nil
	case durationType:
		return &jsonSchema{Type: "integer", Description: "a duration in nanoseconds"}, nil
	case rawType:
		return &jsonSchema{}, nil
	case openRPCType:
		return &jsonSchema{Ref: OpenRPCMetaSchema}, nil
	case bytesType:
		return &jsonSchema{Type: "string", ContentEncoding: "base64"}, nil
	}
	if t.Kind() != reflect.Pointer && (t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler)) {
		return nil, fmt.Errorf("%v has its own JSON encoding; describe it in ctl/openrpc.go", t)
	}
	if t.Kind() != reflect.Pointer && (t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler)) {
		return &jsonSchema{Type: "string"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &jsonSchema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &jsonSchema{Type: "integer"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		zero := 0
		return &jsonSchema{Type: "integer", Minimum: &zero}, nil
	case reflect.Float32, reflect.Float64:
		return &jsonSchema{Type: "number"}, nil
	case reflect.String:
		return &jsonSchema{Type: "string"}, nil
	case reflect.Interface:
		return &jsonSchema{}, nil
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Slice, reflect.Array:
		items, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		if nullable(t.Elem()) {
			items = orNull(items)
		}
		return &jsonSchema{Type: "array", Items: items}, nil
	case reflect.Map:
		s := &jsonSchema{Type: "object"}
		switch k := t.Key(); {
		case g.named[k] != "":
			s.PropertyNames = &jsonSchema{Ref: componentsPath + g.named[k]}
		case k.Kind() == reflect.String:
		default:
			return nil, fmt.Errorf("map key %v: only string keys are supported", k)
		}
		v, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		if nullable(t.Elem()) {
			v = orNull(v)
		}
		s.AdditionalProperties = v
		return s, nil
	case reflect.Struct:
		return g.structSchema(t)
	}
	return nil, fmt.Errorf("%v cannot be carried in JSON", t)
}

// structSchema returns a $ref to the components schema of named struct
// t (made on first use), or the inline schema of an unnamed one.
func (g *generator) structSchema(t reflect.Type) (*jsonSchema, error) {
	name := t.Name()
	if name != "" {
		if _, taken := g.schemas[name]; taken {
			return nil, fmt.Errorf("two schemas named %s (%v)", name, t)
		}
		g.named[t] = name // before the fields: a type may refer to itself
		g.schemas[name] = &jsonSchema{}
	}
	s := &jsonSchema{Type: "object", Properties: map[string]*jsonSchema{}}
	if name != "" {
		s.Title = name
	}
	for _, f := range jsonFields(t) {
		fs, err := g.fieldSchema(f)
		if err != nil {
			return nil, err
		}
		s.Properties[f.name] = fs
		if f.required {
			s.Required = append(s.Required, f.name)
		}
	}
	if name == "" {
		return s, nil
	}
	*g.schemas[name] = *s
	return &jsonSchema{Ref: componentsPath + name}, nil
}

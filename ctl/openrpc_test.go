package ctl_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/openrpctest"
)

// doc is the part of an OpenRPC document the tests read.
type doc struct {
	OpenRPC string `json:"openrpc"`
	Info    struct {
		Title, Version string
	} `json:"info"`
	Methods []struct {
		Name    string `json:"name"`
		Summary string `json:"summary"`
		Params  []struct {
			Name     string          `json:"name"`
			Required bool            `json:"required"`
			Schema   json.RawMessage `json:"schema"`
		} `json:"params"`
		Result struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"result"`
		Errors []struct {
			Ref string `json:"$ref"`
		} `json:"errors"`
		Access string `json:"x-access"`
	} `json:"methods"`
	Components struct {
		Schemas map[string]struct {
			Type       any                        `json:"type"`
			Enum       []string                   `json:"enum"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"schemas"`
		Errors map[string]struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	} `json:"components"`
	Notifications []struct {
		Name   string `json:"name"`
		Params []struct {
			Name string `json:"name"`
		} `json:"params"`
	} `json:"x-notifications"`
}

func generate(t *testing.T, methods []ctl.Method) (ctl.OpenRPC, doc) {
	t.Helper()
	b, err := ctl.OpenRPCDocument(methods, "1.2.3-test")
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the document is not JSON: %v\n%s", err, b)
	}
	return b, d
}

// TestOpenRPCDocumentDescribesTheMethodTable prevents a document that a
// client generator would refuse or that leaves a method out: it is valid
// by the OpenRPC meta-schema, lists exactly the table's methods in its
// order with their access class and a summary, and every method has a
// result and refers only to errors it defines.
func TestOpenRPCDocumentDescribesTheMethodTable(t *testing.T) {
	b, d := generate(t, ctl.Methods)
	loaded, err := openrpctest.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.OpenRPC != ctl.OpenRPCVersion || d.Info.Title != "wad" || d.Info.Version != "1.2.3-test" {
		t.Errorf("openrpc %q, info %+v", d.OpenRPC, d.Info)
	}
	if err := loaded.ListsMethods(ctl.Methods); err != nil {
		t.Fatal(err)
	}
	for i, m := range d.Methods {
		tm := ctl.Methods[i]
		if m.Access != tm.Access.String() || m.Summary == "" || m.Summary != tm.Summary {
			t.Errorf("%s: x-access %q, summary %q; the table says %v, %q", m.Name, m.Access, m.Summary, tm.Access, tm.Summary)
		}
		if len(m.Result.Schema) == 0 || len(m.Errors) == 0 {
			t.Errorf("%s: no result schema or no errors", m.Name)
		}
		for _, e := range m.Errors {
			if _, ok := d.Components.Errors[strings.TrimPrefix(e.Ref, "#/components/errors/")]; !ok {
				t.Errorf("%s: error %s is not in components/errors", m.Name, e.Ref)
			}
		}
	}
	if len(d.Notifications) != 1 || d.Notifications[0].Name != ctl.NotifyEvent {
		t.Errorf("x-notifications: %+v", d.Notifications)
	}
}

// TestOpenRPCParamsAreTheParamsStructsFields prevents params that do not
// match what the daemon decodes: a method's params are its params
// struct's JSON fields, by name, required unless omitempty.
func TestOpenRPCParamsAreTheParamsStructsFields(t *testing.T) {
	_, d := generate(t, ctl.Methods)
	for i, m := range d.Methods {
		pt := reflect.TypeOf(ctl.Methods[i].Params)
		var want []string
		for f := range pt.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !strings.Contains(opts, "omit") {
				name += "!"
			}
			want = append(want, name)
		}
		var got []string
		for _, p := range m.Params {
			if p.Required {
				p.Name += "!"
			}
			got = append(got, p.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: params %q, want %q (! = required)", m.Name, got, want)
		}
	}
	send := d.Methods[slices.IndexFunc(ctl.Methods, func(m ctl.Method) bool { return m.Name == ctl.MethodSend })]
	for _, p := range send.Params {
		if p.Name == "media" && string(p.Schema) != `{"$ref":"#/components/schemas/Media"}` {
			t.Errorf("message.send's media: %s", p.Schema)
		}
	}
}

// TestOpenRPCDocumentNeedsTypedMethods prevents a table entry that the
// document cannot describe from passing unnoticed: a method without
// params or result type, one listed twice, or a type JSON cannot
// carry is an error.
func TestOpenRPCDocumentNeedsTypedMethods(t *testing.T) {
	type withChan struct {
		C chan int `json:"c"`
	}
	for name, methods := range map[string][]ctl.Method{
		"no params":  {{Name: "x.y", Result: ctl.OK{}}},
		"no result":  {{Name: "x.y", Params: ctl.Empty{}}},
		"twice":      {ctl.Methods[0], ctl.Methods[0]},
		"a chan":     {{Name: "x.y", Params: withChan{}, Result: ctl.OK{}}},
		"not named":  {{Name: "x.y", Params: []string{}, Result: ctl.OK{}}},
		"result map": {{Name: "x.y", Params: ctl.Empty{}, Result: map[int]string{}}},
	} {
		if _, err := ctl.OpenRPCDocument(methods, "v"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestMetaSchemaRefusesBrokenDocuments proves the validation can fail:
// each of these breaks the document in a way the OpenRPC meta-schema
// (or the reference check) refuses.
func TestMetaSchemaRefusesBrokenDocuments(t *testing.T) {
	b, _ := generate(t, ctl.Methods)
	for name, breakIt := range map[string]func(m map[string]any){
		"openrpc version unknown": func(m map[string]any) { m["openrpc"] = "9.9.9" },
		"no info":                 func(m map[string]any) { delete(m, "info") },
		"no version":              func(m map[string]any) { delete(m["info"].(map[string]any), "version") },
		"unknown field":           func(m map[string]any) { m["notifications"] = []any{} },
		"method without name":     func(m map[string]any) { delete(m["methods"].([]any)[0].(map[string]any), "name") },
		"method without params":   func(m map[string]any) { delete(m["methods"].([]any)[0].(map[string]any), "params") },
		"param without schema": func(m map[string]any) {
			delete(m["methods"].([]any)[3].(map[string]any)["params"].([]any)[0].(map[string]any), "schema")
		},
		"error without code": func(m map[string]any) {
			delete(m["components"].(map[string]any)["errors"].(map[string]any)["Internal"].(map[string]any), "code")
		},
		"schema type unknown": func(m map[string]any) {
			m["components"].(map[string]any)["schemas"].(map[string]any)["Session"].(map[string]any)["type"] = "record"
		},
		"dangling $ref": func(m map[string]any) {
			delete(m["components"].(map[string]any)["schemas"].(map[string]any), "Session")
		},
	} {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		breakIt(m)
		broken, _ := json.Marshal(m)
		if err := openrpctest.Validate(broken); err == nil {
			t.Errorf("%s: the broken document passed", name)
		}
	}
}

// TestOpenRPCSchemasAcceptWhatTheTypesEncode prevents schemas stricter
// or looser than encoding/json: values as the daemon would send them
// pass their schema (nil slices as null, zero times omitted, bytes as
// base64), and values it never sends fail.
func TestOpenRPCSchemasAcceptWhatTheTypesEncode(t *testing.T) {
	b, _ := generate(t, ctl.Methods)
	d, err := openrpctest.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	since := uint64(0)
	good := map[string]any{
		"Session":         ctl.Session{Client: "sales", State: ctl.StateFailed, Reason: ctl.ReasonMemoryLimit, Since: now},
		"ReadResult":      ctl.ReadResult{},
		"ListResult":      ctl.ListResult{Sessions: []ctl.Session{{Client: "a", State: ctl.StateQR}}},
		"DownloadResult":  ctl.DownloadResult{Kind: ctl.MediaVoice, Data: []byte{0, 1, 2, 250}},
		"SubscribeResult": ctl.SubscribeResult{Subscription: "s", Since: &since},
		"StatusResult":    ctl.StatusResult{Version: "v", States: map[ctl.State]int{ctl.StateConnected: 2}, Queued: map[string]int{"a": 1}},
		"MessageStatus":   ctl.MessageStatus{ID: "x", State: ctl.OutFailed, Reason: ctl.FailRejected, Queued: now},
		"WebhooksResult": ctl.WebhooksResult{Webhooks: []ctl.WebhookInfo{{WebhookStatus: ctl.WebhookStatus{Name: "w", State: ctl.WebhookRetrying},
			Kinds: []string{ctl.KindCall}, Letters: []ctl.DeadLetter{{Kind: ctl.KindMessage}}}}},
		"DoctorResult": ctl.DoctorResult{Findings: []ctl.Finding{{Check: ctl.CheckCgroup, Status: ctl.FindingWarn}}},
		"Event": ctl.Event{Client: "sales", Kind: ctl.KindGroup, Group: &ctl.GroupChange{Type: ctl.GroupPromote, Value: new(bool),
			Info: &ctl.Group{Participants: []ctl.Participant{{JID: "j"}}}}, Time: now},
		"ContactInfo": ctl.ContactInfo{Contact: ctl.Contact{JID: "j", Phone: "+49"}, About: "hi"},
	}
	for name, v := range good {
		j, _ := json.Marshal(v)
		if err := d.CheckSchema(name, j); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, j := range map[string]string{
		"Session":         `{"client":"sales","state":"sleeping"}`,                  // no such state
		"Event":           `{"client":"sales","kind":"message","time":"yesterday"}`, // not a date-time
		"StatusResult":    `{"version":"v","pid":1,"started":"2025-01-02T03:04:05Z","uptime_seconds":1,"sessions":1,"states":{"asleep":1}}`,
		"SubscribeResult": `{"subscription":"s","head":-1}`,
		"ContactInfo":     `{"about":"hi"}`, // jid, from the embedded Contact, is required
	} {
		if err := d.CheckSchema(name, []byte(j)); err == nil {
			t.Errorf("%s accepted %s", name, j)
		}
	}
	if err := d.CheckResult(ctl.MethodDiscover, b); err != nil {
		t.Errorf("rpc.discover's result schema refuses the document: %v", err)
	}
}

// consts returns the package-level constants of ctl's sources (not its
// tests) whose value is a string or integer literal or another such
// constant, by name.
func consts(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	vals := map[string]string{}
	alias := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					switch v := vs.Values[i].(type) {
					case *ast.BasicLit:
						s, err := strconv.Unquote(v.Value)
						if err != nil {
							s = v.Value
						}
						vals[n.Name] = s
					case *ast.UnaryExpr:
						if lit, ok := v.X.(*ast.BasicLit); ok && v.Op == token.SUB {
							vals[n.Name] = "-" + lit.Value
						}
					case *ast.Ident:
						alias[n.Name] = v.Name
					}
				}
			}
		}
	}
	for n, a := range alias {
		if v, ok := vals[a]; ok {
			vals[n] = v
		}
	}
	if len(vals) < 50 {
		t.Fatalf("found only %d constants in ctl; the check would prove nothing", len(vals))
	}
	return vals
}

// TestOpenRPCEnumsListEveryConstant prevents a new state, reason, kind
// or status that the document's enums leave out (a generated client
// would refuse it): each family of constants in ctl's sources is
// exactly the enum of its schema.
func TestOpenRPCEnumsListEveryConstant(t *testing.T) {
	_, d := generate(t, ctl.Methods)
	vals := consts(t)
	for prefix, enum := range map[string]string{
		"State":    "State",
		"Reason":   "Reason",
		"Kind":     "EventKind",
		"Media":    "MediaKind",
		"Out":      "OutgoingState",
		"Fail":     "FailReason",
		"Presence": "ChatPresenceState",
		"Chat":     "ChatKind",
		"Group":    "GroupChangeType",
		"Call":     "CallState",
		"Webhook":  "WebhookState",
		"Finding":  "FindingStatus",
		"Check":    "FindingCheck",
	} {
		var want []string
		for n, v := range vals {
			if strings.HasPrefix(n, prefix) && len(n) > len(prefix) && n[len(prefix)] >= 'A' && n[len(prefix)] <= 'Z' {
				want = append(want, v)
			}
		}
		got := slices.Clone(d.Components.Schemas[enum].Enum)
		slices.Sort(got)
		slices.Sort(want)
		want = slices.Compact(want)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("enum %s is %q; the %s constants are %q", enum, got, prefix, want)
		}
	}
}

// TestOpenRPCErrorsListEveryCode prevents an error code the document
// does not explain: every Code constant is in components/errors, and
// nothing else is.
func TestOpenRPCErrorsListEveryCode(t *testing.T) {
	_, d := generate(t, ctl.Methods)
	var want, got []string
	for n, v := range consts(t) {
		if strings.HasPrefix(n, "Code") {
			want = append(want, v)
		}
	}
	for name, e := range d.Components.Errors {
		if e.Message == "" || name == "" {
			t.Errorf("error %d: name %q, message %q", e.Code, name, e.Message)
		}
		got = append(got, strconv.Itoa(e.Code))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("components/errors has codes %q; ctl's are %q", got, want)
	}
}

// TestOpenRPCTypeRules pins how Go types become schemas, for the kinds
// ctl does not use yet as much as for those it does.
func TestOpenRPCTypeRules(t *testing.T) {
	type inner struct {
		A string `json:"a"`
		B string `json:"b"`
	}
	type probeParams struct {
		inner
		B        int             `json:"b"` // hides inner's b
		D        time.Duration   `json:"d"`
		T        time.Time       `json:"t,omitzero"`
		Raw      json.RawMessage `json:"raw,omitempty"`
		Bytes    []byte          `json:"bytes,omitempty"`
		Ptr      *int            `json:"ptr"`
		N        uint64          `json:"n,string"`
		Skipped  int             `json:"-"`
		private  int
		Untagged bool
		State    ctl.State `json:"state"`
	}
	b, err := ctl.OpenRPCDocument([]ctl.Method{{Name: "probe", Params: probeParams{}, Result: ctl.OK{}}}, "v")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Methods []struct {
			Params []struct {
				Name     string          `json:"name"`
				Schema   json.RawMessage `json:"schema"`
				Required bool            `json:"required"`
			} `json:"params"`
		} `json:"methods"`
	}
	json.Unmarshal(b, &d)
	var got []string
	for _, p := range d.Methods[0].Params {
		got = append(got, p.Name+" "+strconv.FormatBool(p.Required)+" "+string(p.Schema))
	}
	want := []string{
		`b true {"type":"integer"}`,
		`d true {"description":"a duration in nanoseconds","type":"integer"}`,
		`t false {"type":"string","format":"date-time"}`,
		`raw false {}`,
		`bytes false {"type":"string","contentEncoding":"base64"}`,
		`ptr true {"type":["integer","null"]}`,
		`n true {"description":"a uint64 written as a string","type":"string"}`,
		`Untagged true {"type":"boolean"}`,
		`state true {"$ref":"#/components/schemas/State"}`,
		`a true {"type":"string"}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("params:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if err := openrpctest.Validate(b); err != nil {
		t.Error(err)
	}
	_ = probeParams{}.private
}

package daemon_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/openrpctest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// line is one line the daemon writes, its params kept as sent.
type line struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *ctl.Error      `json:"error"`
}

// exchange sends one request line on r and returns its result, passing
// the notifications read on the way to note (when not nil).
func (r *raw) exchange(id int, method, params string, note func(line)) json.RawMessage {
	r.t.Helper()
	if params == "" {
		params = "{}"
	}
	r.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, params))
	for {
		var l line
		if b := r.line(); json.Unmarshal(b, &l) != nil {
			r.t.Fatalf("%s: not a JSON-RPC message: %q", method, b)
		}
		if l.Method != "" {
			if note != nil {
				note(l)
			}
			continue
		}
		if string(l.ID) != fmt.Sprint(id) {
			r.t.Fatalf("%s: reply to id %s, want %d", method, l.ID, id)
		}
		if l.Error != nil {
			r.t.Fatalf("%s: error %d %s", method, l.Error.Code, l.Error.Message)
		}
		return l.Result
	}
}

// TestDiscoverListsExactlyTheServedMethods prevents an rpc.discover that
// promises a method the daemon does not serve or hides one it does: over
// the socket, the document names exactly the methods of the daemon's
// table, for the whole table and for one with methods left out; each of
// them is served (bad params, not "method not found") and the ones left
// out are not. The document is valid by the OpenRPC meta-schema, carries
// the daemon's version, and is the same at every call.
func TestDiscoverListsExactlyTheServedMethods(t *testing.T) {
	var less []ctl.Method
	for _, m := range ctl.Methods {
		if m.Name != ctl.MethodStop && m.Name != ctl.MethodGroupSet {
			less = append(less, m)
		}
	}
	for _, spec := range [][]ctl.Method{nil, less} {
		d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}, Methods: spec})
		r := dialRaw(t, d.Socket)
		doc := r.exchange(1, ctl.MethodDiscover, "", nil)
		loaded, err := openrpctest.Load(doc)
		if err != nil {
			t.Fatal(err)
		}
		var parsed struct{ Info struct{ Version string } }
		if err := json.Unmarshal(doc, &parsed); err != nil {
			t.Fatal(err)
		}
		if parsed.Info.Version != "test" {
			t.Errorf("info.version %q, want the daemon's, test", parsed.Info.Version)
		}
		named := loaded.Methods()
		served := daemon.ServedForTest(d.D)
		slices.Sort(named)
		slices.Sort(served)
		if !slices.Equal(named, served) {
			t.Errorf("rpc.discover names\n%q\nthe daemon serves\n%q", named, served)
		}
		want := len(ctl.Methods)
		if spec != nil {
			want = len(spec)
		}
		if len(served) != want {
			t.Errorf("the daemon serves %d methods, want %d", len(served), want)
		}
		// Over the wire: array params are refused by every method the
		// daemon serves before it runs, and by nothing else.
		for _, m := range ctl.Methods {
			err := r.errorOf(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":%q,"params":[]}`, m.Name))
			code := ctl.CodeInvalidParams
			if !slices.Contains(named, m.Name) {
				code = ctl.CodeMethodNotFound
			}
			wantCode(t, m.Name+" with array params", err, code)
		}
		if again := r.exchange(3, ctl.MethodDiscover, "", nil); string(again) != string(doc) {
			t.Errorf("a second rpc.discover answered another document")
		}
	}
}

// TestResultsAndEventsMatchTheDiscoveredSchemas prevents schemas that
// the daemon's own answers break (a field marked required that it
// omits, a value outside an enum, a null where none may be): real
// results and event notifications, read off the socket, pass the
// schemas of the document the same daemon discovers.
func TestResultsAndEventsMatchTheDiscoveredSchemas(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{Connect: true}}})
	r := dialRaw(t, d.Socket)
	doc, err := openrpctest.Load(r.exchange(1, ctl.MethodDiscover, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	var events int
	note := func(l line) {
		if l.Method != ctl.NotifyEvent || !doc.HasNotification(l.Method) {
			t.Errorf("notification %q is not described", l.Method)
			return
		}
		if err := doc.CheckSchema("Event", l.Params); err != nil {
			t.Error(err)
		}
		events++
	}
	for i, c := range []struct{ method, params string }{
		{ctl.MethodSubscribe, `{"since":0}`},
		{ctl.MethodVersion, ""},
		{ctl.MethodLogin, `{"client":"sales"}`},
		{ctl.MethodSession, `{"client":"sales"}`},
		{ctl.MethodList, ""},
		{ctl.MethodStatus, ""},
		{ctl.MethodSend, `{"client":"sales","to":"+4915112345678","text":"hi","wait":true}`},
		{ctl.MethodWebhooks, `{"dead_letters":true}`},
		{ctl.MethodAck, `{"consumer":"app","seq":1}`},
		{ctl.MethodStop, `{"client":"sales"}`},
		{ctl.MethodDiscover, ""},
	} {
		res := r.exchange(10+i, c.method, c.params, note)
		if err := doc.CheckResult(c.method, res); err != nil {
			t.Errorf("%s: %v", c.method, err)
		}
	}
	if events == 0 {
		t.Errorf("no event arrived to check")
	}
}

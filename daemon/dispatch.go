package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/creachadair/jrpc2"
	"github.com/creachadair/jrpc2/handler"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/metrics"
)

// table is the jrpc2 Assigner of one daemon: the methods of ctl.Methods
// (or Options.Methods), each bound to its implementation and access
// class. Unknown names get a handler that answers "method not found":
// jrpc2 v1.3.6 leaves the id of a request it could not assign reserved
// for the rest of the connection, so a client reusing the id (socat users
// do) would get "duplicate request ID" forever after one typo.
type table struct {
	m handler.Map
	d *Daemon // counts the calls of unknown names
}

// newTable binds every method of spec to its implementation in impls. A
// method in spec without an implementation is a programming error and
// panics; an implementation whose method is not in spec is not served.
func newTable(d *Daemon, spec []ctl.Method, impls map[string]impl) table {
	t := table{m: make(handler.Map, len(spec)), d: d}
	for _, m := range spec {
		bind := impls[m.Name]
		if bind == nil {
			panic("daemon: no implementation of method " + m.Name)
		}
		t.m[m.Name] = bind(d, m)
	}
	return t
}

func (t table) Assign(_ context.Context, name string) jrpc2.Handler {
	if h := t.m[name]; h != nil {
		return h
	}
	return func(context.Context, *jrpc2.Request) (any, error) {
		err := &jrpc2.Error{Code: jrpc2.MethodNotFound, Message: "method not found: " + name + " (see wactl help or docs/wire.md for the methods)"}
		t.d.observeCall(metrics.UnknownMethod, time.Now(), err)
		return nil, err
	}
}

func (t table) Names() []string { return t.m.Names() }

// call is what a method implementation knows about the request it
// serves: who asks, under which access rules, and the access class its
// method has in the table.
type call struct {
	d      *Daemon
	peer   *peer
	pol    *accessPolicy // the rules in force when the call arrived
	access ctl.Access
	req    *jrpc2.Request
}

// client validates a client id and checks that the peer may act on that
// client at the method's access class. It returns an invalid-params or
// permission-denied *ctl.Error, or nil.
func (c *call) client(id string) error {
	if err := ctl.ValidateClientID(id); err != nil {
		return err
	}
	return c.pol.check(c.peer, c.access, id)
}

// everyClient checks that the peer may act on every client at the
// method's access class, as what touches all of them needs (webhooks,
// consumers): a permission-denied *ctl.Error naming what, or nil.
func (c *call) everyClient(what string) error {
	if c.pol.allowedAll(c.peer, c.access) {
		return nil
	}
	return ctl.Errorf(ctl.CodePermissionDenied, "permission denied: %s spans every client, and uid %d may not %s all of them (see [[access]] in the config)",
		what, c.peer.UID, map[ctl.Access]string{ctl.Read: "read", ctl.Write: "change"}[c.access])
}

// may reports whether the peer may see client at the method's access
// class (for results that list clients).
func (c *call) may(client string) bool { return c.pol.allowed(c.peer, c.access, client) }

// impl turns a method's entry in the table into its jrpc2 handler.
type impl func(d *Daemon, m ctl.Method) jrpc2.Handler

// bind adapts a typed implementation into an impl. The handler it makes:
// checks that the peer has the method's access class at all (a
// permission-denied error otherwise), decodes named params strictly
// (invalid params), runs fn, and returns its object result or its error as
// a JSON-RPC error with the *ctl.Error's code (anything else is internal
// and logged at Error). A call cancelled because its connection closed or
// the daemon is stopping is logged at Debug; its reply cannot be
// delivered. A panic in fn becomes an internal error, never a crash.
//
// The types fn takes and returns must be the ones the table gives the
// method (m.Params, m.Result; unchecked where nil), as rpc.discover
// describes them; a mismatch is a programming error and panics.
func bind[P, R any](fn func(context.Context, *call, P) (R, error)) impl {
	return func(d *Daemon, m ctl.Method) jrpc2.Handler {
		if p, r := reflect.TypeFor[P](), reflect.TypeFor[R](); m.Params != nil && reflect.TypeOf(m.Params) != p || m.Result != nil && reflect.TypeOf(m.Result) != r {
			panic(fmt.Sprintf("daemon: method %s takes %v and returns %v, but the table says %T and %T", m.Name, p, r, m.Params, m.Result))
		}
		return func(ctx context.Context, req *jrpc2.Request) (_ any, err error) {
			begin := time.Now()
			defer func() {
				if v := recover(); v != nil {
					d.log.Error("handler panicked", "method", m.Name, "panic", v, "stack", string(debug.Stack()))
					err = wireError(ctl.Errorf(ctl.CodeInternal, "internal error in %s; the daemon's log has the details", m.Name))
				}
				d.observeCall(m.Name, begin, err)
			}()
			c := &call{d: d, peer: peerFrom(ctx), pol: d.policy(), access: m.Access, req: req}
			if err := c.pol.check(c.peer, m.Access, ""); err != nil {
				return nil, wireError(ctl.AsError(err))
			}
			var p P
			if err := decodeParams(req, &p); err != nil {
				return nil, wireError(ctl.AsError(err))
			}
			r, err := fn(ctx, c, p)
			if err == nil {
				return r, nil
			}
			if ctx.Err() != nil {
				d.log.Debug("request cancelled", "method", m.Name, "err", err)
				return nil, ctx.Err()
			}
			e := ctl.AsError(err)
			if e.Code == ctl.CodeInternal {
				d.log.Error("request failed", "method", m.Name, "err", err)
			}
			return nil, wireError(e)
		}
	}
}

// wireError is the JSON-RPC error object for e: its code and message.
func wireError(e *ctl.Error) *jrpc2.Error {
	return &jrpc2.Error{Code: jrpc2.Code(e.Code), Message: e.Message}
}

// decodeParams decodes named params strictly: absent or null params are
// the zero value, arrays are refused (wad takes named params only), and
// unknown fields are named in the error.
func decodeParams(req *jrpc2.Request, v any) error {
	raw := bytes.TrimSpace([]byte(req.ParamString()))
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] != '{' {
		return ctl.Errorf(ctl.CodeInvalidParams, "params of %s must be an object (wad takes named params only)", req.Method())
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return ctl.Errorf(ctl.CodeInvalidParams, "invalid params for %s: %v", req.Method(), err)
	}
	return nil
}

// errOutsideConn is what a connection-bound method returns when called
// without one (never over the socket).
var errOutsideConn = errors.New("called outside a connection")

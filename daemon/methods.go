package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/creachadair/jrpc2"
	"github.com/creachadair/jrpc2/handler"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// methods returns the method table. Every handler decodes named params
// strictly, checks the peer's access, and returns either an object or a
// *ctl.Error; a panic becomes an internal error, never a crash.
func (d *Daemon) methods() table {
	return table{
		ctl.MethodVersion:     method(d, d.version),
		ctl.MethodStatus:      method(d, d.status),
		ctl.MethodList:        method(d, d.list),
		ctl.MethodSession:     method(d, d.sessionStatus),
		ctl.MethodLogin:       method(d, d.login),
		ctl.MethodLogout:      method(d, d.logout),
		ctl.MethodStop:        method(d, d.stop),
		ctl.MethodSend:        method(d, d.send),
		ctl.MethodSubscribe:   method(d, d.subscribe),
		ctl.MethodUnsubscribe: method(d, d.unsubscribe),
	}
}

// table is the jrpc2 Assigner for the method table. Unknown names get a
// handler that answers "method not found": jrpc2 v1.3.6 leaves the id of
// a request it could not assign reserved for the rest of the connection,
// so a client reusing the id (socat users do) would get "duplicate
// request ID" forever after one typo.
type table handler.Map

func (t table) Assign(_ context.Context, name string) jrpc2.Handler {
	if h := t[name]; h != nil {
		return h
	}
	return func(context.Context, *jrpc2.Request) (any, error) {
		return nil, &jrpc2.Error{Code: jrpc2.MethodNotFound, Message: "method not found: " + name + " (see wactl help or the README for the methods)"}
	}
}

func (t table) Names() []string { return handler.Map(t).Names() }

func method[P, R any](d *Daemon, fn func(context.Context, *peer, P) (R, error)) jrpc2.Handler {
	return func(ctx context.Context, req *jrpc2.Request) (_ any, err error) {
		defer func() {
			if v := recover(); v != nil {
				d.log.Error("handler panicked", "method", req.Method(), "panic", v, "stack", string(debug.Stack()))
				err = ctl.Errorf(ctl.CodeInternal, "internal error in %s; the daemon's log has the details", req.Method())
			}
		}()
		var p P
		if err := decodeParams(req, &p); err != nil {
			return nil, err
		}
		r, err := fn(ctx, peerFrom(ctx), p)
		if err != nil {
			e := ctl.AsError(err)
			if e.Code == ctl.CodeInternal {
				d.log.Error("request failed", "method", req.Method(), "err", err)
			}
			return nil, e
		}
		return r, nil
	}
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

func (d *Daemon) version(_ context.Context, _ *peer, _ ctl.Empty) (ctl.VersionResult, error) {
	return ctl.VersionResult{Version: d.version_, GoVersion: runtime.Version(), Backends: d.reg.Backends()}, nil
}

func (d *Daemon) status(_ context.Context, p *peer, _ ctl.Empty) (ctl.StatusResult, error) {
	if err := d.policy().check(p, ctl.Read, ""); err != nil {
		return ctl.StatusResult{}, err
	}
	counts := d.reg.Counts()
	n := 0
	for _, c := range counts {
		n += c
	}
	cfg := d.config()
	r := ctl.StatusResult{
		Version:       d.version_,
		PID:           os.Getpid(),
		Started:       d.started,
		Uptime:        time.Since(d.started).Round(time.Millisecond).Seconds(),
		StateDir:      cfg.StateDir,
		Socket:        d.ln.Path,
		Sessions:      n,
		States:        counts,
		MaxSessions:   d.reg.MaxSessions(),
		Backends:      d.reg.Backends(),
		Default:       cfg.Sessions.DefaultBackend,
		Subscriptions: d.reg.Bus().Len(),
	}
	if p != nil {
		pp := p.Peer
		r.Peer = &pp
	}
	return r, nil
}

func (d *Daemon) list(_ context.Context, p *peer, _ ctl.Empty) (ctl.ListResult, error) {
	pol := d.policy()
	if err := pol.check(p, ctl.Read, ""); err != nil {
		return ctl.ListResult{}, err
	}
	all := d.reg.List()
	out := make([]ctl.Session, 0, len(all))
	for _, s := range all {
		if pol.allowed(p, ctl.Read, s.Client) {
			out = append(out, s)
		}
	}
	return ctl.ListResult{Sessions: out}, nil
}

// authorize validates the client id, then checks access to it.
func (d *Daemon) authorize(p *peer, level ctl.Access, client string) error {
	if err := ctl.ValidateClientID(client); err != nil {
		return err
	}
	return d.policy().check(p, level, client)
}

func (d *Daemon) sessionStatus(_ context.Context, p *peer, a ctl.ClientParams) (ctl.Session, error) {
	if err := d.authorize(p, ctl.Read, a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Get(a.Client)
}

func (d *Daemon) login(ctx context.Context, p *peer, a ctl.LoginParams) (ctl.Session, error) {
	if err := d.authorize(p, ctl.Write, a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Login(ctx, a.Client, sessions.LoginOptions{Backend: a.Backend, Phone: a.Phone})
}

func (d *Daemon) logout(ctx context.Context, p *peer, a ctl.ClientParams) (ctl.Session, error) {
	if err := d.authorize(p, ctl.Write, a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Logout(ctx, a.Client)
}

func (d *Daemon) stop(ctx context.Context, p *peer, a ctl.ClientParams) (ctl.Session, error) {
	if err := d.authorize(p, ctl.Write, a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Stop(ctx, a.Client)
}

func (d *Daemon) send(ctx context.Context, p *peer, a ctl.SendParams) (ctl.SendResult, error) {
	if err := d.authorize(p, ctl.Write, a.Client); err != nil {
		return ctl.SendResult{}, err
	}
	return d.reg.Send(ctx, a.Client, a.To, a.Text)
}

func (d *Daemon) subscribe(ctx context.Context, p *peer, a ctl.SubscribeParams) (ctl.SubscribeResult, error) {
	for _, c := range a.Clients {
		if err := d.authorize(p, ctl.Read, c); err != nil {
			return ctl.SubscribeResult{}, err
		}
	}
	if err := d.policy().check(p, ctl.Read, ""); err != nil {
		return ctl.SubscribeResult{}, err
	}
	for _, k := range a.Kinds {
		if !slices.Contains(ctl.Kinds, k) {
			return ctl.SubscribeResult{}, ctl.Errorf(ctl.CodeInvalidParams, "unknown event kind %q (known: %v)", k, ctl.Kinds)
		}
	}
	cs := connFrom(ctx)
	srv := jrpc2.ServerFromContext(ctx)
	if cs == nil || srv == nil {
		return ctl.SubscribeResult{}, fmt.Errorf("subscribe outside a connection")
	}
	sub := d.reg.Bus().Subscribe(a.Clients, a.Kinds)
	if !cs.add(sub) {
		d.reg.Bus().Unsubscribe(sub.ID)
		return ctl.SubscribeResult{}, ctl.Errorf(ctl.CodeLimitReached, "too many subscriptions on this connection (limit %d)", maxSubsPerConn)
	}
	go d.pump(cs, srv, p, sub)
	return ctl.SubscribeResult{Subscription: sub.ID}, nil
}

func (d *Daemon) unsubscribe(ctx context.Context, _ *peer, a ctl.UnsubscribeParams) (ctl.OK, error) {
	cs := connFrom(ctx)
	if cs == nil || !cs.remove(a.Subscription) {
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "no subscription %q on this connection", a.Subscription)
	}
	d.reg.Bus().Unsubscribe(a.Subscription)
	return ctl.OK{OK: true}, nil
}

package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

var bg = context.Background()

func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	var ce *ctl.Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("%s: got %v, want error code %d", what, err, code)
	}
}

func TestEveryMethodOverTheSocket(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b, sessions.Unavailable("chromedp", "not built")}})
	c := d.Client

	v, err := c.Version(bg)
	if err != nil || v.Version != "test" || len(v.Backends) != 2 {
		t.Fatalf("version: %+v, %v", v, err)
	}
	st, err := c.Status(bg)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.Peer == nil || st.Peer.UID != os.Getuid() || st.Peer.PID != os.Getpid() || st.Socket != d.Socket {
		t.Fatalf("status: %+v (peer %+v)", st, st.Peer)
	}

	s, err := c.Login(bg, ctl.LoginParams{Client: "sales"})
	if err != nil || s.State != ctl.StateQR || s.QR == "" || s.Backend != "whatsmeow" {
		t.Fatalf("login: %+v, %v", s, err)
	}
	s, err = c.Login(bg, ctl.LoginParams{Client: "support", Phone: "+49 151 12345678"})
	if err != nil || s.State != ctl.StatePairing || s.PairCode == "" {
		t.Fatalf("phone login: %+v, %v", s, err)
	}
	list, err := c.List(bg)
	if err != nil || len(list) != 2 || list[0].Client != "sales" || list[1].Client != "support" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if got, err := c.Session(bg, "sales"); err != nil || got.QR != s.QR && got.State != ctl.StateQR {
		t.Fatalf("session.status: %+v, %v", got, err)
	}

	_, err = c.Send(bg, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678", Text: "hi"})
	wantCode(t, "send before connected", err, ctl.CodeSessionNotReady)
	b.Session("sales").St.Set(ctl.StateConnected, "", "")
	r, err := c.Send(bg, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678", Text: "hello"})
	if err != nil || r.ID == "" || r.Timestamp.IsZero() {
		t.Fatalf("send: %+v, %v", r, err)
	}
	if sent := b.Session("sales").Sent; len(sent) != 1 || sent[0].To != "4915112345678@s.whatsapp.net" {
		t.Fatalf("backend got %+v", sent)
	}

	s, err = c.Stop(bg, "sales")
	if err != nil || s.State != ctl.StateStopped {
		t.Fatalf("stop: %+v, %v", s, err)
	}
	s, err = c.Login(bg, ctl.LoginParams{Client: "sales"})
	if err != nil || s.State != ctl.StateQR {
		t.Fatalf("login after stop: %+v, %v", s, err)
	}
	s, err = c.Logout(bg, "sales")
	if err != nil || s.State != ctl.StateLoggedOut {
		t.Fatalf("logout: %+v, %v", s, err)
	}
	_, err = c.Session(bg, "sales")
	wantCode(t, "status after logout", err, ctl.CodeSessionNotFound)

	w, err := c.Watch(bg, ctl.SubscribeParams{Clients: []string{"support"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	err = c.Call(bg, ctl.MethodUnsubscribe, ctl.UnsubscribeParams{Subscription: w.ID}, nil)
	wantCode(t, "second unsubscribe", err, ctl.CodeInvalidParams)
}

func TestEveryErrorCode(t *testing.T) {
	b := &sessiontest.Backend{StartErr: func(c string) error {
		if c == "offline" {
			return ctl.Errorf(ctl.CodeUpstream, "dial tcp: connection refused")
		}
		return nil
	}}
	slow := &sessiontest.Backend{BackendName: "chromedp", StartDelay: time.Hour}
	d := daemontest.Start(t, daemontest.Options{
		Backends: []sessions.Backend{b, slow}, MaxSessions: 3, StartTimeout: 300 * time.Millisecond,
	})
	c := d.Client
	raw := dialRaw(t, d.Socket)

	wantCode(t, "parse", raw.errorOf("{not json"), ctl.CodeParseError)
	wantCode(t, "invalid request", raw.errorOf(`{"jsonrpc":"2.0","id":1,"method":7}`), ctl.CodeInvalidRequest)
	wantCode(t, "no method", c.Call(bg, "session.nope", nil, nil), ctl.CodeMethodNotFound)
	wantCode(t, "bad client", c.Call(bg, ctl.MethodSession, ctl.ClientParams{Client: "a/b"}, nil), ctl.CodeInvalidParams)
	_, err := c.Send(bg, ctl.SendParams{Wait: true, Client: "x", To: "+4915112345678", Text: "t"})
	wantCode(t, "no session", err, ctl.CodeSessionNotFound)
	_, err = c.Login(bg, ctl.LoginParams{Client: "offline"})
	wantCode(t, "upstream", err, ctl.CodeUpstream)
	_, err = c.Login(bg, ctl.LoginParams{Client: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(bg, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678", Text: "t"})
	wantCode(t, "not ready", err, ctl.CodeSessionNotReady)
	_, err = c.Login(bg, ctl.LoginParams{Client: "slow", Backend: "chromedp"})
	wantCode(t, "timeout", err, ctl.CodeTimeout)
	d.Registry.SetMaxSessions(1)
	_, err = c.Login(bg, ctl.LoginParams{Client: "more"})
	wantCode(t, "limit", err, ctl.CodeLimitReached)

	d2 := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{sessions.Unavailable("whatsmeow", "not built")}})
	_, err = d2.Client.Login(bg, ctl.LoginParams{Client: "sales"})
	wantCode(t, "unavailable", err, ctl.CodeBackendUnavailable)
	if !strings.Contains(err.Error(), "whatsmeow") {
		t.Fatalf("unavailable error does not name the backend: %v", err)
	}
}

func TestLogin500ConcurrentOver50ConnectionsCreates10(t *testing.T) {
	b := &sessiontest.Backend{CreateDelay: 200 * time.Millisecond, StartDelay: 100 * time.Millisecond}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	conns := make([]*ctl.Client, 50)
	for i := range conns {
		conns[i] = d.Dial()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	qrByClient := map[string]map[string]bool{}
	errs := make(chan error, 500)
	for i := range 500 {
		client := fmt.Sprintf("client%d", i%10)
		wg.Go(func() {
			s, err := conns[i%50].Login(bg, ctl.LoginParams{Client: client})
			if err != nil {
				errs <- err
				return
			}
			if s.Client != client || s.State != ctl.StateQR {
				errs <- fmt.Errorf("login %s returned %+v", client, s)
				return
			}
			mu.Lock()
			if qrByClient[client] == nil {
				qrByClient[client] = map[string]bool{}
			}
			qrByClient[client][s.QR] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.Creations.Load(); n != 10 {
		t.Errorf("%d creations, want 10", n)
	}
	if n := b.Starts.Load(); n != 10 {
		t.Errorf("%d starts, want 10", n)
	}
	for c, qrs := range qrByClient {
		if len(qrs) != 1 {
			t.Errorf("%s: callers saw %d different sessions", c, len(qrs))
		}
	}
	if len(qrByClient) != 10 {
		t.Errorf("%d clients answered, want 10", len(qrByClient))
	}
}

// raw is a hand-written JSON-RPC connection, for what the typed client
// cannot send.
type raw struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, socket string) *raw {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, rd: bufio.NewReaderSize(c, 1<<16)}
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (r *raw) send(line string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write([]byte(line + "\n")); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) read() reply {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.rd.ReadBytes('\n')
	if err != nil {
		r.t.Fatalf("reading reply: %v", err)
	}
	var rep reply
	if err := json.Unmarshal(line, &rep); err != nil {
		r.t.Fatalf("reply is not JSON: %q", line)
	}
	return rep
}

// errorOf sends one line and returns the error reply as a *ctl.Error.
func (r *raw) errorOf(line string) error {
	r.t.Helper()
	r.send(line)
	rep := r.read()
	if rep.Error == nil {
		return nil
	}
	return &ctl.Error{Code: rep.Error.Code, Message: rep.Error.Message}
}

// alive proves the connection still serves requests.
func (r *raw) alive() {
	r.t.Helper()
	r.send(`{"jsonrpc":"2.0","id":"probe","method":"wad.version"}`)
	if rep := r.read(); rep.Error != nil || string(rep.ID) != `"probe"` {
		r.t.Fatalf("connection no longer serves: %+v", rep)
	}
}

func TestMalformedInputGetsErrorsAndConnectionSurvives(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	r := dialRaw(t, d.Socket)
	cases := []struct {
		name, line string
		code       int
	}{
		{"garbage", "garbage", ctl.CodeParseError},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"wad.status"`, ctl.CodeParseError},
		{"not an object", `42`, ctl.CodeInvalidRequest},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, ctl.CodeInvalidRequest},
		{"empty batch", `[]`, ctl.CodeInvalidRequest},
		{"no version", `{"id":1,"method":"wad.status"}`, ctl.CodeInvalidRequest},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"rm.rf"}`, ctl.CodeMethodNotFound},
		{"wrong type", `{"jsonrpc":"2.0","id":1,"method":"session.status","params":{"client":42}}`, ctl.CodeInvalidParams},
		{"positional", `{"jsonrpc":"2.0","id":1,"method":"session.status","params":["sales"]}`, ctl.CodeInvalidParams},
		{"unknown field", `{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"cleint":"sales"}}`, ctl.CodeInvalidParams},
		{"missing client", `{"jsonrpc":"2.0","id":1,"method":"session.login","params":{}}`, ctl.CodeInvalidParams},
		{"bad client id", `{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"../../etc"}}`, ctl.CodeInvalidParams},
		{"bad phone", `{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"a","phone":"0151"}}`, ctl.CodeInvalidParams},
		{"bad recipient", `{"jsonrpc":"2.0","id":1,"method":"message.send","params":{"client":"a","to":"bob","text":"x"}}`, ctl.CodeInvalidParams},
		{"bad kind", `{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"kinds":["everything"]}}`, ctl.CodeInvalidParams},
		{"huge line", `{"jsonrpc":"2.0","id":1,"method":"message.send","params":{"client":"a","to":"+4915112345678","text":"` + strings.Repeat("x", 2<<20) + `"}}`, ctl.CodeInvalidRequest},
	}
	for _, tc := range cases {
		wantCode(t, tc.name, r.errorOf(tc.line), tc.code)
		r.alive()
	}
	// Nothing above created a session.
	if n := b.Creations.Load(); n != 0 {
		t.Fatalf("malformed requests created %d sessions", n)
	}
	// Another connection was never disturbed.
	if _, err := d.Client.Status(bg); err != nil {
		t.Fatal(err)
	}
}

func TestClientDisconnectingMidRequestDoesNotAbortTheLogin(t *testing.T) {
	b := &sessiontest.Backend{CreateDelay: 300 * time.Millisecond}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"sales"}}`)
	for b.Creations.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	r.c.Close()
	s, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"})
	if err != nil || s.State != ctl.StateQR {
		t.Fatalf("login after a client vanished mid-request: %+v, %v", s, err)
	}
	if n := b.Creations.Load(); n != 1 {
		t.Fatalf("%d creations", n)
	}
}

func TestHalfClosedConnectionStillGetsItsReplies(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{StartDelay: 200 * time.Millisecond}}})
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"sales"}}` + "\n" + `{"jsonrpc":"2.0","id":2,"method":"wad.version"}`)
	r.c.(*net.UnixConn).CloseWrite() // what `printf ... | socat` does
	got := map[string]bool{}
	for range 2 {
		rep := r.read()
		if rep.Error != nil {
			t.Fatalf("error: %+v", rep.Error)
		}
		got[string(rep.ID)] = true
	}
	if !got["1"] || !got["2"] {
		t.Fatalf("replies for %v", got)
	}
}

func TestEventsArePushedToSubscribersOnly(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	w, err := d.Client.Watch(bg, ctl.SubscribeParams{Clients: []string{"sales"}})
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := d.Dial().Watch(bg, ctl.SubscribeParams{Kinds: []string{ctl.KindMessage}})
	if err != nil {
		t.Fatal(err)
	}
	other := d.Dial()
	if _, err := other.Login(bg, ctl.LoginParams{Client: "other"}); err != nil {
		t.Fatal(err)
	}
	s, err := other.Login(bg, ctl.LoginParams{Client: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M1", Chat: "4915112345678@s.whatsapp.net", Text: "hi"}})

	var seq []string
	for range 4 {
		ev := nextOf(t, w)
		if ev.Client != "sales" || ev.Subscription != w.ID {
			t.Fatalf("filtered watch got %+v", ev)
		}
		seq = append(seq, ev.Kind)
		if ev.Session != nil {
			seq[len(seq)-1] += ":" + string(ev.Session.State)
		}
		if ev.Kind == ctl.KindQR && ev.QR != s.QR {
			t.Fatalf("qr event %q, login returned %q", ev.QR, s.QR)
		}
	}
	if strings.Join(seq, ",") != "state:starting,state:qr,qr:qr,message" {
		t.Fatalf("event sequence %v", seq)
	}
	if ev := nextOf(t, kinds); ev.Kind != ctl.KindMessage || ev.Message.ID != "M1" {
		t.Fatalf("kind-filtered watch got %+v", ev)
	}
}

func TestSlowSubscriberNeverBlocksSessions(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{}}`)
	if rep := r.read(); rep.Error != nil {
		t.Fatal(rep.Error)
	}
	// r never reads again. Flood events well past the socket buffers.
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 4096)
	done := make(chan struct{})
	go func() {
		for i := range 5000 {
			b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: fmt.Sprint(i), Text: big}})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publishing blocked on a subscriber that does not read")
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if _, err := d.Client.Login(ctx, ctl.LoginParams{Client: "other"}); err != nil {
		t.Fatalf("daemon stalled behind a slow subscriber: %v", err)
	}
}

func TestAccessRulesLimitWhatAPeerMayDo(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	uid := fmt.Sprint(os.Getuid())
	// Root and the daemon's own user always pass; the tests run as one of
	// them, so the policy is installed without those exemptions.
	setAccess := func(rules ...daemon.AccessRule) {
		t.Helper()
		if err := daemon.SetAccessForTest(d.D, rules); err != nil {
			t.Fatal(err)
		}
	}
	setAccess(daemon.AccessRule{Users: []string{uid}, Clients: []string{"sales-*"}, Allow: "write"},
		daemon.AccessRule{Users: []string{uid}, Allow: "read"})
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales-eu"}); err != nil {
		t.Fatalf("allowed login refused: %v", err)
	}
	_, err := d.Client.Login(bg, ctl.LoginParams{Client: "support"})
	wantCode(t, "login outside the rule", err, ctl.CodePermissionDenied)
	if _, err := d.Client.List(bg); err != nil {
		t.Fatalf("read refused: %v", err)
	}
	setAccess(daemon.AccessRule{Users: []string{uid}, Clients: []string{"support"}, Allow: "read"})
	list, err := d.Client.List(bg)
	if err != nil || len(list) != 0 {
		t.Fatalf("list must hide clients the peer may not read: %+v, %v", list, err)
	}
	_, err = d.Client.Session(bg, "sales-eu")
	wantCode(t, "status of a hidden client", err, ctl.CodePermissionDenied)
	_, err = d.Client.Send(bg, ctl.SendParams{Wait: true, Client: "support", To: "+4915112345678", Text: "x"})
	wantCode(t, "send with read access", err, ctl.CodePermissionDenied)
	// What spans every client needs a rule for every client.
	_, err = d.Client.Watch(bg, ctl.SubscribeParams{Clients: []string{"support"}, Consumer: "crm"})
	wantCode(t, "a consumer for a peer of one client", err, ctl.CodePermissionDenied)
	_, err = d.Client.Ack(bg, "crm", 0)
	wantCode(t, "an ack for a peer of one client", err, ctl.CodePermissionDenied)
	_, err = d.Client.Webhooks(bg, false)
	wantCode(t, "webhooks.list for a peer of one client", err, ctl.CodePermissionDenied)
	since := uint64(0)
	if _, err := d.Client.Watch(bg, ctl.SubscribeParams{Clients: []string{"support"}, Since: &since}); err != nil {
		t.Fatalf("a replay of the peer's own client: %v", err)
	}
	setAccess(daemon.AccessRule{Users: []string{uid}, Allow: "read"})
	if _, err := d.Client.Ack(bg, "crm", 0); err != nil {
		t.Fatalf("an ack for a peer of every client: %v", err)
	}
	setAccess(daemon.AccessRule{Users: []string{"123456"}, Allow: "write"})
	_, err = d.Client.Status(bg)
	wantCode(t, "status without a rule", err, ctl.CodePermissionDenied)
}

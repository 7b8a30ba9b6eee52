package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// message is any line the daemon writes: a reply or a notification.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params ctl.Event       `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// line returns the next line the daemon writes, failing the test after
// 5s or at the end of the connection.
func (r *raw) line() []byte {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := r.rd.ReadBytes('\n')
	if err != nil {
		r.t.Fatalf("reading from the daemon: %v", err)
	}
	return b
}

// next returns the next message (not a batch).
func (r *raw) next() message {
	r.t.Helper()
	b := r.line()
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		r.t.Fatalf("not a JSON-RPC message: %q", b)
	}
	return m
}

// eof fails the test unless the daemon closes the connection within 5s
// without writing anything more.
func (r *raw) eof() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := r.rd.ReadBytes('\n'); err != io.EOF {
		r.t.Fatalf("want the connection closed, got %q, %v", b, err)
	}
}

func TestSubscribeInABatchRepliesBeforeItsEvents(t *testing.T) {
	b := &sessiontest.Backend{StartDelay: 50 * time.Millisecond}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	r := dialRaw(t, d.Socket)
	r.send(`[{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"clients":["sales"]}},` +
		`{"jsonrpc":"2.0","id":2,"method":"session.login","params":{"client":"sales"}}]`)
	first := r.line()
	var batch []message
	if json.Unmarshal(first, &batch) != nil || len(batch) != 2 {
		t.Fatalf("first line after the batch is not its reply: %s", first)
	}
	var sub ctl.SubscribeResult
	for _, m := range batch {
		if string(m.ID) == "1" {
			json.Unmarshal(m.Result, &sub)
		}
	}
	if sub.Subscription == "" {
		t.Fatalf("batch reply without a subscription: %s", first)
	}
	for {
		m := r.next()
		if m.Method != ctl.NotifyEvent || m.Params.Subscription != sub.Subscription {
			t.Fatalf("want events of %s, got %+v", sub.Subscription, m)
		}
		if m.Params.Kind == ctl.KindQR {
			return
		}
	}
}

func TestNoEventAfterTheUnsubscribeReply(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"kinds":["message"]}}`)
	if m := r.next(); m.Error != nil {
		t.Fatal(m.Error)
	}
	// Not reading: the socket fills and the bus queues for the feed.
	big := strings.Repeat("x", 4096)
	for i := range 2000 {
		b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: fmt.Sprint(i), Text: big}})
	}
	r.send(`{"jsonrpc":"2.0","id":2,"method":"events.unsubscribe","params":{"subscription":"sub-1"}}`)
	before := 0
	for m := r.next(); string(m.ID) != "2"; m = r.next() {
		before++
	}
	// Give a feed that was not stopped time to write, then mark the end.
	time.Sleep(200 * time.Millisecond)
	r.send(`{"jsonrpc":"2.0","id":3,"method":"wad.version"}`)
	after := 0
	for m := r.next(); string(m.ID) != "3"; m = r.next() {
		after++
	}
	if after != 0 {
		t.Fatalf("%d events after the unsubscribe reply (%d before it)", after, before)
	}
}

func TestOversizedRequestIsAnsweredWithItsID(t *testing.T) {
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b},
		Config: func(c *daemon.Config) { c.MaxRequestBytes = 4096 }})
	text := strings.Repeat("x", 10000)
	params := `"params":{"client":"sales","to":"+4915112345678","text":"` + text + `"}`

	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":"big-1","method":"message.send",` + params + `}`)
	m := r.next()
	if string(m.ID) != `"big-1"` || m.Error == nil || m.Error.Code != ctl.CodeInvalidRequest {
		t.Fatalf("oversized request with a leading id: got %+v", m)
	}
	r.alive()

	// The id comes after the part that is too large: nobody can tell
	// which call failed, so the daemon says so and hangs up.
	r.send(`{"jsonrpc":"2.0","method":"message.send",` + params + `,"id":9}`)
	m = r.next()
	if string(m.ID) != "null" || m.Error == nil || m.Error.Code != ctl.CodeInvalidRequest {
		t.Fatalf("oversized request without a leading id: got %+v", m)
	}
	r.eof()

	// The Go client (wactl send) gets the error instead of waiting.
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	_, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678", Text: text})
	wantCode(t, "oversized send", err, ctl.CodeInvalidRequest)
	if _, err := d.Client.Status(ctx); err != nil {
		t.Fatalf("client unusable after an oversized request: %v", err)
	}
}

func TestNullIDRequestIsAnswered(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}})
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":null,"method":"wad.version"}`)
	m := r.next()
	var v ctl.VersionResult
	if string(m.ID) != "null" || m.Error != nil || json.Unmarshal(m.Result, &v) != nil || v.Version != "test" {
		t.Fatalf("id null: got %+v", m)
	}

	r.send(`[{"jsonrpc":"2.0","id":null,"method":"wad.version"},{"jsonrpc":"2.0","id":5,"method":"session.nope"},{"jsonrpc":"2.0","method":"wad.version"}]`)
	var batch []message
	if line := r.line(); json.Unmarshal(line, &batch) != nil || len(batch) != 2 {
		t.Fatalf("batch with a null id: got %s", line)
	}
	ids := []string{string(batch[0].ID), string(batch[1].ID)}
	slices.Sort(ids)
	if ids[0] != "5" || ids[1] != "null" {
		t.Fatalf("batch reply ids %v, want 5 and null", ids)
	}

	// A notification (no id member) is still not answered.
	r.send(`{"jsonrpc":"2.0","method":"wad.version"}`)
	r.alive()

	// A half-closed connection gets its reply and is closed at once.
	r2 := dialRaw(t, d.Socket)
	r2.send(`{"jsonrpc":"2.0","id":null,"method":"session.list"}`)
	r2.c.(*net.UnixConn).CloseWrite()
	if m := r2.next(); string(m.ID) != "null" || m.Error != nil {
		t.Fatalf("half-closed, id null: got %+v", m)
	}
	r2.eof()
}

// A call still in flight when shutdown_timeout runs out loses its
// connection: the Go client ends it with ErrClosed, not a hang.
func TestCallsInFlightWhenTheConnectionDropsGetErrClosed(t *testing.T) {
	b := &sessiontest.Backend{Connect: true, StopGate: make(chan struct{})}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b},
		Config: func(c *daemon.Config) { c.ShutdownTimeout = time.Second }})
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Client.Stop(bg, "sales") // held by StopGate
		errc <- err
	}()
	for b.Stops.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	d.Stop() // its stop of sales is held too, past shutdown_timeout
	select {
	case err := <-errc:
		if !errors.Is(err, ctl.ErrClosed) || errors.Is(err, ctl.ErrInternal) {
			t.Fatalf("call in flight on a dropped connection: %v (%T), want ctl.ErrClosed", err, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call in flight did not end when its connection dropped")
	}
}

// A call cancelled because the daemon closed its connection (here: a line
// over the bound without an id to answer it under) is logged at Debug.
func TestCancelledRequestIsNotLoggedAsAnError(t *testing.T) {
	var logs syncbuf.Buffer
	b := &sessiontest.Backend{CreateDelay: time.Hour}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b},
		Config: func(c *daemon.Config) { c.MaxRequestBytes = 4096 },
		Log:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"sales"}}`)
	for b.Creations.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	r.send(`{"jsonrpc":"2.0","method":"wad.version","params":"` + strings.Repeat("x", 8192) + `"}`)
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, r.rd) // until the daemon closes
	// jrpc2 cancels the calls in flight right after it closes.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `msg="request cancelled" method=session.login`); {
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled login was not logged at Debug:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.Stop()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a cancelled request was logged as an error:\n%s", logs.String())
	}
}

func TestMethodTableDrivesDispatchAndAccess(t *testing.T) {
	var spec []ctl.Method
	for _, m := range ctl.Methods {
		switch m.Name {
		case ctl.MethodStop: // left out: not served
			continue
		case ctl.MethodStatus: // made a write method
			m.Access = ctl.Write
		}
		spec = append(spec, m)
	}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}, Methods: spec})
	_, err := d.Client.Stop(bg, "sales")
	wantCode(t, "method left out of the table", err, ctl.CodeMethodNotFound)
	wantCode(t, "jrpc2's built-in method", d.Client.Call(bg, "rpc.serverInfo", nil, nil), ctl.CodeMethodNotFound)

	uid := fmt.Sprint(os.Getuid())
	if err := daemon.SetAccessForTest(d.D, []daemon.AccessRule{{Users: []string{uid}, Allow: "read"}}); err != nil {
		t.Fatal(err)
	}
	_, err = d.Client.Status(bg)
	wantCode(t, "status as a write method, read access", err, ctl.CodePermissionDenied)
	if _, err := d.Client.List(bg); err != nil {
		t.Fatalf("read method with read access: %v", err)
	}
	if err := daemon.SetAccessForTest(d.D, []daemon.AccessRule{{Users: []string{uid}, Allow: "write"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client.Status(bg); err != nil {
		t.Fatalf("status as a write method, write access: %v", err)
	}
	_, err = d.Client.Stop(bg, "sales")
	wantCode(t, "method left out of the table, write access", err, ctl.CodeMethodNotFound)
}

package whatsmeow_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/wad-project/wad/internal/syncbuf"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// These tests run a real daemon on a real Unix socket with the real
// whatsmeow backend; only the network is missing. Sessions are driven by
// feeding whatsmeow's own event structs (and QR channel items) into the
// backend's handler, and every effect is checked as a client sees it.

func startDaemon(t *testing.T, b *wm.Backend, stateDir string, log *slog.Logger) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, daemontest.Options{
		Backends:       []sessions.Backend{b},
		StateDir:       stateDir,
		DefaultBackend: wm.Name,
		StartTimeout:   60 * time.Second,
		Log:            log,
	})
}

type loginResult struct {
	st  *ctl.Session
	err error
}

func loginAsync(c *ctl.Client, p ctl.LoginParams) <-chan loginResult {
	ch := make(chan loginResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		st, err := c.Login(ctx, p)
		ch <- loginResult{st, err}
	}()
	return ch
}

func waitLogin(t *testing.T, ch <-chan loginResult) loginResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("session.login did not return")
		return loginResult{}
	}
}

// nextEvent returns the next event the watcher delivers.
func nextEvent(t *testing.T, w *ctl.Watcher) ctl.Event {
	t.Helper()
	select {
	case ev, ok := <-w.C:
		if !ok {
			t.Fatal("watch ended")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
		return ctl.Event{}
	}
}

// expectState reads events up to the next state event and checks it;
// the events read on the way are returned.
func expectState(t *testing.T, w *ctl.Watcher, state ctl.State, reason string) (ctl.Event, []ctl.Event) {
	t.Helper()
	var seen []ctl.Event
	for {
		ev := nextEvent(t, w)
		if ev.Kind != ctl.KindState {
			seen = append(seen, ev)
			continue
		}
		if ev.Session.State != state || ev.Session.Reason != reason {
			t.Fatalf("state event %s/%s (%s), want %s/%s", ev.Session.State, ev.Session.Reason, ev.Session.Message, state, reason)
		}
		return ev, seen
	}
}

// skipToState reads events until a state event for state arrives and
// checks its reason.
func skipToState(t *testing.T, w *ctl.Watcher, state ctl.State, reason string) ctl.Event {
	t.Helper()
	for {
		ev := nextEvent(t, w)
		if ev.Kind == ctl.KindState && ev.Session.State == state {
			if ev.Session.Reason != reason {
				t.Fatalf("state event %s/%s (%s), want reason %s", state, ev.Session.Reason, ev.Session.Message, reason)
			}
			return ev
		}
	}
}

func expectKind(t *testing.T, w *ctl.Watcher, kind string) ctl.Event {
	t.Helper()
	ev := nextEvent(t, w)
	if ev.Kind != kind {
		b, _ := json.Marshal(ev)
		t.Fatalf("event %s, want kind %s", b, kind)
	}
	return ev
}

func status(t *testing.T, d *daemontest.Daemon, client string) ctl.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.Client.Session(ctx, client)
	if err != nil {
		t.Fatalf("session.status %s: %v", client, err)
	}
	return *st
}

func watch(t *testing.T, d *daemontest.Daemon, client string) *ctl.Watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := d.Client.Watch(ctx, ctl.SubscribeParams{Clients: []string{client}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// showQR logs client in over the socket and feeds the first QR code; it
// returns what session.login returned.
func showQR(t *testing.T, d *daemontest.Daemon, b *wm.Backend, client string, codes ...string) *ctl.Session {
	t.Helper()
	done := loginAsync(d.Client, ctl.LoginParams{Client: client})
	waitRunning(t, b, client)
	feed(t, b, client, &events.QR{Codes: codes})
	r := waitLogin(t, done)
	if r.err != nil {
		t.Fatalf("session.login %s: %v", client, r.err)
	}
	return r.st
}

func TestWhatsmeowEventsBecomeStatesAndEventsOnTheSocket(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline())
	d := startDaemon(t, b, dir, nil)
	w := watch(t, d, "sales")

	// QR codes: login returns the first, each rotation is an event.
	st := showQR(t, d, b, "sales", "2@first,code", "2@second,code")
	if st.State != ctl.StateQR || st.QR != "2@first,code" {
		t.Fatalf("session.login returned %+v, want state qr with the first code", st)
	}
	expectState(t, w, ctl.StateStarting, "")
	if ev, _ := expectState(t, w, ctl.StateQR, ""); ev.Session.QR != "2@first,code" {
		t.Fatalf("qr state event carries %q", ev.Session.QR)
	}
	if ev := expectKind(t, w, ctl.KindQR); ev.QR != "2@first,code" {
		t.Fatalf("first qr event %q", ev.QR)
	}
	wm.QRItem(b, "sales", wa.QRChannelItem{Event: wa.QRChannelEventCode, Code: "2@second,code", Timeout: 20 * time.Second})
	if ev := expectKind(t, w, ctl.KindQR); ev.QR != "2@second,code" {
		t.Fatalf("rotated qr event %q", ev.QR)
	}
	if st := status(t, d, "sales"); st.QR != "2@second,code" {
		t.Fatalf("session.status after rotation: %+v", st)
	}

	// Pair success, then whatsmeow's reconnect reports Connected.
	pair(t, b, "sales", deviceJID("4915112345678", 9), "Sales Desk")
	if ev, _ := expectState(t, w, ctl.StateStarting, ""); ev.Session.JID != "4915112345678@s.whatsapp.net" || ev.Session.QR != "" {
		t.Fatalf("after pair success: %+v", ev.Session)
	}
	feed(t, b, "sales", &events.Connected{})
	if ev, _ := expectState(t, w, ctl.StateConnected, ""); ev.Session.JID != "4915112345678@s.whatsapp.net" || ev.Session.PushName != "Sales Desk" {
		t.Fatalf("connected: %+v", ev.Session)
	}
	if st := status(t, d, "sales"); st.State != ctl.StateConnected || st.JID != "4915112345678@s.whatsapp.net" || st.PushName != "Sales Desk" {
		t.Fatalf("session.status when connected: %+v", st)
	}

	// Incoming messages and receipts.
	ts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	src := types.MessageSource{
		Chat:   types.NewJID("4917600000001", types.DefaultUserServer),
		Sender: types.NewJID("4917600000001", types.DefaultUserServer),
	}
	feed(t, b, "sales", &events.Message{
		Info:    types.MessageInfo{MessageSource: src, ID: "MSG1", Timestamp: ts},
		Message: &waE2E.Message{Conversation: proto.String("hello from the phone")},
	})
	feed(t, b, "sales", &events.Message{
		Info:    types.MessageInfo{MessageSource: src, ID: "MSG2", Timestamp: ts},
		Message: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("look at this")}},
	})
	feed(t, b, "sales", &events.Receipt{MessageSource: src, MessageIDs: []types.MessageID{"OUT1", "OUT2"}, Timestamp: ts, Type: types.ReceiptTypeRead})
	m1 := expectKind(t, w, ctl.KindMessage).Message
	if m1 == nil || m1.ID != "MSG1" || m1.Text != "hello from the phone" || m1.Type != "text" ||
		m1.Sender != "4917600000001@s.whatsapp.net" || m1.Chat != "4917600000001@s.whatsapp.net" || !m1.Timestamp.Equal(ts) {
		t.Fatalf("text message event: %+v", m1)
	}
	m2 := expectKind(t, w, ctl.KindMessage).Message
	if m2 == nil || m2.ID != "MSG2" || m2.Type != "image" || m2.Caption != "look at this" || m2.Text != "" {
		t.Fatalf("image message event: %+v", m2)
	}
	rc := expectKind(t, w, ctl.KindReceipt).Receipt
	if rc == nil || !slices.Equal(rc.IDs, []string{"OUT1", "OUT2"}) || rc.Type != "read" || rc.Chat != "4917600000001@s.whatsapp.net" || !rc.Timestamp.Equal(ts) {
		t.Fatalf("receipt event: %+v", rc)
	}

	// A transient disconnect, whatsmeow reconnects.
	feed(t, b, "sales", &events.Disconnected{})
	expectState(t, w, ctl.StateDisconnected, ctl.ReasonConnectionLost)
	feed(t, b, "sales", &events.Connected{})
	expectState(t, w, ctl.StateConnected, "")
	feed(t, b, "sales", &events.KeepAliveTimeout{ErrorCount: 3})
	expectState(t, w, ctl.StateDisconnected, ctl.ReasonConnectionLost)
	feed(t, b, "sales", &events.Connected{})
	expectState(t, w, ctl.StateConnected, "")

	// The same device connected elsewhere.
	feed(t, b, "sales", &events.StreamReplaced{})
	ev, _ := expectState(t, w, ctl.StateFailed, ctl.ReasonStreamReplaced)
	if ev.Session.Message == "" {
		t.Error("stream_replaced without a message")
	}
	if wm.RunningClient(b, "sales") != nil {
		t.Error("whatsmeow client still running after stream replaced")
	}
	// Late events of the dead client change nothing.
	if wm.HandleEvent(b, "sales", &events.Connected{}) {
		t.Error("a replaced session still accepts events")
	}
	if st := status(t, d, "sales"); st.State != ctl.StateFailed || st.Reason != ctl.ReasonStreamReplaced {
		t.Fatalf("session.status after stream replaced: %+v", st)
	}
	// The login survived: the next login resumes it without a QR code.
	done := loginAsync(d.Client, ctl.LoginParams{Client: "sales"})
	waitRunning(t, b, "sales")
	feed(t, b, "sales", &events.Connected{})
	if r := waitLogin(t, done); r.err != nil || r.st.State != ctl.StateConnected {
		t.Fatalf("login after stream replaced: %+v, %v", r.st, r.err)
	}
}

func TestTerminalWhatsmeowEventsEndSessionsWithActionableReasons(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline())
	d := startDaemon(t, b, dir, nil)
	cases := []struct {
		client  string
		paired  bool
		drive   func(client string)
		state   ctl.State
		reason  string
		message string // substring
	}{
		{"loggedout", true, func(c string) {
			feed(t, b, c, &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut})
		}, ctl.StateLoggedOut, ctl.ReasonLoggedOut, "unlinked from the phone"},
		{"outdated", false, func(c string) { feed(t, b, c, &events.ClientOutdated{}) }, ctl.StateFailed, ctl.ReasonClientOutdated, "update wad"},
		{"banned", true, func(c string) {
			feed(t, b, c, &events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: time.Hour})
		}, ctl.StateFailed, ctl.ReasonTemporarilyBanned, "too many people blocked you"},
		{"refused", true, func(c string) {
			feed(t, b, c, &events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent, Message: "nope"})
		}, ctl.StateFailed, ctl.ReasonBackendError, "409"},
		{"qrtimeout", false, func(c string) {
			wm.QRItem(b, c, wa.QRChannelTimeout)
		}, ctl.StateFailed, ctl.ReasonQRTimeout, "in time"},
		{"dropped", false, func(c string) { feed(t, b, c, &events.Disconnected{}) }, ctl.StateFailed, ctl.ReasonNetwork, "before the login finished"},
		{"pairerr", false, func(c string) {
			feed(t, b, c, &events.PairError{Error: errors.New("invalid device identity HMAC")})
		}, ctl.StateFailed, ctl.ReasonPairingRejected, "HMAC"},
	}
	for i, c := range cases {
		t.Run(c.client, func(t *testing.T) {
			w := watch(t, d, c.client)
			showQR(t, d, b, c.client, "2@"+c.client)
			if c.paired {
				pair(t, b, c.client, deviceJID("49151000002"+string(rune('0'+i)), 2), "")
				feed(t, b, c.client, &events.Connected{})
				skipToState(t, w, ctl.StateConnected, "")
			}
			c.drive(c.client)
			ev := skipToState(t, w, c.state, c.reason)
			if !strings.Contains(ev.Session.Message, c.message) {
				t.Errorf("message %q does not mention %q", ev.Session.Message, c.message)
			}
			st := status(t, d, c.client)
			if st.State != c.state || st.Reason != c.reason {
				t.Errorf("session.status: %+v", st)
			}
			if wm.RunningClient(b, c.client) != nil {
				t.Error("whatsmeow client still running")
			}
			stored, err := b.Stored(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantStored := c.paired && c.state != ctl.StateLoggedOut
			if slices.Contains(stored, c.client) != wantStored {
				t.Errorf("stored logins %v; %s stored = %v, want %v", stored, c.client, !wantStored, wantStored)
			}
			if !c.paired || c.state == ctl.StateLoggedOut {
				// Nothing usable is stored: the next login shows a new QR code.
				if st := showQR(t, d, b, c.client, "2@again"); st.State != ctl.StateQR || st.QR != "2@again" {
					t.Errorf("login after %s: %+v", c.reason, st)
				}
				if cli := wm.RunningClient(b, c.client); cli.Store.ID != nil {
					t.Errorf("login after %s reused device %v", c.reason, cli.Store.ID)
				}
			}
		})
	}
}

func TestPhoneLoginShowsThePairingCodeRequestedAfterTheFirstQRCode(t *testing.T) {
	dir := t.TempDir()
	var (
		mu     sync.Mutex
		phones []string
	)
	b, _ := newBackend(t, dir, nil, offline(), wm.WithPairPhone(func(ctx context.Context, phone string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		phones = append(phones, phone)
		return "ABCD-1234", nil
	}))
	d := startDaemon(t, b, dir, nil)
	w := watch(t, d, "field")
	done := loginAsync(d.Client, ctl.LoginParams{Client: "field", Phone: "+49 151 1234-5678"})
	waitRunning(t, b, "field")
	// whatsmeow emits QR codes on a phone login too; they are not shown.
	feed(t, b, "field", &events.QR{Codes: []string{"2@unused"}})
	mu.Lock()
	early := len(phones)
	mu.Unlock()
	if early != 0 {
		t.Fatal("the pairing code was requested before the QR channel's first code")
	}
	wm.QRItem(b, "field", wa.QRChannelItem{Event: wa.QRChannelEventCode, Code: "2@unused", Timeout: time.Minute})
	r := waitLogin(t, done)
	if r.err != nil || r.st.State != ctl.StatePairing || r.st.PairCode != "ABCD-1234" || r.st.QR != "" {
		t.Fatalf("session.login with phone: %+v, %v", r.st, r.err)
	}
	// A second code does not ask again.
	wm.QRItem(b, "field", wa.QRChannelItem{Event: wa.QRChannelEventCode, Code: "2@unused2", Timeout: time.Minute})
	mu.Lock()
	got := slices.Clone(phones)
	mu.Unlock()
	if !slices.Equal(got, []string{"+4915112345678"}) {
		t.Fatalf("pairing codes requested for %v, want once for +4915112345678", got)
	}
	expectState(t, w, ctl.StateStarting, "")
	ev, seen := expectState(t, w, ctl.StatePairing, "")
	if ev.Session.PairCode != "ABCD-1234" {
		t.Fatalf("pairing event: %+v", ev.Session)
	}
	for _, e := range seen {
		if e.Kind == ctl.KindQR {
			t.Fatalf("a phone login published a QR code: %+v", e)
		}
	}
	// The phone accepts the code.
	pair(t, b, "field", deviceJID("4915112345678", 3), "Field")
	feed(t, b, "field", &events.Connected{})
	expectState(t, w, ctl.StateStarting, "")
	if ev, _ := expectState(t, w, ctl.StateConnected, ""); ev.Session.JID != "4915112345678@s.whatsapp.net" {
		t.Fatalf("connected: %+v", ev.Session)
	}
}

func TestPairingCodeRefusedByWhatsAppFailsTheLogin(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline(), wm.WithPairPhone(func(ctx context.Context, phone string) (string, error) {
		return "", &wa.IQError{Code: 400, Text: "bad-request"}
	}))
	d := startDaemon(t, b, dir, nil)
	done := loginAsync(d.Client, ctl.LoginParams{Client: "field", Phone: "+4915112345678"})
	waitRunning(t, b, "field")
	wm.QRItem(b, "field", wa.QRChannelItem{Event: wa.QRChannelEventCode, Code: "2@x", Timeout: time.Minute})
	r := waitLogin(t, done)
	if !errors.Is(r.err, ctl.ErrUpstream) {
		t.Fatalf("login error %v, want upstream", r.err)
	}
	st := status(t, d, "field")
	if st.State != ctl.StateFailed || st.Reason != ctl.ReasonPairingRejected || !strings.Contains(st.Message, "bad-request") {
		t.Fatalf("session.status: %+v", st)
	}
}

func TestLoginWithoutNetworkFailsReadablyAndRetriesOncePerLogin(t *testing.T) {
	dir := t.TempDir()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, dialer := newBackend(t, dir, log) // the real connect, through a dialer that refuses
	d := startDaemon(t, b, dir, log)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err := d.Client.Login(ctx, ctl.LoginParams{Client: "offline"})
	if !errors.Is(err, ctl.ErrUpstream) {
		t.Fatalf("login error %v, want upstream (-32004)", err)
	}
	if !strings.Contains(err.Error(), "could not reach WhatsApp") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("login error %q is not readable", err)
	}
	st := status(t, d, "offline")
	if st.State != ctl.StateFailed || st.Reason != ctl.ReasonNetwork || !strings.Contains(st.Message, "connection refused") {
		t.Fatalf("session.status: %+v", st)
	}
	addrs := dialer.Addrs()
	if len(addrs) != 1 || addrs[0] != "web.whatsapp.com:443" {
		t.Fatalf("dial attempts %v, want exactly one, to WhatsApp's websocket through the injected dialer", addrs)
	}
	t.Logf("login error: %v", err)
	// The daemon keeps serving.
	if _, err := d.Client.Status(ctx); err != nil {
		t.Fatalf("wad.status after the failed login: %v", err)
	}
	// A second login tries again, once.
	_, err = d.Client.Login(ctx, ctl.LoginParams{Client: "offline"})
	if !errors.Is(err, ctl.ErrUpstream) {
		t.Fatalf("second login error %v, want upstream", err)
	}
	if addrs := dialer.Addrs(); len(addrs) != 2 {
		t.Fatalf("dial attempts after the second login %v, want two", addrs)
	}
	// Nothing retries in the background.
	time.Sleep(300 * time.Millisecond)
	if addrs := dialer.Addrs(); len(addrs) != 2 {
		t.Fatalf("dial attempts grew to %v without a login", addrs)
	}
	// whatsmeow's own logs reach our logger with the client id.
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["client"] == "offline" && strings.HasPrefix(stringOf(rec["module"]), "Client") {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("no whatsmeow log line with client=offline and a Client module in:\n%s", logs.String())
	}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

func TestValidationRefusesBadPhonesJIDsAndEmptyTexts(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline())
	d := startDaemon(t, b, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, phone := range []string{"12345", "+0151123456", "+49 abc", "+1234", "49151123456789012345"} {
		if _, err := d.Client.Login(ctx, ctl.LoginParams{Client: "v", Phone: phone}); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("login with phone %q: %v, want invalid params", phone, err)
		}
	}
	if wm.RunningClient(b, "v") != nil {
		t.Fatal("a login with a bad phone number started a session")
	}
	showQR(t, d, b, "v", "2@v")
	// Not connected yet: not ready.
	if _, err := d.Client.Send(ctx, ctl.SendParams{Client: "v", To: "+4915112345678", Text: "hi"}); !errors.Is(err, ctl.ErrNotReady) {
		t.Errorf("send while showing a QR code: %v, want not ready (-32002)", err)
	}
	pair(t, b, "v", deviceJID("4915100000031", 2), "")
	feed(t, b, "v", &events.Connected{})
	for _, to := range []string{"", "foo@bar", "+12", "4915112345678@g.us.evil", "abc@s.whatsapp.net", "+49151123456789012"} {
		if _, err := d.Client.Send(ctx, ctl.SendParams{Client: "v", To: to, Text: "hi"}); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("send to %q: %v, want invalid params", to, err)
		}
	}
	// Connected as far as the session knows, but the websocket is gone
	// (there never was one): whatsmeow says not connected, the caller
	// gets not ready, not an upstream error.
	if _, err := d.Client.Send(ctx, ctl.SendParams{Client: "v", To: "+4915112345678", Text: "hi"}); !errors.Is(err, ctl.ErrNotReady) {
		t.Errorf("send without a websocket: %v, want not ready (-32002)", err)
	}
	for _, text := range []string{"", "   \n\t"} {
		if _, err := d.Client.Send(ctx, ctl.SendParams{Client: "v", To: "+4915112345678", Text: text}); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("send of %q: %v, want invalid params", text, err)
		}
	}
}

func TestLogoutOverTheSocketDeletesTheLoginAndRemovesTheSession(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline())
	d := startDaemon(t, b, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []string{"one", "two"} {
		showQR(t, d, b, c, "2@"+c)
	}
	pair(t, b, "one", deviceJID("4915100000041", 2), "")
	pair(t, b, "two", deviceJID("4915100000042", 2), "")
	feed(t, b, "one", &events.Connected{})
	feed(t, b, "two", &events.Connected{})
	st, err := d.Client.Logout(ctx, "one")
	if err != nil || st.State != ctl.StateLoggedOut || st.Reason != ctl.ReasonLogoutRequested {
		t.Fatalf("session.logout: %+v, %v", st, err)
	}
	if _, err := d.Client.Session(ctx, "one"); !errors.Is(err, ctl.ErrNotFound) {
		t.Errorf("session.status after logout: %v, want not found", err)
	}
	if stored, _ := b.Stored(ctx); !slices.Equal(stored, []string{"two"}) {
		t.Errorf("stored after logout: %v, want [two]", stored)
	}
	if st := status(t, d, "two"); st.State != ctl.StateConnected {
		t.Errorf("the other session: %+v", st)
	}
	// session.stop keeps the login.
	if st, err := d.Client.Stop(ctx, "two"); err != nil || st.State != ctl.StateStopped {
		t.Fatalf("session.stop: %+v, %v", st, err)
	}
	if stored, _ := b.Stored(ctx); !slices.Equal(stored, []string{"two"}) {
		t.Errorf("stored after stop: %v, want [two]", stored)
	}
}

func TestStopDuringAStartEndsItWithoutAClientLeftRunning(t *testing.T) {
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline())
	reg := sessions.New(sessions.Config{StateDir: dir, DefaultBackend: wm.Name}, b)
	t.Cleanup(func() { reg.Close(context.Background()) })
	done := make(chan error, 1)
	go func() {
		_, err := reg.Login(context.Background(), "slow", sessions.LoginOptions{})
		done <- err
	}()
	cli := waitRunning(t, b, "slow")
	st, err := reg.Stop(context.Background(), "slow")
	if err != nil || st.State != ctl.StateStopped {
		t.Fatalf("stop during a start: %+v, %v", st, err)
	}
	if err := waitErr(t, done); !errors.Is(err, ctl.ErrNotReady) || !strings.Contains(err.Error(), "cancelled by session.stop") {
		t.Fatalf("start interrupted by stop returned %v, want not ready naming the stop", err)
	}
	if wm.RunningClient(b, "slow") != nil || cli.IsConnected() {
		t.Fatal("a whatsmeow client is still running after stop")
	}
	// Events of the stopped client are ignored.
	if wm.HandleEvent(b, "slow", &events.QR{Codes: []string{"2@late"}}) {
		t.Fatal("a stopped session accepted an event")
	}
	if st, _ := reg.Get("slow"); st.State != ctl.StateStopped {
		t.Fatalf("after a late event: %+v", st)
	}
}

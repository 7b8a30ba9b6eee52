package whatsmeow_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/internal/wafake"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// These tests run a real daemon on a real Unix socket with the real
// whatsmeow backend and the unmodified whatsmeow client, connected over
// a TLS websocket on loopback to the fake WhatsApp server
// (internal/wafake), with the real SQLite store. Every effect is checked
// as a client of the socket sees it, and on the fake's side.

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
	case <-time.After(45 * time.Second):
		t.Fatal("no event within 45s")
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

// skipToKind reads events until one of kind arrives.
func skipToKind(t *testing.T, w *ctl.Watcher, kind string) ctl.Event {
	t.Helper()
	for {
		if ev := nextEvent(t, w); ev.Kind == kind {
			return ev
		}
	}
}

func status(t *testing.T, d *daemontest.Daemon, client string) ctl.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := d.Client.Session(ctx, client)
	if err != nil {
		t.Fatalf("session.status %s: %v", client, err)
	}
	return *st
}

func watch(t *testing.T, d *daemontest.Daemon, client string) *ctl.Watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := d.Client.Watch(ctx, ctl.SubscribeParams{Clients: []string{client}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// loginQR logs client in over the socket and returns what
// session.login returned: a QR code from the fake.
func loginQR(t *testing.T, d *daemontest.Daemon, client string) *ctl.Session {
	t.Helper()
	r := waitLogin(t, loginAsync(d.Client, ctl.LoginParams{Client: client}))
	if r.err != nil {
		t.Fatalf("session.login %s: %v", client, r.err)
	}
	if r.st.State != ctl.StateQR || r.st.QR == "" {
		t.Fatalf("session.login %s: %+v, want a QR code", client, r.st)
	}
	return r.st
}

// linkOverSocket logs client in over the socket and has acct's phone
// scan the QR code; it returns the linked device once connected.
func linkOverSocket(t *testing.T, d *daemontest.Daemon, acct *wafake.Account, client string) types.JID {
	t.Helper()
	loginQR(t, d, client)
	return link(t, acct, func() ctl.Session { return status(t, d, client) })
}

func TestLoginPairsWithThePhoneAndConnects(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112345678", "Sales Desk")
	w := watch(t, d, "sales")

	st := loginQR(t, d, "sales")
	q, err := wafake.ParseQR(st.QR)
	if err != nil {
		t.Fatalf("the QR code wad published is not WhatsApp's: %v", err)
	}
	cli := wm.RunningClient(b, "sales")
	if q.NoiseKey != *cli.Store.NoiseKey.Pub || q.Identity != *cli.Store.IdentityKey.Pub {
		t.Fatal("the QR code does not carry the device's keys")
	}
	expectState(t, w, ctl.StateStarting, "")
	if ev, _ := expectState(t, w, ctl.StateQR, ""); ev.Session.QR != st.QR {
		t.Fatalf("qr state event carries %q, login returned %q", ev.Session.QR, st.QR)
	}
	if ev := expectKind(t, w, ctl.KindQR); ev.QR != st.QR {
		t.Fatalf("qr event %q", ev.QR)
	}

	jid, err := acct.Scan(st.QR)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	// Pair success, then whatsmeow's own reconnect (stream:error 515)
	// logs the new device in.
	if ev, _ := expectState(t, w, ctl.StateStarting, ""); ev.Session.JID != acct.JID().String() || ev.Session.QR != "" {
		t.Fatalf("after pair success: %+v", ev.Session)
	}
	if ev, _ := expectState(t, w, ctl.StateConnected, ""); ev.Session.JID != acct.JID().String() {
		t.Fatalf("connected: %+v", ev.Session)
	}
	if got := srv.Linked(); got != 1 {
		t.Fatalf("the phone lists %d linked devices, want 1", got)
	}
	if !srv.Online(jid) || srv.Logins(jid) != 1 {
		t.Fatalf("device %s online %v after %d logins", jid, srv.Online(jid), srv.Logins(jid))
	}
	if stored, err := b.Stored(context.Background()); err != nil || !slices.Equal(stored, []string{"sales"}) {
		t.Fatalf("stored logins %v, %v", stored, err)
	}
}

func TestDroppedConnectionReconnectsOnItsOwn(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112340001", "Ops")
	jid := linkOverSocket(t, d, acct, "ops")
	w := watch(t, d, "ops")
	srv.Drop(jid)
	expectState(t, w, ctl.StateDisconnected, ctl.ReasonConnectionLost)
	expectState(t, w, ctl.StateConnected, "")
	if n := srv.Logins(jid); n != 2 {
		t.Fatalf("logins %d, want 2 (whatsmeow's reconnect)", n)
	}
	if srv.Linked() != 1 {
		t.Fatalf("linked %d", srv.Linked())
	}
}

func TestStreamReplacedFailsAndTheNextLoginResumesWithoutQR(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112340002", "Ops")
	jid := linkOverSocket(t, d, acct, "ops")
	w := watch(t, d, "ops")
	srv.Replace(jid)
	ev, _ := expectState(t, w, ctl.StateFailed, ctl.ReasonStreamReplaced)
	if ev.Session.Message == "" {
		t.Error("stream_replaced without a message")
	}
	if wm.RunningClient(b, "ops") != nil {
		t.Error("whatsmeow client still running after stream replaced")
	}
	r := waitLogin(t, loginAsync(d.Client, ctl.LoginParams{Client: "ops"}))
	if r.err != nil || r.st.State != ctl.StateConnected || r.st.QR != "" {
		t.Fatalf("login after stream replaced: %+v, %v", r.st, r.err)
	}
	if srv.Logins(jid) != 2 || srv.Linked() != 1 {
		t.Fatalf("logins %d, linked %d", srv.Logins(jid), srv.Linked())
	}
}

func TestServerSideEventsEndSessionsWithActionableReasons(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	cases := []struct {
		client  string
		paired  bool
		drive   func(jid types.JID)
		state   ctl.State
		reason  string
		message string // substring
	}{
		{"removed", true, func(jid types.JID) { srv.RemoveDevice(jid) },
			ctl.StateLoggedOut, ctl.ReasonLoggedOut, "unlinked from the phone"},
		{"refused401", true, func(jid types.JID) {
			// Unlinked while the connection was down: the next login
			// is refused with 401.
			srv.FailLogin(jid, &wafake.Failure{Reason: 401})
			srv.Drop(jid)
		}, ctl.StateLoggedOut, ctl.ReasonLoggedOut, "unlinked from the phone"},
		{"outdated", true, func(jid types.JID) {
			srv.FailLogin(jid, &wafake.Failure{Reason: 405})
			srv.Drop(jid)
		}, ctl.StateFailed, ctl.ReasonClientOutdated, "update wad"},
		{"banned", true, func(jid types.JID) {
			srv.FailLogin(jid, &wafake.Failure{Reason: 402, Code: int(events.TempBanBlockedByUsers), Expire: time.Hour})
			srv.Drop(jid)
		}, ctl.StateFailed, ctl.ReasonTemporarilyBanned, "too many people blocked you"},
		{"badagent", true, func(jid types.JID) {
			srv.FailLogin(jid, &wafake.Failure{Reason: int(events.ConnectFailureBadUserAgent)})
			srv.Drop(jid)
		}, ctl.StateFailed, ctl.ReasonBackendError, "409"},
		{"dropped", false, func(types.JID) { srv.DropUnpaired() },
			ctl.StateFailed, ctl.ReasonNetwork, "before the login finished"},
	}
	for i, c := range cases {
		t.Run(c.client, func(t *testing.T) {
			acct := newAccount(t, srv, "49151000002"+strconv.Itoa(i), c.client)
			var jid types.JID
			if c.paired {
				jid = linkOverSocket(t, d, acct, c.client)
			} else {
				loginQR(t, d, c.client)
			}
			w := watch(t, d, c.client)
			c.drive(jid)
			ev := skipToState(t, w, c.state, c.reason)
			if !strings.Contains(ev.Session.Message, c.message) {
				t.Errorf("message %q does not mention %q", ev.Session.Message, c.message)
			}
			st := status(t, d, c.client)
			if st.State != c.state || st.Reason != c.reason {
				t.Errorf("session.status: %+v", st)
			}
			waitState(t, "the client to stop", func() ctl.Session {
				if wm.RunningClient(b, c.client) != nil {
					return ctl.Session{}
				}
				return st
			}, func(s ctl.Session) bool { return s.State != "" })
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
				loginQR(t, d, c.client)
				if cli := wm.RunningClient(b, c.client); cli.Store.ID != nil {
					t.Errorf("login after %s reused device %v", c.reason, cli.Store.ID)
				}
				d.Client.Stop(context.Background(), c.client) //nolint:errcheck
			}
		})
	}
}

// TestQRCodesRotateThenRunOutWithQRTimeout waits out WhatsApp's QR
// refs (an offer of two: 20 s each, as whatsmeow reckons them): each is
// published in turn, then the session fails with qr_timeout.
func TestQRCodesRotateThenRunOutWithQRTimeout(t *testing.T) {
	t.Parallel()
	srv, _, d := newDaemon(t, wafake.Options{Refs: 2})
	w := watch(t, d, "late")
	first := loginQR(t, d, "late").QR
	if ev := skipToKind(t, w, ctl.KindQR); ev.QR != first {
		t.Fatalf("first qr event %q, login returned %q", ev.QR, first)
	}
	second := skipToKind(t, w, ctl.KindQR).QR
	if second == first || !strings.HasPrefix(second, "2@") {
		t.Fatalf("rotated qr event %q after %q", second, first)
	}
	if st := status(t, d, "late"); st.QR != second {
		t.Fatalf("session.status after rotation: %+v", st)
	}
	ev := skipToState(t, w, ctl.StateFailed, ctl.ReasonQRTimeout)
	if !strings.Contains(ev.Session.Message, "in time") {
		t.Errorf("message %q", ev.Session.Message)
	}
	if srv.Linked() != 0 {
		t.Fatal("something was linked")
	}
}

// TestFiftyConcurrentLoginsForTenClientsPairTenDevices: every login of a
// client joins the one session; each client shows one QR code, is
// scanned once and ends up as one linked device.
func TestFiftyConcurrentLoginsForTenClientsPairTenDevices(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	const clients, perClient = 10, 5
	type res struct {
		client string
		st     *ctl.Session
		err    error
	}
	results := make(chan res, clients*perClient)
	var wg sync.WaitGroup
	for i := range clients * perClient {
		client := "c" + strconv.Itoa(i%clients)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			st, err := d.Client.Login(ctx, ctl.LoginParams{Client: client})
			results <- res{client, st, err}
		})
	}
	wg.Wait()
	close(results)
	qrs := map[string]map[string]bool{}
	for r := range results {
		if r.err != nil || r.st.State != ctl.StateQR {
			t.Fatalf("login %s: %+v, %v", r.client, r.st, r.err)
		}
		if qrs[r.client] == nil {
			qrs[r.client] = map[string]bool{}
		}
		qrs[r.client][r.st.QR] = true
	}
	for c, codes := range qrs {
		if len(codes) != 1 {
			t.Fatalf("%s: %d different QR codes, want the one session's", c, len(codes))
		}
	}
	var lwg sync.WaitGroup
	for i := range clients {
		client := "c" + strconv.Itoa(i)
		acct := newAccount(t, srv, "4915120000"+strconv.Itoa(100+i), client)
		lwg.Go(func() { link(t, acct, func() ctl.Session { return status(t, d, client) }) })
	}
	lwg.Wait()
	if got := srv.Linked(); got != clients {
		t.Fatalf("the phones list %d linked devices, want %d", got, clients)
	}
	if stored, _ := b.Stored(context.Background()); len(stored) != clients {
		rows, _ := wm.DB(b).Query("SELECT client, jid FROM wad_whatsmeow_clients")
		for rows.Next() {
			var c, j string
			rows.Scan(&c, &j)
			t.Logf("mapping %s %s", c, j)
		}
		rows2, _ := wm.DB(b).Query("SELECT jid FROM whatsmeow_device")
		for rows2.Next() {
			var j string
			rows2.Scan(&j)
			t.Logf("device %s", j)
		}
		t.Fatalf("stored %v", stored)
	}
	list, err := d.Client.List(context.Background())
	if err != nil || len(list) != clients {
		t.Fatalf("session.list: %d sessions, %v", len(list), err)
	}
}

func TestLoginWithoutNetworkFailsReadablyAndRetriesOncePerLogin(t *testing.T) {
	dir := t.TempDir()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, dialer := newOfflineBackend(t, dir, log) // the real connect, through a dialer that refuses
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
	srv, b, d := newDaemon(t, wafake.Options{})
	acct := newAccount(t, srv, "4915100000031", "V")
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
	loginQR(t, d, "v")
	// Not connected yet: not ready.
	if _, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "v", To: "+4915112345678", Text: "hi"}); !errors.Is(err, ctl.ErrNotReady) {
		t.Errorf("send while showing a QR code: %v, want not ready (-32002)", err)
	}
	jid := link(t, acct, func() ctl.Session { return status(t, d, "v") })
	for _, to := range []string{"", "foo@bar", "+12", "4915112345678@g.us.evil", "abc@s.whatsapp.net", "+49151123456789012"} {
		if _, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "v", To: to, Text: "hi"}); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("send to %q: %v, want invalid params", to, err)
		}
	}
	// The connection drops and WhatsApp refuses the reconnects for
	// now (503): a message waits in the queue, and goes once the
	// session is connected again.
	srv.FailLogin(jid, &wafake.Failure{Reason: 503})
	srv.Drop(jid)
	waitState(t, "disconnected", func() ctl.Session { return status(t, d, "v") }, func(s ctl.Session) bool { return s.State == ctl.StateDisconnected })
	for _, text := range []string{"", "   \n\t"} {
		if _, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "v", To: "+4915112345678", Text: text}); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("send of %q: %v, want invalid params", text, err)
		}
	}
	friend := newAccount(t, srv, "4915100000032", "Friend")
	res, err := d.Client.Send(ctx, ctl.SendParams{Client: "v", To: "+" + friend.Phone, Text: "held"})
	if err != nil || res.State != ctl.OutQueued || res.ID == "" {
		t.Fatalf("send while disconnected: %+v, %v; want it queued", res, err)
	}
	var st ctl.MessageStatus
	if err := d.Client.Call(ctx, ctl.MethodMsgStatus, ctl.MessageStatusParams{Client: "v", ID: res.ID}, &st); err != nil || st.State != ctl.OutQueued {
		t.Fatalf("message.status while disconnected: %+v, %v", st, err)
	}
	srv.FailLogin(jid, nil)
	if _, err := friend.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == res.ID }); err != nil {
		t.Fatalf("the held message never reached the phone after the reconnect: %v", err)
	}
}

func TestLogoutOverTheSocketDeletesTheLoginAndRemovesTheSession(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	one := linkOverSocket(t, d, newAccount(t, srv, "4915100000041", "One"), "one")
	two := linkOverSocket(t, d, newAccount(t, srv, "4915100000042", "Two"), "two")
	st, err := d.Client.Logout(ctx, "one")
	if err != nil || st.State != ctl.StateLoggedOut || st.Reason != ctl.ReasonLogoutRequested {
		t.Fatalf("session.logout: %+v, %v", st, err)
	}
	// WhatsApp was told: the phone no longer lists the device.
	if srv.Companion(one) != nil || srv.Companion(two) == nil || srv.Linked() != 1 {
		t.Fatalf("after logging out one: linked %d", srv.Linked())
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
	if srv.Companion(two) == nil || srv.Online(two) {
		t.Errorf("after stop: two linked %v, online %v; want linked and offline", srv.Companion(two) != nil, srv.Online(two))
	}
	// Logging out a stopped session still tells WhatsApp: the device
	// logs in once more to unlink itself.
	if st, err := d.Client.Logout(ctx, "two"); err != nil || st.State != ctl.StateLoggedOut || st.Message != "" {
		t.Fatalf("session.logout of a stopped session: %+v, %v", st, err)
	}
	if srv.Linked() != 0 {
		t.Fatalf("after logging out the stopped session: %d linked", srv.Linked())
	}
	if stored, _ := b.Stored(ctx); len(stored) != 0 {
		t.Errorf("stored after logout: %v", stored)
	}
}

func TestStopDuringAStartEndsItWithoutAClientLeftRunning(t *testing.T) {
	dir := t.TempDir()
	// WhatsApp never answers: the start hangs in the dial until stopped.
	hang := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}}
	b := openBackend(t, dir, hang, nil)
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
	if st, _ := reg.Get("slow"); st.State != ctl.StateStopped {
		t.Fatalf("after the stop: %+v", st)
	}
}

func TestForgedPairingIsRefused(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112340040", "Forged")
	w := watch(t, d, "forged")
	st := loginQR(t, d, "forged")
	if err := acct.ScanForged(st.QR); err == nil || !strings.Contains(err.Error(), "hmac-mismatch") {
		t.Fatalf("the device accepted a forged pairing: %v", err)
	}
	ev := skipToState(t, w, ctl.StateFailed, ctl.ReasonPairingRejected)
	if !strings.Contains(ev.Session.Message, "HMAC") {
		t.Errorf("message %q does not say why", ev.Session.Message)
	}
	if srv.Linked() != 0 {
		t.Fatal("a forged pairing linked a device")
	}
	if stored, _ := b.Stored(context.Background()); len(stored) != 0 {
		t.Fatalf("stored %v", stored)
	}
}

// TestMissedKeepalivesShowAsDisconnected feeds whatsmeow's keepalive
// events into a session connected to the fake: whatsmeow pings every 20
// to 30 s and waits 10 s for the answer, too slow to wait out in a test.
func TestMissedKeepalivesShowAsDisconnected(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	linkOverSocket(t, d, newAccount(t, srv, "4915112340050", "Ping"), "ping")
	w := watch(t, d, "ping")
	feed(t, b, "ping", &events.KeepAliveTimeout{ErrorCount: 3})
	ev, _ := expectState(t, w, ctl.StateDisconnected, ctl.ReasonConnectionLost)
	if !strings.Contains(ev.Session.Message, "3 keepalive") {
		t.Errorf("message %q", ev.Session.Message)
	}
	feed(t, b, "ping", &events.KeepAliveRestored{})
	expectState(t, w, ctl.StateConnected, "")
}

// newDaemon starts a fake WhatsApp server with opts and a daemon whose
// whatsmeow backend reaches only it, on a fresh state dir.
func newDaemon(t *testing.T, opts wafake.Options) (*wafake.Server, *wm.Backend, *daemontest.Daemon) {
	t.Helper()
	dir := t.TempDir()
	srv := newFake(t, opts)
	b := newBackend(t, dir, srv, nil)
	return srv, b, startDaemon(t, b, dir, nil)
}

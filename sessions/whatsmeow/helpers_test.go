package whatsmeow_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// backstop refuses every connection made through http.DefaultTransport
// (which whatsmeow clones for each client's HTTP clients) and records
// it: a second wall behind the dialer each test backend injects, so that
// nothing in these tests can reach WhatsApp even through a bug in the
// injection. whatsmeow's websocket URL is a constant, so the dialers are
// the only place to stop it.
var backstop = &refusingDialer{}

func TestMain(m *testing.M) {
	// The test binary re-executed: the fake WhatsApp server, or the
	// daemon a benchmark measures or a test kills, in a process of its
	// own (remotefake_test.go, benchdaemon_test.go, outboxkill_test.go).
	switch {
	case os.Getenv(fakeChildEnv) == "1":
		os.Exit(serveRemoteFake())
	case os.Getenv(benchDaemonEnv) != "":
		os.Exit(runBenchDaemon())
	case os.Getenv(outboxKillEnv) != "":
		os.Exit(runOutboxKillDaemon())
	}
	wafake.InstallRoot()
	http.DefaultTransport = &http.Transport{Proxy: nil, DialContext: backstop.Dial}
	code := m.Run()
	if a := backstop.Addrs(); len(a) > 0 {
		fmt.Fprintf(os.Stderr, "connections bypassed the injected HTTP client: %v\n", a)
		code = 1
	}
	os.Exit(code)
}

// refusingDialer refuses every connection and records where it was asked
// to go.
type refusingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *refusingDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
}

func (d *refusingDialer) Addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// newFake starts a fake WhatsApp server for the test.
func newFake(t testing.TB, opts wafake.Options) *wafake.Server {
	t.Helper()
	if testing.Verbose() {
		opts.Logf = t.Logf
	}
	srv, err := wafake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// newAccount adds a phone to srv.
func newAccount(t testing.TB, srv *wafake.Server, phone, pushName string) *wafake.Account {
	t.Helper()
	a, err := srv.AddAccount(phone, pushName)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newBackend opens a backend on stateDir whose sessions reach only srv.
func newBackend(t testing.TB, stateDir string, srv *wafake.Server, log *slog.Logger) *wm.Backend {
	t.Helper()
	return openBackend(t, stateDir, srv.HTTPClient(), log)
}

// newOfflineBackend opens a backend whose every dial is refused (and
// recorded in the returned dialer).
func newOfflineBackend(t testing.TB, stateDir string, log *slog.Logger) (*wm.Backend, *refusingDialer) {
	t.Helper()
	d := &refusingDialer{}
	return openBackend(t, stateDir, &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: d.Dial}}, log), d
}

func openBackend(t testing.TB, stateDir string, hc *http.Client, log *slog.Logger) *wm.Backend {
	t.Helper()
	b, err := wm.New(context.Background(), wm.Config{DeviceName: "wad-test"}, stateDir, log, wm.WithHTTPClient(hc), wm.WithTracking())
	if err != nil {
		t.Fatalf("opening backend: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// waitRunning waits until client's session has a running whatsmeow
// client, and returns it.
func waitRunning(t testing.TB, b *wm.Backend, client string) *wa.Client {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cli := wm.RunningClient(b, client); cli != nil {
			return cli
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("session %s never started running", client)
	return nil
}

// feed hands evt to client's running session and fails if it is not
// running. Only for what the fake cannot make whatsmeow emit; each use
// says why.
func feed(t testing.TB, b *wm.Backend, client string, evt any) {
	t.Helper()
	if !wm.HandleEvent(b, client, evt) {
		t.Fatalf("session %s is not running; cannot feed %T", client, evt)
	}
}

// link waits for the session read by get to show a QR code, has acct's
// phone scan it, and waits until the session is connected as the new
// device, which it returns.
func link(t testing.TB, acct *wafake.Account, get func() ctl.Session) types.JID {
	t.Helper()
	st := waitState(t, "a QR code", get, func(s ctl.Session) bool { return s.State == ctl.StateQR && s.QR != "" })
	jid, err := acct.Scan(st.QR)
	if err != nil {
		t.Fatalf("the phone could not scan %q: %v", st.QR, err)
	}
	st = waitState(t, "connected", get, func(s ctl.Session) bool { return s.State == ctl.StateConnected })
	if st.JID != acct.JID().String() {
		t.Fatalf("connected as %q, want %s", st.JID, acct.JID())
	}
	return jid
}

// deviceJID returns the device (AD) JID of a test account.
func deviceJID(user string, device uint16) types.JID {
	return types.JID{User: user, Server: types.DefaultUserServer, Device: device}
}

// startAsync runs s.Start in the background and returns its result
// channel.
func startAsync(s sessions.Session, opts sessions.StartOptions) <-chan error {
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		ch <- s.Start(ctx, opts)
	}()
	return ch
}

func waitErr(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Start did not return")
		return nil
	}
}

// waitState polls the session until cond holds.
func waitState(t testing.TB, what string, get func() ctl.Session, cond func(ctl.Session) bool) ctl.Session {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var st ctl.Session
	for time.Now().Before(deadline) {
		st = get()
		if cond(st) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: state is %+v", what, st)
	return st
}

func isCode(err error, code int) bool {
	var e *ctl.Error
	return errors.As(err, &e) && e.Code == code
}

// newEnv returns the Env the registry would give client, collecting
// published events.
func newEnv(client string, log *slog.Logger, events *eventLog) sessions.Env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := sessions.Env{
		Client:  client,
		Backend: wm.Name,
		Log:     log.With("client", client),
		Publish: func(ev ctl.Event) {
			ev.Client = client
			if events != nil {
				events.add(ev)
			}
		},
	}
	env.Status = sessions.NewStatus(env)
	return env
}

type eventLog struct {
	mu  sync.Mutex
	evs []ctl.Event
}

func (l *eventLog) add(ev ctl.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

func (l *eventLog) all() []ctl.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ctl.Event(nil), l.evs...)
}

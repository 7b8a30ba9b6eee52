package whatsmeow_test

import (
	"bytes"
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
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/ctl"
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
	http.DefaultTransport = &http.Transport{Proxy: nil, DialContext: backstop.Dial}
	code := m.Run()
	if a := backstop.Addrs(); len(a) > 0 {
		fmt.Fprintf(os.Stderr, "connections bypassed the injected dialer: %v\n", a)
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

// newBackend opens a backend on stateDir that cannot reach the network:
// every dial is refused (and recorded in the returned dialer), on top of
// whatever opts add.
func newBackend(t testing.TB, stateDir string, log *slog.Logger, opts ...wm.Option) (*wm.Backend, *refusingDialer) {
	t.Helper()
	d := &refusingDialer{}
	opts = append([]wm.Option{wm.WithDialer(d.Dial), wm.WithTracking()}, opts...)
	b, err := wm.New(context.Background(), wm.Config{DeviceName: "wad-test"}, stateDir, log, opts...)
	if err != nil {
		t.Fatalf("opening backend: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, d
}

// offline is the option set of a backend whose sessions "connect"
// without any network, so tests can drive them with whatsmeow's events.
func offline() wm.Option { return wm.WithOfflineConnect(nil) }

// waitRunning waits until client's session has a running whatsmeow
// client, and returns it.
func waitRunning(t testing.TB, b *wm.Backend, client string) *wa.Client {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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
// running.
func feed(t testing.TB, b *wm.Backend, client string, evt any) {
	t.Helper()
	if !wm.HandleEvent(b, client, evt) {
		t.Fatalf("session %s is not running; cannot feed %T", client, evt)
	}
}

// pair does what whatsmeow does when the phone accepts the QR code: the
// device gets its JID and is saved, then PairSuccess is dispatched.
func pair(t testing.TB, b *wm.Backend, client string, jid types.JID, pushName string) {
	t.Helper()
	cli := waitRunning(t, b, client)
	cli.Store.ID = &jid
	cli.Store.PushName = pushName
	cli.Store.Platform = "android"
	cli.Store.Account = &waAdv.ADVSignedDeviceIdentity{
		Details:             []byte{1, 2, 3},
		AccountSignature:    bytes.Repeat([]byte{7}, 64),
		AccountSignatureKey: bytes.Repeat([]byte{8}, 32),
		DeviceSignature:     bytes.Repeat([]byte{9}, 64),
	}
	if err := cli.Store.Save(context.Background()); err != nil {
		t.Fatalf("saving the paired device: %v", err)
	}
	feed(t, b, client, &events.PairSuccess{ID: jid, Platform: "android"})
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
	deadline := time.Now().Add(20 * time.Second)
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

package wafake_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types/events"

	_ "modernc.org/sqlite"

	"github.com/wad-project/wad/internal/wafake"
)

func TestMain(m *testing.M) {
	wafake.InstallRoot()
	// Behind every client's injected HTTP client: nothing else dials.
	http.DefaultTransport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}}
	m.Run()
}

func newServer(t *testing.T, opts wafake.Options) *wafake.Server {
	t.Helper()
	opts.Logf = t.Logf
	s, err := wafake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newContainer opens a whatsmeow device store in a temporary SQLite file.
func newContainer(t *testing.T) *sqlstore.Container {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "wm.db")+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := sqlstore.NewWithDB(db, "sqlite3", nil)
	if err := c.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// client makes a whatsmeow client of dev that reaches only s.
func client(s *wafake.Server, dev *store.Device) *wa.Client {
	cli := wa.NewClient(dev, nil)
	hc := s.HTTPClient()
	cli.SetPreLoginHTTPClient(hc)
	cli.SetWebsocketHTTPClient(hc)
	cli.SetMediaHTTPClient(hc)
	return cli
}

// events collects a client's events into a channel.
func collect(cli *wa.Client) <-chan any {
	ch := make(chan any, 256)
	cli.AddEventHandler(func(evt any) {
		select {
		case ch <- evt:
		default:
		}
	})
	return ch
}

func waitFor[T any](t *testing.T, ch <-chan any) T {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case evt := <-ch:
			if v, ok := evt.(T); ok {
				return v
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T event within 30s", zero)
			return zero
		}
	}
}

// pairByQR connects an unpaired device, scans its first QR code with
// acct and waits until the device is logged in.
func pairByQR(t *testing.T, s *wafake.Server, acct *wafake.Account, c *sqlstore.Container) (*wa.Client, <-chan any) {
	t.Helper()
	cli := client(s, c.NewDevice())
	evs := collect(cli)
	if err := cli.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(cli.Disconnect)
	qr := waitFor[*events.QR](t, evs)
	if len(qr.Codes) != 6 {
		t.Fatalf("got %d QR codes, want the 6 WhatsApp sends", len(qr.Codes))
	}
	jid, err := acct.Scan(qr.Codes[0])
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	ps := waitFor[*events.PairSuccess](t, evs)
	if ps.ID != jid {
		t.Fatalf("paired as %s, the phone linked %s", ps.ID, jid)
	}
	waitFor[*events.Connected](t, evs)
	return cli, evs
}

func TestQRPairingLoginAndLogoutRunTheRealProtocol(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, err := s.AddAccount("4915110000001", "Sales")
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer(t)
	cli, _ := pairByQR(t, s, acct, c)
	jid := *cli.Store.ID
	if jid.User != acct.Phone || jid.Device == 0 {
		t.Fatalf("device JID %s", jid)
	}
	if cli.Store.LID.User != acct.LID {
		t.Fatalf("LID %s, want user %s", cli.Store.LID, acct.LID)
	}
	if got := s.Linked(); got != 1 {
		t.Fatalf("linked devices %d, want 1", got)
	}
	// The device uploads its prekeys once logged in.
	deadline := time.Now().Add(30 * time.Second)
	for s.PreKeyCount(jid) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.PreKeyCount(jid); n < wa.MinPreKeyCount {
		t.Fatalf("server has %d prekeys of the device", n)
	}
	if !s.Online(jid) {
		t.Fatal("device is not online after login")
	}

	// A second client on the stored device logs in without a QR.
	cli.Disconnect()
	dev, err := c.GetDevice(context.Background(), jid)
	if err != nil || dev == nil {
		t.Fatalf("stored device: %v", err)
	}
	cli2 := client(s, dev)
	evs2 := collect(cli2)
	if err := cli2.Connect(); err != nil {
		t.Fatal(err)
	}
	defer cli2.Disconnect()
	waitFor[*events.Connected](t, evs2)
	if s.Logins(jid) != 2 {
		t.Fatalf("logins %d, want 2", s.Logins(jid))
	}
	if err := cli2.Logout(context.Background()); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if got := s.Linked(); got != 0 {
		t.Fatalf("linked devices after logout %d, want 0", got)
	}
}

func TestServerSideEventsReachTheClient(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, _ := s.AddAccount("4915110000002", "Ops")
	c := newContainer(t)
	cli, evs := pairByQR(t, s, acct, c)
	jid := *cli.Store.ID

	// A dropped connection: whatsmeow notices and reconnects by itself.
	s.Drop(jid)
	waitFor[*events.Disconnected](t, evs)
	waitFor[*events.Connected](t, evs)

	// Another login of the same device replaces this stream.
	s.Replace(jid)
	waitFor[*events.StreamReplaced](t, evs)

	// Logins refused with 405.
	s.FailLogin(jid, &wafake.Failure{Reason: 405})
	cli.Disconnect()
	cli.Connect() //nolint:errcheck // the failure arrives as an event
	waitFor[*events.ClientOutdated](t, evs)
	cli.Disconnect()

	// A temporary ban.
	s.FailLogin(jid, &wafake.Failure{Reason: 402, Code: 101, Expire: time.Hour})
	cli.Connect() //nolint:errcheck
	ban := waitFor[*events.TemporaryBan](t, evs)
	if ban.Code != 101 || ban.Expire != time.Hour {
		t.Fatalf("ban %+v", ban)
	}
	cli.Disconnect()
	s.FailLogin(jid, nil)

	// Removed on the phone while connected.
	if err := cli.Connect(); err != nil {
		t.Fatal(err)
	}
	waitFor[*events.Connected](t, evs)
	if !s.RemoveDevice(jid) {
		t.Fatal("device was not linked")
	}
	lo := waitFor[*events.LoggedOut](t, evs)
	if lo.OnConnect {
		t.Fatal("logged out on connect, want during the stream")
	}
	if s.Linked() != 0 {
		t.Fatal("device still linked")
	}
}

func TestUnknownDeviceLoginIsLoggedOut(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, _ := s.AddAccount("4915110000003", "X")
	c := newContainer(t)
	cli, evs := pairByQR(t, s, acct, c)
	jid := *cli.Store.ID
	cli.Disconnect()
	s.RemoveDevice(jid)
	cli.Connect() //nolint:errcheck
	lo := waitFor[*events.LoggedOut](t, evs)
	if !lo.OnConnect || lo.Reason != events.ConnectFailureLoggedOut {
		t.Fatalf("logged out %+v, want on connect with 401", lo)
	}
}

func TestDialReachesOnlyTheFake(t *testing.T) {
	s := newServer(t, wafake.Options{})
	for _, addr := range []string{"g.whatsapp.net:443", "mmg.whatsapp.net:443", "8.8.8.8:53", "web.whatsapp.com:80"} {
		_, err := s.Dial(context.Background(), "tcp", addr)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s: %v, want refused", addr, err)
		}
	}
	if got := s.Refused(); len(got) != 4 {
		t.Fatalf("refused %v", got)
	}
	conn, err := s.Dial(context.Background(), "tcp", wafake.Host+":443")
	if err != nil {
		t.Fatalf("dial the fake: %v", err)
	}
	conn.Close()
	// A client with the system roots would not trust the fake either.
	resp, err := (&http.Client{Transport: &http.Transport{DialContext: s.Dial}}).Get("https://" + wafake.Host + "/ws/chat")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the fake's certificate was trusted without its CA")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error %v, want a certificate error", err)
	}
}

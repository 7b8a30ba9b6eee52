package whatsmeow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// loginFake creates client's session on b, starts it, has acct's phone
// scan its QR code and waits until it is connected; it returns the
// session and the linked device.
func loginFake(t testing.TB, b *wm.Backend, acct *wafake.Account, client string) (sessions.Session, types.JID) {
	t.Helper()
	s, err := b.New(context.Background(), newEnv(client, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, startAsync(s, sessions.StartOptions{})); err != nil {
		t.Fatalf("start %s: %v", client, err)
	}
	jid := link(t, acct, func() ctl.Session { return wm.StatusOf(s) })
	return s, jid
}

func TestStoreIsOneWALFileWithForeignKeysInAPrivateDir(t *testing.T) {
	dir := t.TempDir()
	b, _ := newOfflineBackend(t, dir, nil)
	want := filepath.Join(dir, ".wwebjs_auth", "whatsmeow.db")
	if b.Path() != want {
		t.Fatalf("store path %s, want %s", b.Path(), want)
	}
	fi, err := os.Stat(filepath.Dir(want))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf(".wwebjs_auth mode %v, want 0700", fi.Mode().Perm())
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	db := wm.DB(b)
	// Several connections at once, so the pragmas are checked on more
	// than the first one.
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			var mode string
			var fk, busy int
			if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode %q (%v), want wal", mode, err)
			}
			if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
				t.Errorf("foreign_keys %d (%v), want 1", fk, err)
			}
			if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy <= 0 {
				t.Errorf("busy_timeout %d (%v), want > 0", busy, err)
			}
		})
	}
	wg.Wait()
}

func TestSecondDaemonCannotOpenTheSameStore(t *testing.T) {
	dir := t.TempDir()
	b, _ := newOfflineBackend(t, dir, nil)
	_, err := wm.New(context.Background(), wm.Config{}, dir, nil)
	if !errors.Is(err, wm.ErrStoreLocked) {
		t.Fatalf("second open: err = %v, want ErrStoreLocked", err)
	}
	lock := filepath.Join(dir, ".wwebjs_auth", "whatsmeow.db.lock")
	if !strings.Contains(err.Error(), lock) {
		t.Errorf("error %q does not name the lock file %s", err, lock)
	}
	if !strings.Contains(err.Error(), "pid ") {
		t.Errorf("error %q does not name the holder's pid", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := wm.New(context.Background(), wm.Config{}, dir, nil)
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	b2.Close()
}

func TestSeveralClientsShareOneStoreAndSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	srv := newFake(t, wafake.Options{})
	b := newBackend(t, dir, srv, nil)
	clients := map[string]types.JID{}
	var mu sync.Mutex
	// Pair them concurrently: the sessions share one *sql.DB.
	var wg sync.WaitGroup
	for i, c := range []string{"sales", "support", "ops", "billing"} {
		acct := newAccount(t, srv, "491510000000"+strconv.Itoa(i+1), c)
		wg.Go(func() {
			_, jid := loginFake(t, b, acct, c)
			mu.Lock()
			clients[c] = jid
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored, err := b.Stored(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"billing", "ops", "sales", "support"}; !slices.Equal(stored, want) {
		t.Fatalf("Stored() = %v, want %v", stored, want)
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".wwebjs_auth", "*.db"))
	if len(files) != 1 {
		t.Fatalf("database files %v, want exactly whatsmeow.db", files)
	}

	// "Restart": close the backend, open a new one on the same state dir.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := newBackend(t, dir, srv, nil)
	stored, err = b2.Stored(context.Background())
	if err != nil || !slices.Equal(stored, []string{"billing", "ops", "sales", "support"}) {
		t.Fatalf("Stored() after restart = %v, %v", stored, err)
	}
	var evs eventLog
	s, err := b2.New(context.Background(), newEnv("support", nil, &evs))
	if err != nil {
		t.Fatal(err)
	}
	done := startAsync(s, sessions.StartOptions{})
	cli := waitRunning(t, b2, "support")
	if cli.Store.ID == nil || *cli.Store.ID != clients["support"] {
		t.Fatalf("restored device %v, want %v", cli.Store.ID, clients["support"])
	}
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, "connected", func() ctl.Session { return wm.StatusOf(s) }, func(s ctl.Session) bool { return s.State == ctl.StateConnected })
	if st.JID != "4915100000002@s.whatsapp.net" || srv.Logins(clients["support"]) != 2 {
		t.Fatalf("restored session: %+v", st)
	}
	for _, ev := range evs.all() {
		if ev.Kind == ctl.KindQR || (ev.Session != nil && ev.Session.State == ctl.StateQR) {
			t.Fatalf("a restored login showed a QR code: %+v", ev)
		}
	}
}

func countRows(t testing.TB, b *wm.Backend, query string, args ...any) int {
	t.Helper()
	var n int
	if err := wm.DB(b).QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestLogoutRemovesOnlyThatClientsRows(t *testing.T) {
	dir := t.TempDir()
	srv := newFake(t, wafake.Options{})
	b := newBackend(t, dir, srv, nil)
	ctx := context.Background()
	a, alpha := loginFake(t, b, newAccount(t, srv, "4915100000011", "Alpha"), "alpha")
	_, beta := loginFake(t, b, newAccount(t, srv, "4915100000012", "Beta"), "beta")
	// Give each device rows in a per-device whatsmeow table.
	for _, c := range []string{"alpha", "beta"} {
		cli := wm.RunningClient(b, c)
		for i := range 3 {
			addr := "491510000099" + string(rune('0'+i)) + ".0"
			if err := cli.Store.Identities.PutIdentity(ctx, addr, [32]byte{byte(i + 1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	alphaJID, betaJID := alpha.String(), beta.String()
	if n := countRows(t, b, "SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = ?", alphaJID); n < 3 {
		t.Fatalf("alpha identity rows before logout: %d", n)
	}
	if err := a.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if st := wm.StatusOf(a); st.State != ctl.StateLoggedOut || st.Reason != ctl.ReasonLogoutRequested {
		t.Fatalf("after logout: %+v", st)
	}
	checks := []struct {
		q    string
		jid  string
		want int
	}{
		{"SELECT count(*) FROM whatsmeow_device WHERE jid = ?", alphaJID, 0},
		{"SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = ?", alphaJID, 0},
		{"SELECT count(*) FROM wad_whatsmeow_clients WHERE jid = ?", alphaJID, 0},
		{"SELECT count(*) FROM whatsmeow_device WHERE jid = ?", betaJID, 1},
		{"SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = ? AND their_id LIKE '491510000099%'", betaJID, 3},
		{"SELECT count(*) FROM wad_whatsmeow_clients WHERE jid = ?", betaJID, 1},
	}
	for _, c := range checks {
		if n := countRows(t, b, c.q, c.jid); n != c.want {
			t.Errorf("%s [%s] = %d, want %d", c.q, c.jid, n, c.want)
		}
	}
	if stored, _ := b.Stored(ctx); !slices.Equal(stored, []string{"beta"}) {
		t.Errorf("Stored() after logout = %v, want [beta]", stored)
	}
	if st := wm.RunningClient(b, "beta"); st == nil {
		t.Error("beta stopped running when alpha logged out")
	}
	if srv.Companion(alpha) != nil || srv.Companion(beta) == nil {
		t.Error("the logout did not unlink alpha, or unlinked beta, upstream")
	}
}

func TestStopKeepsTheLoginAndTheNextStartResumesIt(t *testing.T) {
	srv := newFake(t, wafake.Options{})
	b := newBackend(t, t.TempDir(), srv, nil)
	s, jid := loginFake(t, b, newAccount(t, srv, "4915100000021", "Keep"), "keep")
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if wm.RunningClient(b, "keep") != nil {
		t.Fatal("whatsmeow client still running after Stop")
	}
	if stored, _ := b.Stored(context.Background()); !slices.Equal(stored, []string{"keep"}) {
		t.Fatalf("Stored() after Stop = %v", stored)
	}
	done := startAsync(s, sessions.StartOptions{})
	if cli := waitRunning(t, b, "keep"); cli.Store.ID == nil || *cli.Store.ID != jid {
		t.Fatalf("resumed with device %v, want %v", cli.Store.ID, jid)
	}
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
	waitState(t, "connected", func() ctl.Session { return wm.StatusOf(s) }, func(s ctl.Session) bool { return s.State == ctl.StateConnected })
	if srv.Logins(jid) != 2 || srv.Linked() != 1 {
		t.Fatalf("logins %d, linked %d; want the one device logged in twice", srv.Logins(jid), srv.Linked())
	}
}

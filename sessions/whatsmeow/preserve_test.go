package whatsmeow_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// TestRestartInPreserveModeRestoresTheLoginWithoutQR is what `systemctl
// restart wad` does with [reaper] mode = "preserve": the daemon stops,
// `wad reap` runs, a new daemon starts on the same state dir and brings
// the logged-in client back from its store without a QR code. In reset
// mode the same restart logs it out.
func TestRestartInPreserveModeRestoresTheLoginWithoutQR(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	mode := func(m string) func(*daemon.Config) {
		return func(c *daemon.Config) { c.Reaper.Mode = m }
	}
	start := func(m string) (*wm.Backend, *daemontest.Daemon) {
		b, _ := newBackend(t, dir, nil, offline())
		return b, daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, StateDir: dir, DefaultBackend: wm.Name, Config: mode(m)})
	}
	reap := func(m string) {
		t.Helper()
		if _, err := reaper.Run(ctx, reaper.Options{StateDir: dir, Config: reaper.Config{Mode: m}}); err != nil {
			t.Fatalf("reap %s: %v", m, err)
		}
	}

	b1, d1 := start(reaper.ModePreserve)
	showQR(t, d1, b1, "sales", "2@first")
	jid := deviceJID("4915112345678", 9)
	pair(t, b1, "sales", jid, "Sales Desk")
	feed(t, b1, "sales", &events.Connected{})
	if st := status(t, d1, "sales"); st.State != ctl.StateConnected {
		t.Fatalf("before restart: %+v", st)
	}
	d1.Stop()

	reap(reaper.ModePreserve)
	b2, d2 := start(reaper.ModePreserve)
	// Nobody calls session.login: the daemon restores on its own, with
	// the stored device (so whatsmeow opens no QR channel).
	cli := waitRunning(t, b2, "sales")
	if cli.Store.ID == nil || cli.Store.ID.User != jid.User {
		t.Fatalf("restored session runs device %v, want the stored %v", cli.Store.ID, jid)
	}
	feed(t, b2, "sales", &events.Connected{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := status(t, d2, "sales")
		if st.State == ctl.StateConnected {
			if st.QR != "" || st.JID != "4915112345678@s.whatsapp.net" {
				t.Fatalf("restored session: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restored session never connected: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	d2.Stop()

	reap(reaper.ModeReset)
	b3, d3 := start(reaper.ModeReset)
	if stored, err := b3.Stored(ctx); err != nil || len(stored) != 0 {
		t.Fatalf("after a reset, stored logins %v, %v", stored, err)
	}
	if list, err := d3.Client.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after a reset, sessions %+v, %v", list, err)
	}
}

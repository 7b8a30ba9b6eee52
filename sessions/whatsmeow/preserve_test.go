package whatsmeow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/wafake"
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
	srv := newFake(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112345678", "Sales Desk")
	start := func(m string) (*wm.Backend, *daemontest.Daemon) {
		b := newBackend(t, dir, srv, nil)
		return b, daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, StateDir: dir, DefaultBackend: wm.Name, Config: mode(m)})
	}
	reap := func(m string) {
		t.Helper()
		if _, err := reaper.Run(ctx, reaper.Options{StateDir: dir, Config: reaper.Config{Mode: m}}); err != nil {
			t.Fatalf("reap %s: %v", m, err)
		}
	}

	b1, d1 := start(reaper.ModePreserve)
	_ = b1
	jid := linkOverSocket(t, d1, acct, "sales")
	d1.Stop()

	reap(reaper.ModePreserve)
	b2, d2 := start(reaper.ModePreserve)
	// Nobody calls session.login: the daemon restores on its own, with
	// the stored device (so whatsmeow opens no QR channel).
	cli := waitRunning(t, b2, "sales")
	if cli.Store.ID == nil || *cli.Store.ID != jid {
		t.Fatalf("restored session runs device %v, want the stored %v", cli.Store.ID, jid)
	}
	deadline := time.Now().Add(60 * time.Second)
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
	if srv.Logins(jid) != 2 || srv.Linked() != 1 {
		t.Fatalf("logins %d, linked %d; want the one device logged in again", srv.Logins(jid), srv.Linked())
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

// TestResetRestartsLeaveNoDeadLinkedDevice restarts a daemon in reset
// mode five times with a client logged in each time, as `systemctl
// restart wad` does (the daemon shuts down, `wad reap` runs, a new
// daemon starts). Each shutdown unlinks its devices upstream; one of the
// restarts is a crash that cannot (the daemon dies without logging out),
// and the next start unlinks what it left behind. The fake phone ends
// with no linked device.
func TestResetRestartsLeaveNoDeadLinkedDevice(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv := newFake(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112345670", "Sales Desk")
	reset := func(c *daemon.Config) {
		c.Reaper.Mode = reaper.ModeReset
		c.ShutdownTimeout = daemon.Duration(60 * time.Second) // a loaded test machine's unlink
	}
	linked := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for srv.Linked() != want {
			if time.Now().After(deadline) {
				t.Fatalf("the phone lists %d linked devices, want %d", srv.Linked(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 5 {
		if _, err := reaper.Run(ctx, reaper.Options{StateDir: dir, Config: reaper.Config{Mode: reaper.ModeReset}}); err != nil {
			t.Fatalf("reap: %v", err)
		}
		b := newBackend(t, dir, srv, nil)
		d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, StateDir: dir, DefaultBackend: wm.Name, Config: reset})
		if stored, _ := b.Stored(ctx); len(stored) != 0 {
			t.Fatalf("restart %d: a reset kept logins %v", i, stored)
		}
		linkOverSocket(t, d, acct, "sales")
		// What the last crash left behind is unlinked in the background.
		linked(1)
		if i == 2 {
			// A crash: the daemon goes away without logging out; its
			// device stays in the store and linked on the phone.
			d.Registry.SetUnlinkOnClose(false)
			d.Stop()
			if srv.Linked() != 1 {
				t.Fatalf("the crash unlinked the device")
			}
			continue
		}
		d.Stop()
		if got := srv.Linked(); got != 0 {
			t.Fatalf("restart %d: %d devices still linked after the shutdown", i, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, reaper.UnlinkDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the quarantine is still there: %v", err)
	}
}

// TestLeftoverStoreOfAnUnlinkedDeviceIsDeleted: a device the phone
// already removed (while the daemon was down) cannot be logged in; its
// leftover store is deleted all the same.
func TestLeftoverStoreOfAnUnlinkedDeviceIsDeleted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv := newFake(t, wafake.Options{})
	b := newBackend(t, dir, srv, nil)
	_, jid := loginFake(t, b, newAccount(t, srv, "4915112345671", "Gone"), "gone")
	b.Close()
	srv.RemoveDevice(jid)
	q := filepath.Join(t.TempDir(), "q")
	if err := os.MkdirAll(q, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		from := filepath.Join(dir, wm.AuthDir, wm.DBFile+suffix)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, filepath.Join(q, wm.DBFile+suffix)); err != nil {
				t.Fatal(err)
			}
		}
	}
	b2 := newBackend(t, t.TempDir(), srv, nil)
	n, err := b2.UnlinkLeftovers(ctx, q)
	if err != nil || n != 0 {
		t.Fatalf("UnlinkLeftovers = %d, %v; want 0 unlinked, no error", n, err)
	}
	if left, _ := filepath.Glob(filepath.Join(q, "*")); len(left) != 0 {
		t.Fatalf("left in the quarantine: %v", left)
	}
}

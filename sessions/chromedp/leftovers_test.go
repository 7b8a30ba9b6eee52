package chromedp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/chromeproc"
	"github.com/wad-project/wad/reaper"
)

// reapReset runs `wad reap` in reset mode on state, as ExecStartPre does
// before every start.
func reapReset(t *testing.T, state string) reaper.Summary {
	t.Helper()
	sum, err := reaper.Run(context.Background(), reaper.Options{StateDir: state, Config: reaper.Config{Mode: reaper.ModeReset}, Log: testLog(t)})
	if err != nil {
		t.Fatalf("reap in reset mode: %v", err)
	}
	return sum
}

// newResetEnv is a daemon in reaper mode reset: its registry logs every
// session out when it closes.
func newResetEnv(t *testing.T, state string, cfg Config) *env {
	t.Helper()
	e := newEnv(t, state, cfg)
	e.reg.SetUnlinkOnClose(true)
	return e
}

// quarantined returns the chromedp parts of the quarantines under state.
func quarantined(t *testing.T, state string) []string {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(state, reaper.UnlinkDir, "*", reaper.ChromedpPart))
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// Prevents: `systemctl restart wad` in reset mode leaving a dead entry in
// the phone's "Linked devices" at every restart (WhatsApp allows four):
// five restarts, each with a logged-in session (every other one stopped
// with session.stop before the shutdown: its login is still linked),
// must end with no device linked, each restart's device logged out in the
// page, and nothing left for the next start to unlink.
func TestResetRestartsLeaveNoLinkedDevice(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	state := t.TempDir()
	var devices []string
	for i := range 5 {
		e := newResetEnv(t, state, Config{WebURL: f.url("")})
		_, dev := e.connect(f, "sales")
		devices = append(devices, dev)
		if got := f.linkedDevices(); !slices.Equal(got, []string{dev}) {
			t.Fatalf("restart %d: linked devices %q while logged in, want just %s", i, got, dev)
		}
		profile := e.session("sales").Profile()
		if i%2 == 1 {
			if _, err := e.reg.Stop(context.Background(), "sales"); err != nil {
				t.Fatalf("restart %d: stop: %v", i, err)
			}
			if got := f.linkedDevices(); len(got) != 1 {
				t.Fatalf("restart %d: linked devices %q after session.stop, want it kept", i, got)
			}
		}
		e.close() // the daemon's shutdown
		if got := f.linkedDevices(); len(got) != 0 {
			t.Fatalf("restart %d: linked devices %q after the shutdown, want none", i, got)
		}
		if n := f.loggedOut(dev); n != 1 {
			t.Errorf("restart %d: device %s logged out %d times in the page, want once", i, dev, n)
		}
		if _, err := os.Stat(profile); !os.IsNotExist(err) {
			t.Errorf("restart %d: profile kept after the shutdown (%v)", i, err)
		}
		if sum := reapReset(t, state); sum.Quarantined != 0 {
			t.Errorf("restart %d: the reaper quarantined %d logins after a clean shutdown", i, sum.Quarantined)
		}
	}
	if got := f.linkedDevices(); len(got) != 0 {
		t.Errorf("after 5 restarts: linked devices %q, want none", got)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(devices))); len(distinct) != 5 {
		t.Errorf("devices %q: every restart must log in anew", devices)
	}
	if q := quarantined(t, state); len(q) != 0 {
		t.Errorf("quarantines left: %q", q)
	}
}

// waitLoginFlushed waits until Chromium has written the fake's login
// (localStorage) to the profile on disk, as a crash would find it:
// WhatsApp Web's login is whatever the profile holds when the browser
// dies.
func waitLoginFlushed(t *testing.T, profile string) {
	t.Helper()
	dir := filepath.Join(profile, "Default", "Local Storage", "leveldb")
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("fakeLoggedIn")) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the login never reached the profile on disk (%s)", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Prevents: a crash in reset mode leaving a dead linked device: the
// logged-in profile the crash left must be quarantined by the reaper, not
// deleted, and UnlinkLeftovers at the next start must log it out in the
// page (the phone's list loses it) and delete it. A profile whose login
// the phone removed meanwhile is deleted without an unlink.
func TestCrashLeftoversAreUnlinkedAtTheNextStart(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	state := t.TempDir()
	e := newResetEnv(t, state, Config{WebURL: f.url("")})
	_, dev := e.connect(f, "sales")
	_, gone := e.connect(f, "gone")
	for _, c := range []string{"sales", "gone"} {
		waitLoginFlushed(t, e.session(c).Profile())
	}
	// The crash: every browser dies at once, nobody logs out. (The
	// registry stays open and is never closed, as a dead daemon's.)
	for _, c := range []string{"sales", "gone"} {
		s := e.session(c)
		pid, _ := s.Process()
		if pid == 0 || !chromeproc.KillTree(pid, s.Profile(), 10*time.Second) {
			t.Fatalf("could not kill the browser of %s (pid %d)", c, pid)
		}
	}
	for _, c := range []string{"sales", "gone"} {
		e.waitState(c, 15*time.Second, inState(ctl.StateFailed))
		// Let the dead run release its profile lock, as the end of
		// the crashed process would.
		e.session(c).endRun(teardownOpts{})
	}
	if got := f.linkedDevices(); len(got) != 2 {
		t.Fatalf("linked devices after the crash: %q, want both", got)
	}
	// While wad is down, the phone removes one of them.
	f.unlink(gone)

	sum := reapReset(t, state)
	if sum.Quarantined != 2 {
		t.Fatalf("the reaper quarantined %d logins, want 2", sum.Quarantined)
	}
	parts := quarantined(t, state)
	if len(parts) != 1 {
		t.Fatalf("quarantines %q, want one", parts)
	}
	if _, err := os.Stat(AuthDir(state)); !os.IsNotExist(err) {
		t.Fatalf("the reaper left %s (%v)", AuthDir(state), err)
	}

	// The next start.
	next := newResetEnv(t, state, Config{WebURL: f.url("")})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := next.b.UnlinkLeftovers(ctx, parts[0])
	if err != nil {
		t.Fatalf("UnlinkLeftovers: %d unlinked, %v", n, err)
	}
	// The phone's removal normally shows before the page reports ready,
	// but WhatsApp Web may report ready first and then log out.
	if n != 1 && n != 2 {
		t.Errorf("UnlinkLeftovers unlinked %d, want 1 (or 2 if the removed one came up first)", n)
	}
	if got := f.linkedDevices(); len(got) != 0 {
		t.Errorf("linked devices after the unlink: %q, want none", got)
	}
	if f.loggedOut(dev) != 1 {
		t.Errorf("the crashed login %s was not logged out in the page", dev)
	}
	if ents, err := os.ReadDir(parts[0]); err != nil || len(ents) != 0 {
		t.Errorf("quarantine after the unlink: %v, %v; want it emptied", ents, err)
	}
	for _, c := range []string{"sales", "gone"} {
		waitNoProcesses(t, filepath.Join(parts[0], "session-"+c), 10*time.Second)
	}
	// The quarantined logins are never sessions.
	if stored, err := next.b.Stored(ctx); err != nil || len(stored) != 0 {
		t.Errorf("stored logins after the reset: %v, %v", stored, err)
	}
	// A second pass finds nothing to do.
	if n, err := next.b.UnlinkLeftovers(ctx, parts[0]); n != 0 || err != nil {
		t.Errorf("second UnlinkLeftovers: %d, %v", n, err)
	}
}

// Prevents: a shutdown whose time ran out deleting the logins it did not
// get to unlink (dead devices on the phone): a logout cut short keeps the
// login, closes the browser and fails; the reaper then quarantines the
// login and the next start unlinks it.
func TestLogoutCutShortKeepsTheLoginForTheNextStart(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	state := t.TempDir()
	e := newEnv(t, state, Config{WebURL: f.url("")})
	_, dev := e.connect(f, "late")
	s := e.session("late")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown timeout has passed
	if err := s.Logout(ctx); codeOf(err) != ctl.CodeTimeout {
		t.Fatalf("logout with its time up: %v, want -32005", err)
	}
	waitNoProcesses(t, s.Profile(), 10*time.Second)
	if !s.hasLogin() {
		t.Fatal("the login was deleted although WhatsApp was not told")
	}
	if got := f.linkedDevices(); !slices.Equal(got, []string{dev}) {
		t.Fatalf("linked devices %q, want %s still linked", got, dev)
	}

	if sum := reapReset(t, state); sum.Quarantined != 1 {
		t.Fatalf("the reaper quarantined %d logins, want 1", sum.Quarantined)
	}
	parts := quarantined(t, state)
	if len(parts) != 1 {
		t.Fatalf("quarantines %q, want one", parts)
	}
	next := newEnv(t, state, Config{WebURL: f.url("")})
	uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ucancel()
	if n, err := next.b.UnlinkLeftovers(uctx, parts[0]); n != 1 || err != nil {
		t.Fatalf("UnlinkLeftovers: %d, %v; want 1 unlinked", n, err)
	}
	if got := f.linkedDevices(); len(got) != 0 {
		t.Errorf("linked devices after the next start: %q, want none", got)
	}
}

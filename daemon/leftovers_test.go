package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/chromedp"
	"github.com/wad-project/wad/sessions/sessiontest"
	"github.com/wad-project/wad/sessions/whatsmeow"
)

// writeFiles creates each path (relative to root) with its base name as
// content, making the directories it needs.
func writeFiles(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(filepath.Base(p)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// reapReset runs the reaper in reset mode, as `wad reap` before a start,
// and returns the quarantine it made.
func reapReset(t *testing.T, state string) string {
	t.Helper()
	before, _ := os.ReadDir(filepath.Join(state, reaper.UnlinkDir))
	sum, err := reaper.Run(bg, reaper.Options{StateDir: state, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("reap: %v", err)
	}
	after, _ := os.ReadDir(filepath.Join(state, reaper.UnlinkDir))
	if sum.Quarantined == 0 || len(after) != len(before)+1 {
		t.Fatalf("reap quarantined %d logins in %d new quarantines, want one", sum.Quarantined, len(after)-len(before))
	}
	for _, e := range after {
		if !slices.ContainsFunc(before, func(b os.DirEntry) bool { return b.Name() == e.Name() }) {
			return e.Name()
		}
	}
	panic("unreachable")
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// waitUntil polls cond until it holds; the deadline only bounds a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Prevents: logins a crash left behind (quarantined by the reaper in reset
// mode) never being unlinked, so that they stay as dead devices on the
// phone; the unlink holding up the socket; a quarantine removed while a
// backend still holds a login in it; quarantines kept forever.
func TestServeUnlinksWhatACrashLeftBehind(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	// A crashed daemon's logins, quarantined by the reaper...
	writeFiles(t, state,
		reaper.AuthDir+"/whatsmeow.db",
		reaper.AuthDir+"/session-sales/"+reaper.LoginMarker,
		reaper.AuthDir+"/session-qr/Default/Cookies")
	q1 := reapReset(t, state)
	// ...another crash's, one of which cannot be unlinked yet...
	writeFiles(t, state, reaper.AuthDir+"/session-stuck/"+reaper.LoginMarker)
	q2 := reapReset(t, state)
	// ...and one so old that it is given up on.
	old := filepath.Join(state, reaper.UnlinkDir, "20000101T000000Z")
	writeFiles(t, old, "whatsmeow/whatsmeow.db")
	qdir := func(q string) string { return filepath.Join(state, reaper.UnlinkDir, q) }

	gate := make(chan struct{})
	wm := &sessiontest.Backend{UnlinkGate: gate}
	cd := &sessiontest.Backend{BackendName: "chromedp", UnlinkGate: gate, UnlinkKeep: []string{"session-stuck"}}
	logs := &syncbuf.Buffer{}
	d := daemontest.Start(t, daemontest.Options{
		Backends: []sessions.Backend{wm, cd},
		StateDir: state,
		Log:      slog.New(slog.NewTextHandler(logs, nil)),
	})
	// The unlinking runs in the background: the daemon serves while a
	// backend is still at it.
	waitUntil(t, "the unlinking to begin", func() bool { return wm.UnlinkCalls.Load() > 0 || cd.UnlinkCalls.Load() > 0 })
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if st, err := d.Client.Login(ctx, ctl.LoginParams{Client: "alive"}); err != nil || st.State != ctl.StateQR {
		t.Fatalf("login while unlinking: %+v, %v", st, err)
	}
	close(gate)

	waitUntil(t, "the first quarantine to be removed", func() bool { return !exists(qdir(q1)) })
	waitUntil(t, "the second quarantine's unlink attempt", func() bool { return cd.UnlinkCalls.Load() == 2 })
	if got, want := wm.Unlinked(), []string{q1 + "/whatsmeow.db"}; !slices.Equal(got, want) {
		t.Errorf("whatsmeow unlinked %q, want %q", got, want)
	}
	if got, want := cd.Unlinked(), []string{q1 + "/session-sales"}; !slices.Equal(got, want) {
		t.Errorf("chromedp unlinked %q, want %q", got, want)
	}
	// The login that could not be unlinked stays for the next start.
	if !exists(filepath.Join(qdir(q2), "chromedp", "session-stuck", reaper.LoginMarker)) {
		t.Errorf("quarantine %s lost the login that was not unlinked", q2)
	}
	d.Stop()
	if exists(old) {
		t.Errorf("quarantine older than 7 days kept: %s", old)
	}
	out := logs.String()
	for _, want := range []string{"unlinked 1 logins left behind by an unclean shutdown", "remove those devices on the phone"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// Prevents: a shutdown waiting for (or cut short by) an unlink in
// progress: it stops the unlinking, and what was not unlinked stays.
func TestShutdownStopsUnlinkingLeftovers(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	writeFiles(t, state, reaper.AuthDir+"/session-sales/"+reaper.LoginMarker)
	q := reapReset(t, state)
	cd := &sessiontest.Backend{BackendName: "chromedp", UnlinkGate: make(chan struct{})} // never opens
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}, cd}, StateDir: state})
	waitUntil(t, "the unlinking to begin", func() bool { return cd.UnlinkCalls.Load() == 1 })
	d.Stop() // fails the test unless the shutdown is clean
	if !exists(filepath.Join(state, reaper.UnlinkDir, q, "chromedp", "session-sales", reaper.LoginMarker)) {
		t.Error("the login being unlinked at shutdown is gone")
	}
}

// Prevents: the reaper and the daemon disagreeing on where a backend's
// logins are (the quarantine parts are the backends' names) or what the
// logins are (the store's file, chromedp's login marker): a crash's
// logins would then never be unlinked.
func TestQuarantineLayoutMatchesTheBackends(t *testing.T) {
	t.Parallel()
	if reaper.WhatsmeowPart != whatsmeow.Name || reaper.ChromedpPart != chromedp.Name {
		t.Errorf("quarantine parts %q, %q; backends %q, %q", reaper.WhatsmeowPart, reaper.ChromedpPart, whatsmeow.Name, chromedp.Name)
	}
	if reaper.WhatsmeowStore != whatsmeow.DBFile || reaper.AuthDir != whatsmeow.AuthDir {
		t.Errorf("reaper store %s/%s, whatsmeow's %s/%s", reaper.AuthDir, reaper.WhatsmeowStore, whatsmeow.AuthDir, whatsmeow.DBFile)
	}
	if reaper.LoginMarker != chromedp.LoginMarker {
		t.Errorf("reaper login marker %q, chromedp's %q", reaper.LoginMarker, chromedp.LoginMarker)
	}
	if p := chromedp.ProfileDir("/s", "x"); p != filepath.Join("/s", reaper.AuthDir, reaper.ProfilePrefix+"x") {
		t.Errorf("chromedp profile %s is not where the reaper looks", p)
	}
	for _, name := range daemon.BackendNames {
		if name != reaper.WhatsmeowPart && name != reaper.ChromedpPart {
			t.Errorf("backend %s has no quarantine part", name)
		}
	}
}

// Prevents: the daemon stopping (not logging out) its sessions at
// shutdown in reaper mode reset, where the next start deletes the logins
// and so leaves a dead device on the phone for each; or logging them out
// in preserve mode, which must keep them. A reload changes it for the next
// shutdown, as the next start's reaper reads the changed file.
func TestShutdownLogsOutInResetModeAndStopsInPreserveMode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode, reloadTo string
		wantLogouts    bool
	}{
		{reaper.ModeReset, "", true},
		{"", "", true}, // the default is reset
		{reaper.ModePreserve, "", false},
		{reaper.ModePreserve, reaper.ModeReset, true},
		{reaper.ModeReset, reaper.ModePreserve, false},
	} {
		t.Run(c.mode+"->"+c.reloadTo, func(t *testing.T) {
			t.Parallel()
			b := &sessiontest.Backend{Connect: true}
			d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b},
				Config: func(cfg *daemon.Config) { cfg.Reaper.Mode = c.mode }})
			for _, client := range []string{"a", "b"} {
				if _, err := d.Client.Login(bg, ctl.LoginParams{Client: client}); err != nil {
					t.Fatal(err)
				}
			}
			if c.reloadTo != "" {
				path := filepath.Join(t.TempDir(), "wad.toml")
				cfg := "socket = \"" + d.Socket + "\"\nstate_dir = \"" + d.StateDir + "\"\n[reaper]\nmode = \"" + c.reloadTo + "\"\n"
				if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
				d.D.Reload(path, nil)
			}
			d.Stop()
			logouts, stops := b.Logouts.Load(), b.Stops.Load()
			if c.wantLogouts && (logouts != 2 || stops != 0) {
				t.Errorf("shutdown made %d logouts and %d stops, want 2 logouts", logouts, stops)
			}
			if !c.wantLogouts && (stops != 2 || logouts != 0) {
				t.Errorf("shutdown made %d stops and %d logouts, want 2 stops", stops, logouts)
			}
		})
	}
}

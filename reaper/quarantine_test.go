package reaper

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// quarantines returns the names in <state>/.wad-unlink, sorted.
func quarantines(t testing.TB, state string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(state, UnlinkDir))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// mode returns the permission bits of path (not following a symlink).
func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// Prevents: reset mode deleting logins nobody unlinked (each one is a dead
// device in the phone's Linked devices): the whatsmeow store with its WAL
// files and every chromedp profile with a login marker must be moved to a
// private quarantine, exactly those, while profiles without a login, the
// store's lock and the cache are removed as before; a dry run must move
// nothing and say what it would move; a second reset must not reuse the
// first one's quarantine.
func TestResetQuarantinesLogins(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	write(t, state,
		"wad.toml",
		AuthDir+"/whatsmeow.db",
		AuthDir+"/whatsmeow.db-wal",
		AuthDir+"/whatsmeow.db-shm",
		AuthDir+"/whatsmeow.db.lock",
		AuthDir+"/session-sales/"+LoginMarker,
		AuthDir+"/session-sales/Default/Cookies",
		AuthDir+"/session-sales/SingletonLock -> vm-1",
		AuthDir+"/session-support/"+LoginMarker,
		AuthDir+"/session-qr/Default/Cookies", // a QR code was shown, no login
		AuthDir+"/notaprofile/"+LoginMarker,
		CacheDir+"/2.3000.1.html",
	)
	before := listing(t, state)

	var plan bytes.Buffer
	sum, err := Run(context.Background(), Options{StateDir: state, DryRun: true, Log: quiet(), Out: &plan})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if after := listing(t, state); !slices.Equal(before, after) {
		t.Fatalf("dry run changed the state dir:\nbefore %q\nafter  %q", before, after)
	}
	for _, name := range []string{"whatsmeow.db", "whatsmeow.db-wal", "whatsmeow.db-shm", "session-sales", "session-support"} {
		if !strings.Contains(plan.String(), "would move "+filepath.Join(state, AuthDir, name)+" to "+filepath.Join(state, UnlinkDir)) {
			t.Errorf("dry-run plan does not move %s:\n%s", name, plan.String())
		}
	}
	if strings.Contains(plan.String(), "would move "+filepath.Join(state, AuthDir, "session-qr")) {
		t.Errorf("dry-run plan moves a profile without a login:\n%s", plan.String())
	}
	if sum.Quarantined != 3 {
		t.Errorf("dry run: %d logins to quarantine, want 3 (the store and two profiles)", sum.Quarantined)
	}

	begin := time.Now().UTC().Truncate(time.Second)
	sum, err = Run(context.Background(), Options{StateDir: state, Log: quiet()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	end := time.Now().UTC()
	q := quarantines(t, state)
	if len(q) != 1 {
		t.Fatalf("quarantines %q, want one", q)
	}
	if at, ok := QuarantineTime(q[0]); !ok || at.Before(begin) || at.After(end) {
		t.Errorf("quarantine %q: time %v (%v), want the time of the reset", q[0], at, ok)
	}
	qd := UnlinkDir + "/" + q[0] + "/"
	want := []string{"./", ".wad-unlink/", qd,
		qd + "chromedp/",
		qd + "chromedp/session-sales/",
		qd + "chromedp/session-sales/Default/",
		qd + "chromedp/session-sales/Default/Cookies = Cookies",
		qd + "chromedp/session-sales/SingletonLock -> vm-1",
		qd + "chromedp/session-sales/wad-login = wad-login",
		qd + "chromedp/session-support/",
		qd + "chromedp/session-support/wad-login = wad-login",
		qd + "whatsmeow/",
		qd + "whatsmeow/whatsmeow.db = whatsmeow.db",
		qd + "whatsmeow/whatsmeow.db-shm = whatsmeow.db-shm",
		qd + "whatsmeow/whatsmeow.db-wal = whatsmeow.db-wal",
		"wad.toml = wad.toml",
	}
	if got := listing(t, state); !slices.Equal(got, want) {
		t.Errorf("after reset:\n got %q\nwant %q", got, want)
	}
	for _, d := range []string{UnlinkDir, qd, qd + "chromedp", qd + "whatsmeow"} {
		if m := mode(t, filepath.Join(state, d)); m != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, m)
		}
	}
	if sum.Quarantined != 3 || !strings.Contains(sum.String(), "3 logins quarantined") {
		t.Errorf("summary %+v (%s): want 3 logins quarantined", sum, sum)
	}

	// The next reset with a login makes a quarantine of its own, even
	// within the same second.
	first := listing(t, filepath.Join(state, UnlinkDir, q[0]))
	write(t, state, AuthDir+"/session-late/"+LoginMarker)
	if _, err := Run(context.Background(), Options{StateDir: state, Log: quiet()}); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	q2 := quarantines(t, state)
	if len(q2) != 2 || q2[0] != q[0] {
		t.Fatalf("quarantines after a second reset: %q, want %q and a new one", q2, q[0])
	}
	if _, err := os.Stat(filepath.Join(state, UnlinkDir, q2[1], ChromedpPart, "session-late", LoginMarker)); err != nil {
		t.Errorf("second quarantine lacks its login: %v", err)
	}
	if _, ok := QuarantineTime(q2[1]); !ok {
		t.Errorf("second quarantine %q has no time", q2[1])
	}
	if got := listing(t, filepath.Join(state, UnlinkDir, q[0])); !slices.Equal(got, first) {
		t.Errorf("the second reset changed the first quarantine:\nbefore %q\nafter  %q", first, got)
	}
	// A reset without logins makes no quarantine.
	write(t, state, AuthDir+"/session-qr2/Default/Cookies")
	if _, err := Run(context.Background(), Options{StateDir: state, Log: quiet()}); err != nil {
		t.Fatalf("third Run: %v", err)
	}
	if q3 := quarantines(t, state); len(q3) != 2 {
		t.Errorf("a reset without logins made a quarantine: %q", q3)
	}
}

// Prevents: the quarantine becoming a way out of the state dir or into
// someone else's files: a symlinked .wwebjs_auth, profile, login marker or
// store is never taken for a login (removed as a link, target untouched);
// a .wad-unlink that is a symlink or another user's is not used, and the
// logins then stay where they are (with an error) rather than being
// deleted without an unlink.
func TestQuarantineDoesNotFollowSymlinks(t *testing.T) {
	t.Parallel()
	t.Run("links are not logins", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		state, outside := filepath.Join(root, "state"), filepath.Join(root, "outside")
		write(t, outside, "profile/"+LoginMarker, "profile/Default/Cookies", "marker", "whatsmeow.db")
		write(t, state,
			AuthDir+"/session-link -> "+filepath.Join(outside, "profile"),
			AuthDir+"/session-rel -> ../../outside/profile",
			AuthDir+"/session-markerlink/"+LoginMarker+" -> "+filepath.Join(outside, "marker"),
			AuthDir+"/whatsmeow.db -> "+filepath.Join(outside, "whatsmeow.db"),
		)
		outBefore := listing(t, outside)
		sum, err := Run(context.Background(), Options{StateDir: state, Log: quiet()})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if after := listing(t, outside); !slices.Equal(outBefore, after) {
			t.Errorf("outside tree changed:\nbefore %q\nafter  %q", outBefore, after)
		}
		if got := listing(t, state); !slices.Equal(got, []string{"./"}) || sum.Quarantined != 0 {
			t.Errorf("state after reset %q, %d quarantined; want empty, none", got, sum.Quarantined)
		}
	})
	t.Run("auth dir is a link", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		state, outside := filepath.Join(root, "state"), filepath.Join(root, "outside")
		write(t, outside, "session-x/"+LoginMarker, "whatsmeow.db")
		write(t, state, AuthDir+" -> "+outside)
		outBefore := listing(t, outside)
		if _, err := Run(context.Background(), Options{StateDir: state, Log: quiet()}); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if after := listing(t, outside); !slices.Equal(outBefore, after) {
			t.Errorf("outside tree changed:\nbefore %q\nafter  %q", outBefore, after)
		}
		if got := listing(t, state); !slices.Equal(got, []string{"./"}) {
			t.Errorf("state after reset %q, want empty", got)
		}
	})
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, state, outside string)
	}{
		{"quarantine dir is a link", func(t *testing.T, state, outside string) {
			write(t, state, UnlinkDir+" -> "+outside)
		}},
		{"quarantine dir is another user's", func(t *testing.T, state, outside string) {
			mkdirs(t, filepath.Join(state, UnlinkDir))
			if err := os.Chown(filepath.Join(state, UnlinkDir), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			state, outside := filepath.Join(root, "state"), filepath.Join(root, "outside")
			write(t, outside, "x")
			write(t, state,
				AuthDir+"/session-sales/"+LoginMarker,
				AuthDir+"/whatsmeow.db",
				AuthDir+"/session-qr/Default/Cookies",
				CacheDir+"/1.html",
			)
			c.setup(t, state, outside)
			outBefore := listing(t, outside)
			qBefore := listing(t, filepath.Join(state, UnlinkDir)+"/")
			sum, err := Run(context.Background(), Options{StateDir: state, Log: quiet()})
			if err == nil || !strings.Contains(err.Error(), UnlinkDir) {
				t.Errorf("Run: %v, want an error naming %s", err, UnlinkDir)
			}
			if after := listing(t, outside); !slices.Equal(outBefore, after) {
				t.Errorf("outside tree changed:\nbefore %q\nafter  %q", outBefore, after)
			}
			if after := listing(t, filepath.Join(state, UnlinkDir)+"/"); !slices.Equal(qBefore, after) {
				t.Errorf("the refused quarantine dir changed:\nbefore %q\nafter  %q", qBefore, after)
			}
			// The logins stay; what is not a login goes.
			for _, p := range []string{AuthDir + "/session-sales/" + LoginMarker, AuthDir + "/whatsmeow.db"} {
				if _, err := os.Lstat(filepath.Join(state, p)); err != nil {
					t.Errorf("login %s deleted without being quarantined: %v", p, err)
				}
			}
			for _, p := range []string{AuthDir + "/session-qr", CacheDir} {
				if _, err := os.Lstat(filepath.Join(state, p)); !os.IsNotExist(err) {
					t.Errorf("%s survived the reset: %v", p, err)
				}
			}
			if sum.Quarantined != 0 {
				t.Errorf("summary counts %d quarantined", sum.Quarantined)
			}
		})
	}
}

// Prevents: the daemon misjudging a quarantine's age (and deleting one
// too early, or never) from its name.
func TestQuarantineTime(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"20240131T235959Z":    "2024-01-31T23:59:59Z",
		"20240131T235959Z-2":  "2024-01-31T23:59:59Z",
		"20240131T235959Z-17": "2024-01-31T23:59:59Z",
		"20240131T235959Z-":   "",
		"20240131T235959Z-x":  "",
		"20240131T235959Z-+2": "",
		"20240131T235959Zx":   "",
		"2024-01-31":          "",
		"":                    "",
	} {
		at, ok := QuarantineTime(name)
		got := ""
		if ok {
			got = at.Format(time.RFC3339)
		}
		if got != want {
			t.Errorf("QuarantineTime(%q) = %q, want %q", name, got, want)
		}
	}
}

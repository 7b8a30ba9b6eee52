package reaper

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/wad-project/wad/internal/chromeproc"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Prevents: removal following a symlink out of the tree it removes, either
// deep inside .wwebjs_auth, or as .wwebjs_cache itself, or to a sibling of
// the two inside the state dir; and removal of the state dir itself.
func TestRunDoesNotFollowSymlinksOut(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	outside := filepath.Join(root, "outside")
	write(t, outside, "dir/a.txt", "dir/deep/b.txt", "file.txt", "cachedir/c.html")
	write(t, state,
		"keep/k.txt",
		AuthDir+"/session-a/Default/Cookies",
		AuthDir+"/session-a/escape -> "+filepath.Join(outside, "dir"),
		AuthDir+"/session-a/rel-escape -> ../../../outside/dir",
		AuthDir+"/file-link -> "+filepath.Join(outside, "file.txt"),
		AuthDir+"/sibling -> "+filepath.Join(state, "keep"),
		AuthDir+"/state-link -> ..",
		CacheDir+" -> "+filepath.Join(outside, "cachedir"),
	)
	outBefore := listing(t, outside)

	sum, err := Run(context.Background(), Options{StateDir: state, Log: quiet()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if after := listing(t, outside); !slices.Equal(outBefore, after) {
		t.Errorf("outside tree changed:\nbefore %q\nafter  %q", outBefore, after)
	}
	want := []string{"./", "keep/", "keep/k.txt = k.txt"}
	if got := listing(t, state); !slices.Equal(got, want) {
		t.Errorf("state dir after reap = %q, want %q", got, want)
	}
	// 3 directories, 1 file, 6 links (the cache is one link).
	if sum.Removed != 10 || sum.Bytes != int64(len("Cookies")) {
		t.Errorf("summary %+v: want 10 entries and %d bytes removed", sum, len("Cookies"))
	}
}

// Prevents: reset mode leaving anything of the two trees behind (the
// <version>.html cache pages, the whatsmeow store, Chrome profiles) or
// removing anything beside them; wrong counts in the summary.
func TestResetLayout(t *testing.T) {
	state := t.TempDir()
	write(t, state,
		"wad.toml",
		".wwebjs_other/x",
		AuthDir+"/whatsmeow.db",
		AuthDir+"/whatsmeow.db-wal",
		AuthDir+"/session-sales/Local State",
		AuthDir+"/session-sales/Default/Cookies",
		AuthDir+"/session-sales/Default/IndexedDB/",
		AuthDir+"/session-sales/SingletonLock -> vm-1",
		AuthDir+"/session-sales/SingletonCookie -> 123",
		AuthDir+"/session-sales/SingletonSocket -> /tmp/org.chromium.Chromium.x/SingletonSocket",
		CacheDir+"/2.3000.1012345.html",
		CacheDir+"/2.3000.1012346.html",
	)
	sum, err := Run(context.Background(), Options{StateDir: state, Config: Config{Mode: ModeReset}, Log: quiet()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The whatsmeow store is quarantined for the daemon to unlink; the
	// profile holds no login marker (a QR code at most) and goes.
	q := quarantines(t, state)
	if len(q) != 1 {
		t.Fatalf("quarantines %q, want one", q)
	}
	qd := UnlinkDir + "/" + q[0] + "/"
	want := []string{"./", ".wad-unlink/", qd, qd + "whatsmeow/", qd + "whatsmeow/whatsmeow.db = whatsmeow.db",
		qd + "whatsmeow/whatsmeow.db-wal = whatsmeow.db-wal", ".wwebjs_other/", ".wwebjs_other/x = x", "wad.toml = wad.toml"}
	if got := listing(t, state); !slices.Equal(got, want) {
		t.Errorf("after reset:\n got %q\nwant %q", got, want)
	}
	// auth: 1 + session dir + Default + IndexedDB = 4 dirs, 2 files, 3 links; cache: 1 dir, 2 files.
	wantBytes := int64(len("Local State") + len("Cookies") + 2*len("2.3000.1012345.html"))
	if sum.Removed != 12 || sum.Bytes != wantBytes || sum.Quarantined != 1 {
		t.Errorf("summary %+v: want 12 entries, %d bytes, 1 login quarantined", sum, wantBytes)
	}
	// A second reap finds nothing to do and succeeds.
	sum, err = Run(context.Background(), Options{StateDir: state, Log: quiet()})
	if err != nil || sum.Removed != 0 {
		t.Errorf("second reap: %+v, %v", sum, err)
	}
}

// Prevents: preserve mode losing logins, keeping the cache, keeping the
// Singleton* files of a browser it just killed, of a dead pid, of a live
// pid that is not a Chrome, or of a live Chrome on another profile (a
// reused pid), or removing the lock of a live Chrome on that profile (here
// another user's, which the reaper does not kill) or of another host.
func TestPreserveLayout(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	root, state := newState(t)
	auth := filepath.Join(state, AuthDir)
	live := filepath.Join(auth, "session-live")
	mkdirs(t, live)
	if err := os.Chown(live, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// A real browser of ours (killed by the reap, its locks then stale),
	// a live one outside the state dir whose pid a lock names, and
	// another user's on a profile inside (its own lock stays live).
	cs := startChromes(t,
		chromeOpts{profile: filepath.Join(auth, "session-ours")},
		chromeOpts{profile: filepath.Join(root, "elsewhere")},
		chromeOpts{profile: live, uid: 65534},
	)
	elsewhere := cs[1].pid
	liveLock := host + "-" + strconv.Itoa(cs[2].pid)
	if got, err := os.Readlink(filepath.Join(live, chromeproc.LockName)); err != nil || got != liveLock {
		t.Fatalf("the other user's browser holds %q (%v), want %q", got, err, liveLock)
	}
	dead := deadPID(t)
	singletons := func(dir, lock string) []string {
		return []string{
			dir + "/" + chromeproc.LockName + " -> " + lock,
			dir + "/SingletonCookie -> 1234567890",
			dir + "/SingletonSocket -> /tmp/org.chromium.Chromium.test/SingletonSocket",
		}
	}
	layout := []string{"wad.toml", AuthDir + "/whatsmeow.db", AuthDir + "/session-dead/Default/Cookies",
		AuthDir + "/session-nolock/SingletonCookie -> 42", CacheDir + "/2.3000.1.html"}
	layout = append(layout, singletons(AuthDir+"/session-dead", host+"-"+strconv.Itoa(dead))...)
	layout = append(layout, singletons(AuthDir+"/session-otherprofile", host+"-"+strconv.Itoa(elsewhere))...)
	layout = append(layout, singletons(AuthDir+"/session-notchrome", host+"-"+strconv.Itoa(os.Getpid()))...)
	layout = append(layout, singletons(AuthDir+"/session-otherhost", "not-"+host+"-"+strconv.Itoa(dead))...)
	layout = append(layout, singletons(AuthDir+"/session-garbled", "no pid here")...)
	write(t, state, layout...)

	sum, err := Run(context.Background(), Options{StateDir: state, Config: Config{Mode: ModePreserve}, Log: quiet()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if left := cs[0].running(); len(left) > 0 {
		t.Errorf("our browser still running: %v", left)
	}
	for _, c := range cs[1:] {
		if left := c.running(); len(left) != len(c.tree) {
			t.Errorf("the browser on %s lost processes", c.profile)
		}
	}
	// The killed browser's profile keeps its data but not its locks.
	ours := filepath.Join(auth, "session-ours")
	for _, name := range []string{"Local State", "Default"} {
		if _, err := os.Stat(filepath.Join(ours, name)); err != nil {
			t.Errorf("preserve lost %s of the killed browser's profile: %v", name, err)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(ours, "Singleton*")); len(ents) > 0 {
		t.Errorf("Singleton files of the killed browser kept: %q", ents)
	}
	if got, err := os.Readlink(filepath.Join(live, chromeproc.LockName)); err != nil || got != liveLock {
		t.Errorf("the live browser's lock is %q (%v), want %q kept", got, err, liveLock)
	}
	// Compared separately above: Chrome's own files vary. The live
	// browser goes first, or it writes into its profile (a slow first
	// start does) after the removal.
	cs[2].kill(t)
	for _, dir := range []string{ours, live} {
		os.RemoveAll(dir)
	}

	want := []string{"./", AuthDir + "/", AuthDir + "/session-dead/", AuthDir + "/session-dead/Default/",
		AuthDir + "/session-dead/Default/Cookies = Cookies"}
	want = append(want, AuthDir+"/session-garbled/")
	want = append(want, singletons(AuthDir+"/session-garbled", "no pid here")...)
	want = append(want, AuthDir+"/session-nolock/", AuthDir+"/session-nolock/SingletonCookie -> 42")
	want = append(want, AuthDir+"/session-notchrome/", AuthDir+"/session-otherprofile/")
	want = append(want, AuthDir+"/session-otherhost/")
	want = append(want, singletons(AuthDir+"/session-otherhost", "not-"+host+"-"+strconv.Itoa(dead))...)
	want = append(want, AuthDir+"/whatsmeow.db = whatsmeow.db", "wad.toml = wad.toml")
	slices.Sort(want)
	got := listing(t, state)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after preserve:\n got %q\nwant %q", got, want)
	}
	if sum.StaleLocks != 4 {
		t.Errorf("stale locks = %d, want 4 (ours, dead, not-chrome, other profile): %+v", sum.StaleLocks, sum)
	}
}

// Prevents: cleaning (or killing for) a state dir that cannot be ours.
func TestRunRefuses(t *testing.T) {
	mk := func(t *testing.T) string {
		d := filepath.Join(t.TempDir(), "state")
		write(t, d, AuthDir+"/session-a/Cookies", CacheDir+"/1.html")
		return d
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) string
		cfg   Config
	}{
		{"root", func(t *testing.T) string { return "/" }, Config{}},
		{"root via symlink", func(t *testing.T) string {
			l := filepath.Join(t.TempDir(), "l")
			if err := os.Symlink("/", l); err != nil {
				t.Fatal(err)
			}
			return l
		}, Config{}},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, Config{}},
		{"relative", func(t *testing.T) string { return "state" }, Config{}},
		{"empty", func(t *testing.T) string { return "" }, Config{}},
		{"a file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "f")
			write(t, filepath.Dir(f), "f")
			return f
		}, Config{}},
		{"not ours", func(t *testing.T) string {
			d := mk(t)
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return d
		}, Config{}},
		{"home", func(t *testing.T) string {
			d := mk(t)
			t.Setenv("HOME", d)
			return d
		}, Config{}},
		{"home via symlink", func(t *testing.T) string {
			d := mk(t)
			l := filepath.Join(t.TempDir(), "l")
			if err := os.Symlink(d, l); err != nil {
				t.Fatal(err)
			}
			t.Setenv("HOME", d)
			return l
		}, Config{}},
		{"bad mode", mk, Config{Mode: "wipe"}},
		{"bad timeout", mk, Config{KillTimeout: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.setup(t)
			var before []string
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() && dir != "/" {
				before = listing(t, dir)
			}
			_, err := Run(context.Background(), Options{StateDir: dir, Config: c.cfg, Log: quiet()})
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Run(%q) = %v, want ErrRefused", dir, err)
			}
			t.Log(err)
			if before != nil {
				if after := listing(t, dir); !slices.Equal(before, after) {
					t.Errorf("refused run changed %s:\nbefore %q\nafter  %q", dir, before, after)
				}
			}
		})
	}
}

package reaper

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/internal/chromeproc"
	"github.com/wad-project/wad/internal/syncbuf"
)

// newState makes a state directory below a root both readable by other
// users (so a browser of another uid can run beside it) and returns both.
func newState(t *testing.T) (root, state string) {
	t.Helper()
	root = t.TempDir()
	// t.TempDir makes root and its per-test parent 0700.
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	state = filepath.Join(root, "state")
	mkdirs(t, state)
	return root, state
}

// Prevents: a reaper that kills too little (a Chrome of ours reached
// through a symlink, "..", or a relative path survives, or its renderers
// do) or too much (a Chrome on a sibling directory whose name extends the
// state dir's, another user's Chrome inside the state dir, or a non-Chrome
// process whose argv[0] and flags mimic Chrome). Also: a dry run that
// changes something or plans the wrong processes.
func TestRunKillsExactlyOurChromes(t *testing.T) {
	t.Parallel()
	root, state := newState(t)
	auth := filepath.Join(state, AuthDir)
	mkdirs(t, filepath.Join(auth, "x"))
	if err := os.Symlink(auth, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(state, "other-user")
	mkdirs(t, other)
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	write(t, state, CacheDir+"/2.3000.1.html")

	cs := startChromes(t,
		chromeOpts{profile: filepath.Join(auth, "session-a")},              // ours, plain
		chromeOpts{profile: "link/x/../session-b", dir: root},              // ours, relative, via symlink and ..
		chromeOpts{profile: filepath.Join(root, "state-decoy", "profile")}, // a sibling: not ours
		chromeOpts{profile: filepath.Join(other, "profile"), uid: 65534},   // another user's: not ours
	)
	ourA, ourB, decoy, foreign := cs[0], cs[1], cs[2], cs[3]
	mimic := startHelper(t, "chromium", "--user-data-dir="+filepath.Join(auth, "session-a"), "--type=renderer")

	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	// Dry run: the plan names exactly our two browsers, and nothing changes.
	var plan bytes.Buffer
	before := listing(t, filepath.Join(state, CacheDir))
	sum, err := Run(context.Background(), Options{StateDir: state, DryRun: true, Log: log, Out: &plan})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if sum.Signalled != 2 || sum.Killed != 0 || sum.Found < len(ourA.tree)+len(ourB.tree)-2 {
		t.Errorf("dry run summary %+v; want 2 browsers to signal and both trees found", sum)
	}
	for _, c := range cs {
		want := c == ourA || c == ourB
		if got := strings.Contains(plan.String(), "SIGTERM to pid "+strconv.Itoa(c.pid)+" "); got != want {
			t.Errorf("dry-run plan mentions SIGTERM to %s (pid %d): %v, want %v", c.profile, c.pid, got, want)
		}
		if n := len(c.running()); n != len(c.tree) {
			t.Errorf("dry run killed %d processes of %s", len(c.tree)-n, c.profile)
		}
	}
	if strings.Contains(plan.String(), "pid "+strconv.Itoa(mimic.pid)+" ") {
		t.Errorf("dry-run plan names the mimic process %d:\n%s", mimic.pid, plan.String())
	}
	if !strings.Contains(plan.String(), "would remove "+filepath.Join(state, CacheDir)) {
		t.Errorf("dry-run plan does not remove the cache:\n%s", plan.String())
	}
	if after := listing(t, filepath.Join(state, CacheDir)); !slices.Equal(before, after) {
		t.Errorf("dry run changed the cache:\nbefore %q\nafter  %q", before, after)
	}
	for _, p := range []string{"session-a", "session-b"} {
		if _, err := os.Readlink(filepath.Join(auth, p, chromeproc.LockName)); err != nil {
			t.Errorf("dry run touched the profile %s: %v", p, err)
		}
	}

	sum, err = Run(context.Background(), Options{StateDir: state, Config: Config{KillTimeout: 30 * time.Second}, Log: log})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Log(sum)
	if sum.Signalled != 2 {
		t.Errorf("signalled %d browsers, want 2 (%+v)", sum.Signalled, sum)
	}
	for _, c := range []*chrome{ourA, ourB} {
		if left := c.running(); len(left) > 0 {
			t.Errorf("processes of our browser on %s still running: %v", c.profile, left)
		}
	}
	for _, c := range []*chrome{decoy, foreign} {
		if left := c.running(); len(left) != len(c.tree) {
			t.Errorf("browser on %s lost %d of %d processes", c.profile, len(c.tree)-len(left), len(c.tree))
		}
	}
	if !mimic.alive() {
		t.Error("the non-Chrome process posing as chromium was killed")
	}
	// Nothing else on the system still uses our profiles.
	for _, p := range []string{"session-a", "session-b"} {
		for _, pid := range mentioning(filepath.Join(root, "")) {
			if pid != mimic.pid && strings.Contains(strings.Join(cmdline(pid), " "), p) {
				t.Errorf("pid %d still mentions %s: %q", pid, p, cmdline(pid))
			}
		}
	}
	// The main processes exited on SIGTERM, not on SIGKILL.
	for _, c := range []*chrome{ourA, ourB} {
		select {
		case <-c.done:
			if ws, ok := c.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				t.Errorf("browser %d needed SIGKILL despite a 30s timeout", c.pid)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("browser %d not reaped", c.pid)
		}
	}
	for _, name := range []string{AuthDir, CacheDir} {
		if _, err := os.Lstat(filepath.Join(state, name)); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", name, err)
		}
	}
	out := logs.String()
	if !strings.HasPrefix(out, "time=") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], StartMessage) {
		t.Errorf("first log line is not %q:\n%s", StartMessage, out)
	}
	if !strings.Contains(out, sum.String()) {
		t.Errorf("log lacks the summary line %q:\n%s", sum.String(), out)
	}
}

// Prevents: a browser that ignores SIGTERM (here: stopped) surviving the
// reap, or being SIGKILLed before kill_timeout has passed.
func TestRunKillsBrowserIgnoringSIGTERMAfterTimeout(t *testing.T) {
	t.Parallel()
	_, state := newState(t)
	c := startChromes(t, chromeOpts{profile: filepath.Join(state, AuthDir, "session-stuck")})[0]
	if err := syscall.Kill(c.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	const timeout = 2 * time.Second
	sum, err := Run(context.Background(), Options{StateDir: state, Config: Config{KillTimeout: timeout}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if left := c.running(); len(left) > 0 {
		t.Fatalf("still running after reap: %v", left)
	}
	if sum.Signalled != 1 || sum.Killed < 1 {
		t.Errorf("summary %+v: want 1 signalled and the browser killed", sum)
	}
	if sum.Took < timeout {
		t.Errorf("took %s: SIGKILL came before kill_timeout %s", sum.Took, timeout)
	}
	select {
	case <-c.done:
		ws, ok := c.state.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("browser ended with %v, want killed by SIGKILL", c.state)
		}
	case <-time.After(10 * time.Second):
		t.Error("browser not reaped")
	}
}

package chromedp

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
)

// Prevents: duplicate browsers and SingletonLock / "profile in use"
// failures when many logins for many clients arrive at once.
func TestConcurrentLoginsOneBrowserPerProfile(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	const clients, perClient = 6, 20
	type result struct {
		client string
		st     ctl.Session
		err    error
	}
	results := make(chan result, clients*perClient)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range clients {
		client := fmt.Sprintf("c%d", c)
		for range perClient {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
				defer cancel()
				st, err := e.reg.Login(ctx, client, sessions.LoginOptions{})
				results <- result{client, st, err}
			})
		}
	}
	close(start)
	wg.Wait()
	close(results)
	pids := map[string]map[int]bool{}
	for r := range results {
		if r.err != nil {
			t.Errorf("login %s: %v", r.client, r.err)
			continue
		}
		if r.st.State != ctl.StateQR || r.st.QR == "" {
			t.Errorf("login %s: state %+v, want qr", r.client, r.st)
		}
		if pids[r.client] == nil {
			pids[r.client] = map[int]bool{}
		}
		pids[r.client][r.st.PID] = true
	}
	seen := map[int]string{}
	for c := range clients {
		client := fmt.Sprintf("c%d", c)
		if len(pids[client]) != 1 {
			t.Errorf("client %s saw browser pids %v, want exactly one", client, pids[client])
		}
		s := e.session(client)
		mains := browserMains(s.Profile())
		if len(mains) != 1 {
			t.Errorf("client %s: %d browser processes on its profile (%v), want 1", client, len(mains), mains)
		}
		for _, pid := range mains {
			if other, ok := seen[pid]; ok {
				t.Errorf("browser %d serves both %s and %s", pid, other, client)
			}
			seen[pid] = client
		}
		if st := s.status(); st.State != ctl.StateQR || st.Reason == ctl.ReasonProfileLocked {
			t.Errorf("client %s: %+v", client, st)
		}
	}
	if n := e.reg.Counts()[ctl.StateQR]; n != clients {
		t.Errorf("%d sessions in qr, want %d", n, clients)
	}
}

// Prevents: two daemons on one state directory running two browsers on
// one profile (corrupting it); the second must fail that client clearly,
// naming the holder, and leave the first alone.
func TestSecondDaemonOnSameStateDir(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	dir := t.TempDir()
	first := newEnv(t, dir, Config{WebURL: f.url("")})
	st1, _ := first.loginQR("shared")

	second := newEnv(t, dir, Config{WebURL: f.url("")})
	st2, err := second.reg.Login(context.Background(), "shared", sessions.LoginOptions{})
	if codeOf(err) != ctl.CodeBackendUnavailable {
		t.Fatalf("second daemon's login: %v (state %+v), want -32003", err, st2)
	}
	if !strings.Contains(err.Error(), "locked by process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder (pid %d)", err, os.Getpid())
	}
	if st2.State != ctl.StateFailed || st2.Reason != ctl.ReasonProfileLocked {
		t.Errorf("second daemon's session: %+v, want failed/profile_locked", st2)
	}
	if n := len(browserMains(first.session("shared").Profile())); n != 1 {
		t.Errorf("%d browsers on the shared profile, want 1", n)
	}
	if st := first.session("shared").status(); st.State != ctl.StateQR || st.PID != st1.PID {
		t.Errorf("first daemon's session disturbed: %+v (was pid %d)", st, st1.PID)
	}
}

// Prevents: a killed browser being handed out as ready, other sessions
// being taken down with it, and a dead session that cannot be revived.
func TestKilledBrowserFailsFastOthersSurvive(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	victim, _ := e.connect(f, "victim")
	_, otherDev := e.loginQR("other")

	killed := time.Now()
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := e.waitState("victim", 10*time.Second, inState(ctl.StateFailed))
	// How fast is a benchmark's business; this says it in the log.
	t.Logf("killed browser noticed after %s", time.Since(killed))
	if st.Reason != ctl.ReasonBrowserExited || st.PID != 0 {
		t.Errorf("after kill: %+v, want failed/browser_exited without a pid", st)
	}
	if _, err := e.reg.Send(context.Background(), "victim", "+4915112345678", "x"); codeOf(err) != ctl.CodeSessionNotReady {
		t.Errorf("send on the dead session: %v, want not ready", err)
	}
	// The lock is released once the tree is gone.
	profile := e.session("victim").Profile()
	waitNoProcesses(t, profile, 5*time.Second)

	// The other session keeps working.
	f.scan(otherDev)
	e.waitState("other", 30*time.Second, inState(ctl.StateConnected))
	if _, err := e.reg.Send(context.Background(), "other", "+4915100000002", "still here"); err != nil {
		t.Fatalf("other session cannot send: %v", err)
	}

	// A new login starts a fresh browser on the same profile. (Whether
	// the login survived depends on what Chromium had flushed before the
	// kill: a QR code or a connection are both a recovery.)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := e.reg.Login(ctx, "victim", sessions.LoginOptions{})
	if err != nil {
		t.Fatalf("login after the crash: %v", err)
	}
	if st.PID == victim.PID || st.PID == 0 {
		t.Errorf("login after the crash reuses pid %d", st.PID)
	}
	if st.State == ctl.StateQR {
		f.scan(deviceOf(t, st.QR))
	} else if st.State != ctl.StateConnected && st.State != ctl.StateStarting {
		t.Fatalf("login after the crash: %+v", st)
	}
	e.waitState("victim", 30*time.Second, inState(ctl.StateConnected))
	if _, err := e.reg.Send(context.Background(), "victim", "+4915100000004", "back"); err != nil {
		t.Fatalf("recovered session cannot send: %v", err)
	}
}

// Prevents: a renderer crash leaving a zombie "connected" session.
func TestRendererCrashFails(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	e.loginQR("crashy")
	r := e.session("crashy").current()
	crashed := time.Now()
	go chromedp.Call(r.ctx, page.Crash, struct{}{}) // never answers
	st := e.waitState("crashy", 10*time.Second, inState(ctl.StateFailed))
	t.Logf("renderer crash noticed after %s", time.Since(crashed))
	if st.Reason != ctl.ReasonPageCrashed {
		t.Errorf("after renderer crash: %+v, want failed/page_crashed", st)
	}
	waitNoProcesses(t, e.session("crashy").Profile(), 10*time.Second)
	e.loginQR("crashy") // recovers
}

// Prevents: a stored login being lost (or a QR demanded again) across a
// daemon restart with a preserved profile: stop, `wad reap` in preserve
// mode (as ExecStartPre runs it), start, restore.
func TestRestartOnPreservedProfileSkipsQR(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	dir := t.TempDir()
	first := newEnv(t, dir, Config{WebURL: f.url("")})
	conn, _ := first.connect(f, "keep")
	// A QR code that nobody scanned is no login: it must not come back.
	first.loginQR("unscanned")
	first.close() // graceful: the profile is flushed
	if _, err := reaper.Run(context.Background(), reaper.Options{StateDir: dir, Config: reaper.Config{Mode: reaper.ModePreserve}}); err != nil {
		t.Fatalf("reap in preserve mode: %v", err)
	}

	second := newEnv(t, dir, Config{WebURL: f.url("")})
	stored, err := second.b.Stored(context.Background())
	if err != nil || len(stored) != 1 || stored[0] != "keep" {
		t.Fatalf("Stored = %v, %v; want [keep]", stored, err)
	}
	sub := second.reg.Bus().Subscribe(nil, nil)
	second.reg.Restore(context.Background())
	st := second.waitState("keep", 60*time.Second, func(s ctl.Session) bool {
		return s.State == ctl.StateConnected || s.State == ctl.StateQR || s.State == ctl.StateFailed
	})
	if st.State != ctl.StateConnected || st.JID != conn.JID {
		t.Fatalf("restored session: %+v, want connected as %s without a QR", st, conn.JID)
	}
	if st, err := second.reg.Get("unscanned"); err == nil {
		t.Errorf("a profile that only showed a QR code was restored: %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			break
		}
		if ev.Kind == ctl.KindQR || (ev.Session != nil && ev.Session.State == ctl.StateQR) {
			t.Errorf("restart showed a QR code: %+v", ev)
		}
	}
}

// Prevents: a page that never finishes loading hanging the login forever
// or leaving its browser behind.
func TestHangingPageTimesOut(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	// Long enough for a cold Chromium to start on a loaded 2-core machine
	// (the whole package runs its browsers in parallel), so that the page
	// is what times out.
	e := newEnvTimeout(t, "", Config{WebURL: f.url("hang")}, 30*time.Second)
	_, err := e.reg.Login(context.Background(), "stuck", sessions.LoginOptions{})
	if codeOf(err) != ctl.CodeTimeout || !strings.Contains(err.Error(), "Debug.VERSION") {
		t.Fatalf("login on a hanging page: %v, want -32005 naming Debug.VERSION", err)
	}
	st, _ := e.reg.Get("stuck")
	if st.State != ctl.StateFailed || st.Reason != ctl.ReasonStartTimeout {
		t.Errorf("state %+v, want failed/start_timeout", st)
	}
	profile := e.session("stuck").Profile()
	waitNoProcesses(t, profile, 5*time.Second)
	l, err := lockProfile(profile)
	if err != nil {
		t.Fatalf("profile lock not released after the timeout: %v", err)
	}
	l.unlock()
}

// Prevents: a start whose deadline ends while Chromium is still starting
// racing chromedp for the browser's process (issue 9.5: seen on a cold
// machine), being reported as a crashed browser instead of a timeout, or
// leaving the browser or the profile lock behind.
func TestStartTimeoutWhileChromiumStarts(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnvTimeout(t, "", Config{WebURL: f.url("")}, 300*time.Millisecond)
	_, err := e.reg.Login(context.Background(), "cold", sessions.LoginOptions{})
	if codeOf(err) != ctl.CodeTimeout {
		t.Fatalf("login: %v, want -32005", err)
	}
	st, _ := e.reg.Get("cold")
	if st.State != ctl.StateFailed || st.Reason != ctl.ReasonStartTimeout {
		t.Errorf("state %+v, want failed/start_timeout", st)
	}
	profile := e.session("cold").Profile()
	waitNoProcesses(t, profile, 10*time.Second)
	l, err := lockProfile(profile)
	if err != nil {
		t.Fatalf("profile lock not released: %v", err)
	}
	l.unlock()
}

// Prevents: double initialisation (two sets of listeners) or a stuck
// session when the page reloads while the agent is being injected.
func TestReloadMidInjection(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("reload")})
	_, dev := e.connect(f, "reloader")
	if ev := f.eventsOf(dev); !contains(ev, "reloading") {
		t.Fatalf("the page did not reload mid-injection: events %v", ev)
	}
	if _, err := e.reg.Send(context.Background(), "reloader", "+4915100000003", "once"); err != nil {
		t.Fatal(err)
	}
	if sent := f.sentBy(dev); len(sent) != 1 {
		t.Errorf("fake recorded %d messages, want exactly 1: %+v", len(sent), sent)
	}
}

// Prevents: a WhatsApp Web without a module we need hanging the start;
// it must fail naming the module.
func TestMissingModuleFails(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	t.Run("auth", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "", Config{WebURL: f.url("missing-WAWebConnModel")})
		_, err := e.reg.Login(context.Background(), "nomod", sessions.LoginOptions{})
		st, _ := e.reg.Get("nomod")
		if err == nil || st.State != ctl.StateFailed || st.Reason != ctl.ReasonMissingModule || !strings.Contains(st.Message, "WAWebConnModel") {
			t.Fatalf("login without WAWebConnModel: err %v, state %+v; want failed/missing_module naming it", err, st)
		}
		waitNoProcesses(t, e.session("nomod").Profile(), 10*time.Second)
	})
	t.Run("send", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "", Config{WebURL: f.url("missing-WAWebSendMsgChatAction")})
		_, dev := e.loginQR("nosend")
		f.scan(dev)
		st := e.waitState("nosend", 30*time.Second, func(s ctl.Session) bool { return s.State == ctl.StateFailed || s.State == ctl.StateConnected })
		if st.State != ctl.StateFailed || st.Reason != ctl.ReasonMissingModule || !strings.Contains(st.Message, "WAWebSendMsgChatAction") {
			t.Fatalf("state %+v, want failed/missing_module naming WAWebSendMsgChatAction", st)
		}
	})
}

// Prevents: a device unlinked from the phone staying "connected" or
// keeping its dead login on disk.
func TestUnlinkFromPhone(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	_, dev := e.connect(f, "unlinked")
	f.unlink(dev)
	st := e.waitState("unlinked", 15*time.Second, inState(ctl.StateLoggedOut))
	if st.Reason != ctl.ReasonLoggedOut {
		t.Errorf("state %+v, want logged_out/logged_out", st)
	}
	profile := e.session("unlinked").Profile()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(profile); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("profile %s not deleted after the unlink", profile)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Prevents: the QR rotating forever when qr_max_retries is set.
func TestQRMaxRetries(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url(""), QRMaxRetries: 2})
	e.loginQR("noscan")
	st := e.waitState("noscan", 15*time.Second, inState(ctl.StateFailed))
	if st.Reason != ctl.ReasonQRTimeout {
		t.Errorf("state %+v, want failed/qr_timeout", st)
	}
	waitNoProcesses(t, e.session("noscan").Profile(), 10*time.Second)
}

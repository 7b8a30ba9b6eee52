package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The registry alone serialises lifecycle calls: the stand-in backend
// counts any overlap, so a registry without its guard fails here.
func TestLifecycleCallsNeverOverlap(t *testing.T) {
	b := &sessiontest.Backend{StartDelay: 20 * time.Millisecond}
	r, _ := newRegistry(t, b, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 120 {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				r.Login(ctx, "busy", sessions.LoginOptions{})
			case 1:
				r.Stop(ctx, "busy")
			case 2:
				r.Logout(ctx, "busy")
			}
		})
	}
	wg.Wait()
	if n := b.Overlaps.Load(); n != 0 {
		t.Fatalf("%d lifecycle calls overlapped on one session", n)
	}
	if run := b.Running(); len(run) > 1 {
		t.Fatalf("%d sessions of one client run at once", len(run))
	}
	st, err := r.Get("busy")
	run := b.Running()
	switch {
	case err != nil && len(run) != 0:
		t.Fatalf("registry has no session but the backend runs %d", len(run))
	case err == nil && st.State.Active() != (len(run) == 1):
		t.Fatalf("registry says %s but the backend runs %d sessions", st.State, len(run))
	}
}

// Issue 9.1: a login overlapping a logout must not start the session the
// logout is removing, leaving it running unseen by the registry.
func TestLoginDuringLogoutLeavesNoOrphan(t *testing.T) {
	gate := make(chan struct{})
	b := &sessiontest.Backend{LogoutGate: gate}
	r, _ := newRegistry(t, b, 0)
	ctx := context.Background()
	if _, err := r.Login(ctx, "sales", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	// A stopped session, so that a login would start it again.
	if _, err := r.Stop(ctx, "sales"); err != nil {
		t.Fatal(err)
	}
	old := b.Session("sales")
	logoutDone := make(chan error, 1)
	go func() {
		_, err := r.Logout(ctx, "sales")
		logoutDone <- err
	}()
	waitFor(t, "the logout to reach the backend", func() bool { return b.Logouts.Load() == 1 })
	loginDone := make(chan ctl.Session, 1)
	go func() {
		st, err := r.Login(ctx, "sales", sessions.LoginOptions{})
		if err != nil {
			t.Errorf("login after logout: %v", err)
		}
		loginDone <- st
	}()
	time.Sleep(50 * time.Millisecond)
	if old.IsRunning() {
		t.Fatal("the login started the session that is being logged out")
	}
	close(gate)
	if err := <-logoutDone; err != nil {
		t.Fatalf("logout: %v", err)
	}
	st := <-loginDone
	if old.IsRunning() || old.St.Get().State != ctl.StateLoggedOut {
		t.Fatalf("the logged-out session runs on: running=%v state=%s", old.IsRunning(), old.St.Get().State)
	}
	cur := b.Session("sales")
	if cur == old || !cur.IsRunning() {
		t.Fatal("the login after the logout did not get a new session")
	}
	if got, err := r.Get("sales"); err != nil || got.QR != st.QR || got.State != ctl.StateQR {
		t.Fatalf("registry shows %+v (%v), the login returned %+v", got, err, st)
	}
	if n := b.Overlaps.Load(); n != 0 {
		t.Fatalf("%d overlapping lifecycle calls", n)
	}
}

// Issue 9.2: a login that was already past its lookup when Close began
// (here: creating its session) must not start it afterwards.
func TestLoginInFlightDoesNotStartAfterClose(t *testing.T) {
	b := &sessiontest.Backend{CreateDelay: 300 * time.Millisecond}
	r, _ := newRegistry(t, b, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Login(context.Background(), "late", sessions.LoginOptions{})
		errc <- err
	}()
	waitFor(t, "the creation", func() bool { return b.Creations.Load() == 1 })
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("login in flight during Close: %v, want shutting down", err)
	}
	if n, run := b.Starts.Load(), len(b.Running()); n != 0 || run != 0 {
		t.Fatalf("%d starts and %d running sessions after Close", n, run)
	}
}

// Once Close has begun, no login starts a session, and Close waits for
// the stops it began.
func TestNoStartAfterCloseBegins(t *testing.T) {
	gate := make(chan struct{})
	b := &sessiontest.Backend{StopGate: gate}
	r, _ := newRegistry(t, b, 0)
	ctx := context.Background()
	if _, err := r.Login(ctx, "c", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b"} {
		if _, err := r.Login(ctx, c, sessions.LoginOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close(ctx) }()
	waitFor(t, "Close to stop the sessions", func() bool { return b.Stops.Load() >= 3 })
	starts := b.Starts.Load()
	for _, c := range []string{"a", "b", "new"} {
		if _, err := r.Login(ctx, c, sessions.LoginOptions{}); !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("login of %s during Close: %v, want shutting down", c, err)
		}
	}
	close(gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := b.Starts.Load(); n != starts {
		t.Fatalf("%d starts after Close began", n-starts)
	}
	if run := b.Running(); len(run) != 0 {
		t.Fatalf("%d sessions run after Close", len(run))
	}
}

// timeoutCtx is a call context for a test step that may hang.
func timeoutCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Issue 9.3: concurrent logins never take more than max_sessions slots,
// even while no backend has reported a state yet.
func TestMaxSessionsHoldsUnderConcurrentLogins(t *testing.T) {
	gate := make(chan struct{})
	b := &sessiontest.Backend{StartGate: gate}
	const max = 5
	r, _ := newRegistry(t, b, max)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok, lim int
	)
	for i := range 50 {
		wg.Go(func() {
			_, err := r.Login(context.Background(), fmt.Sprint("c", i), sessions.LoginOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ctl.ErrLimit):
				lim++
			default:
				t.Errorf("login c%d: %v", i, err)
			}
		})
	}
	waitFor(t, "the refused logins", func() bool { mu.Lock(); defer mu.Unlock(); return lim == 50-max })
	close(gate)
	wg.Wait()
	if ok != max || lim != 50-max {
		t.Fatalf("%d logins succeeded and %d hit the limit, want %d and %d", ok, lim, max, 50-max)
	}
	if n := b.Starts.Load(); n != max {
		t.Fatalf("%d starts, want %d", n, max)
	}
	// A failed session frees its slot at once, whoever ends it.
	run := b.Running()
	run[0].St.Fail(ctl.ReasonBrowserExited, "killed")
	run[1].St.Fail(ctl.ReasonBrowserExited, "killed")
	for _, c := range []string{"x", "y"} {
		if _, err := r.Login(context.Background(), c, sessions.LoginOptions{}); err != nil {
			t.Fatalf("login %s after two sessions failed: %v", c, err)
		}
	}
	if _, err := r.Login(context.Background(), "z", sessions.LoginOptions{}); !errors.Is(err, ctl.ErrLimit) {
		t.Fatalf("login over the limit: %v", err)
	}
}

// Issue 9.4: reading a session's processes (a walk of /proc) never
// happens under the registry's lock: logins, counts and the watchdog's
// ping go on while it is slow.
func TestSlowProcessReadDoesNotBlockRegistry(t *testing.T) {
	b := &sessiontest.Backend{}
	r, _ := newRegistry(t, b, 10)
	if _, err := r.Login(context.Background(), "a", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	b.ProcessGate, b.ProcessClient = gate, "a"
	listed := make(chan []ctl.Session, 1)
	go func() { listed <- r.List() }()
	waitFor(t, "List to read processes", func() bool { return b.SlowProcesses.Load() == 1 })
	// Each step runs aside, so that a registry that blocks fails the test
	// instead of hanging it.
	within := func(what string, f func() error) {
		t.Helper()
		errc := make(chan error, 1)
		go func() { errc <- f() }()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(3 * time.Second):
			close(gate)
			t.Fatalf("%s blocked behind a process read", what)
		}
	}
	within("login", func() error {
		_, err := r.Login(context.Background(), "b", sessions.LoginOptions{})
		return err
	})
	within("ping", func() error { return r.Ping(context.Background()) })
	within("counts", func() error {
		if c := r.Counts(); c[ctl.StateQR] != 2 {
			return fmt.Errorf("counts %v", c)
		}
		return nil
	})
	if n := b.SlowProcesses.Load(); n != 1 {
		t.Fatalf("login, ping and counts read the other session's processes %d times", n-1)
	}
	close(gate)
	l := <-listed
	if len(l) != 1 || l[0].PID != 4242 || l[0].RSSBytes != 1<<20 {
		t.Fatalf("List = %+v, want the session with its process", l)
	}
}

// Issue 9.6: every login that joins work in flight for its client says so.
func TestJoiningLoginsAreLogged(t *testing.T) {
	gate := make(chan struct{})
	b := &sessiontest.Backend{StartGate: gate}
	r, logs := newRegistry(t, b, 0)
	const callers = 200
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := r.Login(context.Background(), "sales", sessions.LoginOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	const line = "Session creation already in progress"
	waitFor(t, "every joiner to be logged", func() bool { return strings.Count(logs.String(), line) == callers-1 })
	close(gate)
	wg.Wait()
	if n := strings.Count(logs.String(), line); n != callers-1 {
		t.Fatalf("%q logged %d times, want %d", line, n, callers-1)
	}
	if n := b.Starts.Load(); n != 1 {
		t.Fatalf("%d starts", n)
	}
}

// A stop overtaking a start cancels it; the logins waiting on the start
// get a clear application error, not an internal one.
func TestStopCancelsStartInFlight(t *testing.T) {
	b := &sessiontest.Backend{StartGate: make(chan struct{})}
	r, _ := newRegistry(t, b, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Login(context.Background(), "s", sessions.LoginOptions{})
		errc <- err
	}()
	waitFor(t, "the start", func() bool { return b.Starts.Load() == 1 })
	st, err := r.Stop(timeoutCtx(t, 5*time.Second), "s")
	if err != nil || st.State != ctl.StateStopped {
		t.Fatalf("stop: %+v, %v", st, err)
	}
	err = <-errc
	if !errors.Is(err, ctl.ErrNotReady) || !strings.Contains(err.Error(), "cancelled by session.stop") {
		t.Fatalf("login overtaken by stop: %v", err)
	}
	if len(b.Running()) != 0 || b.Overlaps.Load() != 0 {
		t.Fatalf("running %d, overlaps %d", len(b.Running()), b.Overlaps.Load())
	}
}

func TestUnsupportedOperationNamesTheBackend(t *testing.T) {
	b := &sessiontest.Backend{Connect: true, Unsupported: []string{ctl.MethodSend}}
	r, _ := newRegistry(t, b, 0)
	if _, err := r.Login(context.Background(), "s", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Send(context.Background(), "s", "+4915112345678", "hi")
	if !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "not supported by the whatsmeow backend") {
		t.Fatalf("got %v", err)
	}
}

// Issue 9.12: restoring many stored logins starts a bounded number at
// once, and all of them in the end.
func TestRestoreIsBounded(t *testing.T) {
	b := &sessiontest.Backend{StartDelay: 30 * time.Millisecond}
	for i := range 20 {
		b.StoredClients = append(b.StoredClients, fmt.Sprint("s", i))
	}
	r := sessions.New(sessions.Config{DefaultBackend: b.Name(), RestoreConcurrency: 3}, b)
	t.Cleanup(func() { r.Close(context.Background()) })
	r.Restore(context.Background())
	waitFor(t, "every stored session to be restored", func() bool { return r.Counts()[ctl.StateQR] == 20 })
	if n := b.MaxStartsInFlight.Load(); n > 3 || n < 2 {
		t.Fatalf("%d restores ran at once, want at most 3 (and more than one)", n)
	}
}

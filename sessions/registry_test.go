package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/wad-project/wad/internal/syncbuf"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

func newRegistry(t *testing.T, b *sessiontest.Backend, max int) (*sessions.Registry, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	r := sessions.New(sessions.Config{
		StateDir: t.TempDir(), DefaultBackend: b.Name(), MaxSessions: max,
		StartTimeout: 10 * time.Second, Log: slog.New(slog.NewTextHandler(logs, nil)),
	}, b)
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, logs
}

func TestLoginConcurrentSameClientCreatesOnce(t *testing.T) {
	b := &sessiontest.Backend{CreateDelay: 100 * time.Millisecond, StartDelay: 50 * time.Millisecond}
	r, logs := newRegistry(t, b, 0)
	const callers = 50
	var wg sync.WaitGroup
	qrs := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			s, err := r.Login(context.Background(), "sales", sessions.LoginOptions{})
			qrs[i], errs[i] = s.QR, err
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if qrs[i] != qrs[0] || qrs[i] == "" {
			t.Fatalf("callers saw different sessions: %q vs %q", qrs[i], qrs[0])
		}
	}
	if n := b.Creations.Load(); n != 1 {
		t.Errorf("%d creations for one client, want 1", n)
	}
	if n := b.Starts.Load(); n != 1 {
		t.Errorf("%d starts for one client, want 1", n)
	}
	out := logs.String()
	if c := strings.Count(out, "New session created for clientId sales"); c != 1 {
		t.Errorf("creation logged %d times, want once:\n%s", c, out)
	}
	if !strings.Contains(out, "Session creation already in progress") {
		t.Errorf("waiters were not logged:\n%s", out)
	}
}

func TestSlowCreationDoesNotBlockOtherClients(t *testing.T) {
	b := &sessiontest.Backend{}
	slow := &sessiontest.Backend{BackendName: "chromedp", CreateDelay: 5 * time.Second}
	r := sessions.New(sessions.Config{StateDir: t.TempDir(), DefaultBackend: "whatsmeow", StartTimeout: 10 * time.Second}, b, slow)
	defer r.Close(context.Background())
	go r.Login(context.Background(), "slow", sessions.LoginOptions{Backend: "chromedp"})
	for slow.Creations.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// While "slow" is being created, other clients are served and the
	// registry answers.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.Login(ctx, "fast", sessions.LoginOptions{}); err != nil {
		t.Fatalf("login of another client blocked behind a slow creation: %v", err)
	}
	if got := len(r.List()); got != 1 {
		t.Fatalf("List during a creation = %d sessions, want 1", got)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("registry wedged during a creation: %v", err)
	}
}

func TestConcurrentStartOfFailedSessionRestartsOnce(t *testing.T) {
	var fail sync.Map
	b := &sessiontest.Backend{StartDelay: 50 * time.Millisecond, StartErr: func(c string) error {
		if _, ok := fail.Load(c); ok {
			return ctl.Errorf(ctl.CodeUpstream, "dial: connection refused")
		}
		return nil
	}}
	r, _ := newRegistry(t, b, 0)
	fail.Store("sales", true)
	_, err := r.Login(context.Background(), "sales", sessions.LoginOptions{})
	if !errors.Is(err, ctl.ErrUpstream) {
		t.Fatalf("first login: %v, want upstream error", err)
	}
	if s, _ := r.Get("sales"); s.State != ctl.StateFailed || s.Reason != ctl.ReasonNetwork {
		t.Fatalf("after a failed start: %+v", s)
	}
	fail.Delete("sales")
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if _, err := r.Login(context.Background(), "sales", sessions.LoginOptions{}); err != nil {
				t.Errorf("retry login: %v", err)
			}
		})
	}
	wg.Wait()
	if n := b.Starts.Load(); n != 2 {
		t.Errorf("%d starts, want 2 (the failed one and one shared retry)", n)
	}
	if n := b.Creations.Load(); n != 1 {
		t.Errorf("%d creations, want 1", n)
	}
}

func TestMaxSessionsIsEnforcedAndFreedByStop(t *testing.T) {
	b := &sessiontest.Backend{}
	r, _ := newRegistry(t, b, 2)
	ctx := context.Background()
	for _, c := range []string{"a", "b"} {
		if _, err := r.Login(ctx, c, sessions.LoginOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Login(ctx, "c", sessions.LoginOptions{}); !errors.Is(err, ctl.ErrLimit) {
		t.Fatalf("third session: %v, want limit reached", err)
	}
	if _, err := r.Stop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Login(ctx, "c", sessions.LoginOptions{}); err != nil {
		t.Fatalf("a stopped session must free its slot: %v", err)
	}
	if _, err := r.Login(ctx, "a", sessions.LoginOptions{}); !errors.Is(err, ctl.ErrLimit) {
		t.Fatalf("restarting a stopped session over the limit: %v, want limit reached", err)
	}
}

func TestLogoutRemovesSessionAndLoginCreatesAfresh(t *testing.T) {
	b := &sessiontest.Backend{}
	r, _ := newRegistry(t, b, 0)
	ctx := context.Background()
	if _, err := r.Login(ctx, "sales", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := r.Logout(ctx, "sales")
	if err != nil || s.State != ctl.StateLoggedOut {
		t.Fatalf("logout: %+v, %v", s, err)
	}
	if _, err := r.Get("sales"); !errors.Is(err, ctl.ErrNotFound) {
		t.Fatalf("after logout, Get = %v, want not found", err)
	}
	if _, err := r.Login(ctx, "sales", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := b.Creations.Load(); n != 2 {
		t.Fatalf("%d creations, want 2", n)
	}
}

func TestLoginValidatesBeforeCreating(t *testing.T) {
	b := &sessiontest.Backend{}
	r, _ := newRegistry(t, b, 0)
	ctx := context.Background()
	for _, tc := range []struct {
		client string
		opts   sessions.LoginOptions
	}{
		{"../x", sessions.LoginOptions{}},
		{"ok", sessions.LoginOptions{Phone: "12345"}},
		{"ok", sessions.LoginOptions{Backend: "nope"}},
	} {
		if _, err := r.Login(ctx, tc.client, tc.opts); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("Login(%q, %+v) = %v, want invalid params", tc.client, tc.opts, err)
		}
	}
	if n := b.Creations.Load(); n != 0 {
		t.Fatalf("invalid logins created %d sessions", n)
	}
}

func TestUnavailableBackendFailsWithItsName(t *testing.T) {
	r := sessions.New(sessions.Config{DefaultBackend: "chromedp"}, sessions.Unavailable("chromedp", "no Chromium at /usr/bin/chromium"))
	_, err := r.Login(context.Background(), "x", sessions.LoginOptions{})
	if !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "chromedp") || !strings.Contains(err.Error(), "/usr/bin/chromium") {
		t.Fatalf("got %v", err)
	}
	if len(r.List()) != 0 {
		t.Fatal("a failed creation left a session behind")
	}
}

func TestStartTimeoutFailsTheSession(t *testing.T) {
	b := &sessiontest.Backend{StartDelay: time.Hour}
	r := sessions.New(sessions.Config{DefaultBackend: "whatsmeow", StartTimeout: 100 * time.Millisecond}, b)
	defer r.Close(context.Background())
	_, err := r.Login(context.Background(), "x", sessions.LoginOptions{})
	if !errors.Is(err, ctl.ErrTimeout) {
		t.Fatalf("got %v, want timeout", err)
	}
	if s, _ := r.Get("x"); s.State != ctl.StateFailed || s.Reason != ctl.ReasonStartTimeout {
		t.Fatalf("state after a start timeout: %+v", s)
	}
}

func TestSendChecksReadinessAndInput(t *testing.T) {
	b := &sessiontest.Backend{}
	r, _ := newRegistry(t, b, 0)
	ctx := context.Background()
	if _, err := r.Send(ctx, "nobody", "+4915112345678", "hi"); !errors.Is(err, ctl.ErrNotFound) {
		t.Fatalf("send without session: %v", err)
	}
	r.Login(ctx, "sales", sessions.LoginOptions{})
	if _, err := r.Send(ctx, "sales", "+4915112345678", "hi"); !errors.Is(err, ctl.ErrNotReady) {
		t.Fatalf("send from a QR-state session: %v, want not ready", err)
	}
	b.Session("sales").St.Set(ctl.StateConnected, "", "")
	if _, err := r.Send(ctx, "sales", "nonsense", "hi"); !errors.Is(err, ctl.ErrInvalidParams) {
		t.Fatalf("bad recipient: %v", err)
	}
	if _, err := r.Send(ctx, "sales", "+4915112345678", " "); !errors.Is(err, ctl.ErrInvalidParams) {
		t.Fatalf("empty text: %v", err)
	}
	long := strings.Repeat("long text ", 5000)
	if _, err := r.Send(ctx, "sales", "+4915112345678", long); err != nil {
		t.Fatal(err)
	}
	sent := b.Session("sales").Sent
	if len(sent) != 1 || sent[0].To != "4915112345678@s.whatsapp.net" || sent[0].Text != long {
		t.Fatalf("sent %+v", sent)
	}
}

func TestCloseStopsEverySessionAndRefusesLogins(t *testing.T) {
	b := &sessiontest.Backend{}
	r := sessions.New(sessions.Config{DefaultBackend: "whatsmeow"}, b)
	ctx := context.Background()
	for i := range 5 {
		r.Login(ctx, fmt.Sprint("c", i), sessions.LoginOptions{})
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.List() {
		if s.State != ctl.StateStopped {
			t.Errorf("%s is %s after Close", s.Client, s.State)
		}
	}
	if _, err := r.Login(ctx, "late", sessions.LoginOptions{}); !errors.Is(err, ctl.ErrUnavailable) {
		t.Fatalf("login after Close: %v", err)
	}
}

// Prevents: a shutdown waiting on a login whose session is still being
// created (a backend's New), and a creation reaching backends that Close
// has closed. Close cancels the creation; its caller hears that wad is
// shutting down.
func TestCloseCancelsACreationInFlight(t *testing.T) {
	b := &sessiontest.Backend{CreateDelay: time.Hour}
	r := sessions.New(sessions.Config{DefaultBackend: "whatsmeow"}, b)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Login(context.Background(), "sales", sessions.LoginOptions{})
		errc <- err
	}()
	for b.Creations.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("login whose creation Close cancelled: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the creation went on after Close returned")
	}
	if l := r.List(); len(l) != 0 {
		t.Fatalf("sessions after Close: %+v", l)
	}
}

// Prevents: a shutdown in reaper mode reset leaving a dead linked device
// on the phone for every session (the next start deletes the logins), or
// one in preserve mode logging everybody out. With UnlinkOnClose, Close
// logs out every session (running, stopped, or with a start in flight),
// never stops it; without, it stops every one and logs none out.
func TestCloseLogsOutWithUnlinkOnCloseAndStopsWithout(t *testing.T) {
	for _, c := range []struct {
		name          string
		cfg, setLater bool
		wantLoggedOut bool
	}{
		{"unlink on close", true, true, true},
		{"unlink set by a reload", false, true, true},
		{"stop on close", false, false, false},
		{"stop after a reload turned unlink off", true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wm := &sessiontest.Backend{Connect: true}
			cd := &sessiontest.Backend{BackendName: "chromedp", StartGate: make(chan struct{})}
			r := sessions.New(sessions.Config{DefaultBackend: wm.Name(), UnlinkOnClose: c.cfg}, wm, cd)
			r.SetUnlinkOnClose(c.setLater)
			ctx := context.Background()
			clients := []string{"c0", "c1", "c2", "idle"}
			for _, client := range clients {
				if st, err := r.Login(ctx, client, sessions.LoginOptions{}); err != nil || st.State != ctl.StateConnected {
					t.Fatalf("login %s: %+v, %v", client, st, err)
				}
			}
			if _, err := r.Stop(ctx, "idle"); err != nil {
				t.Fatal(err)
			}
			starting := make(chan error, 1)
			go func() {
				_, err := r.Login(ctx, "starting", sessions.LoginOptions{Backend: cd.Name()})
				starting <- err
			}()
			waitFor(t, "the start to reach the backend", func() bool { return cd.Starts.Load() == 1 })
			stops, logouts := wm.Stops.Load(), wm.Logouts.Load()

			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-starting; codeOf(err) != ctl.CodeSessionNotReady || !strings.Contains(err.Error(), "shutdown") {
				t.Errorf("login in flight at Close: %v, want -32002 naming the shutdown", err)
			}
			gotStops, gotLogouts := wm.Stops.Load()-stops+cd.Stops.Load(), wm.Logouts.Load()-logouts+cd.Logouts.Load()
			if c.wantLoggedOut {
				if gotLogouts != 5 || gotStops != 0 {
					t.Errorf("Close made %d logouts and %d stops, want 5 logouts and no stop", gotLogouts, gotStops)
				}
				if list := r.List(); len(list) != 0 {
					t.Errorf("sessions left after Close: %+v", list)
				}
			} else {
				if gotStops != 5 || gotLogouts != 0 {
					t.Errorf("Close made %d stops and %d logouts, want 5 stops and no logout", gotStops, gotLogouts)
				}
				if list := r.List(); len(list) != 5 {
					t.Errorf("sessions after Close: %+v, want all 5 kept", list)
				}
			}
			for _, s := range []*sessiontest.Session{wm.Session("c0"), wm.Session("c1"), wm.Session("c2"), wm.Session("idle"), cd.Session("starting")} {
				st := s.St.Get()
				want := ctl.StateStopped
				if c.wantLoggedOut {
					want = ctl.StateLoggedOut
				}
				if st.State != want || (s.Client() != "idle" && st.Reason != ctl.ReasonShutdown) {
					t.Errorf("%s after Close: %s/%s, want %s/%s", s.Client(), st.State, st.Reason, want, ctl.ReasonShutdown)
				}
			}
			if n := wm.Overlaps.Load() + cd.Overlaps.Load(); n != 0 {
				t.Errorf("%d overlapping lifecycle calls", n)
			}
		})
	}
}

func codeOf(err error) int {
	var ce *ctl.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

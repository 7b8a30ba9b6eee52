package chromedp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Timeouts of single operations on a running browser.
const (
	gracefulCloseTimeout = 5 * time.Second  // chromedp.Cancel before the process group is killed
	killWait             = 3 * time.Second  // for the killed processes to disappear
	logoutTimeout        = 10 * time.Second // in-page logout until the post_logout navigation
	sendTimeout          = 60 * time.Second // one message.send in the page
)

// Session is one client's WhatsApp Web in its own Chromium. It
// implements sessions.Session.
type Session struct {
	b       *Backend
	env     sessions.Env
	log     *slog.Logger
	st      *sessions.Status
	profile string

	// life serialises the lifecycle operations (a start's launch, Stop,
	// Logout). Crash handling does not take it.
	life sync.Mutex

	mu    sync.Mutex
	start *startCall  // a start in flight, shared by concurrent callers
	cur   *browserRun // the browser of the current run, or nil
}

type startCall struct {
	done chan struct{}
	err  error
}

// Profile returns the session's Chrome profile directory.
func (s *Session) Profile() string { return s.profile }

func (s *Session) current() *browserRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Status returns the state, with the browser's pid and the RSS of its
// process tree while it runs. It reads /proc and never waits on the
// browser.
func (s *Session) Status() ctl.Session {
	st := s.st.Get()
	if r := s.current(); r != nil && !r.stopping.Load() && r.pid > 0 {
		st.PID = r.pid
		st.RSSBytes = treeRSS(r.pid)
	}
	return st
}

// Start launches the browser on the client's profile and returns once a
// QR code shows, the session is connected, or the start failed (with the
// state failed and an error saying why). Concurrent calls share one
// start; a call on a running session returns at once. It is bounded by
// ctx and by the configured start_timeout.
func (s *Session) Start(ctx context.Context, opts sessions.StartOptions) error {
	s.mu.Lock()
	if c := s.start; c != nil {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r := s.cur; r != nil && !r.isTorn() && s.st.Get().State.Active() {
		s.mu.Unlock()
		return nil
	}
	c := &startCall{done: make(chan struct{})}
	s.start = c
	s.mu.Unlock()

	err := s.doStart(ctx, opts)

	s.mu.Lock()
	c.err = err
	s.start = nil
	s.mu.Unlock()
	close(c.done)
	return err
}

func (s *Session) doStart(ctx context.Context, opts sessions.StartOptions) error {
	s.life.Lock()
	defer s.life.Unlock()

	// A previous run that crashed is finishing its teardown (killing
	// children, releasing the lock): wait for it.
	if old := s.current(); old != nil {
		old.teardown(teardownOpts{})
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
	}
	s.st.Set(ctl.StateStarting, "", "")
	if opts.Phone != "" {
		err := ctl.Errorf(ctl.CodeInvalidParams, "the chromedp backend supports QR login only; omit phone or use the whatsmeow backend")
		s.st.Fail(ctl.ReasonBackendError, err.Message)
		return err
	}
	timeout := s.b.cfg.startTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	r, err := s.launch(ctx)
	if err != nil {
		return err
	}
	st, err := s.st.Wait(ctx, sessions.Shown)
	if err != nil {
		var msg string
		switch {
		case !r.booted.Load():
			msg = fmt.Sprintf("WhatsApp Web did not load within %s (window.Debug.VERSION never appeared at %s)", timeout, s.b.cfg.webURL())
		default:
			msg = fmt.Sprintf("WhatsApp Web loaded but showed neither a QR code nor a connection within %s", timeout)
		}
		r.teardown(teardownOpts{graceful: true})
		if cancelled(ctx) {
			s.st.Set(ctl.StateStopped, ctl.ReasonStopped, "start cancelled")
			return ctx.Err()
		}
		s.st.Fail(ctl.ReasonStartTimeout, msg)
		return ctl.Errorf(ctl.CodeTimeout, "%s", msg)
	}
	if st.State == ctl.StateFailed {
		return failedError(st)
	}
	return nil
}

// failedError is the error a start returns for a session that failed.
func failedError(st ctl.Session) error {
	code := ctl.CodeBackendUnavailable
	switch st.Reason {
	case ctl.ReasonStartTimeout, ctl.ReasonQRTimeout:
		code = ctl.CodeTimeout
	case ctl.ReasonClientOutdated, ctl.ReasonTemporarilyBanned, ctl.ReasonNetwork:
		code = ctl.CodeUpstream
	}
	msg := st.Message
	if msg == "" {
		msg = "session failed: " + st.Reason
	}
	return ctl.Errorf(code, "%s", msg)
}

// Stop closes the browser gracefully (so the profile is flushed to disk),
// kills whatever of its process group lingers, releases the profile lock
// and ends in stopped. The login stays in the profile.
func (s *Session) Stop(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if r := s.current(); r != nil {
		r.teardown(teardownOpts{graceful: true})
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
	}
	s.st.Set(ctl.StateStopped, ctl.ReasonStopped, "")
	return nil
}

// shutdown stops the session for Backend.Close, with reason shutdown.
func (s *Session) shutdown() {
	s.life.Lock()
	defer s.life.Unlock()
	if r := s.current(); r != nil {
		r.teardown(teardownOpts{graceful: true})
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		s.st.Set(ctl.StateStopped, ctl.ReasonShutdown, "")
	}
}

// Logout logs out inside WhatsApp Web when the session is connected
// (which unlinks the device), waits for the page's post_logout
// navigation, closes the browser and deletes the profile. It ends in
// logged_out. A profile locked by another process is not deleted: that is
// an error naming the holder.
func (s *Session) Logout(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if r := s.current(); r != nil {
		if !r.isTorn() && s.st.Get().State == ctl.StateConnected {
			if err := r.pageLogout(ctx); err != nil {
				s.log.Warn("in-page logout did not complete; deleting the profile anyway", "err", err)
			}
		}
		r.teardown(teardownOpts{})
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
	}
	if err := s.deleteProfile(); err != nil {
		return err
	}
	s.st.Set(ctl.StateLoggedOut, ctl.ReasonLogoutRequested, "")
	return nil
}

// deleteProfile removes the profile under its lock.
func (s *Session) deleteProfile() error {
	if _, err := os.Stat(s.profile); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	lock, err := lockProfile(s.profile)
	if err != nil {
		if errors.Is(err, errProfileLocked) {
			return ctl.Errorf(ctl.CodeBackendUnavailable, "cannot delete the login of %s: %v", s.env.Client, err)
		}
		return err
	}
	defer lock.unlock()
	if err := os.RemoveAll(s.profile); err != nil {
		return fmt.Errorf("deleting profile %s: %w", s.profile, err)
	}
	s.log.Info("profile deleted", "profile", s.profile)
	return nil
}

// Send sends a text to a JID through WhatsApp Web. A session that is not
// connected returns ctl.ErrNotReady; a failure inside the page is
// ctl.CodeUpstream; a send that does not finish in time is
// ctl.CodeTimeout.
func (s *Session) Send(ctx context.Context, to, text string) (ctl.SendResult, error) {
	st := s.st.Get()
	r := s.current()
	if st.State != ctl.StateConnected || r == nil || r.isTorn() {
		return ctl.SendResult{}, ctl.Errorf(ctl.CodeSessionNotReady, "session %s is %s, not connected", s.env.Client, st.State)
	}
	return r.send(ctx, toWebJID(to), text)
}

// toWebJID turns a user JID into WhatsApp Web's form (@c.us).
func toWebJID(jid string) string {
	if u, ok := strings.CutSuffix(jid, "@s.whatsapp.net"); ok {
		return u + "@c.us"
	}
	return jid
}

// fromWebJID turns WhatsApp Web's @c.us into the @s.whatsapp.net JIDs
// wad reports everywhere.
func fromWebJID(jid string) string {
	if u, ok := strings.CutSuffix(jid, "@c.us"); ok {
		return u + "@s.whatsapp.net"
	}
	return jid
}

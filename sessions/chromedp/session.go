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
	"github.com/wad-project/wad/internal/chromeproc"
	"github.com/wad-project/wad/sessions"
)

// Timeouts of single operations on a running browser.
const (
	gracefulCloseTimeout = 5 * time.Second  // chromedp.Cancel before the process group is killed
	killWait             = 3 * time.Second  // for the killed processes to disappear
	logoutTimeout        = 10 * time.Second // in-page logout until the post_logout navigation
	sendTimeout          = 60 * time.Second // one message.send (plus time for media) or download in the page
)

// Session is one client's WhatsApp Web in its own Chromium. It
// implements sessions.Session, sessions.ProcessReporter and
// sessions.UsageReporter (with a cgroup). The registry
// calls Start, Stop and Logout one at a time; crash handling (a dying
// browser or tab) runs alongside and only ever ends the current run.
type Session struct {
	b       *Backend
	env     sessions.Env
	log     *slog.Logger
	st      *sessions.Status
	profile string
	// cgName names the browser's cgroup under the tree (empty:
	// browser-<client>); unique among the browsers that can run at once.
	cgName string

	mu  sync.Mutex
	cur *browserRun // the browser of the current run, or nil
}

// Profile returns the session's Chrome profile directory.
func (s *Session) Profile() string { return s.profile }

func (s *Session) current() *browserRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Process returns the browser's pid and the RSS of its process tree while
// it runs, zeros otherwise. It reads /proc and never waits on the
// browser.
func (s *Session) Process() (int, int64) {
	if r := s.current(); r != nil && !r.stopping.Load() && r.pid > 0 {
		return r.pid, chromeproc.TreeRSS(r.pid)
	}
	return 0, 0
}

// Start launches the browser on the client's profile and returns once a
// QR code shows, the session is connected, or the start failed (with the
// state failed and an error saying why). It is bounded by ctx: when ctx
// ends first the browser is closed and ctx's error returned (a deadline
// also fails the session with start_timeout).
func (s *Session) Start(ctx context.Context, opts sessions.StartOptions) error {
	// A previous run that crashed is finishing its teardown (killing
	// children, releasing the lock): wait for it.
	s.endRun(teardownOpts{})
	s.st.Set(ctl.StateStarting, "", "")
	if opts.Phone != "" {
		err := ctl.Errorf(ctl.CodeInvalidParams, "the chromedp backend supports QR login only; omit phone or use the whatsmeow backend")
		s.st.Fail(ctl.ReasonBackendError, err.Message)
		return err
	}
	r, err := s.launch(ctx)
	if err != nil {
		return err
	}
	st, err := s.st.Wait(ctx, sessions.Shown)
	if err != nil {
		var msg string
		switch {
		case !r.booted.Load():
			msg = fmt.Sprintf("WhatsApp Web did not load in time (window.Debug.VERSION never appeared at %s)", s.b.cfg.webURL())
		default:
			msg = "WhatsApp Web loaded but showed neither a QR code nor a connection in time"
		}
		s.endRun(teardownOpts{graceful: true})
		if cancelled(ctx) {
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

// endRun tears the current run down (waiting for it) and forgets it.
func (s *Session) endRun(o teardownOpts) {
	if r := s.current(); r != nil {
		r.teardown(o)
		s.mu.Lock()
		if s.cur == r {
			s.cur = nil
		}
		s.mu.Unlock()
	}
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
// kills whatever of its process group lingers and releases the profile
// lock. The login stays in the profile.
func (s *Session) Stop(ctx context.Context) error {
	s.endRun(teardownOpts{graceful: true})
	return nil
}

// Logout logs out inside WhatsApp Web (which unlinks the device), waits
// for the page's post_logout navigation, closes the browser and deletes
// the profile. It ends in logged_out. A session that is connected logs
// out in its page; one whose browser is not running (stopped, or failed)
// but whose profile still holds a login is opened once more, as
// UnlinkLeftovers opens a profile, to log it out. When WhatsApp Web could
// not be told, the profile is deleted anyway and the state's message says
// to remove the device on the phone; but when ctx ends first (the
// shutdown timeout), the browser is closed and the login kept, with an
// error: the reaper quarantines it and the next start unlinks it. A
// profile locked by another process is not deleted: that is an error
// naming the holder.
func (s *Session) Logout(ctx context.Context) error {
	note := ""
	notTold := func(err error) error {
		if ctx.Err() != nil {
			s.endRun(teardownOpts{graceful: true})
			s.log.Warn("logout cut short; keeping the login", "err", err)
			return ctl.Errorf(ctl.CodeTimeout, "the logout of %s did not finish (%v); its login is kept", s.env.Client, ctx.Err())
		}
		s.log.Warn("in-page logout did not complete; deleting the profile anyway", "err", err)
		note = "WhatsApp could not be told (" + err.Error() + "); remove the device on the phone under Linked devices"
		return nil
	}
	if err := ctx.Err(); err != nil {
		// No time left to tell WhatsApp: start nothing that could
		// half-happen.
		return notTold(err)
	}
	r := s.current()
	switch {
	case r != nil && !r.isTorn() && s.st.Get().State == ctl.StateConnected:
		if err := r.pageLogout(ctx); err != nil {
			if err := notTold(err); err != nil {
				return err
			}
		}
	case (r == nil || r.isTorn()) && s.hasLogin():
		s.endRun(teardownOpts{}) // a crashed run's teardown may still be going
		if _, err := s.b.unlinkProfile(ctx, s.log, s.env.Client, s.profile, "the stored login"); err != nil {
			if err := notTold(err); err != nil {
				return err
			}
		}
	}
	s.endRun(teardownOpts{})
	if err := s.deleteProfile(); err != nil {
		return err
	}
	s.st.Set(ctl.StateLoggedOut, ctl.ReasonLogoutRequested, note)
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

package chromedp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// leftoverTimeout bounds the unlinking of one login left behind: launch,
// WhatsApp Web showing the login or a QR code, the in-page logout.
const leftoverTimeout = 90 * time.Second

// UnlinkLeftovers unlinks from WhatsApp the logins a daemon left behind
// (a crash in reaper mode reset): dir holds profile directories
// (session-<client>, as the reaper moved them out of .wwebjs_auth). One
// at a time, to bound the memory it takes beside the running sessions,
// each is opened as a session would open it (the same Chromium launch,
// agent and WhatsApp Web address), and once WhatsApp Web reports the
// login ready it is logged out in the page, as Logout does; then the
// browser is closed and the profile deleted. A profile on which WhatsApp
// Web shows a QR code, or logs out by itself, holds no login any more and
// is deleted as well. One that fails otherwise (the page does not load in
// time, the browser dies, the logout does not complete) stays in dir for
// the next attempt, and the error says why. Anything in dir that is not a
// profile directory is deleted.
func (b *Backend) UnlinkLeftovers(ctx context.Context, dir string) (int, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return 0, ctl.Errorf(ctl.CodeBackendUnavailable, "chromedp backend is closed")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		client, ok := strings.CutPrefix(e.Name(), "session-")
		if !ok || !e.IsDir() { // IsDir is lstat's: a symlink is not a profile
			b.log.Warn("deleting an entry left behind that is not a profile", "path", path)
			if err := os.RemoveAll(path); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		unlinked, err := b.unlinkProfile(ctx, b.log.With("client", client), client, path, "a login left behind by an unclean shutdown")
		if unlinked {
			n++
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	return n, errors.Join(errs...)
}

// unlinkProfile opens the profile in a browser of its own, as a session
// would, logs its login out in the page and deletes the profile; a
// profile showing a QR code is deleted without a logout. It reports
// whether WhatsApp Web logged a login out; an error means the profile was
// kept (or could not be deleted). what names the login in the log. The
// profile must not be in use (its lock is taken as a session takes it).
func (b *Backend) unlinkProfile(ctx context.Context, log *slog.Logger, client, profile, what string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, leftoverTimeout)
	defer cancel()
	env := sessions.Env{Client: client, Backend: Name, Log: log}
	// A cgroup name of its own: a session of the same client may run.
	s := &Session{b: b, env: env, log: log, st: sessions.NewStatus(env), profile: profile, cgName: "unlink-" + client}
	s.st.Set(ctl.StateStarting, "", "")
	if _, err := s.launch(ctx); err != nil {
		s.endRun(teardownOpts{})
		return false, err
	}
	st, err := s.st.Wait(ctx, func(st ctl.Session) bool {
		switch st.State {
		case ctl.StateConnected, ctl.StateLoggedOut, ctl.StateFailed:
			return true
		case ctl.StateQR:
			return st.QR != ""
		}
		return false
	})
	if err != nil {
		s.endRun(teardownOpts{})
		return false, fmt.Errorf("WhatsApp Web showed neither the login nor a QR code in time: %w", err)
	}
	switch st.State {
	case ctl.StateConnected:
		r := s.current()
		if r == nil || r.isTorn() {
			return false, errors.New("the browser went away before the logout")
		}
		if err := r.pageLogout(ctx); err != nil {
			s.endRun(teardownOpts{})
			return false, fmt.Errorf("in-page logout did not complete: %w", err)
		}
		s.endRun(teardownOpts{})
		log.Info("unlinked "+what, "jid", st.JID, "profile", profile)
		return true, s.deleteProfile()
	case ctl.StateQR, ctl.StateLoggedOut:
		// WhatsApp Web no longer has the login (the phone removed the
		// device): there is nothing to unlink.
		s.endRun(teardownOpts{})
		log.Info(what+" is gone already; deleting its profile", "state", st.State, "profile", profile)
		return false, s.deleteProfile()
	}
	s.endRun(teardownOpts{})
	return false, failedError(st)
}

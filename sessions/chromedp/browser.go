package chromedp

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/internal/chromeproc"
)

// agentJS is injected into every document of the WhatsApp Web tab.
//
//go:embed agent.js
var agentJS string

// bridgeName is the function the agent calls to report to wad.
const bridgeName = "wadBridge"

// browserRun is one launch of Chromium for a session: from launch to
// teardown. A new login makes a new one.
type browserRun struct {
	s     *Session
	log   *slog.Logger
	ctx   context.Context // the chromedp context of the tab
	pid   int
	start time.Time

	allocCancel, ctxCancel context.CancelFunc
	lock                   *profileLock
	cg                     *runGroup // the browser's cgroup, or nil

	stopping atomic.Bool // teardown begun: events are no longer news
	booted   atomic.Bool // WhatsApp Web reported Debug.VERSION
	once     sync.Once
	torn     chan struct{}

	mu          sync.Mutex // page-event state below
	socketState string
	ready       bool
	qrCount     int
	expectOut   bool          // we asked the page to log out
	postLogout  chan struct{} // closed on the post_logout navigation
	postClosed  bool
	modulesSeen bool
}

func (r *browserRun) isTorn() bool {
	select {
	case <-r.torn:
		return true
	default:
		return false
	}
}

// launch locks the profile, starts Chromium on it, installs the agent and
// opens WhatsApp Web. It returns once the page is loading; the agent's
// reports then drive the state.
func (s *Session) launch(ctx context.Context) (*browserRun, error) {
	path, err := s.b.cfg.chromePath()
	if err != nil {
		s.st.Fail(ctl.ReasonBackendNotBuilt, err.Error())
		return nil, err
	}
	lock, err := lockProfile(s.profile)
	if err != nil {
		return nil, s.lockFailed(err)
	}
	removed, err := clearStaleSingletons(s.profile)
	if err != nil {
		lock.unlock()
		return nil, s.lockFailed(err)
	}
	if removed {
		s.log.Info("removed stale Singleton files of a dead browser", "profile", s.profile)
	}
	// The cgroup exists before the browser: on v2 it starts inside it.
	cg, err := s.newGroup()
	if err != nil {
		lock.unlock()
		return nil, err
	}
	cgStart := cg.start()

	log := s.log
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), s.b.cfg.allocatorOptions(path, s.profile, cgStart, log)...)
	bctx, bcancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(slogf(log, slog.LevelDebug, "chromedp: ")),
		chromedp.WithErrorf(slogf(log, slog.LevelDebug, "chromedp error: ")),
		chromedp.WithBrowserOption(
			chromedp.WithBrowserLogf(slogf(log, slog.LevelDebug, "chromedp browser: ")),
			chromedp.WithBrowserErrorf(slogf(log, slog.LevelDebug, "chromedp browser error: ")),
		),
	)
	r := &browserRun{
		s: s, log: log, ctx: bctx, start: time.Now(),
		allocCancel: allocCancel, ctxCancel: bcancel, lock: lock, cg: cg,
		torn: make(chan struct{}), postLogout: make(chan struct{}),
	}

	// The first Run starts the browser; its context must not carry a
	// deadline (that would end the browser), so bound it from outside.
	started := make(chan error, 1)
	go func() {
		_, err := chromedp.Run(bctx, chromedp.Func(func(context.Context, *chromedp.Target) error { return nil }))
		started <- err
	}()
	select {
	case err = <-started:
	case <-ctx.Done():
		// End the launch and wait for chromedp to be done with it: it
		// writes the browser's process while starting it.
		err = ctx.Err()
		bcancel()
		allocCancel()
		<-started
	}
	if c := chromedp.FromContext(bctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		r.pid = c.Browser.Process().Pid
	}
	if err != nil {
		oomMsg, oom := "", false
		if !cancelled(ctx) && ctx.Err() == nil {
			oomMsg, oom = r.oomStruck()
		}
		r.teardown(teardownOpts{})
		switch {
		case cancelled(ctx):
			return nil, ctx.Err()
		case ctx.Err() != nil:
			msg := fmt.Sprintf("%s did not start in time", path)
			s.st.Fail(ctl.ReasonStartTimeout, msg)
			return nil, ctl.Errorf(ctl.CodeTimeout, "%s", msg)
		}
		if cgStart.strict && strings.Contains(err.Error(), joinFailed) {
			return nil, s.groupFailed(fmt.Errorf("cannot start the browser in its cgroup %s with the configured limits (%s): %w", cg.name, describeLimits(cg.limits), err))
		}
		reason, msg := ctl.ReasonBrowserExited, fmt.Sprintf("starting %s: %v", path, err)
		if oom {
			reason, msg = ctl.ReasonMemoryLimit, oomMsg
		}
		s.st.Fail(reason, msg)
		return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "%s", msg)
	}
	if cg != nil && cgStart.fd < 0 {
		// Joined before the exec (or not, without limits): make sure the
		// browser and what it started so far are in the group before it
		// opens WhatsApp Web.
		if err := cg.add(r.pid); err != nil {
			if cg.limits != (cgroup.Limits{}) {
				r.teardown(teardownOpts{})
				return nil, s.groupFailed(fmt.Errorf("cannot move the browser (pid %d) into its cgroup %s with the configured limits (%s): %w", r.pid, cg.name, describeLimits(cg.limits), err))
			}
			log.Warn("cannot move the browser into a cgroup of its own; it runs without one", "pid", r.pid, "err", err)
			if err := cg.close(); err != nil {
				log.Warn("removing the unused cgroup", "cgroup", cg.name, "err", err)
			}
			r.cg = nil
		}
	}
	s.mu.Lock()
	s.cur = r
	s.mu.Unlock()
	if r.cg != nil {
		log.Info("browser started", "pid", r.pid, "profile", s.profile, "cgroup", r.cg.name, "limits", describeLimits(r.cg.limits), "took", time.Since(r.start).Round(time.Millisecond))
	} else {
		log.Info("browser started", "pid", r.pid, "profile", s.profile, "took", time.Since(r.start).Round(time.Millisecond))
	}

	// From here on a dying browser or tab fails the session.
	if err := chromedp.Listen(bctx, r.onCDPEvent); err != nil {
		return nil, r.setupFailed(ctx, err)
	}
	go r.watch()
	if r.cg != nil {
		go r.watchOOM()
	}

	sctx, scancel := r.opContext(ctx, 0)
	defer scancel()
	err = chromedp.Do(sctx,
		chromedp.ExposeFunc(bridgeName, r.onBridge),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: agentJS})
			return err
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			v, err := chromedp.CallBrowser(ctx, browser.GetVersion, struct{}{})
			if err != nil {
				return err
			}
			if ua := headlessUA(v.UserAgent); ua != v.UserAgent {
				_, err = chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua})
			}
			return err
		}),
		chromedp.Navigate(s.b.cfg.webURL()),
	)
	if err != nil {
		return nil, r.setupFailed(ctx, err)
	}
	return r, nil
}

// lockFailed fails the start for a profile held by someone else.
func (s *Session) lockFailed(err error) error {
	if errors.Is(err, errProfileLocked) {
		s.log.Warn("profile is in use; not starting a second browser on it", "err", err)
		s.st.Fail(ctl.ReasonProfileLocked, err.Error())
		return ctl.Errorf(ctl.CodeBackendUnavailable, "client %s: %v", s.env.Client, err)
	}
	s.st.Fail(ctl.ReasonBackendError, err.Error())
	return ctl.Errorf(ctl.CodeInternal, "client %s: %v", s.env.Client, err)
}

// setupFailed fails the start after the browser is up.
func (r *browserRun) setupFailed(ctx context.Context, err error) error {
	reason, code := ctl.ReasonBackendError, ctl.CodeBackendUnavailable
	if r.ctx.Err() != nil {
		reason = ctl.ReasonBrowserExited
	} else if errors.Is(err, context.DeadlineExceeded) {
		reason, code = ctl.ReasonStartTimeout, ctl.CodeTimeout
	}
	msg := fmt.Sprintf("opening WhatsApp Web at %s: %v", r.s.b.cfg.webURL(), err)
	if cancelled(ctx) && r.ctx.Err() == nil {
		r.teardown(teardownOpts{graceful: true})
		return ctx.Err()
	}
	if reason == ctl.ReasonBrowserExited {
		reason, msg = r.oomReason(reason, msg)
	}
	if r.s.st.Fail(reason, msg) {
		r.log.Warn("start failed", "reason", reason, "err", err)
	}
	r.teardown(teardownOpts{graceful: reason != ctl.ReasonBrowserExited})
	if st := r.s.st.Get(); st.State == ctl.StateFailed && st.Reason != reason {
		return failedError(st) // e.g. the browser crashed meanwhile
	}
	return ctl.Errorf(code, "%s", msg)
}

// cancelled reports whether ctx was cancelled (session.stop during a
// start), as opposed to timing out.
func cancelled(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// opContext returns a context for one operation on the tab: it ends when
// the browser goes, when parent ends, or after d (if d > 0).
func (r *browserRun) opContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	var ctx context.Context
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeout(r.ctx, d)
	} else {
		ctx, cancel = context.WithCancel(r.ctx)
	}
	stop := context.AfterFunc(parent, cancel)
	return ctx, func() { stop(); cancel() }
}

// onCDPEvent sees every event of the tab. It runs on chromedp's reading
// goroutine, so it only hands work off.
func (r *browserRun) onCDPEvent(ev any) {
	switch ev := ev.(type) {
	case *inspector.EventTargetCrashed:
		go r.died(ctl.ReasonPageCrashed, "the WhatsApp Web renderer crashed")
	case *inspector.EventDetached:
		go r.detached(ev.Reason)
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" && strings.Contains(ev.Frame.URL, "post_logout") {
			go r.onPostLogout()
		}
	}
}

// watch turns the end of the browser or of the tab into a failed session.
// chromedp cancels the tab's context as soon as the pipe to the browser
// breaks, which is at once when the process dies.
func (r *browserRun) watch() {
	det, err := chromedp.Detached(r.ctx)
	if err != nil {
		det = nil
	}
	select {
	case <-r.ctx.Done():
		r.died(ctl.ReasonBrowserExited, fmt.Sprintf("the browser (pid %d) exited unexpectedly", r.pid))
	case <-det:
		r.detached("target closed")
	case <-r.torn:
	}
}

// detached handles the tab going away: a browser that dies takes its tab
// with it, so a short grace tells the two apart.
func (r *browserRun) detached(reason string) {
	select {
	case <-r.ctx.Done():
		r.died(ctl.ReasonBrowserExited, fmt.Sprintf("the browser (pid %d) exited unexpectedly", r.pid))
	case <-time.After(300 * time.Millisecond):
		r.died(ctl.ReasonPageCrashed, "the WhatsApp Web tab went away: "+reason)
	case <-r.torn:
	}
}

// died fails the session (unless we are stopping it ourselves) and tears
// the run down in the background.
func (r *browserRun) died(reason, msg string) {
	if r.stopping.Load() {
		return
	}
	reason, msg = r.oomReason(reason, msg)
	if r.stopping.Load() {
		return
	}
	if r.s.st.Fail(reason, msg) {
		r.log.Warn("browser session died", "reason", reason, "message", msg, "pid", r.pid)
	}
	go r.teardown(teardownOpts{graceful: reason == ctl.ReasonPageCrashed})
}

type teardownOpts struct {
	graceful      bool // ask the browser to close (flushes the profile)
	deleteProfile bool // remove the profile before releasing the lock
}

// teardown ends the run once: closes the browser (gracefully if asked and
// possible), kills its whole process tree, optionally deletes the profile
// and releases the profile lock. Every caller waits until that is done.
func (r *browserRun) teardown(o teardownOpts) {
	r.once.Do(func() {
		r.stopping.Store(true)
		if o.graceful && r.ctx.Err() == nil {
			gctx, cancel := context.WithTimeout(r.ctx, gracefulCloseTimeout)
			if err := chromedp.Cancel(gctx); err != nil && !errors.Is(err, context.Canceled) {
				r.log.Debug("graceful browser close", "err", err)
			}
			cancel()
		}
		r.ctxCancel()
		r.allocCancel()
		if !chromeproc.KillTree(r.pid, r.s.profile, killWait) {
			r.log.Warn("browser processes survived SIGKILL", "profile", r.s.profile)
		}
		// Kills what escaped the process tree, and removes the group.
		if err := r.cg.close(); err != nil {
			r.log.Warn("removing the browser's cgroup", "cgroup", r.cg.name, "err", err)
		}
		if o.deleteProfile {
			if err := os.RemoveAll(r.s.profile); err != nil {
				r.log.Error("deleting profile failed", "profile", r.s.profile, "err", err)
			}
		}
		r.lock.unlock()
		close(r.torn)
		r.log.Debug("browser torn down", "pid", r.pid)
	})
	<-r.torn
}

// pageEvent is one report of the agent (see agent.js).
type pageEvent struct {
	K        string        `json:"k"`
	Version  string        `json:"version"`
	Module   string        `json:"module"`
	What     string        `json:"what"`
	State    string        `json:"state"`
	QR       string        `json:"qr"`
	JID      string        `json:"jid"`
	PushName string        `json:"pushname"`
	Error    string        `json:"error"`
	Msg      *pageMsg      `json:"msg"`
	Reaction *pageReaction `json:"reaction"`
	Text     string        `json:"text"`   // edit: the new text or caption
	EditID   string        `json:"editId"` // edit: the edit's own id
	EditT    float64       `json:"editT"`  // edit: when it was made
	// D is the payload of group, presence, chatstate, call and contact
	// events (social.go).
	D json.RawMessage `json:"d"`
}

// onBridge handles the agent's reports, one at a time.
func (r *browserRun) onBridge(_ context.Context, ev pageEvent) (chromedp.Void, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping.Load() {
		return chromedp.Void{}, nil
	}
	st := r.s.st
	switch ev.K {
	case "boot":
		r.booted.Store(true)
		r.log.Info("WhatsApp Web loaded", "version", ev.Version, "took", time.Since(r.start).Round(time.Millisecond))
	case "missing":
		msg := "WhatsApp Web lacks what wad needs: " + ev.What
		st.Fail(ctl.ReasonMissingModule, msg)
		r.log.Error("missing WhatsApp Web module", "module", ev.Module, "what", ev.What)
		go r.teardown(teardownOpts{graceful: true})
	case "state":
		r.onSocketState(ev.State)
	case "qr":
		if ev.QR == "" {
			break
		}
		r.qrCount++
		if max := r.s.b.cfg.QRMaxRetries; max > 0 && r.qrCount > max {
			st.Fail(ctl.ReasonQRTimeout, fmt.Sprintf("no phone scanned any of %d QR codes", max))
			go r.teardown(teardownOpts{graceful: true})
			break
		}
		if r.qrCount == 1 {
			r.s.clearLogin()
		}
		st.Update(func(s *ctl.Session) {
			// A QR code means no login: forget the account of an earlier run.
			s.State, s.QR, s.JID, s.PushName = ctl.StateQR, ev.QR, "", ""
		})
	case "ready":
		r.ready = true
		if !r.modulesSeen {
			r.modulesSeen = true
			r.log.Info("Store objects functional")
			r.s.markLogin(fromWebJID(ev.JID))
		}
		st.Update(func(s *ctl.Session) {
			s.State = ctl.StateConnected
			s.Reason, s.Message = "", ""
			if ev.JID != "" {
				s.JID = fromWebJID(ev.JID)
			}
			if ev.PushName != "" {
				s.PushName = ev.PushName
			}
		})
	case "msg":
		if ev.Msg != nil {
			r.publishMessage(ev.Msg)
		}
	case "reaction":
		if ev.Reaction != nil {
			r.publishReaction(ev.Reaction)
		}
	case "edit":
		if ev.Msg != nil {
			r.publishEdit(ev.Msg, ev.Text, ev.EditID, ev.EditT)
		}
	case "revoke":
		if ev.Msg != nil {
			r.publishRevoke(ev.Msg)
		}
	case "group", "presence", "chatstate", "call", "contact":
		r.publishSocial(ev.K, ev.D)
	case "warn":
		r.log.Warn("WhatsApp Web lacks something optional", "what", ev.What)
	case "logout":
		r.log.Info("WhatsApp Web is logging out")
	case "error":
		r.log.Warn("wad agent error in WhatsApp Web", "err", ev.Error)
	}
	return chromedp.Void{}, nil
}

// onSocketState maps WAWebSocketModel's Socket.state to session states.
// r.mu is held.
func (r *browserRun) onSocketState(state string) {
	st := r.s.st
	prev := r.socketState
	r.socketState = state
	if prev != state {
		r.log.Debug("WhatsApp Web socket state", "state", state, "from", prev)
	}
	switch state {
	case "CONNECTED":
		if r.ready {
			st.Update(func(s *ctl.Session) { s.State = ctl.StateConnected })
		} else if cur := st.Get().State; cur == ctl.StateQR {
			st.Set(ctl.StateStarting, "", "QR code scanned; syncing")
		}
	case "UNPAIRED", "UNPAIRED_IDLE":
		// The QR event follows.
	case "DEPRECATED_VERSION":
		st.Fail(ctl.ReasonClientOutdated, "WhatsApp refuses this version of WhatsApp Web")
		go r.teardown(teardownOpts{graceful: true})
	case "TOS_BLOCK", "SMB_TOS_BLOCK":
		st.Fail(ctl.ReasonTemporarilyBanned, "WhatsApp blocked this account ("+state+")")
		go r.teardown(teardownOpts{graceful: true})
	case "CONFLICT":
		if r.ready {
			st.Set(ctl.StateDisconnected, ctl.ReasonStreamReplaced, "WhatsApp Web is open in another browser")
		}
	case "PROXYBLOCK":
		if r.ready {
			st.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "blocked by a proxy")
		}
	default: // OPENING, PAIRING, TIMEOUT, UNLAUNCHED, ...
		if r.ready {
			st.Set(ctl.StateDisconnected, ctl.ReasonConnectionLost, "WhatsApp Web socket is "+state)
		} else if state == "PAIRING" && st.Get().State == ctl.StateQR {
			st.Set(ctl.StateStarting, "", "QR code scanned; pairing")
		}
	}
}

// onPostLogout handles WhatsApp Web's navigation to ?post_logout=1. When
// we asked for it (Logout), it just wakes Logout; otherwise the phone
// unlinked this device: the session ends logged_out and its profile is
// deleted, as whatsapp-web.js's LocalAuth does.
func (r *browserRun) onPostLogout() {
	r.mu.Lock()
	expected := r.expectOut
	if !r.postClosed {
		r.postClosed = true
		close(r.postLogout)
	}
	r.mu.Unlock()
	if expected || r.stopping.Load() {
		return
	}
	r.log.Info("WhatsApp Web logged out (device unlinked); deleting the profile")
	r.s.st.Set(ctl.StateLoggedOut, ctl.ReasonLoggedOut, "the device was unlinked from the phone")
	go r.teardown(teardownOpts{deleteProfile: true})
}

// pageLogout asks WhatsApp Web to log out and waits for its post_logout
// navigation.
func (r *browserRun) pageLogout(ctx context.Context) error {
	r.mu.Lock()
	r.expectOut = true
	r.mu.Unlock()
	lctx, cancel := r.opContext(ctx, logoutTimeout)
	defer cancel()
	go func() {
		// The page navigates away while this runs; its result does not
		// matter, the navigation does.
		_, err := chromedp.Run(lctx, chromedp.Evaluate[bool](`window.__wad.logout()`, chromedp.EvalAwaitPromise))
		if err != nil {
			r.log.Debug("in-page logout call", "err", err)
		}
	}()
	select {
	case <-r.postLogout:
		return nil
	case <-lctx.Done():
		return fmt.Errorf("no post_logout navigation: %w", lctx.Err())
	}
}

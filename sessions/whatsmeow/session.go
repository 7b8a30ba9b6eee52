package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	wa "go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// pairTimeout bounds the pairing-code request to WhatsApp.
const pairTimeout = 30 * time.Second

// PairClientDisplay is how a phone-code login presents itself; WhatsApp
// accepts only "Browser (OS)" with common names.
const PairClientDisplay = "Chrome (Linux)"

// session is one client's whatsmeow session. Its state lives in st (the
// registry's tracker); run is the whatsmeow client of the current start,
// nil when not running. The registry calls Start, Stop and Logout one at
// a time; whatsmeow's event handlers and the QR channel run alongside
// and may end a run at any time.
type session struct {
	b   *Backend
	env sessions.Env
	log *slog.Logger
	st  *sessions.Status

	mu  sync.Mutex
	run *run

	recent  *recent                    // messages for replies, reactions, read marks, downloads
	uploads uploads                    // for sending the same file again without uploading it
	calls   atomic.Pointer[callBook]   // callers of offered calls (contact.go)
	phone   atomic.Pointer[phoneWatch] // the phone's last activity (contact.go)
}

// run is one start's whatsmeow client and what belongs to it. Events of a
// run that is no longer the session's current one are ignored.
type run struct {
	cli        *wa.Client
	ctx        context.Context // ends when the run is torn down
	cancel     context.CancelFunc
	phone      string // E.164: log in by pairing code instead of QR
	qrOnce     sync.Once
	pairedCh   chan struct{} // closed when the phone accepted the pairing
	pairedOnce sync.Once
	pairOnce   sync.Once
	connecting atomic.Int32 // our connects in flight
	// available is whether the run has set the account online
	// (setAvailable), under availableMu.
	availableMu sync.Mutex
	available   bool
	// groupQ holds the group events to publish (group.go), made once.
	groupQ     chan func()
	groupQOnce sync.Once
	// handling counts our event handler's calls in flight; handled is
	// when the last one returned (unix nanoseconds). See settle.
	handling atomic.Int32
	handled  atomic.Int64
}

// Before the socket closes, teardown lets the session settle: whatsmeow
// sends a message's receipt from a goroutine of its own once our handler
// (which writes the event to the event log) has returned, and its
// FrameSocket reads the connection without the lock Disconnect writes it
// under. A receipt still on its way when Disconnect runs is a data race
// in whatsmeow (and a receipt lost: the server sends the message again).
// settle waits until no handler has run for settleQuiet, at most
// settleMax.
const (
	settleQuiet = 50 * time.Millisecond
	settleMax   = time.Second
)

// handleEvent runs the session's handler for evt, counted for settle.
func (r *run) handleEvent(handle func()) {
	r.handling.Add(1)
	defer func() {
		r.handled.Store(time.Now().UnixNano())
		r.handling.Add(-1)
	}()
	handle()
}

// settle waits until the run's event handler has been idle for
// settleQuiet, or settleMax has passed.
func (r *run) settle() {
	deadline := time.Now().Add(settleMax)
	for time.Now().Before(deadline) {
		if r.handling.Load() == 0 && time.Since(time.Unix(0, r.handled.Load())) >= settleQuiet {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// teardown ends the run: the websocket closes, then its goroutines stop.
// In this order because whatsmeow's reader goroutine runs on r.ctx and
// reads a flag Disconnect writes (FrameSocket.closed, without its lock):
// cancelling first would wake the reader while Disconnect writes it. But
// a connect in flight holds the socket lock Disconnect needs until it
// ends, so ours (r.connecting) is cancelled first, and one of whatsmeow's
// own (a reconnect) after teardownGrace.
func (r *run) teardown() {
	if r.connecting.Load() > 0 {
		r.cancel()
	} else {
		r.settle()
	}
	done := make(chan struct{})
	go func() {
		r.cli.Disconnect()
		close(done)
	}()
	t := time.NewTimer(teardownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.cancel()
		<-done
	}
	r.cancel()
}

// teardownGrace is how long teardown lets Disconnect wait for a connect
// of whatsmeow's before cancelling it.
const teardownGrace = 2 * time.Second

// connect runs cli.ConnectContext on the run's context, counted in
// r.connecting.
func (r *run) connect() error {
	r.connecting.Add(1)
	defer r.connecting.Add(-1)
	return r.cli.ConnectContext(r.ctx)
}

func newSession(b *Backend, env sessions.Env) *session {
	st := env.Status
	if st == nil {
		st = sessions.NewStatus(env)
	}
	return &session{b: b, env: env, log: env.Log, st: st, recent: newRecent()}
}

// current returns the running run, or nil.
func (s *session) current() *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run
}

// detach makes r no longer current and returns it (nil if not running).
func (s *session) detach() *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.run
	s.run = nil
	return r
}

// take makes r no longer current if it is the current run, and reports
// whether it was.
func (s *session) take(r *run) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.run == r && r != nil
	if cur {
		s.run = nil
	}
	return cur
}

// endRun tears r down if it is still the current run and reports whether
// it was. The teardown runs in the background: endRun is called from
// whatsmeow's event handlers, which must not wait on the client.
func (s *session) endRun(r *run) bool {
	cur := s.take(r)
	if cur {
		go r.teardown()
	}
	return cur
}

// release is endRun for Start: it waits for the teardown.
func (s *session) release(r *run) bool {
	cur := s.take(r)
	if cur {
		r.teardown()
	}
	return cur
}

// Start connects to WhatsApp with the client's stored device, or with a
// new device that shows a QR code (or, with opts.Phone, asks for a
// pairing code). It returns once the session shows a QR code, a pairing
// code, is connected or disconnected (reconnecting), or has ended: a
// network failure ends in failed/network and returns an upstream error.
// When ctx ends first the client is torn down and ctx's error returned
// (a deadline also fails the session with start_timeout). Each start
// makes one connection attempt: a failed start is retried by the next
// Start, never in the background.
func (s *session) Start(ctx context.Context, opts sessions.StartOptions) error {
	if opts.Phone != "" {
		p, err := ctl.NormalizePhone(opts.Phone)
		if err != nil {
			return err
		}
		opts.Phone = p
	}
	if err := s.b.usable(); err != nil {
		return err
	}
	client := s.env.Client
	s.st.Set(ctl.StateStarting, "", "")
	dev, err := s.b.st.device(ctx, client)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.st.Fail(ctl.ReasonStoreError, err.Error())
		return ctl.Errorf(ctl.CodeInternal, "whatsmeow store: %v", err)
	}
	dev.Log = newLogger(s.log, "Device")
	cli, err := s.b.newClient(dev, s.log)
	if err != nil {
		s.st.Fail(ctl.ReasonBackendError, err.Error())
		return ctl.Errorf(ctl.CodeBackendUnavailable, "%v", err)
	}
	// After pairing, relogin reconnects (see there).
	cli.DisableLoginAutoReconnect = true
	rctx, cancel := context.WithCancel(context.Background())
	cli.BackgroundEventCtx = rctx
	r := &run{cli: cli, ctx: rctx, cancel: cancel, pairedCh: make(chan struct{})}
	paired := dev.ID != nil
	switch {
	case !paired:
		r.phone = opts.Phone
	case opts.Phone != "":
		s.log.Info("client is already paired; phone number ignored, reconnecting with the stored device", "jid", dev.ID.String())
	}
	cli.AddEventHandler(func(evt any) { r.handleEvent(func() { s.handle(r, evt) }) })
	s.mu.Lock()
	s.run = r
	s.mu.Unlock()
	s.log.Debug("connecting to WhatsApp", "paired", paired, "phone_login", r.phone != "")

	connErr := make(chan error, 1)
	go func() { connErr <- r.connect() }()
	select {
	case err = <-connErr:
	case <-ctx.Done():
		return s.startAborted(ctx, s.release(r))
	}
	if err != nil {
		if !s.release(r) {
			return ctl.Errorf(ctl.CodeSessionNotReady, "session %s ended while starting", client)
		}
		msg := "could not reach WhatsApp: " + err.Error()
		s.st.Fail(ctl.ReasonNetwork, msg)
		return ctl.Errorf(ctl.CodeUpstream, "%s", msg)
	}

	st, err := s.st.Wait(ctx, sessions.Shown)
	if err != nil {
		return s.startAborted(ctx, s.release(r))
	}
	switch st.State {
	case ctl.StateFailed:
		return ctl.Errorf(ctl.CodeUpstream, "session %s failed (%s): %s", client, st.Reason, st.Message)
	case ctl.StateLoggedOut:
		return ctl.Errorf(ctl.CodeUpstream, "session %s was logged out (%s); log in again for a new QR code", client, st.Message)
	case ctl.StateStopped:
		return ctl.Errorf(ctl.CodeSessionNotReady, "session %s was stopped while starting", client)
	}
	return nil
}

// startAborted handles ctx ending during a start whose run has been ended
// (wasCurrent: by us, not by a Stop or an event).
func (s *session) startAborted(ctx context.Context, wasCurrent bool) error {
	if wasCurrent {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.st.Fail(ctl.ReasonStartTimeout, "WhatsApp did not answer in time")
		} else {
			// Cancelled: the registry runs the stop or logout that
			// overtook the start, which sets the end state.
			s.log.Debug("start cancelled")
		}
	}
	return ctx.Err()
}

// qrTimes says how long WhatsApp's QR refs are valid, as whatsmeow's
// QR channel (qrchan.go) reckons it: the first of a full offer of 6 for
// 60 s, every other one for 20 s.
func qrTimes(i, n int) time.Duration {
	if i == 0 && n == 6 {
		return 60 * time.Second
	}
	return 20 * time.Second
}

// rotateQR shows each of the codes of WhatsApp's pair-device offer in
// turn for as long as it is valid (for a phone login it only keeps the
// time), and when the last one expires unused ends the run in
// failed/qr_timeout, closing the login websocket as WhatsApp expects. It
// stops when the phone pairs or the run ends. whatsmeow's QR channel
// does the same, but can send on its channel after closing it when the
// connection drops while it starts.
func (s *session) rotateQR(r *run, codes []string) {
	for i, code := range codes {
		if r.phone == "" {
			s.showQR(code)
		}
		select {
		case <-time.After(qrTimes(i, len(codes))):
		case <-r.pairedCh:
			return
		case <-r.ctx.Done():
			return
		}
	}
	if st := s.st.Get().State; st != ctl.StateQR && st != ctl.StatePairing && st != ctl.StateStarting {
		return
	}
	if s.endRun(r) {
		what := "QR code"
		if r.phone != "" {
			what = "pairing code"
		}
		s.st.Fail(ctl.ReasonQRTimeout, "nobody used the "+what+" in time; log in again for a new one")
	}
}

// showQR moves a session that is starting or showing a QR code to the qr
// state with code.
func (s *session) showQR(code string) {
	s.st.Update(func(x *ctl.Session) {
		if x.State == ctl.StateStarting || x.State == ctl.StateQR {
			x.State, x.QR = ctl.StateQR, code
		}
	})
}

// requestPairCode asks WhatsApp for the pairing code of r's phone number.
func (s *session) requestPairCode(r *run) {
	ctx, cancel := context.WithTimeout(r.ctx, pairTimeout)
	defer cancel()
	code, err := r.cli.PairPhone(ctx, r.phone, true, wa.PairClientChrome, PairClientDisplay)
	if s.current() != r {
		return
	}
	if err != nil {
		reason := ctl.ReasonPairingRejected
		if errors.Is(err, wa.ErrNotConnected) || errors.Is(err, wa.ErrIQTimedOut) || errors.Is(err, context.DeadlineExceeded) {
			reason = ctl.ReasonNetwork
		}
		if s.endRun(r) {
			s.st.Fail(reason, fmt.Sprintf("WhatsApp did not give a pairing code for %s: %v", r.phone, err))
		}
		return
	}
	s.log.Info("pairing code issued", "phone", r.phone)
	s.st.Update(func(x *ctl.Session) {
		switch x.State {
		case ctl.StateStarting, ctl.StateQR, ctl.StatePairing:
			x.State, x.PairCode = ctl.StatePairing, code
		}
	})
}

// Stop disconnects and keeps the stored device.
func (s *session) Stop(ctx context.Context) error {
	if r := s.detach(); r != nil {
		r.teardown()
	}
	return nil
}

// Logout unlinks the device upstream, deletes the device row and the
// client's mapping, and ends in logged_out. A connected session asks
// WhatsApp on its websocket; a stopped, failed or reconnecting one logs
// its stored device in once more to do so (bounded by ctx). When
// WhatsApp cannot be told the local login is deleted anyway and the
// state's message says to remove the device on the phone. It fails only
// when the store cannot be read or written.
func (s *session) Logout(ctx context.Context) error {
	r := s.detach()
	told, err := false, error(nil)
	if r != nil && r.cli.IsLoggedIn() {
		err = unlink(ctx, r.cli)
		told = err == nil
	}
	if r != nil {
		r.teardown()
	}
	if !told && err == nil {
		dev, lerr := s.b.st.storedDevice(ctx, s.env.Client)
		if lerr != nil {
			s.st.Fail(ctl.ReasonStoreError, lerr.Error())
			return ctl.Errorf(ctl.CodeInternal, "deleting the login of %s: %v", s.env.Client, lerr)
		}
		if dev != nil {
			dev.Log = newLogger(s.log, "Device")
			_, err = s.b.unlinkDevice(ctx, dev)
		}
	}
	note := ""
	if err != nil {
		s.log.Warn("unlinking the device upstream failed; deleting it locally", "err", err)
		note = "WhatsApp could not be told (" + err.Error() + "); remove the device on the phone under Linked devices"
	}
	jid, err := s.b.st.forget(ctx, s.env.Client)
	if err != nil {
		s.st.Fail(ctl.ReasonStoreError, err.Error())
		return ctl.Errorf(ctl.CodeInternal, "deleting the login of %s: %v", s.env.Client, err)
	}
	if !jid.IsEmpty() {
		s.log.Info("device deleted from the store", "jid", jid.String())
	}
	s.st.Set(ctl.StateLoggedOut, ctl.ReasonLogoutRequested, note)
	return nil
}

// unlink asks WhatsApp to remove cli's device from the account (what
// whatsmeow's Client.Logout sends). Deleting the device is left to the
// caller: Client.Logout clears cli.Store.ID while cli's event handlers
// may still be reading it.
func unlink(ctx context.Context, cli *wa.Client) error {
	id := cli.Store.ID
	if id == nil {
		return wa.ErrNotLoggedIn
	}
	_, err := cli.DangerousInternals().SendIQ(ctx, wa.DangerousInfoQuery{
		Namespace: "md",
		Type:      "set",
		To:        types.ServerJID,
		Content: []waBinary.Node{{
			Tag:   "remove-companion-device",
			Attrs: waBinary.Attrs{"jid": *id, "reason": "user_initiated"},
		}},
	})
	if err != nil {
		return fmt.Errorf("asking WhatsApp to remove the device: %w", err)
	}
	return nil
}

// sendError maps a whatsmeow send error to the wire: not connected (the
// websocket dropped under us) is not-ready, the caller's deadline is a
// timeout, anything else is upstream with whatsmeow's reason.
func sendError(client string, err error) error {
	switch {
	case errors.Is(err, wa.ErrNotConnected), errors.Is(err, wa.ErrNotLoggedIn):
		return ctl.Errorf(ctl.CodeSessionNotReady, "session %s is not connected to WhatsApp right now: %v", client, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ctl.Errorf(ctl.CodeTimeout, "sending from %s: %v", client, err)
	}
	return ctl.Errorf(ctl.CodeUpstream, "WhatsApp did not accept the message: %v", err)
}

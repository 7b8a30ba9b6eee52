// Package sessiontest provides a stand-in session backend for tests of the
// registry, the daemon and wactl: the things those tests are about. It is
// never linked into wad. Its sessions do no deduplication or serialisation
// of their own, as the Session contract allows: they count what was asked
// of them and every contract breach they see (two lifecycle calls at once
// on one session, a start of a running session), so tests can prove that
// the registry alone keeps "created once, started once, one at a time".
package sessiontest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Backend is a configurable stand-in backend.
type Backend struct {
	// BackendName is returned by Name; default "whatsmeow".
	BackendName string
	// CreateDelay and StartDelay make creation and start slow.
	CreateDelay, StartDelay time.Duration
	// Connect makes Start end connected instead of showing a QR code.
	Connect bool
	// StartErr, if set, makes every start fail with it.
	StartErr func(client string) error
	// StartGate, StopGate and LogoutGate, if set, hold every start, stop
	// or logout until they are closed (or its context ends).
	StartGate, StopGate, LogoutGate chan struct{}
	// ProcessGate, if set, holds every Process call for ProcessClient
	// until it is closed, like a slow walk of /proc; SlowProcesses counts
	// those calls.
	ProcessGate   chan struct{}
	ProcessClient string
	// StoredClients is what Stored reports: logins that survived a
	// restart.
	StoredClients []string
	// Unsupported lists the operations (method names) the backend
	// refuses; it supports every other.
	Unsupported []string
	// UnlinkKeep lists entries of a quarantine that UnlinkLeftovers
	// cannot unlink yet: it leaves them in place and fails.
	UnlinkKeep []string
	// UnlinkGate, if set, holds every UnlinkLeftovers until it is closed
	// (or its context ends); UnlinkCalls counts the calls.
	UnlinkGate  chan struct{}
	UnlinkCalls atomic.Int64

	Creations     atomic.Int64
	Starts        atomic.Int64
	Stops         atomic.Int64
	Logouts       atomic.Int64
	SlowProcesses atomic.Int64
	// MaxStartsInFlight is the most starts that ran at once, across
	// sessions.
	MaxStartsInFlight atomic.Int64
	startsInFlight    atomic.Int64
	// Overlaps counts contract breaches: a lifecycle call that began
	// while another was in flight on the same session, or a start of a
	// session that was running.
	Overlaps atomic.Int64

	mu       sync.Mutex
	sessions []*Session
	unlinked []string // entries UnlinkLeftovers unlinked, as dir/name
}

var _ sessions.Unlinker = (*Backend)(nil)

func (b *Backend) Name() string {
	if b.BackendName == "" {
		return "whatsmeow"
	}
	return b.BackendName
}

func (b *Backend) Close() error { return nil }

// Stored returns StoredClients.
func (b *Backend) Stored(context.Context) ([]string, error) { return b.StoredClients, nil }

// UnlinkLeftovers plays a backend unlinking the logins a crashed daemon
// left in dir: every entry of dir, except those named in UnlinkKeep, is
// recorded as unlinked (see Unlinked) and removed, after UnlinkGate.
// Entries in UnlinkKeep stay, and the call fails naming them.
func (b *Backend) UnlinkLeftovers(ctx context.Context, dir string) (int, error) {
	b.UnlinkCalls.Add(1)
	if err := gate(ctx, b.UnlinkGate); err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var kept []string
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if slices.Contains(b.UnlinkKeep, e.Name()) {
			kept = append(kept, e.Name())
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, err
		}
		b.mu.Lock()
		b.unlinked = append(b.unlinked, filepath.Join(filepath.Base(filepath.Dir(dir)), e.Name()))
		b.mu.Unlock()
		n++
	}
	if len(kept) > 0 {
		return n, fmt.Errorf("cannot unlink %v yet", kept)
	}
	return n, nil
}

// Unlinked returns what UnlinkLeftovers unlinked, each as the quarantine's
// name and the entry's ("<stamp>/<entry>"), in order.
func (b *Backend) Unlinked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.unlinked)
}

// Supports reports whether method is not in Unsupported.
func (b *Backend) Supports(method string) bool {
	for _, m := range b.Unsupported {
		if m == method {
			return false
		}
	}
	return true
}

// New creates a session after CreateDelay.
func (b *Backend) New(ctx context.Context, env sessions.Env) (sessions.Session, error) {
	b.Creations.Add(1)
	select {
	case <-time.After(b.CreateDelay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := &Session{b: b, env: env, St: env.Status}
	b.mu.Lock()
	b.sessions = append(b.sessions, s)
	b.mu.Unlock()
	return s, nil
}

// Session returns the session created last for client, or nil.
func (b *Backend) Session(client string) *Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.sessions) - 1; i >= 0; i-- {
		if s := b.sessions[i]; s.env.Client == client {
			return s
		}
	}
	return nil
}

// Running returns the sessions that run (started and neither stopped
// nor logged out since), in creation order.
func (b *Backend) Running() []*Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Session
	for _, s := range b.sessions {
		if s.running.Load() {
			out = append(out, s)
		}
	}
	return out
}

// Session is a stand-in session. Tests drive it with St (its Status) and
// Emit.
type Session struct {
	b   *Backend
	env sessions.Env
	St  *sessions.Status

	inflight atomic.Int32 // lifecycle calls in progress
	running  atomic.Bool

	mu   sync.Mutex
	Sent []Sent
	// Ops are the operations other than Send that Do was given.
	Ops []sessions.Op
	qrN int
}

// OpsDone returns a copy of Ops.
func (s *Session) OpsDone() []sessions.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.Ops)
}

// Client returns the session's client id.
func (s *Session) Client() string { return s.env.Client }

// IsRunning reports whether the session runs.
func (s *Session) IsRunning() bool { return s.running.Load() }

// Sent is a message the session was asked to send.
type Sent struct {
	To, Text string
	// Media is what a media message's file held when Do read it: its
	// kind, mime and the SHA-256 of its bytes (hex).
	Media *SentMedia
}

// SentMedia describes the file of a sent media message.
type SentMedia struct {
	Kind, Mime, Filename, Caption string
	Size                          int64
	SHA256                        string
}

// enter counts a lifecycle call and an overlap if another is in flight.
func (s *Session) enter() func() {
	if s.inflight.Add(1) > 1 {
		s.b.Overlaps.Add(1)
	}
	return func() { s.inflight.Add(-1) }
}

func gate(ctx context.Context, g chan struct{}) error {
	if g == nil {
		return nil
	}
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start shows a QR code (or connects, or a pairing code) after
// StartDelay and StartGate.
func (s *Session) Start(ctx context.Context, opts sessions.StartOptions) error {
	defer s.enter()()
	s.b.Starts.Add(1)
	n := s.b.startsInFlight.Add(1)
	defer s.b.startsInFlight.Add(-1)
	for {
		m := s.b.MaxStartsInFlight.Load()
		if n <= m || s.b.MaxStartsInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if s.running.Swap(true) {
		s.b.Overlaps.Add(1)
	}
	s.mu.Lock()
	s.qrN++
	qrN := s.qrN
	s.mu.Unlock()
	s.St.Set(ctl.StateStarting, "", "")
	err := gate(ctx, s.b.StartGate)
	if err == nil {
		select {
		case <-time.After(s.b.StartDelay):
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		s.running.Store(false)
		return err
	}
	if s.b.StartErr != nil {
		if err := s.b.StartErr(s.env.Client); err != nil {
			s.running.Store(false)
			s.St.Fail(ctl.ReasonNetwork, err.Error())
			return err
		}
	}
	switch {
	case s.b.Connect:
		s.St.Update(func(st *ctl.Session) {
			st.State, st.JID, st.PushName = ctl.StateConnected, "4915100000000@s.whatsapp.net", "Test "+s.env.Client
		})
	case opts.Phone != "":
		s.St.Update(func(st *ctl.Session) { st.State, st.PairCode = ctl.StatePairing, "ABCD-EFGH" })
	default:
		s.St.Update(func(st *ctl.Session) { st.State, st.QR = ctl.StateQR, fmt.Sprintf("2@test-%s-%d", s.env.Client, qrN) })
	}
	return nil
}

// Stop waits for StopGate and stops running.
func (s *Session) Stop(ctx context.Context) error {
	defer s.enter()()
	s.b.Stops.Add(1)
	if err := gate(ctx, s.b.StopGate); err != nil {
		return err
	}
	s.running.Store(false)
	return nil
}

// Logout waits for LogoutGate, stops running and ends logged_out.
func (s *Session) Logout(ctx context.Context) error {
	defer s.enter()()
	s.b.Logouts.Add(1)
	if err := gate(ctx, s.b.LogoutGate); err != nil {
		return err
	}
	s.running.Store(false)
	s.St.Set(ctl.StateLoggedOut, ctl.ReasonLogoutRequested, "")
	return nil
}

// Process waits for ProcessGate (for ProcessClient) and reports a
// made-up process.
func (s *Session) Process() (int, int64) {
	if g := s.b.ProcessGate; g != nil && s.env.Client == s.b.ProcessClient {
		s.b.SlowProcesses.Add(1)
		<-g
	}
	return 4242, 1 << 20
}

// Do performs Send: it records the message (reading a media file to
// its end, as a backend uploading it would) and returns its NewID, or a
// made-up id without one.
// It answers CheckPhones (numbers ending in an even digit are on
// WhatsApp) and RejectCall; every other op is recorded in Ops and
// refused as unsupported.
func (s *Session) Do(_ context.Context, op sessions.Op) (any, error) {
	if s.St.Get().State != ctl.StateConnected {
		return nil, ctl.Errorf(ctl.CodeSessionNotReady, "not connected")
	}
	m, ok := op.(sessions.Send)
	if !ok {
		s.mu.Lock()
		s.Ops = append(s.Ops, op)
		s.mu.Unlock()
		switch op := op.(type) {
		case sessions.CheckPhones:
			var r ctl.CheckResult
			for _, p := range op.Phones {
				c := ctl.PhoneCheck{Phone: p}
				if (p[len(p)-1]-'0')%2 == 0 {
					c.OnWhatsApp, c.JID = true, p[1:]+"@"+ctl.ServerUser
				}
				r.Results = append(r.Results, c)
			}
			return r, nil
		case sessions.RejectCall:
			return ctl.OK{OK: true}, nil
		}
		return nil, sessions.ErrUnsupported
	}
	sent := Sent{To: m.To, Text: m.Text}
	if f := m.Media; f != nil {
		h := sha256.New()
		n, err := io.Copy(h, f.Reader())
		if err != nil {
			return nil, err
		}
		sent.Media = &SentMedia{Kind: f.Kind, Mime: f.Mime, Filename: f.Filename, Caption: f.Caption, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Sent = append(s.Sent, sent)
	id := m.NewID // as the real backends do
	if id == "" {
		id = fmt.Sprintf("TEST%04d", len(s.Sent))
	}
	return ctl.SendResult{ID: id, Timestamp: time.Unix(1700000000, 0).UTC()}, nil
}

// Emit publishes a message or receipt event as the backend would.
func (s *Session) Emit(ev ctl.Event) { s.env.Publish(ev) }

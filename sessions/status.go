package sessions

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wad-project/wad/ctl"
)

// Status holds one session's reported state and enforces the state
// machine: a session that has ended (stopped, failed, logged_out) changes
// only by starting again (or, stopped or failed, by being logged out), so a late event from a dying backend can never
// bring back a QR code or "connected". Every change of state or reason is
// published as a state event, every new QR code as a qr event, in the
// order they happened. Backends embed or hold one.
type Status struct {
	mu      sync.Mutex
	s       ctl.Session
	publish func(ctl.Event)
	log     *slog.Logger
	changed chan struct{} // closed and replaced on every change
	now     func() time.Time
	// onState, if set, sees every change of state, in order, under mu:
	// the registry's slot accounting. It must not call back into t.
	onState func(from, to ctl.State)
}

// NewStatus returns a tracker in state stopped (not yet started) for the
// client and backend of env.
func NewStatus(env Env) *Status {
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pub := env.Publish
	if pub == nil {
		pub = func(ctl.Event) {}
	}
	return &Status{
		s:       ctl.Session{Client: env.Client, Backend: env.Backend, State: ctl.StateStopped, Since: time.Now().UTC()},
		publish: pub,
		log:     log,
		changed: make(chan struct{}),
		now:     func() time.Time { return time.Now().UTC() },
	}
}

// Get returns the current state.
func (t *Status) Get() ctl.Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

// allowed reports whether the state machine permits from -> to.
func allowed(from, to ctl.State) bool {
	if from == to {
		return true
	}
	switch from {
	case ctl.StateStopped, ctl.StateFailed:
		// Start again, or be logged out (session.logout of a stopped
		// session deletes its login).
		return to == ctl.StateStarting || to == ctl.StateLoggedOut
	case ctl.StateLoggedOut:
		return to == ctl.StateStarting
	}
	return true
}

// Update applies f to a copy of the state and commits it if the state
// machine allows the transition; it reports whether it did. Entering a
// state clears the fields that belonged to the old one (QR outside qr,
// pairing code outside pairing, reason and message on starting/connected).
func (t *Status) Update(f func(s *ctl.Session)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.s
	next := old
	f(&next)
	if !next.State.Valid() {
		t.log.Error("backend set an invalid state; ignored", "state", next.State)
		return false
	}
	if !allowed(old.State, next.State) {
		t.log.Debug("state change refused by the state machine", "from", old.State, "to", next.State, "reason", next.Reason)
		return false
	}
	if next.State != ctl.StateQR {
		next.QR = ""
	}
	if next.State != ctl.StatePairing {
		next.PairCode = ""
	}
	if next.State != old.State {
		next.Since = t.now()
		if next.State == ctl.StateStarting || next.State == ctl.StateConnected || next.State == ctl.StateQR || next.State == ctl.StatePairing {
			if next.Reason == old.Reason {
				next.Reason, next.Message = "", ""
			}
		}
	}
	if next == old {
		return true
	}
	t.s = next
	if next.State != old.State && t.onState != nil {
		t.onState(old.State, next.State)
	}
	close(t.changed)
	t.changed = make(chan struct{})
	now := t.now()
	if next.State != old.State || next.Reason != old.Reason || next.JID != old.JID || next.PairCode != old.PairCode {
		s := next
		t.publish(ctl.Event{Kind: ctl.KindState, Session: &s, Time: now})
		if next.State != old.State {
			args := []any{"state", next.State, "from", old.State}
			if next.Reason != "" {
				args = append(args, "reason", next.Reason)
			}
			if next.Message != "" {
				args = append(args, "message", next.Message)
			}
			t.log.Info("session state changed", args...)
		}
	}
	if next.QR != "" && next.QR != old.QR {
		s := next
		t.publish(ctl.Event{Kind: ctl.KindQR, QR: next.QR, Session: &s, Time: now})
	}
	return true
}

// Set moves to state with a reason and message; see Update.
func (t *Status) Set(state ctl.State, reason, message string) bool {
	return t.Update(func(s *ctl.Session) {
		s.State, s.Reason, s.Message = state, reason, message
	})
}

// Fail moves to failed with reason and message.
func (t *Status) Fail(reason, message string) bool {
	return t.Set(ctl.StateFailed, reason, message)
}

// Wait blocks until cond holds for the state or ctx ends, and returns the
// state it saw last.
func (t *Status) Wait(ctx context.Context, cond func(ctl.Session) bool) (ctl.Session, error) {
	for {
		t.mu.Lock()
		s, ch := t.s, t.changed
		t.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}

// Shown reports whether a start has something to show the caller: a QR
// code, a pairing code, a connection, or an end. It is the usual condition
// for Start to return.
func Shown(s ctl.Session) bool {
	switch s.State {
	case ctl.StateQR:
		return s.QR != ""
	case ctl.StatePairing:
		return s.PairCode != ""
	case ctl.StateStarting:
		return false
	}
	return true
}

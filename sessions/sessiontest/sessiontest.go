// Package sessiontest provides a stand-in session backend for tests of the
// registry, the daemon and wactl: the things those tests are about. It is
// never linked into wad. Its sessions follow the Session contract (shared
// idempotent start, state machine through sessions.Status) and count what
// was asked of them, so tests can prove "created once, started once".
package sessiontest

import (
	"context"
	"fmt"
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

	Creations atomic.Int64
	Starts    atomic.Int64

	mu       sync.Mutex
	sessions map[string]*Session
}

func (b *Backend) Name() string {
	if b.BackendName == "" {
		return "whatsmeow"
	}
	return b.BackendName
}

func (b *Backend) Close() error { return nil }

// New creates a session after CreateDelay.
func (b *Backend) New(ctx context.Context, env sessions.Env) (sessions.Session, error) {
	b.Creations.Add(1)
	select {
	case <-time.After(b.CreateDelay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := &Session{b: b, env: env, St: sessions.NewStatus(env)}
	b.mu.Lock()
	if b.sessions == nil {
		b.sessions = make(map[string]*Session)
	}
	b.sessions[env.Client] = s
	b.mu.Unlock()
	return s, nil
}

// Session returns the session created for client, or nil.
func (b *Backend) Session(client string) *Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions[client]
}

// Session is a stand-in session. Tests drive it with St (its Status) and
// Emit.
type Session struct {
	b   *Backend
	env sessions.Env
	St  *sessions.Status

	mu    sync.Mutex
	Sent  []Sent
	start *startCall
	qrN   int
}

type startCall struct {
	done chan struct{}
	err  error
}

// Sent is a message the session was asked to send.
type Sent struct{ To, Text string }

// Start shows a QR code (or connects) after StartDelay; concurrent calls
// share one start.
func (s *Session) Start(ctx context.Context, opts sessions.StartOptions) error {
	s.mu.Lock()
	if c := s.start; c != nil {
		s.mu.Unlock()
		<-c.done
		return c.err
	}
	if s.St.Get().State.Active() {
		s.mu.Unlock()
		return nil
	}
	c := &startCall{done: make(chan struct{})}
	s.start = c
	s.qrN++
	n := s.qrN
	s.mu.Unlock()

	s.b.Starts.Add(1)
	s.St.Set(ctl.StateStarting, "", "")
	err := func() error {
		select {
		case <-time.After(s.b.StartDelay):
		case <-ctx.Done():
			s.St.Fail(ctl.ReasonStartTimeout, ctx.Err().Error())
			return ctx.Err()
		}
		if s.b.StartErr != nil {
			if err := s.b.StartErr(s.env.Client); err != nil {
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
			s.St.Update(func(st *ctl.Session) { st.State, st.QR = ctl.StateQR, fmt.Sprintf("2@test-%s-%d", s.env.Client, n) })
		}
		return nil
	}()
	s.mu.Lock()
	c.err = err
	s.start = nil
	s.mu.Unlock()
	close(c.done)
	return err
}

func (s *Session) Stop(context.Context) error {
	s.St.Set(ctl.StateStopped, ctl.ReasonStopped, "")
	return nil
}

func (s *Session) Logout(context.Context) error {
	s.St.Set(ctl.StateLoggedOut, ctl.ReasonLogoutRequested, "")
	return nil
}

func (s *Session) Status() ctl.Session { return s.St.Get() }

// Send records the message and returns a made-up id.
func (s *Session) Send(_ context.Context, to, text string) (ctl.SendResult, error) {
	if s.St.Get().State != ctl.StateConnected {
		return ctl.SendResult{}, ctl.Errorf(ctl.CodeSessionNotReady, "not connected")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Sent = append(s.Sent, Sent{to, text})
	return ctl.SendResult{ID: fmt.Sprintf("TEST%04d", len(s.Sent)), Timestamp: time.Unix(1700000000, 0).UTC()}, nil
}

// Emit publishes a message or receipt event as the backend would.
func (s *Session) Emit(ev ctl.Event) { s.env.Publish(ev) }

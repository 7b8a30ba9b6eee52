package whatsmeow

import (
	"database/sql"
	"sync"

	wa "go.mau.fi/whatsmeow"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Test hooks. The tests of this package run sessions against the fake
// WhatsApp server (internal/wafake); these reach a client's session and
// its whatsmeow client, and feed it the few events the fake cannot make
// whatsmeow emit in a test's time (each use says why).

// made records the sessions each backend created, so tests can reach a
// client's latest session; the backend itself keeps no such table.
var made sync.Map // *Backend -> *sync.Map of client -> *session

// WithTracking makes the backend record its sessions for the helpers
// below.
func WithTracking() Option {
	return func(o *options) {
		o.created = func(b *Backend, s *session) {
			m, _ := made.LoadOrStore(b, &sync.Map{})
			m.(*sync.Map).Store(s.env.Client, s)
		}
	}
}

func (b *Backend) session(client string) *session {
	m, ok := made.Load(b)
	if !ok {
		return nil
	}
	s, _ := m.(*sync.Map).Load(client)
	s2, _ := s.(*session)
	return s2
}

// StatusOf returns a session's state, as the registry reads it.
func StatusOf(s sessions.Session) ctl.Session { return s.(*session).st.Get() }

// HandleEvent feeds evt to client's running session, as whatsmeow's
// dispatcher would; it reports false if the session is not running.
func HandleEvent(b *Backend, client string, evt any) bool {
	s := b.session(client)
	if s == nil || s.current() == nil {
		return false
	}
	s.handleEvent(evt)
	return true
}

// RunningClient returns the whatsmeow client of client's running session,
// or nil.
func RunningClient(b *Backend, client string) *wa.Client {
	s := b.session(client)
	if s == nil {
		return nil
	}
	if r := s.current(); r != nil {
		return r.cli
	}
	return nil
}

// DB returns the backend's shared database.
func DB(b *Backend) *sql.DB { return b.st.db }

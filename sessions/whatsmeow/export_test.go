package whatsmeow

import (
	"context"
	"database/sql"
	"sync"

	wa "go.mau.fi/whatsmeow"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Test hooks. The tests of this package feed real whatsmeow events and
// QR channel items into a session, with the two network round trips
// (the websocket connect and the pairing-code request) stood in for.

// WithOfflineConnect makes Start's connect succeed without dialing
// anything; calls counts the connects.
func WithOfflineConnect(calls func()) Option {
	return func(o *options) {
		o.connect = func(context.Context, *wa.Client) error {
			if calls != nil {
				calls()
			}
			return nil
		}
	}
}

// WithPairPhone stands in for WhatsApp's answer to a pairing-code request.
func WithPairPhone(f func(ctx context.Context, phone string) (string, error)) Option {
	return func(o *options) {
		o.pairPhone = func(ctx context.Context, _ *wa.Client, phone string) (string, error) { return f(ctx, phone) }
	}
}

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

// QRItem feeds an item of whatsmeow's QR channel to client's running
// session; false if it is not running.
func QRItem(b *Backend, client string, item wa.QRChannelItem) bool {
	s := b.session(client)
	if s == nil {
		return false
	}
	r := s.current()
	if r == nil {
		return false
	}
	s.onQRItem(r, item)
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

package sessions

import (
	"context"
	"log/slog"

	"github.com/wad-project/wad/ctl"
)

// Session is one client's WhatsApp session, as a backend implements it.
// Every method is safe for concurrent use.
type Session interface {
	// Start brings the session up and returns once it has something to
	// show: a QR code, a pairing code, a connection, or a failure (as an
	// error, with the state already set to failed). It is idempotent:
	// calls while a start is in flight share it, and calls on a running
	// session return at once. ctx bounds the start only; the session keeps
	// running after Start returns. The registry never calls Start on a
	// session that is still running.
	Start(ctx context.Context, opts StartOptions) error
	// Stop disconnects and releases every resource (connection, browser,
	// locks) but keeps the login, so a later Start resumes it. It ends in
	// state stopped. Stopping a stopped session does nothing.
	Stop(ctx context.Context) error
	// Logout unlinks the device upstream (when connected), deletes its
	// stored login, releases every resource and ends in state logged_out.
	Logout(ctx context.Context) error
	// Status returns the current state. It never blocks on the backend.
	Status() ctl.Session
	// Send sends a text to a JID (already validated by ctl.ParseRecipient).
	// A session that is not connected returns ctl.ErrNotReady.
	Send(ctx context.Context, to, text string) (ctl.SendResult, error)
}

// StartOptions are what a login asks of a start.
type StartOptions struct {
	// Phone, an E.164 number, asks for a pairing code instead of a QR code.
	Phone string
}

// Env is what the registry gives a backend to create one client's session.
type Env struct {
	// Client is the validated client id.
	Client string
	// Backend is the backend's name.
	Backend string
	// StateDir is the daemon's state directory.
	StateDir string
	// Log carries the client id (and backend) as attributes.
	Log *slog.Logger
	// Publish sends an event to subscribers. Client is filled in by the
	// registry; Publish never blocks. Backends use it for message and
	// receipt events; state and QR events come from a Status tracker.
	Publish func(ctl.Event)
}

// Backend creates sessions of one kind.
type Backend interface {
	// Name is the backend's name in config and on the wire.
	Name() string
	// New creates the session for one client. It may be slow (open a
	// store); it must not start anything that runs on its own: that is
	// Start's job. The registry calls New at most once at a time per
	// client.
	New(ctx context.Context, env Env) (Session, error)
	// Close releases what the backend shares between sessions (a store),
	// after every session is stopped.
	Close() error
}

// Restorer is implemented by backends that can list the clients whose
// logins survived in the state directory, so the daemon can resume them at
// start (reaper preserve mode).
type Restorer interface {
	Backend
	// Stored returns the client ids with a stored login.
	Stored(ctx context.Context) ([]string, error)
}

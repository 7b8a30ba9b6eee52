package sessions

import (
	"context"
	"errors"
	"log/slog"

	"github.com/wad-project/wad/ctl"
)

// Session is what only a backend can do for one client's session: bring
// its connection up, take it down, unlink it, and perform operations on
// it. The Registry owns everything else: it calls Start, Stop and Logout
// one at a time per session (never two at once, never Start on a session
// that is running), cancels a start that a stop or logout overtakes, and
// records the state a stop ends in. State is reported through the Status
// tracker the registry hands over in Env.
type Session interface {
	// Start brings the session up and returns once it has something to
	// show: a QR code, a pairing code, a connection, or a failure (as an
	// error; the backend sets state failed with a reason, or the registry
	// does). When ctx ends first, Start releases everything it acquired
	// and returns ctx's error; the registry then decides the state (a
	// deadline is a start timeout, a cancellation is a stop or logout
	// overtaking the start). The session keeps running after Start
	// returns, until Stop or Logout, or until it ends by itself (the
	// phone unlinks it, the browser dies), which it reports as a state.
	Start(ctx context.Context, opts StartOptions) error
	// Stop disconnects and releases every resource (connection, browser,
	// locks) but keeps the login, so a later Start resumes it. The
	// registry records the stopped state afterwards. Stopping a session
	// that is not running does nothing.
	Stop(ctx context.Context) error
	// Logout unlinks the device upstream (when connected), deletes its
	// stored login, releases every resource and ends in state
	// logged_out. It fails only when the login could not be deleted, or
	// when ctx ended before the unlink and the backend kept the login
	// rather than leave a device linked that it no longer knows.
	Logout(ctx context.Context) error
	// Do performs one operation on a connected session and returns its
	// result (the type each Op documents). The registry checks that the
	// backend supports the operation and that the session is connected
	// before calling; the backend still answers ctl.ErrNotReady when the
	// connection went away meanwhile, and ErrUnsupported for an Op it
	// does not know.
	Do(ctx context.Context, op Op) (any, error)
}

// ProcessReporter is implemented by sessions that run processes of their
// own (a browser). The registry asks it only to fill in session.status
// and session.list, never while it holds a lock, so it may read /proc.
type ProcessReporter interface {
	// Process returns the main process's pid and the resident memory of
	// its process tree, or zeros when nothing runs.
	Process() (pid int, rssBytes int64)
}

// UsageReporter is implemented by sessions whose processes may run in a
// cgroup of their own (chromedp under a delegated cgroup subtree). The
// registry asks it, as it asks ProcessReporter, only to fill in
// session.status and session.list, never while it holds a lock: it reads
// a few cgroup files.
type UsageReporter interface {
	// Usage returns what the session's cgroup uses now; ok is false when
	// the session has no cgroup (none delegated, or nothing runs).
	Usage() (u Usage, ok bool)
}

// Usage is what a session's cgroup reports: exact, for the browser and
// all its children.
type Usage struct {
	MemoryBytes int64   // memory charged to the group now
	MemoryMax   int64   // the group's hard limit, 0 when none
	CPUSeconds  float64 // CPU time used since the group was made
	Procs       int     // processes in the group
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
	// Status is the session's state, owned by the registry. The backend
	// reports every change through it; the registry reads it without
	// asking the backend.
	Status *Status
	// Publish sends an event to subscribers. Client is filled in by the
	// registry; Publish never blocks. Backends use it for message and
	// receipt events; state and QR events come from Status.
	Publish func(ctl.Event)
}

// Backend creates sessions of one kind.
type Backend interface {
	// Name is the backend's name in config and on the wire.
	Name() string
	// Supports reports whether the backend's sessions perform the
	// operation named by an Op's Method. The registry refuses the others
	// with ctl.CodeBackendUnavailable, naming the backend.
	Supports(method string) bool
	// New creates the session for one client. It may be slow (open a
	// store); it must not start anything that runs on its own: that is
	// Start's job. The registry calls New at most once at a time per
	// client.
	New(ctx context.Context, env Env) (Session, error)
	// Close releases what the backend shares between sessions (a store).
	// The registry calls it only after every session of the backend has
	// stopped and no call can reach one any more.
	Close() error
}

// Restorer is implemented by backends that can list the clients whose
// logins survived in the state directory, so the daemon can resume them at
// start (reaper preserve mode).
type Restorer interface {
	Backend
	// Stored returns the client ids with a stored login: a device that
	// was paired, not merely a QR code that was shown.
	Stored(ctx context.Context) ([]string, error)
}

// Unlinker is a Backend that can unlink from WhatsApp the logins a
// daemon left behind without logging them out (a crash in reset mode).
type Unlinker interface {
	// UnlinkLeftovers unlinks upstream every login found in dir (this
	// backend's part of a quarantine the reaper made) and deletes each
	// one it unlinked or that cannot be unlinked any more. It returns how
	// many it unlinked; an error means some are left in dir for the next
	// attempt.
	UnlinkLeftovers(ctx context.Context, dir string) (int, error)
}

// Op is one operation on a connected session. Each kind of operation is a
// type of its own, named by the JSON-RPC method that asks for it; a
// backend performs the kinds it Supports. New features add an Op type and
// a case in the backends that can do it, not a registry method.
type Op interface {
	// Method is the operation's JSON-RPC method name.
	Method() string
}

// ErrUnsupported is returned by Session.Do for an Op the backend does not
// perform.
var ErrUnsupported = errors.New("operation not supported by this backend")

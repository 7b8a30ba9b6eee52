package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wad-project/wad/ctl"
)

// Config is what the registry needs from the daemon's configuration.
type Config struct {
	// StateDir is passed to backends in Env.
	StateDir string
	// DefaultBackend serves logins that name none.
	DefaultBackend string
	// MaxSessions bounds the active sessions (starting, qr, pairing,
	// connected, disconnected); zero means no limit.
	MaxSessions int
	// StartTimeout bounds one start; zero means 2 minutes.
	StartTimeout time.Duration
	// Log is the daemon's logger.
	Log *slog.Logger
}

// Registry keeps exactly one session per client. Its map is guarded by one
// mutex that is never held while a backend works: creation runs under a
// per-client creation marker that concurrent callers for the same client
// wait on (and share the result of), and starts run under a per-session
// single-flight that concurrent logins share.
type Registry struct {
	cfg      Config
	log      *slog.Logger
	bus      *Bus
	backends map[string]Backend
	names    []string

	mu       sync.Mutex
	entries  map[string]*entry
	creating map[string]*creation
	closed   bool
}

type creation struct {
	done chan struct{}
	e    *entry
	err  error
}

// entry is one client's session inside the registry.
type entry struct {
	client  string
	backend string
	sess    Session

	mu      sync.Mutex
	start   *startCall // in flight, or nil
	removed bool       // logged out and gone from the map
}

type startCall struct {
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// New returns a registry serving the given backends.
func New(cfg Config, backends ...Backend) *Registry {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	r := &Registry{
		cfg:      cfg,
		log:      cfg.Log,
		bus:      &Bus{},
		backends: make(map[string]Backend),
		entries:  make(map[string]*entry),
		creating: make(map[string]*creation),
	}
	for _, b := range backends {
		r.backends[b.Name()] = b
		r.names = append(r.names, b.Name())
	}
	sort.Strings(r.names)
	return r
}

// Bus returns the registry's event bus.
func (r *Registry) Bus() *Bus { return r.bus }

// Backends returns the names of the registered backends, sorted.
func (r *Registry) Backends() []string { return slices.Clone(r.names) }

// SetMaxSessions changes the session limit (config reload). Sessions above
// a lowered limit keep running; new ones are refused.
func (r *Registry) SetMaxSessions(n int) {
	r.mu.Lock()
	r.cfg.MaxSessions = n
	r.mu.Unlock()
}

// MaxSessions returns the session limit (0: none).
func (r *Registry) MaxSessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.MaxSessions
}

// LoginOptions are the params of a login after validation.
type LoginOptions struct {
	Backend string // empty: the default backend
	Phone   string // E.164; empty for QR login
}

var errRemoved = errors.New("session was removed")

// Login gets or creates the client's session and starts it unless it is
// already running. Any number of concurrent calls for one client end with
// one session and one start, and all return its state. Login returns when
// the session has a QR code, a pairing code, a connection, or has failed
// (then with the start's error), or when ctx ends.
func (r *Registry) Login(ctx context.Context, client string, opts LoginOptions) (ctl.Session, error) {
	if err := ctl.ValidateClientID(client); err != nil {
		return ctl.Session{}, err
	}
	if opts.Phone != "" {
		p, err := ctl.NormalizePhone(opts.Phone)
		if err != nil {
			return ctl.Session{}, err
		}
		opts.Phone = p
	}
	if opts.Backend != "" {
		if _, ok := r.backends[opts.Backend]; !ok {
			return ctl.Session{}, ctl.Errorf(ctl.CodeInvalidParams, "unknown backend %q (known: %s)", opts.Backend, strings.Join(r.names, ", "))
		}
	}
	for {
		e, err := r.getOrCreate(ctx, client, opts.Backend)
		if err != nil {
			return ctl.Session{}, err
		}
		st, err := r.start(ctx, e, StartOptions{Phone: opts.Phone})
		if errors.Is(err, errRemoved) {
			continue // logged out under our feet: create afresh
		}
		return st, err
	}
}

func (r *Registry) getOrCreate(ctx context.Context, client, backend string) (*entry, error) {
	r.mu.Lock()
	for {
		if r.closed {
			r.mu.Unlock()
			return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "wad is shutting down")
		}
		if e := r.entries[client]; e != nil {
			r.mu.Unlock()
			if backend != "" && backend != e.backend {
				return nil, ctl.Errorf(ctl.CodeInvalidParams, "client %q already has a %s session; log it out before switching to %s", client, e.backend, backend)
			}
			return e, nil
		}
		c := r.creating[client]
		if c == nil {
			break
		}
		r.mu.Unlock()
		r.log.Info("Session creation already in progress", "client", client)
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.err != nil {
			return nil, c.err
		}
		r.mu.Lock()
	}
	if backend == "" {
		backend = r.cfg.DefaultBackend
	}
	b := r.backends[backend]
	if b == nil {
		r.mu.Unlock()
		return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "default backend %q is not available (have: %s)", backend, strings.Join(r.names, ", "))
	}
	if max := r.cfg.MaxSessions; max > 0 && r.activeLocked("") >= max {
		r.mu.Unlock()
		return nil, ctl.Errorf(ctl.CodeLimitReached, "session limit reached: max_sessions is %d", max)
	}
	c := &creation{done: make(chan struct{})}
	r.creating[client] = c
	r.mu.Unlock()

	log := r.log.With("client", client, "backend", backend)
	sess, err := b.New(ctx, Env{
		Client:   client,
		Backend:  backend,
		StateDir: r.cfg.StateDir,
		Log:      log,
		Publish: func(ev ctl.Event) {
			ev.Client = client
			r.bus.Publish(ev)
		},
	})

	r.mu.Lock()
	delete(r.creating, client)
	if err == nil {
		c.e = &entry{client: client, backend: backend, sess: sess}
		r.entries[client] = c.e
		log.Info("New session created for clientId " + client)
	} else {
		c.err = ctl.AsError(err)
		log.Warn("session creation failed", "err", err)
	}
	close(c.done)
	r.mu.Unlock()
	return c.e, c.err
}

// activeLocked counts sessions that hold resources, plus creations in
// flight, leaving out the client skip. r.mu must be held.
func (r *Registry) activeLocked(skip string) int {
	n := len(r.creating)
	for id, e := range r.entries {
		if id != skip && e.sess.Status().State.Active() {
			n++
		}
	}
	return n
}

// start starts e unless it is running, sharing one start among concurrent
// callers. The start runs detached from any one caller (a caller that goes
// away does not abort it for the others), bounded by StartTimeout.
func (r *Registry) start(ctx context.Context, e *entry, opts StartOptions) (ctl.Session, error) {
	e.mu.Lock()
	if e.removed {
		e.mu.Unlock()
		return ctl.Session{}, errRemoved
	}
	c := e.start
	if c == nil {
		st := e.sess.Status()
		if st.State.Active() {
			e.mu.Unlock()
			return st, nil
		}
		r.mu.Lock()
		max := r.cfg.MaxSessions
		over := max > 0 && r.activeLocked(e.client) >= max
		r.mu.Unlock()
		if over {
			e.mu.Unlock()
			return st, ctl.Errorf(ctl.CodeLimitReached, "session limit reached: max_sessions is %d", max)
		}
		sctx, cancel := context.WithTimeout(context.Background(), r.cfg.StartTimeout)
		c = &startCall{done: make(chan struct{}), cancel: cancel}
		e.start = c
		go func() {
			defer cancel()
			err := e.sess.Start(sctx, opts)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					err = ctl.Errorf(ctl.CodeTimeout, "session %s did not start within %s: %v", e.client, r.cfg.StartTimeout, err)
				}
				err = ctl.AsError(err)
			}
			e.mu.Lock()
			c.err = err
			e.start = nil
			e.mu.Unlock()
			close(c.done)
		}()
	}
	e.mu.Unlock()
	select {
	case <-c.done:
		return e.sess.Status(), c.err
	case <-ctx.Done():
		return e.sess.Status(), ctx.Err()
	}
}

func (r *Registry) lookup(client string) (*entry, error) {
	if err := ctl.ValidateClientID(client); err != nil {
		return nil, err
	}
	r.mu.Lock()
	e := r.entries[client]
	r.mu.Unlock()
	if e == nil {
		return nil, ctl.Errorf(ctl.CodeSessionNotFound, "no session for client %q; start one with session.login", client)
	}
	return e, nil
}

// Get returns one client's session state.
func (r *Registry) Get(client string) (ctl.Session, error) {
	e, err := r.lookup(client)
	if err != nil {
		return ctl.Session{}, err
	}
	return e.sess.Status(), nil
}

// List returns every session's state, sorted by client id.
func (r *Registry) List() []ctl.Session {
	r.mu.Lock()
	es := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		es = append(es, e)
	}
	r.mu.Unlock()
	out := make([]ctl.Session, 0, len(es))
	for _, e := range es {
		out = append(out, e.sess.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Client < out[j].Client })
	return out
}

// Counts returns how many sessions are in each state.
func (r *Registry) Counts() map[ctl.State]int {
	m := make(map[ctl.State]int)
	for _, s := range r.List() {
		m[s.State]++
	}
	return m
}

// cancelStart aborts a start in flight and waits for it to return.
func (e *entry) cancelStart(ctx context.Context) {
	e.mu.Lock()
	c := e.start
	e.mu.Unlock()
	if c == nil {
		return
	}
	c.cancel()
	select {
	case <-c.done:
	case <-ctx.Done():
	}
}

// Stop stops the client's session and keeps its login; the session stays
// listed as stopped and session.login resumes it.
func (r *Registry) Stop(ctx context.Context, client string) (ctl.Session, error) {
	e, err := r.lookup(client)
	if err != nil {
		return ctl.Session{}, err
	}
	e.cancelStart(ctx)
	if err := e.sess.Stop(ctx); err != nil {
		return e.sess.Status(), ctl.AsError(err)
	}
	return e.sess.Status(), nil
}

// Logout unlinks the client's device, deletes its login and removes the
// session from the registry. It returns the session's last state.
func (r *Registry) Logout(ctx context.Context, client string) (ctl.Session, error) {
	e, err := r.lookup(client)
	if err != nil {
		return ctl.Session{}, err
	}
	e.cancelStart(ctx)
	if err := e.sess.Logout(ctx); err != nil {
		return e.sess.Status(), ctl.AsError(err)
	}
	e.mu.Lock()
	e.removed = true
	e.mu.Unlock()
	r.mu.Lock()
	if r.entries[client] == e {
		delete(r.entries, client)
	}
	r.mu.Unlock()
	r.log.Info("session logged out and removed", "client", client)
	return e.sess.Status(), nil
}

// Send sends text to a recipient (E.164 or JID) from a connected session.
func (r *Registry) Send(ctx context.Context, client, to, text string) (ctl.SendResult, error) {
	jid, err := ctl.ParseRecipient(to)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if err := ctl.ValidateText(text); err != nil {
		return ctl.SendResult{}, err
	}
	e, err := r.lookup(client)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if st := e.sess.Status(); st.State != ctl.StateConnected {
		msg := fmt.Sprintf("session %s is %s, not connected", client, st.State)
		if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
		return ctl.SendResult{}, ctl.Errorf(ctl.CodeSessionNotReady, "%s", msg)
	}
	res, err := e.sess.Send(ctx, jid, text)
	if err != nil {
		return res, ctl.AsError(err)
	}
	return res, nil
}

// Close refuses new logins and stops every session in parallel, bounded
// by ctx; then closes the backends. Sessions that did not stop in time are
// named in the error.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	es := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		es = append(es, e)
	}
	r.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, e := range es {
		wg.Go(func() {
			e.cancelStart(ctx)
			if err := e.sess.Stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stopping %s: %w", e.client, err))
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stopping sessions: %w", ctx.Err()))
	}
	for _, name := range r.names {
		if err := r.backends[name].Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing backend %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Restore logs in again every client whose login a Restorer backend kept
// in the state directory (reaper preserve mode). Failures are logged; they
// do not stop the others.
func (r *Registry) Restore(ctx context.Context) {
	for _, name := range r.names {
		rb, ok := r.backends[name].(Restorer)
		if !ok {
			continue
		}
		clients, err := rb.Stored(ctx)
		if err != nil {
			r.log.Error("listing stored logins failed", "backend", name, "err", err)
			continue
		}
		for _, client := range clients {
			go func() {
				st, err := r.Login(ctx, client, LoginOptions{Backend: name})
				if err != nil {
					r.log.Warn("restoring session failed", "client", client, "backend", name, "err", err)
					return
				}
				r.log.Info("session restored", "client", client, "backend", name, "state", st.State)
			}()
		}
	}
}

// Ping proves the registry is not wedged: it takes and releases the map
// lock, or fails when ctx ends first.
func (r *Registry) Ping(ctx context.Context) error {
	got := make(chan struct{})
	go func() {
		r.mu.Lock()
		r.mu.Unlock() //nolint:staticcheck // empty critical section on purpose
		close(got)
	}()
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unavailable returns a Backend that cannot run here: every login fails
// with ctl.CodeBackendUnavailable and the reason given. The daemon uses it
// for backends that are not built in, or whose requirements (Chromium) are
// missing, so users get a clear error instead of a crash.
func Unavailable(name, reason string) Backend { return unavailable{name, reason} }

type unavailable struct{ name, reason string }

func (u unavailable) Name() string { return u.name }
func (u unavailable) Close() error { return nil }
func (u unavailable) New(context.Context, Env) (Session, error) {
	return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "backend %s is unavailable: %s", u.name, u.reason)
}

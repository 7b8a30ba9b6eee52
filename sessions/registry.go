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
	"github.com/wad-project/wad/sessions/eventlog"
)

// DefaultStartTimeout bounds one start (launching a browser or dialling
// WhatsApp, until a QR code, a pairing code or a connection shows) when
// the configuration names no other bound. It is the only start timeout:
// backends run within the context the registry gives them.
const DefaultStartTimeout = 2 * time.Minute

// DefaultRestoreConcurrency is how many stored sessions Restore starts at
// once.
const DefaultRestoreConcurrency = 4

// opTimeout bounds a stop or logout that runs on behalf of a caller: the
// operation runs to its end even if the caller goes away, so that a
// session is never left half stopped.
const opTimeout = time.Minute

// Config is what the registry needs from the daemon's configuration.
type Config struct {
	// StateDir is passed to backends in Env.
	StateDir string
	// DefaultBackend serves logins that name none.
	DefaultBackend string
	// MaxSessions bounds the sessions that hold a slot: from the moment a
	// login creates or starts one until it stops, fails or is logged out.
	// Zero means no limit.
	MaxSessions int
	// StartTimeout bounds one start; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// RestoreConcurrency bounds the starts Restore runs at once; zero
	// means DefaultRestoreConcurrency.
	RestoreConcurrency int
	// UnlinkOnClose makes Close log every session out (unlink it
	// upstream and delete its login) instead of stopping it. The daemon
	// sets it in reaper mode reset, where the next start would delete
	// the logins anyway: logged out first, they leave no dead device in
	// the phone's Linked devices.
	UnlinkOnClose bool
	// EventLog, when set, makes every published event durable before
	// subscribers see it (see Bus).
	EventLog *eventlog.Log
	// Log is the daemon's logger.
	Log *slog.Logger
}

// Registry keeps exactly one session per client and is the only owner of
// its life. Creation runs under a per-client creation marker that
// concurrent callers wait on and share. After that, each session has at
// most one lifecycle operation in flight (a start, a stop or a logout),
// which the registry alone knows of: logins join a start in flight, a stop
// or logout cancels it and waits for it to return before running, and
// operations queue behind a stop or logout. Backends are therefore never
// asked to do two lifecycle operations on one session at once.
//
// The registry's map mutex is a leaf: nothing else is locked, and no
// backend is called, while it is held.
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
	slots    int            // sessions holding a max_sessions slot
	calls    sync.WaitGroup // operations (Do) in flight; Add only while !closed
}

type creation struct {
	done   chan struct{}
	cancel context.CancelFunc // Close cancels a creation in flight
	e      *entry
	err    error
}

// entry is one client's session inside the registry.
type entry struct {
	client  string
	backend string
	sess    Session
	st      *Status
	log     *slog.Logger

	mu      sync.Mutex
	op      *op  // the lifecycle operation in flight, or nil
	removed bool // logged out and gone from the map

	slot bool // holds a max_sessions slot; guarded by Registry.mu
}

type opKind int

const (
	opStart opKind = iota
	opStop
	opLogout
)

func (k opKind) String() string {
	return [...]string{"start", "stop", "logout"}[k]
}

// op is one lifecycle operation in flight. Its fields are written before
// done is closed and read after.
type op struct {
	kind opKind
	done chan struct{}
	err  error
	// start only: cancel aborts it; by names what overtook it. Both are
	// guarded by entry.mu.
	cancel context.CancelFunc
	by     string
}

func (o *op) wait(ctx context.Context) error {
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns a registry serving the given backends.
func New(cfg Config, backends ...Backend) *Registry {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.RestoreConcurrency <= 0 {
		cfg.RestoreConcurrency = DefaultRestoreConcurrency
	}
	r := &Registry{
		cfg:      cfg,
		log:      cfg.Log,
		bus:      &Bus{Log: cfg.EventLog, ErrorLog: cfg.Log},
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

// SetUnlinkOnClose changes Config.UnlinkOnClose (config reload: it
// follows the reaper mode the next start will run with). It has no effect
// once Close has begun.
func (r *Registry) SetUnlinkOnClose(on bool) {
	r.mu.Lock()
	r.cfg.UnlinkOnClose = on
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

var errShuttingDown = ctl.Errorf(ctl.CodeBackendUnavailable, "wad is shutting down")

// Login gets or creates the client's session and starts it unless it is
// already running. Any number of concurrent calls for one client end with
// one session and one start, and all return its state. Login returns when
// the session has a QR code, a pairing code, a connection, or has failed
// (then with the start's error), or when ctx ends. A login that meets a
// stop or logout in flight waits for it and then starts (after a logout:
// a new session); a start that a later stop or logout overtakes returns
// ctl.CodeSessionNotReady saying so.
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
	j := &joiner{r: r, client: client}
	for {
		e, err := r.getOrCreate(ctx, client, opts.Backend, j)
		if err != nil {
			return ctl.Session{}, err
		}
		e.mu.Lock()
		if e.removed {
			e.mu.Unlock()
			continue
		}
		if o := e.op; o != nil {
			e.mu.Unlock()
			if o.kind == opStart {
				j.join()
				return r.waitStart(ctx, e, o)
			}
			// A stop or logout in flight: let it finish, then look again.
			if err := o.wait(ctx); err != nil {
				return e.st.Get(), err
			}
			continue
		}
		if e.st.Get().State.Active() {
			e.mu.Unlock()
			return view(e), nil
		}
		o, err := r.beginStart(e, opts)
		e.mu.Unlock()
		if err != nil {
			r.settle(e)
			return e.st.Get(), err
		}
		return r.waitStart(ctx, e, o)
	}
}

// joiner logs "Session creation already in progress" once for a login
// that joins a creation or a start already in flight for its client.
type joiner struct {
	r      *Registry
	client string
	done   bool
}

func (j *joiner) join() {
	if !j.done {
		j.done = true
		j.r.log.Info("Session creation already in progress", "client", j.client)
	}
}

// getOrCreate returns the client's entry, creating it if there is none. A
// new entry takes a max_sessions slot, which its first start uses.
func (r *Registry) getOrCreate(ctx context.Context, client, backend string, j *joiner) (*entry, error) {
	r.mu.Lock()
	for {
		if r.closed {
			r.mu.Unlock()
			return nil, errShuttingDown
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
		j.join()
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
	log := r.log.With("client", client, "backend", backend)
	e := &entry{client: client, backend: backend, log: log}
	if err := r.takeSlotLocked(e); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &creation{done: make(chan struct{}), cancel: cancel}
	r.creating[client] = c
	r.mu.Unlock()

	env := Env{
		Client:   client,
		Backend:  backend,
		StateDir: r.cfg.StateDir,
		Log:      log,
		Publish: func(ev ctl.Event) {
			ev.Client = client
			r.bus.Publish(ev)
		},
	}
	e.st = NewStatus(env)
	e.st.onState = func(from, to ctl.State) { r.stateChanged(e, from, to) }
	env.Status = e.st
	sess, err := b.New(cctx, env)

	r.mu.Lock()
	delete(r.creating, client)
	if err != nil && r.closed && ctx.Err() == nil {
		err = errShuttingDown // Close cancelled it, not the caller
	}
	if err == nil {
		e.sess = sess
		c.e = e
		r.entries[client] = e
		log.Info("New session created for clientId " + client)
	} else {
		r.dropSlotLocked(e)
		c.err = ctl.AsError(err)
		log.Warn("session creation failed", "err", err)
	}
	close(c.done)
	r.mu.Unlock()
	return c.e, c.err
}

// takeSlotLocked gives e a max_sessions slot unless it holds one, or
// fails with ctl.CodeLimitReached. r.mu must be held.
func (r *Registry) takeSlotLocked(e *entry) error {
	if e.slot {
		return nil
	}
	if max := r.cfg.MaxSessions; max > 0 && r.slots >= max {
		return ctl.Errorf(ctl.CodeLimitReached, "session limit reached: max_sessions is %d", max)
	}
	e.slot = true
	r.slots++
	return nil
}

// dropSlotLocked frees e's slot, if it holds one. r.mu must be held.
func (r *Registry) dropSlotLocked(e *entry) {
	if e.slot {
		e.slot = false
		r.slots--
	}
}

// stateChanged keeps e's slot in step with its state: a session that
// stops, fails or is logged out frees its slot at once, whatever ends it.
// It runs under e's Status lock.
func (r *Registry) stateChanged(e *entry, from, to ctl.State) {
	if from.Active() == to.Active() {
		return
	}
	r.mu.Lock()
	if to.Active() {
		// Only a start makes a session active, and it took a slot; this
		// keeps the count right should a backend wake one otherwise.
		if !e.slot {
			e.slot = true
			r.slots++
		}
	} else {
		r.dropSlotLocked(e)
	}
	r.mu.Unlock()
}

// settle frees e's slot if it is not active. It is called at the end of a
// lifecycle operation, while no start can begin.
func (r *Registry) settle(e *entry) {
	active := e.st.Get().State.Active()
	r.mu.Lock()
	if !active {
		r.dropSlotLocked(e)
	}
	r.mu.Unlock()
}

// beginStart starts e in the background, bounded by StartTimeout and
// detached from any one caller (a caller that goes away does not abort
// it for the others). e.mu must be held and no operation be in flight.
func (r *Registry) beginStart(e *entry, opts LoginOptions) (*op, error) {
	r.mu.Lock()
	var err error = errShuttingDown
	if !r.closed {
		err = r.takeSlotLocked(e)
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(context.Background(), r.cfg.StartTimeout)
	o := &op{kind: opStart, done: make(chan struct{}), cancel: cancel}
	e.op = o
	go func() {
		defer cancel()
		err := e.sess.Start(sctx, StartOptions{Phone: opts.Phone})
		r.endOp(e, o, r.startResult(e, o, sctx, err))
	}()
	return o, nil
}

// startResult turns what a start returned into the error its callers
// get, and makes sure a start that ended with an error did not leave the
// session looking alive.
func (r *Registry) startResult(e *entry, o *op, sctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	e.mu.Lock()
	by := o.by
	e.mu.Unlock()
	if by != "" {
		return ctl.Errorf(ctl.CodeSessionNotReady, "the start of session %s was cancelled by %s", e.client, by)
	}
	ce := ctl.AsError(err)
	if errors.Is(sctx.Err(), context.DeadlineExceeded) {
		msg := fmt.Sprintf("session %s did not start within %s", e.client, r.cfg.StartTimeout)
		if ce.Code != ctl.CodeTimeout {
			ce = ctl.Errorf(ctl.CodeTimeout, "%s: %s", msg, ce.Message)
		}
		if e.st.Get().State.Active() {
			e.st.Fail(ctl.ReasonStartTimeout, msg)
		}
		return ce
	}
	if e.st.Get().State.Active() {
		e.st.Fail(ctl.ReasonBackendError, ce.Message)
	}
	return ce
}

// endOp finishes o: frees the slot of a session that is not active,
// clears the operation and wakes its waiters.
func (r *Registry) endOp(e *entry, o *op, err error) {
	r.settle(e)
	e.mu.Lock()
	o.err = err
	e.op = nil
	e.mu.Unlock()
	close(o.done)
}

// waitStart waits for a start in flight and returns the session's state
// and the start's error, or ctx's error if ctx ends first (the start
// goes on for the others).
func (r *Registry) waitStart(ctx context.Context, e *entry, o *op) (ctl.Session, error) {
	if err := o.wait(ctx); err != nil {
		return view(e), err
	}
	return view(e), o.err
}

func (r *Registry) lookup(client string) (*entry, error) {
	if err := ctl.ValidateClientID(client); err != nil {
		return nil, err
	}
	r.mu.Lock()
	e := r.entries[client]
	r.mu.Unlock()
	if e == nil {
		return nil, notFound(client)
	}
	return e, nil
}

func notFound(client string) error {
	return ctl.Errorf(ctl.CodeSessionNotFound, "no session for client %q; start one with session.login", client)
}

// view returns e's state with its processes (pid and memory, and the
// cgroup's usage when the session has one) filled in.
func view(e *entry) ctl.Session {
	st := e.st.Get()
	if p, ok := e.sess.(ProcessReporter); ok && st.State.Active() {
		st.PID, st.RSSBytes = p.Process()
	}
	if u, ok := e.sess.(UsageReporter); ok && st.State.Active() {
		if use, ok := u.Usage(); ok {
			st.MemoryBytes, st.MemoryMax, st.CPUSeconds, st.Procs = use.MemoryBytes, use.MemoryMax, use.CPUSeconds, use.Procs
		}
	}
	return st
}

// Get returns one client's session state.
func (r *Registry) Get(client string) (ctl.Session, error) {
	e, err := r.lookup(client)
	if err != nil {
		return ctl.Session{}, err
	}
	return view(e), nil
}

func (r *Registry) snapshot() []*entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	es := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		es = append(es, e)
	}
	return es
}

// List returns every session's state, sorted by client id.
func (r *Registry) List() []ctl.Session {
	es := r.snapshot()
	out := make([]ctl.Session, 0, len(es))
	for _, e := range es {
		out = append(out, view(e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Client < out[j].Client })
	return out
}

// Counts returns how many sessions are in each state. It asks no backend
// anything.
func (r *Registry) Counts() map[ctl.State]int {
	m := make(map[ctl.State]int)
	for _, e := range r.snapshot() {
		m[e.st.Get().State]++
	}
	return m
}

// Stop stops the client's session and keeps its login; the session stays
// listed as stopped and session.login resumes it. A start in flight is
// cancelled first.
func (r *Registry) Stop(ctx context.Context, client string) (ctl.Session, error) {
	e, err := r.lookup(client)
	if err != nil {
		return ctl.Session{}, err
	}
	return r.finish(ctx, e, opStop, ctl.MethodStop, func(octx context.Context) error {
		return r.stop(octx, e, ctl.ReasonStopped)
	})
}

// stop stops e's backend session and records the stopped state, with
// reason, unless the session had already ended (failed or stopped: it
// keeps its state).
func (r *Registry) stop(ctx context.Context, e *entry, reason string) error {
	if err := e.sess.Stop(ctx); err != nil {
		return err
	}
	if e.st.Get().State.Active() {
		e.st.Set(ctl.StateStopped, reason, "")
	}
	return nil
}

// Logout unlinks the client's device, deletes its login and removes the
// session from the registry. It returns the session's last state. A start
// in flight is cancelled first; logins that arrive meanwhile wait and
// then create a new session.
func (r *Registry) Logout(ctx context.Context, client string) (ctl.Session, error) {
	e, err := r.lookup(client)
	if err != nil {
		return ctl.Session{}, err
	}
	return r.finish(ctx, e, opLogout, ctl.MethodLogout, func(octx context.Context) error {
		return r.logout(octx, e, ctl.ReasonLogoutRequested)
	})
}

// logout logs e's backend session out, records the logged_out state and
// removes e from the registry. reason is the state's reason when the
// logout ended a session that was not logged out already: the backend
// reports ctl.ReasonLogoutRequested, which reason replaces (shutdown),
// keeping the backend's message.
func (r *Registry) logout(ctx context.Context, e *entry, reason string) error {
	was := e.st.Get().State
	if err := e.sess.Logout(ctx); err != nil {
		return err
	}
	e.st.Update(func(s *ctl.Session) {
		switch {
		case s.State != ctl.StateLoggedOut:
			s.State, s.Reason, s.Message = ctl.StateLoggedOut, reason, ""
		case was != ctl.StateLoggedOut && s.Reason == ctl.ReasonLogoutRequested:
			s.Reason = reason
		}
	})
	r.mu.Lock()
	if r.entries[e.client] == e {
		delete(r.entries, e.client)
	}
	r.dropSlotLocked(e)
	r.mu.Unlock()
	e.mu.Lock()
	e.removed = true
	e.mu.Unlock()
	r.log.Info("session logged out and removed", "client", e.client, "reason", reason)
	return nil
}

// finish runs a stop or logout of e: it cancels a start in flight and
// waits for it, waits for another stop or logout, or joins one of its own
// kind; then runs fn in the background, bounded by opTimeout, and waits
// for it (or for ctx). by names the operation in the error a cancelled
// start returns.
func (r *Registry) finish(ctx context.Context, e *entry, kind opKind, by string, fn func(context.Context) error) (ctl.Session, error) {
	for {
		e.mu.Lock()
		if e.removed {
			e.mu.Unlock()
			return e.st.Get(), notFound(e.client)
		}
		if cur := e.op; cur != nil {
			switch cur.kind {
			case kind:
				e.mu.Unlock()
				if err := cur.wait(ctx); err != nil {
					return e.st.Get(), err
				}
				return e.st.Get(), cur.err
			case opStart:
				if cur.by == "" {
					cur.by = by
				}
				cur.cancel()
			}
			e.mu.Unlock()
			if err := cur.wait(ctx); err != nil {
				return e.st.Get(), err
			}
			continue
		}
		o := &op{kind: kind, done: make(chan struct{})}
		e.op = o
		e.mu.Unlock()
		go func() {
			octx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			var err error
			if err = fn(octx); err != nil {
				err = ctl.AsError(err)
				e.log.Warn("session "+kind.String()+" failed", "err", err)
			}
			r.endOp(e, o, err)
		}()
		if err := o.wait(ctx); err != nil {
			return e.st.Get(), err
		}
		return e.st.Get(), o.err
	}
}

// Check reports whether the client's session could perform op now,
// with the errors Do would give: invalid params for a bad client id,
// session not found, backend unavailable when the backend does not
// support op, not ready unless the session is connected. Callers that
// must read or upload something for op check first.
func (r *Registry) Check(client string, op Op) error {
	_, err := r.check(client, op)
	return err
}

func (r *Registry) check(client string, op Op) (*entry, error) {
	e, err := r.lookup(client)
	if err != nil {
		return nil, err
	}
	if !r.backends[e.backend].Supports(op.Method()) {
		return nil, unsupported(op, e.backend)
	}
	if st := e.st.Get(); st.State != ctl.StateConnected {
		msg := fmt.Sprintf("session %s is %s, not connected", client, st.State)
		if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
		return nil, ctl.Errorf(ctl.CodeSessionNotReady, "%s", msg)
	}
	return e, nil
}

// Do performs op on the client's connected session. It fails as Check
// does, and with whatever the backend reports.
func (r *Registry) Do(ctx context.Context, client string, op Op) (any, error) {
	e, err := r.check(client, op)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errShuttingDown
	}
	r.calls.Add(1)
	r.mu.Unlock()
	defer r.calls.Done()
	res, err := e.sess.Do(ctx, op)
	if errors.Is(err, ErrUnsupported) {
		return nil, unsupported(op, e.backend)
	}
	if err != nil {
		return nil, ctl.AsError(err)
	}
	return res, nil
}

func unsupported(op Op, backend string) error {
	return ctl.Errorf(ctl.CodeBackendUnavailable, "%s is not supported by the %s backend", op.Method(), backend)
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
	res, err := r.Do(ctx, client, Send{To: jid, Text: text})
	if err != nil {
		return ctl.SendResult{}, err
	}
	sr, ok := res.(ctl.SendResult)
	if !ok {
		return ctl.SendResult{}, ctl.Errorf(ctl.CodeInternal, "backend returned %T for %s", res, ctl.MethodSend)
	}
	return sr, nil
}

// Close refuses new logins and operations, cancels starts in flight and
// ends every session in parallel, waits for operations in flight, then
// closes the backends; all bounded by ctx. Ending a session is a stop
// (state stopped, reason shutdown), or with Config.UnlinkOnClose a logout
// (the backend unlinks it upstream and deletes its login; state
// logged_out, reason shutdown; the entry is removed), each through the
// same one-operation-per-session machinery as Stop and Logout. When ctx
// ends first, the backends stay open (a session may still use them) and
// the error names what did not finish.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	unlink := r.cfg.UnlinkOnClose
	var creating []*creation
	for _, c := range r.creating {
		c.cancel()
		creating = append(creating, c)
	}
	r.mu.Unlock()
	// A creation that ends now adds its entry before the snapshot, to be
	// ended with the others.
	for _, c := range creating {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
	}
	es := r.snapshot()
	kind, verb := opStop, "stopping"
	if unlink {
		kind, verb = opLogout, "logging out"
		if len(es) > 0 {
			r.log.Info("logging every session out before closing", "sessions", len(es))
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, e := range es {
		wg.Go(func() {
			_, err := r.finish(ctx, e, kind, "shutdown", func(octx context.Context) error {
				octx, cancel := context.WithCancel(octx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				if kind == opLogout {
					return r.logout(octx, e, ctl.ReasonShutdown)
				}
				return r.stop(octx, e, ctl.ReasonShutdown)
			})
			if err != nil && !errors.Is(err, ctl.ErrNotFound) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s %s: %w", verb, e.client, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	idle := make(chan struct{})
	go func() { r.calls.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("waiting for operations in flight: %w", ctx.Err()))
	}
	if len(errs) > 0 {
		return fmt.Errorf("backends left open: %w", errors.Join(errs...))
	}
	for _, name := range r.names {
		if err := r.backends[name].Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing backend %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Restore logs in again every client whose login a Restorer backend kept
// in the state directory (reaper preserve mode), at most
// RestoreConcurrency at a time, in the background. Failures are logged;
// they do not stop the others.
func (r *Registry) Restore(ctx context.Context) {
	type job struct{ client, backend string }
	var jobs []job
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
		for _, c := range clients {
			jobs = append(jobs, job{c, name})
		}
	}
	if len(jobs) == 0 {
		return
	}
	r.log.Info("restoring stored sessions", "count", len(jobs), "concurrency", r.cfg.RestoreConcurrency)
	sem := make(chan struct{}, r.cfg.RestoreConcurrency)
	go func() {
		for _, j := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				st, err := r.Login(ctx, j.client, LoginOptions{Backend: j.backend})
				if err != nil {
					r.log.Warn("restoring session failed", "client", j.client, "backend", j.backend, "err", err)
					return
				}
				r.log.Info("session restored", "client", j.client, "backend", j.backend, "state", st.State)
			}()
		}
	}()
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

func (u unavailable) Name() string         { return u.name }
func (u unavailable) Close() error         { return nil }
func (u unavailable) Supports(string) bool { return false }
func (u unavailable) New(context.Context, Env) (Session, error) {
	return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "backend %s is unavailable: %s", u.name, u.reason)
}

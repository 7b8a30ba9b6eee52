package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/creachadair/jrpc2"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/webhooks"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/eventlog"
	"github.com/wad-project/wad/sessions/media"
	"github.com/wad-project/wad/sessions/outbox"
)

// Options configure a Daemon.
type Options struct {
	Config  Config
	Log     *slog.Logger
	Version string
	// Backends replaces the configured backends (tests).
	Backends []sessions.Backend
	// Methods replaces ctl.Methods, the table of the methods served and
	// their access classes (tests). Every name in it must be one the
	// daemon implements.
	Methods []ctl.Method
	// Notify receives systemd notification states ("READY=1", ...);
	// nil sends them to systemd when NOTIFY_SOCKET is set.
	Notify func(state string)
	// Cgroups, if set, is the cgroup subtree browsers get their cgroups
	// under, instead of the one systemd delegated (tests: cgroup.At). It
	// is used as it is: the daemon does not move itself into it. Ignored
	// with [chromedp] cgroups = "off" and when Backends is set.
	Cgroups *cgroup.Tree
}

// Daemon is a running wad: the listener, the registry and the open
// connections.
type Daemon struct {
	log      *slog.Logger
	version_ string
	started  time.Time
	ln       *listener
	reg      *sessions.Registry
	backends []sessions.Backend
	media    *media.Preparer
	durable  *durable
	events   *eventlog.Log
	hooks    *webhooks.Dispatcher
	out      *outbox.Outbox
	metrics  *daemonMetrics // nil without [metrics] listen
	table    table
	notify   func(string)
	// alive proves the registry is not wedged (watchdog); a test seam.
	alive func(context.Context) error

	checkPace pacers

	cfg atomic.Pointer[Config]
	pol atomic.Pointer[accessPolicy]

	mu    sync.Mutex
	conns map[*lineChannel]net.Conn
	// draining is set once shutdown stops reading requests (see
	// shutdown): a connection served from then on is drained at once.
	draining bool
	wg       sync.WaitGroup
}

// New opens the socket and the backends. It does not serve yet.
func New(ctx context.Context, o Options) (*Daemon, error) {
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	// The socket first: it is what tells this daemon that another one
	// runs, before anything could touch that one's database.
	ln, err := listen(cfg.Socket, cfg.SocketGroup, log)
	if err != nil {
		return nil, err
	}
	du, err := openDurable(ctx, &cfg, log, o.Version)
	if err != nil {
		ln.Close()
		return nil, err
	}
	backends := o.Backends
	if backends == nil {
		if backends, err = openBackends(ctx, &cfg, browserCgroups(&cfg, o.Cgroups, log), log); err != nil {
			ln.Close()
			du.close()
			return nil, err
		}
	}
	d := &Daemon{
		durable:  du,
		events:   du.events,
		hooks:    du.hooks,
		media:    &media.Preparer{TempDir: os.TempDir(), Log: log},
		log:      log,
		version_: o.Version,
		started:  time.Now().UTC(),
		ln:       ln,
		notify:   o.Notify,
		conns:    make(map[*lineChannel]net.Conn),
		backends: backends,
		reg: sessions.New(sessions.Config{
			StateDir:       cfg.StateDir,
			DefaultBackend: cfg.Sessions.DefaultBackend,
			MaxSessions:    cfg.Sessions.MaxSessions,
			StartTimeout:   cfg.Sessions.StartTimeout,
			// In reset mode the next start deletes every login: log them
			// out at shutdown, so that none is left linked on a phone.
			UnlinkOnClose: unlinkOnClose(cfg),
			EventLog:      du.events,
			Log:           log,
		}, backends...),
	}
	// failed undoes what New opened, for a start that cannot go on.
	failed := func(err error) (*Daemon, error) {
		ln.Close()
		du.close()
		if o.Backends == nil {
			for _, b := range backends {
				b.Close()
			}
		}
		return nil, err
	}
	if err := du.openOutbox(ctx, &cfg, d.reg, log); err != nil {
		return failed(err)
	}
	d.out = du.out
	if d.notify == nil {
		d.notify = sdNotify(log)
	}
	d.alive = d.reg.Ping
	d.cfg.Store(&cfg)
	d.pol.Store(newAccessPolicy(cfg.Access))
	spec := o.Methods
	if spec == nil {
		spec = ctl.Methods
	}
	d.table = d.methods(spec)
	if err := d.openMetrics(&cfg); err != nil {
		return failed(err)
	}
	return d, nil
}

// unlinkOnClose reports whether a shutdown under cfg logs every session
// out: in reaper mode reset, whose next start deletes the logins.
func unlinkOnClose(cfg Config) bool { return cfg.Reaper.Effective().Mode == reaper.ModeReset }

func (d *Daemon) config() *Config              { return d.cfg.Load() }
func (d *Daemon) policy() *accessPolicy        { return d.pol.Load() }
func (d *Daemon) Registry() *sessions.Registry { return d.reg }

// SocketPath returns the path the daemon listens on.
func (d *Daemon) SocketPath() string { return d.ln.Path }

// Serve accepts connections until ctx ends, then shuts down: it stops
// accepting, stops every session (in reaper mode reset: logs it out; both
// bounded by shutdown_timeout), closes the connections and returns nil on
// a clean stop. Once serving, it unlinks in the background the logins an
// unclean shutdown left in quarantine (see unlinkLeftovers), whatever the
// mode: a quarantine only ever holds logins to delete.
func (d *Daemon) Serve(ctx context.Context) error {
	// The call tap exists before anything can publish (a peer's login,
	// a restored session), so no offer goes by unseen.
	calls := d.reg.Bus().Tap([]string{ctl.KindCall})
	go d.rejectCalls(ctx, calls)
	d.durable.start()
	acceptErr := make(chan error, 1)
	// The accept loop counts in wg, so connections it adds are always
	// added while wg is above zero, never racing shutdown's Wait.
	d.wg.Go(func() { acceptErr <- d.accept() })
	d.log.Info("wad is serving", "socket", d.ln.Path, "state_dir", d.config().StateDir, "version", d.version_)
	d.notify("READY=1\nSTATUS=" + d.statusLine())
	go d.watchdog(ctx)
	lctx, stopLeftovers := context.WithCancel(ctx)
	defer stopLeftovers()
	leftovers := d.startLeftovers(lctx)
	if d.config().Reaper.Effective().Mode == reaper.ModePreserve {
		// The reaper kept the logins: bring their sessions back.
		d.log.Info("restoring the sessions kept in the state directory")
		d.reg.Restore(ctx)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-acceptErr:
		d.log.Error("accepting connections failed", "err", err)
	}
	d.notify("STOPPING=1")
	stopLeftovers()
	return errors.Join(err, d.shutdown(leftovers))
}

func (d *Daemon) accept() error {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends: back off instead of spinning.
			d.log.Warn("accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		d.wg.Go(func() { d.serveConn(c) })
	}
}

func (d *Daemon) serveConn(c net.Conn) {
	defer c.Close()
	p, err := readPeer(c)
	if err != nil {
		d.log.Warn("rejecting connection: cannot read peer credentials", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := d.config()
	lines := newLineChannel(c, cfg.MaxRequestBytes, cfg.MaxMediaRequestBytes)
	cs := &connState{ctx: ctx, lines: lines, conn: c}
	rctx := withPeer(context.WithValue(ctx, connKey{}, cs), p)
	srv := jrpc2.NewServer(d.table, &jrpc2.ServerOptions{
		AllowPush:   true,
		Concurrency: 16,
		NewContext:  func() context.Context { return rctx },
		// The method table is all that is served: no rpc.serverInfo,
		// which would bypass the access rules.
		DisableBuiltin: true,
	})
	d.mu.Lock()
	if d.conns == nil { // shutdown gave up waiting for the connections
		d.mu.Unlock()
		return
	}
	d.conns[lines] = c
	if d.draining {
		closeRead(c)
	}
	d.mu.Unlock()
	d.log.Debug("connection opened", "pid", p.PID, "uid", p.UID, "gid", p.GID)

	srv.Start(lines)
	err = srv.Wait()
	cancel()
	d.stopFeeds(cs)
	d.mu.Lock()
	delete(d.conns, lines)
	d.mu.Unlock()
	d.log.Debug("connection closed", "pid", p.PID, "uid", p.UID, "err", err)
}

// shutdown stops serving: it waits (within shutdown_timeout) for the
// unlinking of leftovers to notice it was stopped (it may run a browser
// and use the backends), ends every session, and then drains the
// connections: each stops reading at what its peer had sent so far, the
// requests read are answered, and it closes. A peer that writes after
// that point gets EPIPE, so it knows its request was not read (with
// socket activation, it connects again and reaches the next daemon).
// What is still open when shutdown_timeout has passed is closed.
func (d *Daemon) shutdown(leftovers <-chan struct{}) error {
	d.log.Info("shutting down")
	lerr := d.ln.Close()
	if lerr != nil && errors.Is(lerr, net.ErrClosed) {
		lerr = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.config().ShutdownTimeout)
	defer cancel()
	select {
	case <-leftovers:
	case <-ctx.Done():
		d.log.Warn("unlinking the logins left behind did not stop in time")
	}
	// The queue stops sending before the sessions end: what it was
	// sending stays queued (preserve mode sends it after the restart).
	if !d.durable.stopSending(ctx) {
		d.log.Warn("the outbound queue did not stop sending in time")
	}
	rerr := d.reg.Close(ctx)
	if rerr != nil {
		d.log.Error("stopping sessions", "err", rerr)
	}
	// The accept loop ended with the listener, so every connection is
	// in conns or will be drained by serveConn itself.
	d.mu.Lock()
	d.draining = true
	for _, c := range d.conns {
		closeRead(c)
	}
	d.mu.Unlock()
	drained := make(chan struct{})
	go func() { d.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		d.mu.Lock()
		conns := d.conns
		d.conns = nil
		d.mu.Unlock()
		d.log.Warn("closing connections whose requests are still unanswered", "connections", len(conns))
		for lines := range conns {
			// Closing the channel ends its reader, and jrpc2 stops
			// itself, cancelling the calls in flight. (Server.Stop
			// from here could race a line the reader has just taken:
			// jrpc2 1.3.6 then signals its closed work channel and
			// panics.)
			lines.Close()
		}
	}
	<-drained
	d.closeMetrics()
	if err := d.durable.close(); err != nil {
		d.log.Error("closing the database", "err", err)
	}
	d.log.Info("stopped")
	// A session that would not stop in time is logged above; the stop
	// itself still succeeded from systemd's point of view.
	return lerr
}

// closeRead stops reading from c at what its peer has sent so far:
// shutdown(SHUT_RD) on a Unix socket still hands over the bytes already
// queued, then reports the end of input, and refuses the peer's later
// writes with EPIPE. The connection then ends as a half-closed one does
// (lineChannel answers every request read first).
func closeRead(c net.Conn) {
	if cr, ok := c.(interface{ CloseRead() error }); ok {
		cr.CloseRead()
	} else {
		c.Close()
	}
}

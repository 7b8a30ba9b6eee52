package chromedp

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/sessions"
)

// Name is the backend's name in config and on the wire.
const Name = "chromedp"

// Backend creates chromedp sessions. It implements sessions.Backend,
// sessions.Restorer and sessions.Unlinker.
type Backend struct {
	cfg      Config
	stateDir string
	log      *slog.Logger
	cgroups  *cgroup.Tree // nil: browsers get no cgroup of their own

	mu     sync.Mutex
	closed bool
	// created sees every session New makes (tests reach sessions by
	// client through it); nil in wad.
	created func(*Session)
}

var (
	_ sessions.Backend  = (*Backend)(nil)
	_ sessions.Restorer = (*Backend)(nil)
	_ sessions.Unlinker = (*Backend)(nil)
)

// New returns a backend that keeps its profiles under stateDir. It starts
// nothing and does not fail for a missing browser: that is reported (as
// ctl.CodeBackendUnavailable) by every login, so the rest of the daemon
// keeps working; call cfg.Check to find out early. It fails only for a
// malformed configuration (flags, URL, limits). With WithCgroups every
// browser runs in a cgroup of its own.
func New(cfg Config, stateDir string, log *slog.Logger, opts ...Option) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Check(); err != nil && !errors.Is(err, ctl.ErrUnavailable) {
		return nil, err
	}
	if err := cfg.ValidateLimits(); err != nil {
		return nil, err
	}
	if cfg.StartTimeout != 0 {
		log.Warn("chromedp.start_timeout is no longer used; sessions.start_timeout bounds every start")
	}
	b := &Backend{cfg: cfg, stateDir: stateDir, log: log}
	for _, o := range opts {
		o(b)
	}
	if b.cfg.Cgroups == CgroupsOff {
		b.cgroups = nil
	}
	return b, nil
}

// Name returns "chromedp".
func (b *Backend) Name() string { return Name }

// New creates the session of one client. It fails with
// ctl.CodeBackendUnavailable (naming the path tried) when the browser is
// missing, and with invalid params for a bad client id. It launches
// nothing: Start does.
func (b *Backend) New(ctx context.Context, env sessions.Env) (sessions.Session, error) {
	if err := ctl.ValidateClientID(env.Client); err != nil {
		return nil, err
	}
	if _, err := b.cfg.chromePath(); err != nil {
		return nil, err
	}
	stateDir := b.stateDir
	if stateDir == "" {
		stateDir = env.StateDir
	}
	if stateDir == "" {
		return nil, ctl.Errorf(ctl.CodeInternal, "chromedp: no state directory")
	}
	if env.Backend == "" {
		env.Backend = Name
	}
	log := env.Log
	if log == nil {
		log = b.log.With("client", env.Client)
	}
	st := env.Status
	if st == nil {
		st = sessions.NewStatus(env)
	}
	s := &Session{
		b:       b,
		env:     env,
		log:     log,
		st:      st,
		profile: ProfileDir(stateDir, env.Client),
	}
	b.mu.Lock()
	closed, created := b.closed, b.created
	b.mu.Unlock()
	if closed {
		return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "chromedp backend is closed")
	}
	if created != nil {
		created(s)
	}
	return s, nil
}

// Stored returns the clients whose WhatsApp Web login was completed in
// their profile: session-<client> directories under <state>/.wwebjs_auth,
// with a valid client id, that hold the login marker a session writes
// when WhatsApp Web reports ready (and removes when it shows a QR code
// again). A profile where a QR code was shown but never scanned is not a
// login and is not listed.
func (b *Backend) Stored(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(AuthDir(b.stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		client, ok := strings.CutPrefix(e.Name(), "session-")
		if !ok || !e.IsDir() || ctl.ValidateClientID(client) != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(AuthDir(b.stateDir), e.Name(), LoginMarker)); err == nil && fi.Mode().IsRegular() {
			out = append(out, client)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Close refuses new sessions. The registry has stopped every session
// before it calls Close.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

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
	"github.com/wad-project/wad/sessions"
)

// Name is the backend's name in config and on the wire.
const Name = "chromedp"

// Backend creates chromedp sessions. It implements sessions.Backend and
// sessions.Restorer.
type Backend struct {
	cfg      Config
	stateDir string
	log      *slog.Logger

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
}

var (
	_ sessions.Backend  = (*Backend)(nil)
	_ sessions.Restorer = (*Backend)(nil)
)

// New returns a backend that keeps its profiles under stateDir. It starts
// nothing and does not fail for a missing browser: that is reported (as
// ctl.CodeBackendUnavailable) by every login, so the rest of the daemon
// keeps working; call cfg.Check to find out early. It fails only for a
// malformed configuration.
func New(cfg Config, stateDir string, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Check(); err != nil && !errors.Is(err, ctl.ErrUnavailable) {
		return nil, err
	}
	return &Backend{cfg: cfg, stateDir: stateDir, log: log, sessions: make(map[string]*Session)}, nil
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
	s := &Session{
		b:       b,
		env:     env,
		log:     log,
		st:      sessions.NewStatus(env),
		profile: ProfileDir(stateDir, env.Client),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "chromedp backend is closed")
	}
	b.sessions[env.Client] = s
	return s, nil
}

// Stored returns the clients whose profile directory holds a used Chrome
// profile (a "Default" directory), i.e. whose WhatsApp Web login may have
// survived: session-<client> directories under <state>/.wwebjs_auth with a
// valid client id. A profile that turns out to have no login just shows a
// QR code again.
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
		if fi, err := os.Stat(filepath.Join(AuthDir(b.stateDir), e.Name(), "Default")); err == nil && fi.IsDir() {
			out = append(out, client)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Close stops any session still running (the registry normally has
// stopped them all) and refuses new ones.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	ss := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		ss = append(ss, s)
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() { s.shutdown() })
	}
	wg.Wait()
	return nil
}

// Package daemontest runs a real wad daemon in-process for tests: real
// config validation, a real Unix socket on a short path, the real method
// table and registry, and a connected ctl.Client, all in one call. The
// daemon stops cleanly when the test ends.
package daemontest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Options shape the test daemon. Zero values take the daemon's defaults.
type Options struct {
	Backends       []sessions.Backend
	StateDir       string // default: a fresh temp dir
	DefaultBackend string
	MaxSessions    int
	StartTimeout   time.Duration
	Access         []daemon.AccessRule
	// Methods, if set, replaces ctl.Methods: the methods served and
	// their access classes.
	Methods []ctl.Method
	// Config, if set, is applied last to the config the test daemon uses.
	Config func(*daemon.Config)
	// Log receives the daemon's log; default: t.Log at debug level.
	Log *slog.Logger
	// Cgroups, if set, is the cgroup subtree the daemon's browsers get
	// their cgroups under (daemon.Options.Cgroups). Without it the test
	// daemon never touches cgroups ([chromedp] cgroups = "off") unless
	// Config turns them back on.
	Cgroups *cgroup.Tree
}

// Daemon is a running test daemon.
type Daemon struct {
	Socket   string
	StateDir string
	Client   *ctl.Client
	Registry *sessions.Registry
	D        *daemon.Daemon

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	logw   *tWriter
}

// Start starts a daemon and registers its shutdown with t.Cleanup.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	// t.TempDir() paths can exceed the 108-byte socket limit.
	dir, err := os.MkdirTemp("", "wad")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := daemon.DefaultConfig()
	cfg.Socket = filepath.Join(dir, "wad.sock")
	cfg.StateDir = o.StateDir
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(dir, "state")
	}
	if o.DefaultBackend != "" {
		cfg.Sessions.DefaultBackend = o.DefaultBackend
	}
	cfg.Sessions.MaxSessions = o.MaxSessions
	if o.StartTimeout > 0 {
		cfg.Sessions.StartTimeout = o.StartTimeout
	}
	cfg.ShutdownTimeout = 10 * time.Second
	// Tests send at once: pacing is what only some of them are about.
	cfg.Outbox.PerMinute, cfg.Outbox.MinDelay, cfg.Outbox.MaxDelay = 0, 0, 0
	cfg.Access = o.Access
	if o.Cgroups == nil {
		cfg.Chromedp.Cgroups = chromedp.CgroupsOff
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	logw := &tWriter{t: t}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Log: log, Version: "test", Backends: o.Backends, Methods: o.Methods, Notify: func(string) {}, Cgroups: o.Cgroups})
	if err != nil {
		cancel()
		t.Fatalf("starting daemon: %v", err)
	}
	td := &Daemon{Socket: d.SocketPath(), StateDir: cfg.StateDir, Registry: d.Registry(), D: d, t: t, cancel: cancel, done: make(chan error, 1), logw: logw}
	go func() { td.done <- d.Serve(ctx) }()
	td.Client = td.Dial()
	t.Cleanup(td.Stop)
	return td
}

// Dial returns a new connected client (closed at cleanup).
func (d *Daemon) Dial() *ctl.Client {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ctl.Dial(ctx, d.Socket)
	if err != nil {
		d.t.Fatalf("dialing test daemon: %v", err)
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}

// Stop shuts the daemon down as SIGTERM would and fails the test if the
// shutdown fails. It is safe to call twice.
func (d *Daemon) Stop() {
	d.once.Do(func() {
		d.cancel()
		select {
		case err := <-d.done:
			if err != nil {
				d.t.Errorf("daemon shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			d.t.Errorf("daemon did not shut down within 30s")
		}
		d.logw.mu.Lock()
		d.logw.off = true
		d.logw.mu.Unlock()
	})
}

// tWriter sends log lines to t.Log until the daemon has stopped (t.Log
// after the test ends would panic).
type tWriter struct {
	t   testing.TB
	mu  sync.Mutex
	off bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.off {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

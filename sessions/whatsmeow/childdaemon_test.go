package whatsmeow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// A daemon in a process of its own: the test binary re-executed with
// an environment variable (TestMain checks it) holding a
// childDaemonConfig as JSON. Benchmarks measure such a daemon's memory
// alone; tests kill it.

// childDaemonConfig is what a daemon's process is told.
type childDaemonConfig struct {
	StateDir string
	Socket   string
	Fake     string // the fake's address (Server.Addr, Remote.Addr)
	CA       []byte // its CA, PEM
	Root     []byte // the Noise root key (wafake.RootKey)
	// Outbox, when set, replaces the daemon's [outbox] pacing.
	Outbox *childPacing
}

// childPacing is the [outbox] pacing of a daemon's process.
type childPacing struct {
	PerMinute, Burst   int
	MinDelay, MaxDelay time.Duration
}

// newChildDaemon is the common part of a daemon process's main: it reads
// its childDaemonConfig from env, pins the parent's fake root key,
// refuses every connection but the fake's, and makes a daemon in
// preserve mode on the state dir (which restores every stored login)
// whose whatsmeow backend reaches only the fake.
func newChildDaemon(ctx context.Context, env string, log *slog.Logger) (*daemon.Daemon, error) {
	var cfg childDaemonConfig
	if err := json.Unmarshal([]byte(os.Getenv(env)), &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Root) != 32 {
		return nil, fmt.Errorf("root key of %d bytes", len(cfg.Root))
	}
	if err := wafake.UseRoot([32]byte(cfg.Root)); err != nil {
		return nil, err
	}
	wafake.InstallRoot()
	http.DefaultTransport = &http.Transport{Proxy: nil, DialContext: backstop.Dial}
	hc, err := wafake.HTTPClientFor(cfg.Fake, cfg.CA)
	if err != nil {
		return nil, err
	}
	be, err := wm.New(ctx, wm.Config{DeviceName: "wad-test"}, cfg.StateDir, log, wm.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	dc := daemon.DefaultConfig()
	dc.Socket, dc.StateDir = cfg.Socket, cfg.StateDir
	dc.Sessions.DefaultBackend = wm.Name
	dc.Sessions.StartTimeout = 60 * time.Second
	dc.ShutdownTimeout = 10 * time.Second
	dc.Reaper.Mode = reaper.ModePreserve
	if p := cfg.Outbox; p != nil {
		dc.Outbox.PerMinute, dc.Outbox.Burst = p.PerMinute, p.Burst
		dc.Outbox.MinDelay, dc.Outbox.MaxDelay = p.MinDelay, p.MaxDelay
	}
	d, err := daemon.New(ctx, daemon.Options{Config: dc, Log: log, Version: "test", Backends: []sessions.Backend{be}, Notify: func(string) {}})
	if err != nil {
		be.Close()
		return nil, err
	}
	return d, nil
}

// serveChildDaemon serves d until ctx ends and then reports a
// connection that went around the fake's HTTP client.
func serveChildDaemon(ctx context.Context, d *daemon.Daemon) error {
	if err := d.Serve(ctx); err != nil {
		return err
	}
	if a := backstop.Addrs(); len(a) > 0 {
		return fmt.Errorf("connections bypassed the injected HTTP client: %v", a)
	}
	return nil
}

// childProcess is a started daemon process: its stdin and stdout piped,
// its stderr collected.
type childProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *syncbuf.Buffer
}

// startChild re-executes the test binary, running no tests, with env set
// to cfg as JSON.
func startChild(tb testing.TB, env string, cfg childDaemonConfig) *childProcess {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c := &childProcess{cmd: exec.Command(exe, "-test.run=^$"), stderr: &syncbuf.Buffer{}}
	c.cmd.Env = append(os.Environ(), env+"="+string(js))
	c.cmd.Stderr = c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	c.stdout = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return c
}

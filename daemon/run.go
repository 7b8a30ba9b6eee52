package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Run runs the daemon in the foreground with the config at path (empty:
// the embedded defaults) until SIGTERM or SIGINT, and returns nil after a
// clean shutdown. Signals are hooked before anything slow starts, so a
// SIGTERM during start-up is never lost. SIGHUP reloads the config.
func Run(path, version string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	l, _ := ParseLevel(cfg.LogLevel)
	level.Set(l)
	log := NewLogger(stderr, level)

	d, err := New(ctx, Options{Config: cfg, Log: log, Version: version})
	if err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				d.Reload(path, level)
			}
		}
	}()
	return d.Serve(ctx)
}

// Reload re-reads the config at path and applies what can change while
// running: log_level, the [[access]] rules, sessions.max_sessions, the
// [outbox] pacing (from each client's next send), and
// reaper.mode as far as the next shutdown goes (reset logs every session
// out, preserve stops them; the next start's reaper reads the file).
// socket, state_dir, sessions.default_backend, sessions.start_timeout,
// metrics.listen and the [chromedp] table need a restart; a change to
// them (of [chromedp]: to its limits) is reported in the log. A config
// that does not load is reported and the running one kept.
func (d *Daemon) Reload(path string, level *slog.LevelVar) {
	d.notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
	defer func() { d.notify("READY=1\nSTATUS=" + d.statusLine()) }()
	cfg, err := LoadConfig(path)
	if err != nil {
		d.log.Error("reload failed; keeping the running config", "err", err)
		return
	}
	old := d.config()
	if level != nil {
		l, _ := ParseLevel(cfg.LogLevel)
		level.Set(l)
	}
	d.pol.Store(newAccessPolicy(cfg.Access))
	d.reg.SetMaxSessions(cfg.Sessions.MaxSessions)
	d.reg.SetUnlinkOnClose(unlinkOnClose(cfg))
	d.out.SetConfig(cfg.Outbox)
	for _, k := range []struct {
		name     string
		old, new string
	}{
		{"socket", old.Socket, cfg.Socket},
		{"state_dir", old.StateDir, cfg.StateDir},
		{"sessions.default_backend", old.Sessions.DefaultBackend, cfg.Sessions.DefaultBackend},
		{"sessions.start_timeout", old.Sessions.StartTimeout.String(), cfg.Sessions.StartTimeout.String()},
		{"metrics.listen", old.Metrics.Listen, cfg.Metrics.Listen},
		{"chromedp limits (cgroups, memory_max, memory_high, cpu_max, clients)", limitsKey(old.Chromedp), limitsKey(cfg.Chromedp)},
	} {
		if k.old != k.new {
			d.log.Warn("config change needs a restart to take effect", "key", k.name, "running", k.old, "configured", k.new)
		}
	}
	// Keep the values that need a restart so status reports what runs.
	cfg.Socket, cfg.StateDir = old.Socket, old.StateDir
	cfg.Sessions.DefaultBackend, cfg.Sessions.StartTimeout = old.Sessions.DefaultBackend, old.Sessions.StartTimeout
	cfg.Metrics = old.Metrics
	cfg.Chromedp = old.Chromedp // the backend keeps the config it opened with
	d.cfg.Store(&cfg)
	d.log.Info("config reloaded", "log_level", cfg.LogLevel, "max_sessions", cfg.Sessions.MaxSessions, "access_rules", len(cfg.Access),
		"reaper_mode", cfg.Reaper.Effective().Mode)
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

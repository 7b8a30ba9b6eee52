package daemon

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/creachadair/jrpc2"

	"github.com/wad-project/wad/daemon/metrics"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
)

// daemonMetrics is the [metrics] endpoint of a daemon that has one: the
// metrics, their server, and the tap that counts state changes and
// messages received.
type daemonMetrics struct {
	m    *metrics.Metrics
	srv  *metrics.Server
	tap  *sessions.Subscription
	stop context.CancelFunc
	done chan struct{}
}

// openMetrics starts serving metrics when [metrics] listen is set. It
// fails, with an error naming the key, when the address cannot be
// listened on (in use, no such directory, ...): a daemon never runs
// without the metrics it was configured to serve. The reaper's report
// is read once, here: it is the run before this start.
func (d *Daemon) openMetrics(cfg *Config) error {
	if cfg.Metrics.Listen == "" {
		return nil
	}
	gid := -1
	if cfg.SocketGroup != "" {
		g, err := lookupGID(cfg.SocketGroup)
		if err != nil {
			return err
		}
		gid = g
	}
	ln, err := metrics.Listen(cfg.Metrics.Listen, gid)
	if err != nil {
		return err
	}
	src := metrics.Sources{
		Version:   d.version_,
		Backends:  d.reg.Backends(),
		Sessions:  d.reg.List,
		EventLog:  d.events.Status,
		Positions: d.events.Positions,
		Bus:       d.reg.Bus(),
		Queued:    d.out.Queued,
		Finished:  d.out.FinishedCounts,
		Webhooks:  d.hooks.Status,
	}
	switch r, err := reaper.ReadReport(cfg.StateDir); {
	case err == nil:
		src.Reaper = &r
	case !errors.Is(err, os.ErrNotExist):
		d.log.Warn("the reaper's last report is unreadable; no reaper metrics", "err", err)
	}
	m := metrics.New(src)
	ctx, stop := context.WithCancel(context.Background())
	dm := &daemonMetrics{m: m, tap: d.reg.Bus().Tap(metrics.TapKinds), stop: stop, done: make(chan struct{})}
	go func() {
		defer close(dm.done)
		m.Follow(ctx, dm.tap)
	}()
	dm.srv = metrics.Serve(ln, m, d.log)
	d.metrics = dm
	d.log.Info("serving metrics", "listen", dm.srv.Addr())
	return nil
}

// closeMetrics stops serving metrics (before the database closes: a
// scrape reads it) and counting events.
func (d *Daemon) closeMetrics() {
	dm := d.metrics
	if dm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dm.srv.Close(ctx); err != nil {
		d.log.Warn("stopping the metrics server", "err", err)
	}
	dm.stop()
	d.reg.Bus().Unsubscribe(dm.tap.ID)
	<-dm.done
}

// MetricsAddr is where metrics are served (the port chosen when the
// config said 0), or "" without [metrics] listen.
func (d *Daemon) MetricsAddr() string {
	if d.metrics == nil {
		return ""
	}
	return d.metrics.srv.Addr()
}

// observeCall counts a JSON-RPC call of method that started at begin
// and ended with err (nil, a *jrpc2.Error, or the context's error of a
// call cancelled with its connection or the daemon).
func (d *Daemon) observeCall(method string, begin time.Time, err error) {
	if d == nil || d.metrics == nil {
		return
	}
	code := 0
	var je *jrpc2.Error
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = metrics.Cancelled
	case errors.As(err, &je):
		code = int(je.Code)
	default:
		code = -32603
	}
	d.metrics.m.ObserveCall(method, code, time.Since(begin))
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/webhooks"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/eventlog"
	"github.com/wad-project/wad/sessions/outbox"
)

// durable is what the daemon keeps in <state>/wad.db: the event log and
// the webhooks that deliver it, and the outbound queue, with the
// goroutines that prune the log, run the webhooks and send the queue.
type durable struct {
	db     *store.DB
	events *eventlog.Log
	hooks  *webhooks.Dispatcher
	out    *outbox.Outbox
	// stop ends the webhooks and the pruning, stopOut the queue's
	// sending (first, at shutdown: before the sessions end).
	stop, stopOut context.CancelFunc
	wg, outWG     sync.WaitGroup
}

// openDurable opens the database, the event log, the webhooks and the
// outbound queue. In reaper mode reset it empties the log, forgets the
// webhooks' positions and fails what the queue held (reason reset), as
// the reaper deleted the logins: the daemon starts afresh (the log's seq
// goes on, so no reader mistakes new events for old; the failures are
// the first events of the new log, which the webhooks deliver).
func openDurable(ctx context.Context, cfg *Config, log *slog.Logger, version string) (*durable, error) {
	db, err := store.Open(ctx, filepath.Join(cfg.StateDir, store.FileName))
	if err != nil {
		return nil, err
	}
	du := &durable{db: db}
	if err := du.open(ctx, cfg, log, version); err != nil {
		db.Close()
		return nil, err
	}
	return du, nil
}

func (du *durable) open(ctx context.Context, cfg *Config, log *slog.Logger, version string) error {
	var err error
	du.events, err = eventlog.Open(ctx, du.db, eventlog.Options{MaxAge: cfg.Events.MaxAge, MaxBytes: cfg.Events.MaxBytes, Log: log})
	if err != nil {
		return fmt.Errorf("opening the event log: %w", err)
	}
	reset := cfg.Reaper.Effective().Mode == reaper.ModeReset
	if reset {
		if err := du.events.Reset(ctx); err != nil {
			return fmt.Errorf("resetting the event log: %w", err)
		}
	}
	du.hooks, err = webhooks.New(ctx, du.db, du.events, cfg.Webhooks, webhooks.Options{Log: log, Version: version})
	if err != nil {
		return fmt.Errorf("opening the webhooks: %w", err)
	}
	if reset {
		if err := du.hooks.Reset(ctx); err != nil {
			return fmt.Errorf("resetting the webhooks: %w", err)
		}
		log.Info("event log and webhook positions reset (reaper mode reset)", "seq", du.events.Head())
	}
	return nil
}

// openOutbox opens the outbound queue, which sends through reg; in
// reaper mode reset it fails what the queue held.
func (du *durable) openOutbox(ctx context.Context, cfg *Config, reg *sessions.Registry, log *slog.Logger) error {
	var err error
	du.out, err = outbox.Open(ctx, du.db, reg, cfg.Outbox, outbox.Options{SpoolDir: filepath.Join(cfg.StateDir, "outbox"), Log: log})
	if err != nil {
		return fmt.Errorf("opening the outbound queue: %w", err)
	}
	if cfg.Reaper.Effective().Mode == reaper.ModeReset {
		if err := du.out.Reset(ctx); err != nil {
			return fmt.Errorf("resetting the outbound queue: %w", err)
		}
	}
	return nil
}

// start prunes the log, runs the webhooks and sends the queue until
// close.
func (du *durable) start() {
	ctx, stop := context.WithCancel(context.Background())
	octx, stopOut := context.WithCancel(context.Background())
	du.stop, du.stopOut = stop, stopOut
	du.wg.Go(func() { du.events.Run(ctx) })
	du.wg.Go(func() { du.hooks.Run(ctx) })
	du.outWG.Go(func() { du.out.Run(octx) })
}

// stopSending stops the queue's workers, waiting for them until ctx
// ends (a backend that ignores cancellation); what they were sending
// stays queued for the next start. It reports whether they stopped.
func (du *durable) stopSending(ctx context.Context) bool {
	if du.stopOut != nil {
		du.stopOut()
	}
	stopped := make(chan struct{})
	go func() { du.outWG.Wait(); close(stopped) }()
	select {
	case <-stopped:
		return true
	case <-ctx.Done():
		return false
	}
}

// close stops what start started and closes the database. The queue's
// workers get ten seconds more if they did not stop in stopSending's.
func (du *durable) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	du.stopSending(ctx)
	if du.stop != nil {
		du.stop()
	}
	du.wg.Wait()
	return du.db.Close()
}

// webhooksList returns the webhooks' delivery state and, when asked,
// their dead letters.
func (d *Daemon) webhooksList(ctx context.Context, c *call, a ctl.WebhooksParams) (ctl.WebhooksResult, error) {
	if err := c.everyClient("webhooks.list"); err != nil {
		return ctl.WebhooksResult{}, err
	}
	list, err := d.hooks.List(ctx, a.DeadLetters)
	if err != nil {
		return ctl.WebhooksResult{}, ctl.Errorf(ctl.CodeInternal, "listing webhooks: %v", err)
	}
	for i := range list {
		list[i].URL = webhooks.Redact(list[i].URL)
	}
	return ctl.WebhooksResult{Webhooks: list}, nil
}

// webhookRetry queues a webhook's dead letters for delivery again.
func (d *Daemon) webhookRetry(ctx context.Context, c *call, a ctl.WebhookRetryParams) (ctl.WebhookRetryResult, error) {
	if err := c.everyClient("webhooks.retry"); err != nil {
		return ctl.WebhookRetryResult{}, err
	}
	n, err := d.hooks.Retry(ctx, a.Webhook, a.Seq)
	if errors.Is(err, webhooks.ErrUnknown) {
		return ctl.WebhookRetryResult{}, ctl.Errorf(ctl.CodeInvalidParams, "no webhook named %q", a.Webhook)
	}
	if err != nil {
		return ctl.WebhookRetryResult{}, ctl.Errorf(ctl.CodeInternal, "retrying webhook %q: %v", a.Webhook, err)
	}
	return ctl.WebhookRetryResult{Queued: n}, nil
}

// webhookStatus is the webhooks' state for wad.status, URLs redacted;
// none for a peer that may not read every client.
func (d *Daemon) webhookStatus(ctx context.Context, c *call) []ctl.WebhookStatus {
	if c.everyClient("") != nil {
		return nil
	}
	st := d.hooks.Status(ctx)
	for i := range st {
		st[i].URL = webhooks.Redact(st[i].URL)
	}
	return st
}

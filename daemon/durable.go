package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/webhooks"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions/eventlog"
)

// durable is what the daemon keeps in <state>/wad.db: the event log and
// the webhooks that deliver it, with the goroutines that prune the one
// and run the other.
type durable struct {
	db     *store.DB
	events *eventlog.Log
	hooks  *webhooks.Dispatcher
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// openDurable opens the database, the event log and the webhooks. In
// reaper mode reset it empties the log and forgets the webhooks'
// positions, as the reaper deleted the logins: the daemon starts afresh
// (the log's seq goes on, so no reader mistakes new events for old).
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

// start prunes the log and runs the webhooks until close.
func (du *durable) start() {
	ctx, stop := context.WithCancel(context.Background())
	du.stop = stop
	du.wg.Go(func() { du.events.Run(ctx) })
	du.wg.Go(func() { du.hooks.Run(ctx) })
}

// close stops what start started and closes the database.
func (du *durable) close() error {
	if du.stop != nil {
		du.stop()
	}
	du.wg.Wait()
	return du.db.Close()
}

// webhooksList returns the webhooks' delivery state and, when asked,
// their dead letters.
func (d *Daemon) webhooksList(ctx context.Context, _ *call, a ctl.WebhooksParams) (ctl.WebhooksResult, error) {
	list, err := d.hooks.List(ctx, a.DeadLetters)
	if err != nil {
		return ctl.WebhooksResult{}, ctl.Errorf(ctl.CodeInternal, "listing webhooks: %v", err)
	}
	for i := range list {
		list[i].URL = redactURL(list[i].URL)
	}
	return ctl.WebhooksResult{Webhooks: list}, nil
}

// webhookRetry queues a webhook's dead letters for delivery again.
func (d *Daemon) webhookRetry(ctx context.Context, _ *call, a ctl.WebhookRetryParams) (ctl.WebhookRetryResult, error) {
	n, err := d.hooks.Retry(ctx, a.Webhook, a.Seq)
	if errors.Is(err, webhooks.ErrUnknown) {
		return ctl.WebhookRetryResult{}, ctl.Errorf(ctl.CodeInvalidParams, "no webhook named %q", a.Webhook)
	}
	if err != nil {
		return ctl.WebhookRetryResult{}, ctl.Errorf(ctl.CodeInternal, "retrying webhook %q: %v", a.Webhook, err)
	}
	return ctl.WebhookRetryResult{Queued: n}, nil
}

// webhookStatus is the webhooks' state for wad.status, URLs redacted.
func (d *Daemon) webhookStatus(ctx context.Context) []ctl.WebhookStatus {
	st := d.hooks.Status(ctx)
	for i := range st {
		st[i].URL = redactURL(st[i].URL)
	}
	return st
}

// redactURL drops the credentials and the query of a webhook URL, where
// receivers put their tokens: status output is readable by every peer
// with read access.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

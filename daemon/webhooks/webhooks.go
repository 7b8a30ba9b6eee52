// Package webhooks owns delivering the event log to HTTP receivers that
// cannot hold a socket open. Each configured webhook has its own
// goroutine that reads the log (package eventlog) after its cursor,
// through its client and kind filter, and POSTs every event, in seq
// order, as the JSON of a ctl.Event, signed after the Standard Webhooks
// scheme (webhook-id is the event's seq, the idempotency key).
//
// A 2xx answer acknowledges an event: the cursor, kept in wad.db, moves
// past it before the next one goes out. Anything else, redirects
// included, is a failed attempt, retried after an exponential, jittered
// backoff; after max_attempts the event is dead-lettered and delivery
// goes on with the next one. webhooks.retry queues dead letters again,
// ahead of new events.
//
// Delivery is at least once: a daemon killed between a receiver's 2xx
// and the cursor write sends that event again after the restart, with
// the same webhook-id, so receivers should deduplicate on it; so does
// an attempt still in flight when the daemon stops, whatever the
// receiver made of it. Nothing else acknowledged is sent again.
package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions/eventlog"
)

// ErrUnknown is returned (wrapped) for a webhook name that is not
// configured.
var ErrUnknown = errors.New("no such webhook")

// Options configure a Dispatcher.
type Options struct {
	// Log receives failed attempts (debug), dead letters and losses to
	// retention (warnings); nil discards them.
	Log *slog.Logger
	// Version goes into the User-Agent, wad/<Version>.
	Version string
	// Transport carries the requests; nil means a transport of the
	// package's own (see newTransport).
	Transport http.RoundTripper
}

// Dispatcher delivers the event log to the configured webhooks. Its
// methods are safe for concurrent use.
type Dispatcher struct {
	db *store.DB
	// saveStmt is saveCursorSQL, prepared: it runs once per event.
	saveStmt *sql.Stmt
	events   *eventlog.Log
	log      *slog.Logger
	client   *http.Client
	agent    string
	hooks    []*hook
	byName   map[string]*hook
	running  atomic.Bool
}

// hook is one webhook: its configuration and the state its goroutine
// reports.
type hook struct {
	cfg    Config
	filter eventlog.Filter
	// requeued is signalled by Retry: dead letters wait for delivery.
	requeued chan struct{}

	mu sync.Mutex
	st ctl.WebhookStatus
}

// New opens the webhooks' tables in db, migrating them, and loads each
// hook's cursor. A webhook without one (new in the configuration)
// starts at the log's head: it was not there for older events. hooks
// are validated (ValidateAll) on a copy. Nothing is delivered until Run.
// The Dispatcher holds a prepared statement of db, closed with db.
func New(ctx context.Context, db *store.DB, events *eventlog.Log, hooks []Config, o Options) (*Dispatcher, error) {
	hooks = slices.Clone(hooks)
	if err := ValidateAll(hooks); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "webhooks", migrations); err != nil {
		return nil, err
	}
	save, err := db.PrepareContext(ctx, saveCursorSQL)
	if err != nil {
		return nil, fmt.Errorf("preparing the webhook cursor update: %w", err)
	}
	tr := o.Transport
	if tr == nil {
		tr = newTransport()
	}
	lg := o.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		db:       db,
		saveStmt: save,
		events:   events,
		log:      lg,
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		agent:  "wad/" + o.Version,
		byName: make(map[string]*hook, len(hooks)),
	}
	head := events.Head()
	for _, c := range hooks {
		h := &hook{
			cfg:      c,
			filter:   eventlog.Filter{Clients: c.Clients, Kinds: c.Kinds},
			requeued: make(chan struct{}, 1),
			st:       ctl.WebhookStatus{Name: c.Name, URL: c.URL, State: ctl.WebhookIdle},
		}
		if err := d.load(ctx, h, head); err != nil {
			save.Close()
			return nil, err
		}
		d.hooks = append(d.hooks, h)
		d.byName[c.Name] = h
	}
	return d, nil
}

// Run delivers until ctx ends, one goroutine per webhook, and returns
// once they all stopped. An attempt in flight is abandoned; its event
// is sent again by the next Run.
func (d *Dispatcher) Run(ctx context.Context) {
	if !d.running.CompareAndSwap(false, true) {
		panic("webhooks: Run called twice")
	}
	defer d.running.Store(false)
	var wg sync.WaitGroup
	for _, h := range d.hooks {
		wg.Go(func() { d.run(ctx, h) })
	}
	wg.Wait()
}

// Status returns each webhook's delivery state, in configuration order.
// It never waits for a receiver; Pending is left 0 (and the error
// logged) when the log cannot count.
func (d *Dispatcher) Status(ctx context.Context) []ctl.WebhookStatus {
	out := make([]ctl.WebhookStatus, len(d.hooks))
	for i, h := range d.hooks {
		st, err := d.status(ctx, h)
		if err != nil {
			d.log.Warn("webhook status", "webhook", h.cfg.Name, "err", err)
		}
		out[i] = st
	}
	return out
}

func (d *Dispatcher) status(ctx context.Context, h *hook) (ctl.WebhookStatus, error) {
	h.mu.Lock()
	st := h.st
	h.mu.Unlock()
	n, err := d.events.Count(ctx, st.Cursor, h.filter)
	if err != nil {
		return st, fmt.Errorf("counting webhook %q's pending events: %w", h.cfg.Name, err)
	}
	st.Pending = n
	return st, nil
}

// List returns each webhook's status and filter, and with deadLetters
// its dead letters, oldest first.
func (d *Dispatcher) List(ctx context.Context, deadLetters bool) ([]ctl.WebhookInfo, error) {
	out := make([]ctl.WebhookInfo, 0, len(d.hooks))
	for _, h := range d.hooks {
		st, err := d.status(ctx, h)
		if err != nil {
			return nil, err
		}
		info := ctl.WebhookInfo{WebhookStatus: st, Clients: h.cfg.Clients, Kinds: h.cfg.Kinds}
		if deadLetters {
			if info.Letters, err = d.deadLetters(ctx, h.cfg.Name); err != nil {
				return nil, err
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// Retry queues the named webhook's dead letters again, only the one of
// seq when seq is not 0, and returns how many it queued (0 when there
// is no such letter). Queued letters leave the dead-letter list at once
// and are delivered ahead of new events, with max_attempts fresh
// attempts; failing those, they are dead letters again. The queue is
// kept in the database: a restart delivers it. A name not configured is
// ErrUnknown.
func (d *Dispatcher) Retry(ctx context.Context, name string, seq uint64) (int, error) {
	h := d.byName[name]
	if h == nil {
		return 0, fmt.Errorf("retrying webhook %q: %w", name, ErrUnknown)
	}
	n, err := d.requeue(ctx, name, seq)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		h.mu.Lock()
		h.st.DeadLetters -= n
		h.mu.Unlock()
		select {
		case h.requeued <- struct{}{}:
		default:
		}
	}
	return n, nil
}

// Reset forgets every cursor and dead letter, configured webhooks' or
// not, and starts each webhook at the log's head (reaper mode reset).
// It must be called before Run, not while it runs.
func (d *Dispatcher) Reset(ctx context.Context) error {
	if d.running.Load() {
		return errors.New("resetting webhooks: the dispatcher is running")
	}
	if err := d.reset(ctx); err != nil {
		return err
	}
	head := d.events.Head()
	for _, h := range d.hooks {
		if err := d.load(ctx, h, head); err != nil {
			return err
		}
	}
	return nil
}

func (h *hook) update(f func(st *ctl.WebhookStatus)) {
	h.mu.Lock()
	f(&h.st)
	h.mu.Unlock()
}

func (h *hook) cursor() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st.Cursor
}

// pause waits for d or the end of ctx, and reports whether d passed.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// newTransport returns the transport webhooks use by default: its own,
// so that nothing that changes http.DefaultTransport changes where
// events go; the environment's proxy, as curl would use.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

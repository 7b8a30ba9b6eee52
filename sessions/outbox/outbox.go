// Package outbox owns the paced, persistent outbound queue that sits
// between the daemon's sending methods and the registry: every message a
// peer sends (message.send, .react, .edit, .revoke) is given its
// WhatsApp id, written to the outbox table of wad.db (media spooled
// beside it) and answered as queued; one worker per client then sends
// the client's messages in the order they were queued, when its session
// is connected, spaced by the client's pacing (a rate limit with burst,
// a random delay, typing shown for a time proportional to the text). It
// follows each message through sent, delivered and read (from the
// session's receipts) or failed with a reason, publishes each change as
// a message_status event, and answers message.status.
package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// Pacing is how one client's queue spaces its sends. A zero PerMinute
// means no rate limit; zero delays mean none.
type Pacing struct {
	// PerMinute messages at most per minute on average, with Burst of
	// them back to back (a token bucket).
	PerMinute int
	Burst     int
	// MinDelay and MaxDelay bound the random pause before each send
	// (after the previous one).
	MinDelay, MaxDelay time.Duration
	// Typing shows the chat "typing…" before a text or caption for
	// len(text)/TypingSpeed seconds, at most MaxTyping.
	Typing      bool
	TypingSpeed int // characters per second
	MaxTyping   time.Duration
}

// Override is a client's [outbox.clients.<id>] table: the keys it sets
// replace the defaults for that client.
type Override struct {
	PerMinute   *int           `toml:"per_minute"`
	Burst       *int           `toml:"burst"`
	MinDelay    *time.Duration `toml:"min_delay"`
	MaxDelay    *time.Duration `toml:"max_delay"`
	Typing      *bool          `toml:"typing"`
	TypingSpeed *int           `toml:"typing_speed"`
	MaxTyping   *time.Duration `toml:"max_typing"`
}

// Config is the daemon's [outbox] table.
type Config struct {
	PerMinute   int           `toml:"per_minute"`
	Burst       int           `toml:"burst"`
	MinDelay    time.Duration `toml:"min_delay"`
	MaxDelay    time.Duration `toml:"max_delay"`
	Typing      bool          `toml:"typing"`
	TypingSpeed int           `toml:"typing_speed"`
	MaxTyping   time.Duration `toml:"max_typing"`
	// MaxAttempts bounds the attempts of a message whose sending fails
	// on the way (network, timeouts); then it fails with reason
	// upstream. Waiting for a connection is no attempt.
	MaxAttempts int `toml:"max_attempts"`
	// Keep is how long message.status knows a message after it was
	// sent or failed.
	Keep time.Duration `toml:"keep"`
	// Clients overrides pacing per client id.
	Clients map[string]Override `toml:"clients"`
}

// DefaultConfig returns safe defaults: 20 messages a minute, a burst of
// 5, 1 to 3 s between sends, no typing shown, 5 attempts, 7 days kept.
func DefaultConfig() Config {
	return Config{PerMinute: 20, Burst: 5, MinDelay: time.Second, MaxDelay: 3 * time.Second,
		TypingSpeed: 15, MaxTyping: 5 * time.Second, MaxAttempts: 5, Keep: 7 * 24 * time.Hour}
}

// Options configure an Outbox.
type Options struct {
	// SpoolDir holds the media of queued messages (created 0700).
	SpoolDir string
	Log      *slog.Logger
}

// ErrNotFound is returned by Status and Wait for an id the outbox does
// not know (never queued, or older than Keep).
var ErrNotFound = errors.New("no such queued message")

// Default waits of the workers.
const (
	// retryBase is the wait before the first retry of a message whose
	// attempt failed on the way; each further retry waits twice as long,
	// up to retryMax.
	retryBase = 2 * time.Second
	retryMax  = time.Minute
	// restoreGrace is how long, from Run, a worker waits for a session
	// that does not exist yet (Restore creates it in the background)
	// before it takes it for logged out.
	restoreGrace = 5 * time.Minute
	// notReadyPause is how long a worker waits, unless the session's
	// state changes first, after a backend said it is not connected
	// while its state said it was.
	notReadyPause = time.Second
	// pruneEvery is how often finished messages older than Keep are
	// forgotten.
	pruneEvery = time.Hour
)

// Outbox is the open queue.
type Outbox struct {
	db    *store.DB
	reg   *sessions.Registry
	spool string
	log   *slog.Logger
	cfg   atomic.Pointer[Config]
	// retryBase and restoreGrace are the constants of the same names
	// (tests shorten them).
	retryBase, restoreGrace time.Duration

	// wmu keeps each message's events in the order of the commits they
	// report.
	wmu sync.Mutex

	mu       sync.Mutex
	counts   map[string]int // queued messages per client
	workers  map[string]*worker
	pacers   map[string]*pacer
	waits    map[string]*waiter // by id
	seen     map[string]bool    // clients whose session was seen since Open
	run      context.Context    // Run's, while it runs
	runStart time.Time
	wg       sync.WaitGroup // workers
	// stopped is closed when a Run ends: Waits answer at once from then
	// on, since nothing sends.
	stopped  chan struct{}
	stopOnce sync.Once

	// Under mu: the Kind of each queued message (by id), and the
	// messages that left the queue (FinishedCounts).
	kinds    map[string]string
	finished map[Finished]uint64
}

// waiter wakes the Waits of one message: done is closed when it leaves
// the queue; n counts the Waits, which delete it when the last leaves.
type waiter struct {
	done chan struct{}
	n    int
}

// Open opens the queue in db (migrating its tables) for the sessions of
// reg. Nothing is sent before Run.
func Open(ctx context.Context, db *store.DB, reg *sessions.Registry, cfg Config, o Options) (*Outbox, error) {
	if o.SpoolDir == "" {
		return nil, errors.New("opening the outbox: no spool directory")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := db.Migrate(ctx, "outbox", migrations); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("opening the outbox: %w", err)
	}
	ob := &Outbox{
		db: db, reg: reg, spool: o.SpoolDir, log: o.Log,
		retryBase: retryBase, restoreGrace: restoreGrace,
		counts:  make(map[string]int),
		workers: make(map[string]*worker),
		pacers:  make(map[string]*pacer),
		waits:   make(map[string]*waiter),
		seen:    make(map[string]bool),
		stopped: make(chan struct{}),
	}
	ob.kinds, ob.finished = make(map[string]string), make(map[Finished]uint64)
	ob.cfg.Store(&cfg)
	if err := ob.load(ctx); err != nil {
		return nil, fmt.Errorf("opening the outbox: %w", err)
	}
	return ob, nil
}

// load counts the queued messages and removes spool files no queued
// message needs (left by a crash between spooling and queueing).
func (o *Outbox) load(ctx context.Context) error {
	rows, err := o.db.QueryContext(ctx, `SELECT client, id, media IS NOT NULL, method, op, media FROM outbox WHERE state = ?`, ctl.OutQueued)
	if err != nil {
		return err
	}
	defer rows.Close()
	keep := make(map[string]bool)
	for rows.Next() {
		var (
			client, id, method string
			hasMedia           bool
			opJSON             []byte
			mediaJSON          sql.NullString
		)
		if err := rows.Scan(&client, &id, &hasMedia, &method, &opJSON, &mediaJSON); err != nil {
			return err
		}
		o.counts[client]++
		o.kinds[id] = storedKind(method, opJSON, mediaJSON)
		keep[id] = hasMedia
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return o.clearSpool(keep)
}

// clearSpool removes every spool file but those keep maps to true.
func (o *Outbox) clearSpool(keep map[string]bool) error {
	ents, err := os.ReadDir(o.spool)
	if err != nil {
		return fmt.Errorf("reading the spool: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(o.spool, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// newID returns a message id in WhatsApp's own format: 3EB0 and 18
// uppercase hex digits.
func newID() string {
	var b [9]byte
	rand.Read(b[:])
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// Enqueue queues op (a sessions.Send, React, Edit or Revoke, validated,
// its Media prepared; Enqueue takes over the media file and closes it)
// for client: it gives op its NewID, spools its media, commits the
// entry, publishes a message_status queued event and returns the status.
// It refuses what could never be sent with the errors Registry.Do would
// give: no such session, a backend that does not support op, a session
// that has no login to send from (logged out, or waiting for a QR code
// or pairing code to be scanned).
func (o *Outbox) Enqueue(ctx context.Context, client string, op sessions.Op) (ctl.MessageStatus, error) {
	var f *media.File
	if s, ok := op.(sessions.Send); ok && s.Media != nil {
		f = s.Media
		defer f.Close()
	}
	if err := o.Check(client, op); err != nil {
		return ctl.MessageStatus{}, err
	}
	id := newID()
	op = withID(op, id)
	opJSON, mediaJSON, chat, err := encodeOp(op)
	if err != nil {
		return ctl.MessageStatus{}, err
	}
	st := ctl.MessageStatus{ID: id, Client: client, Chat: chat, Method: op.Method(), State: ctl.OutQueued, Queued: time.Now().UTC()}
	if f != nil {
		if err := f.Spool(o.spoolPath(id)); err != nil {
			return ctl.MessageStatus{}, fmt.Errorf("queueing %s %s: %w", st.Method, id, err)
		}
	}
	// Counted before the commit: no worker can finish it uncounted.
	o.mu.Lock()
	o.counts[client]++
	o.seen[client] = true
	o.kinds[id] = Kind(op)
	o.mu.Unlock()
	o.wmu.Lock()
	err = o.insert(ctx, st, opJSON, mediaJSON)
	if err == nil {
		o.publish(st)
	}
	o.wmu.Unlock()
	if err != nil {
		o.mu.Lock()
		o.uncount(client, 1)
		delete(o.kinds, id)
		o.mu.Unlock()
		if f != nil {
			os.Remove(o.spoolPath(id))
		}
		return ctl.MessageStatus{}, err
	}
	o.kick(client)
	return st, nil
}

// Check reports whether op could be queued for client, with the error
// Enqueue would give, so that a caller reads or prepares nothing for a
// message that cannot be: a session that could send it once connected
// can (disconnected, starting, stopped, failed); one with no login to
// send from cannot (logged out, or showing a QR or pairing code), nor a
// backend without op.
func (o *Outbox) Check(client string, op sessions.Op) error {
	err := o.reg.Check(client, op)
	if err == nil || !errors.Is(err, ctl.ErrNotReady) {
		return err
	}
	sess, gerr := o.reg.Get(client)
	if gerr != nil {
		return gerr
	}
	switch sess.State {
	case ctl.StateLoggedOut, ctl.StateQR, ctl.StatePairing:
		return ctl.Errorf(ctl.CodeSessionNotReady, "session %s is %s: it has no login to send from; log it in (session.login) before sending", client, sess.State)
	}
	return nil
}

func (o *Outbox) spoolPath(id string) string { return filepath.Join(o.spool, id) }

// publish sends st as a message_status event. o.wmu is held, so that
// events follow the commits they report.
func (o *Outbox) publish(st ctl.MessageStatus) {
	o.reg.Bus().Publish(ctl.Event{Client: st.Client, Kind: ctl.KindMessageStatus, Status: &st})
}

// left does what follows a message leaving the queue (sent or failed):
// its spool file goes, its Waits wake, it is no longer counted.
func (o *Outbox) left(st ctl.MessageStatus) {
	if err := os.Remove(o.spoolPath(st.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		o.log.Warn("removing a sent message's media failed", "client", st.Client, "id", st.ID, "err", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if w := o.waits[st.ID]; w != nil {
		close(w.done)
		delete(o.waits, st.ID)
	}
	o.uncount(st.Client, 1)
	kind := o.kinds[st.ID]
	if kind == "" {
		kind = KindOther
	}
	delete(o.kinds, st.ID)
	o.finished[Finished{Kind: kind, State: st.State}]++
}

// uncount takes n off client's queued count. o.mu is held.
func (o *Outbox) uncount(client string, n int) {
	if o.counts[client] -= n; o.counts[client] <= 0 {
		delete(o.counts, client)
	}
}

// Wait waits until the message is sent (or further) or failed, or ctx
// ends, and returns its status; once Run has ended (the daemon stops)
// it returns the status at once, queued as it may be.
func (o *Outbox) Wait(ctx context.Context, client, id string) (ctl.MessageStatus, error) {
	st, err := o.Status(ctx, client, id)
	if err != nil || st.State != ctl.OutQueued {
		return st, err
	}
	o.mu.Lock()
	w := o.waits[st.ID]
	if w == nil {
		w = &waiter{done: make(chan struct{})}
		o.waits[st.ID] = w
	}
	w.n++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		if w.n--; w.n == 0 && o.waits[st.ID] == w {
			delete(o.waits, st.ID)
		}
		o.mu.Unlock()
	}()
	// Read again: it may have left the queue before w was in place.
	if st, err = o.Status(ctx, client, st.ID); err != nil || st.State != ctl.OutQueued {
		return st, err
	}
	select {
	case <-w.done:
	case <-o.stopped:
	case <-ctx.Done():
		return st, ctx.Err()
	}
	return o.Status(ctx, client, st.ID)
}

// Status returns a message's status.
func (o *Outbox) Status(ctx context.Context, client, id string) (ctl.MessageStatus, error) {
	row := o.db.QueryRowContext(ctx, `SELECT `+statusCols+` FROM outbox WHERE client = ? AND (id = ? OR wa_id = ?)`, client, id, id)
	st, err := scanStatus(row)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("message %q of client %q: %w", id, client, ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("reading the status of message %q: %w", id, err)
	}
	return st, nil
}

// Queued returns how many messages each client has waiting. A message
// is counted out a moment after its leaving the queue is committed.
func (o *Outbox) Queued() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.counts)
}

// Finished counts the messages that left the queue since Open, by Kind
// and by the state they left it in (ctl.OutSent or ctl.OutFailed).
type Finished struct{ Kind, State string }

// Kinds of message, as Finished counts them: a media kind (ctl.Media*),
// or one of these.
const (
	KindText     = "text"
	KindLocation = "location"
	KindContact  = "contact"
	KindReaction = "reaction"
	KindEdit     = "edit"
	KindRevoke   = "revoke"
	// KindOther: a queued entry whose op could not be read.
	KindOther = "other"
)

// Kind is what op sends: a media kind, text, location, contact,
// reaction, edit or revoke (other for what the outbox does not queue).
func Kind(op sessions.Op) string {
	switch o := op.(type) {
	case sessions.Send:
		switch {
		case o.Media != nil:
			return o.Media.Kind
		case o.Location != nil:
			return KindLocation
		case o.Contact != nil:
			return KindContact
		}
		return KindText
	case sessions.React:
		return KindReaction
	case sessions.Edit:
		return KindEdit
	case sessions.Revoke:
		return KindRevoke
	}
	return KindOther
}

// storedKind is the Kind of a queued row.
func storedKind(method string, opJSON []byte, mediaJSON sql.NullString) string {
	var mj []byte
	if mediaJSON.Valid {
		mj = []byte(mediaJSON.String)
	}
	op, f, err := decodeOp(method, opJSON, mj)
	if err != nil {
		return KindOther
	}
	if f != nil {
		return f.Kind
	}
	return Kind(op)
}

// FinishedCounts returns how many messages left the queue since Open,
// by kind and state: read-only figures for metrics.
func (o *Outbox) FinishedCounts() map[Finished]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.finished)
}

// SetConfig replaces the pacing (config reload); workers use it from
// their next send.
func (o *Outbox) SetConfig(cfg Config) { o.cfg.Store(&cfg) }

// Reset fails every message still queued with reason reset (reaper mode
// reset, at start, before Run), publishing each, and empties the spool.
func (o *Outbox) Reset(ctx context.Context) error {
	o.wmu.Lock()
	sts, err := o.updateMany(ctx, `UPDATE outbox SET state = ?, reason = ?, code = ?, error = ?, finished = ? WHERE state = ?`,
		ctl.OutFailed, ctl.FailReset, ctl.CodeSessionNotReady, "wad started in reaper mode reset, which clears the queue", time.Now().UnixNano(), ctl.OutQueued)
	for _, st := range sts {
		o.publish(st)
	}
	o.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("resetting the outbox: %w", err)
	}
	for _, st := range sts {
		o.left(st)
	}
	if err := o.clearSpool(nil); err != nil {
		return fmt.Errorf("resetting the outbox: %w", err)
	}
	return nil
}

// Run sends until ctx ends: a worker per client with queued messages,
// receipts followed, finished entries older than Keep pruned. A message
// being sent when ctx ends is sent again by the next Run (under the same
// id: recipients' apps show it once).
//
// ctx also cancels the operation in flight; the message it was sending
// stays queued. Run returns once every worker has stopped. It must not
// run twice at once, and should end before the registry is closed
// (messages sent to a closed registry fail as rejected).
func (o *Outbox) Run(ctx context.Context) {
	bus := o.reg.Bus()
	states := bus.Tap([]string{ctl.KindState})
	defer bus.Unsubscribe(states.ID)
	receipts := bus.Tap([]string{ctl.KindReceipt})
	defer bus.Unsubscribe(receipts.ID)

	o.mu.Lock()
	o.run, o.runStart = ctx, time.Now()
	for client := range o.counts {
		o.startLocked(client)
	}
	o.mu.Unlock()

	var taps sync.WaitGroup
	taps.Go(func() { o.follow(ctx, states, "session states", o.stateChanged) })
	taps.Go(func() { o.follow(ctx, receipts, "receipts", func(ev ctl.Event) { o.receiptCame(ctx, ev) }) })
	o.pruneUntil(ctx)
	o.mu.Lock()
	o.run = nil
	o.mu.Unlock()
	o.wg.Wait()
	taps.Wait()
	o.stopOnce.Do(func() { close(o.stopped) })
}

// pruneUntil prunes now and every pruneEvery until ctx ends.
func (o *Outbox) pruneUntil(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		o.prune(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// prune forgets the messages sent or failed longer than Keep ago.
func (o *Outbox) prune(ctx context.Context) {
	before := time.Now().Add(-o.cfg.Load().Keep).UnixNano()
	res, err := o.db.ExecContext(ctx, `DELETE FROM outbox WHERE finished > 0 AND finished < ?`, before)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Error("pruning the outbox failed", "err", err)
		}
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		o.log.Debug("outbox pruned", "messages", n)
	}
}

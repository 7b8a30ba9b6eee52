// Package eventlog owns the daemon's durable event log: every event
// except the live-only kinds (qr codes, check progress) is appended to
// the events table of wad.db, numbered by a sequence that increases by
// one per event and is never reused (not even after Reset), before
// anyone sees it. It answers reads after a sequence number with a
// client/kind filter (replay), reports a range that retention pruned
// before a reader got to it, keeps named consumers' acknowledged
// positions, and prunes by age and size in the background. It knows
// nothing of subscriptions or sessions: the registry's Bus appends to it
// and reads from it.
package eventlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
)

// Retention defaults.
const (
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultMaxBytes      = 512 << 20
	DefaultPruneInterval = time.Minute
)

// Options configure a Log. Zero values mean the defaults.
type Options struct {
	// MaxAge and MaxBytes bound what the log keeps: events older than
	// MaxAge, and the oldest events while the kept events' JSON exceeds
	// MaxBytes, are pruned.
	MaxAge   time.Duration
	MaxBytes int64
	// PruneInterval is how often Run prunes; it also prunes as soon as
	// an append takes the log over MaxBytes.
	PruneInterval time.Duration
	Log           *slog.Logger
}

// Logged reports whether events of kind go to the log. QR codes and
// check progress are live only: stale, they would mislead.
func Logged(kind string) bool {
	return kind != ctl.KindQR && kind != ctl.KindCheckProgress
}

// Filter selects events by client and kind; empty lists match all.
type Filter struct {
	Clients []string
	Kinds   []string
}

// Batch is the answer of Read.
type Batch struct {
	// Events are the matching events after the position read from, in
	// seq order, with Seq set.
	Events []ctl.Event
	// Lost, when set, is the range after the position read from that
	// retention (or Reset) removed before this read: events the reader
	// will never see. Events follow it.
	Lost *ctl.SeqRange
	// Through is where the next Read continues: every event up to it
	// was either returned, lost, or did not match.
	Through uint64
}

// ErrAhead is returned by Ack for a seq past the log's head.
var ErrAhead = errors.New("seq is past the log's head")

// Log is the open event log. Its methods are safe for concurrent use;
// Append calls are numbered in the order they are made.
type Log struct {
	db  *store.DB
	o   Options
	log *slog.Logger

	insert *sql.Stmt

	head    atomic.Uint64
	changed atomic.Pointer[chan struct{}]
	kick    chan struct{}

	// mu serialises the writes to events (Append, Prune, Reset), so an
	// append waits on it rather than on SQLite's busy handler, and
	// guards the figures of the kept range.
	mu     sync.Mutex
	oldest uint64 // head+1 when nothing is kept
	events int64
	bytes  int64
}

// migrations are the eventlog component's schema steps.
var migrations = []string{
	`CREATE TABLE events (
		seq    INTEGER PRIMARY KEY AUTOINCREMENT,
		time   INTEGER NOT NULL,
		client TEXT NOT NULL,
		kind   TEXT NOT NULL,
		body   BLOB NOT NULL);
	CREATE INDEX events_client ON events (client);
	CREATE TABLE consumers (
		name    TEXT PRIMARY KEY,
		seq     INTEGER NOT NULL,
		updated INTEGER NOT NULL)`,
}

// defaultReadLimit is Read's limit when it is given none.
const defaultReadLimit = 256

// pruneChunk is how many events one pruning transaction removes at
// most, bounding how long an Append waits for it.
const pruneChunk = 500

// vacuumChunk is how many free pages one incremental_vacuum gives back.
const vacuumChunk = 256

// Open opens the log in db, migrating its tables, and starts nothing:
// call Run for pruning.
func Open(ctx context.Context, db *store.DB, o Options) (*Log, error) {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	l := &Log{db: db, o: o, log: o.Log, kick: make(chan struct{}, 1)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := db.Migrate(ctx, "eventlog", migrations); err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	var head uint64
	err := db.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'events'").Scan(&head)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("eventlog: reading head: %w", err)
	}
	var oldest sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT min(seq), count(*), coalesce(sum(length(body)), 0) FROM events").
		Scan(&oldest, &l.events, &l.bytes); err != nil {
		return nil, fmt.Errorf("eventlog: reading kept range: %w", err)
	}
	l.head.Store(head)
	l.oldest = head + 1
	if oldest.Valid {
		l.oldest = uint64(oldest.Int64)
	}
	if l.insert, err = db.PrepareContext(ctx, "INSERT INTO events (seq, time, client, kind, body) VALUES (?, ?, ?, ?, ?)"); err != nil {
		return nil, fmt.Errorf("eventlog: preparing appends: %w", err)
	}
	ch := make(chan struct{})
	l.changed.Store(&ch)
	return l, nil
}

// Append writes ev (Logged(ev.Kind) must hold) with the next sequence
// number, sets ev.Seq and returns once the event is committed. Its Time
// is set to now when zero.
func (l *Log) Append(ev *ctl.Event) error {
	if !Logged(ev.Kind) {
		return fmt.Errorf("eventlog: appending: kind %q is live only", ev.Kind)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := *ev
	e.Seq = l.head.Load() + 1
	e.Subscription, e.Dropped = "", 0
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	body, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("eventlog: appending %s event: %w", e.Kind, err)
	}
	if _, err := l.insert.Exec(e.Seq, e.Time.UnixNano(), e.Client, e.Kind, body); err != nil {
		return fmt.Errorf("eventlog: appending %s event: %w", e.Kind, err)
	}
	l.head.Store(e.Seq)
	l.events++
	l.bytes += int64(len(body))
	ev.Seq, ev.Time = e.Seq, e.Time
	ch := make(chan struct{})
	close(*l.changed.Swap(&ch))
	if l.bytes > l.o.MaxBytes {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Head returns the seq of the newest event appended (0 before the
// first). It is updated after the event is committed, so a Read that
// starts after Head returned n sees event n.
func (l *Log) Head() uint64 { return l.head.Load() }

// Changed returns a channel that is closed at the next Append.
func (l *Log) Changed() <-chan struct{} { return *l.changed.Load() }

// Read returns up to limit events after seq after that match f. Events
// appended while it runs may or may not be included; Through says how
// far it looked.
func (l *Log) Read(ctx context.Context, after uint64, limit int, f Filter) (Batch, error) {
	if limit <= 0 {
		limit = defaultReadLimit
	}
	h := l.Head()
	b := Batch{Through: after}
	if after >= h {
		return b, nil
	}
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return b, fmt.Errorf("eventlog: reading after %d: %w", after, err)
	}
	defer tx.Rollback()
	var oldest sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT min(seq) FROM events").Scan(&oldest); err != nil {
		return b, fmt.Errorf("eventlog: reading after %d: %w", after, err)
	}
	kept := h + 1
	if oldest.Valid && uint64(oldest.Int64) < kept {
		kept = uint64(oldest.Int64)
	}
	from := after
	if after+1 < kept {
		b.Lost = &ctl.SeqRange{From: after + 1, To: kept - 1}
		from = kept - 1
	}
	q, args := selectQuery("seq, body", from, h, f)
	rows, err := tx.QueryContext(ctx, q+" ORDER BY seq LIMIT ?", append(args, limit)...)
	if err != nil {
		return b, fmt.Errorf("eventlog: reading after %d: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq  uint64
			body []byte
		)
		if err := rows.Scan(&seq, &body); err != nil {
			return b, fmt.Errorf("eventlog: reading after %d: %w", after, err)
		}
		var ev ctl.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			return b, fmt.Errorf("eventlog: reading event %d: %w", seq, err)
		}
		ev.Seq = seq
		b.Events = append(b.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return b, fmt.Errorf("eventlog: reading after %d: %w", after, err)
	}
	b.Through = h
	if len(b.Events) == limit {
		b.Through = b.Events[len(b.Events)-1].Seq
	}
	return b, nil
}

// selectQuery returns the query, without ORDER BY or LIMIT, for the
// events in (from, to] that match f, and its arguments. One client is
// looked up through the client index, which yields them in seq order;
// for several, walking the seq range in order beats sorting each
// client's.
func selectQuery(cols string, from, to uint64, f Filter) (string, []any) {
	var q strings.Builder
	args := make([]any, 0, 2+len(f.Clients)+len(f.Kinds)+1)
	q.WriteString("SELECT " + cols + " FROM events WHERE seq > ? AND seq <= ?")
	args = append(args, from, to)
	switch len(f.Clients) {
	case 0:
	case 1:
		q.WriteString(" AND client = ?")
		args = append(args, f.Clients[0])
	default:
		q.WriteString(" AND +client IN (?" + strings.Repeat(", ?", len(f.Clients)-1) + ")")
		for _, c := range f.Clients {
			args = append(args, c)
		}
	}
	if len(f.Kinds) > 0 {
		q.WriteString(" AND kind IN (?" + strings.Repeat(", ?", len(f.Kinds)-1) + ")")
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	return q.String(), args
}

// Count returns how many events in (after, Head] match f.
func (l *Log) Count(ctx context.Context, after uint64, f Filter) (int64, error) {
	h := l.Head()
	if after >= h {
		return 0, nil
	}
	q, args := selectQuery("count(*)", after, h, f)
	var n int64
	if err := l.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("eventlog: counting after %d: %w", after, err)
	}
	return n, nil
}

// Ack moves consumer's position to seq if that is ahead of it, creating
// the consumer, and returns the position. A seq past Head is ErrAhead.
func (l *Log) Ack(ctx context.Context, consumer string, seq uint64) (uint64, error) {
	if h := l.Head(); seq > h {
		return 0, fmt.Errorf("eventlog: acking %d for %s: %w (head %d)", seq, consumer, ErrAhead, h)
	}
	var pos uint64
	err := l.db.QueryRowContext(ctx, `INSERT INTO consumers (name, seq, updated) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq), updated = excluded.updated
		RETURNING seq`, consumer, seq, time.Now().UnixNano()).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("eventlog: acking %d for %s: %w", seq, consumer, err)
	}
	return pos, nil
}

// Position returns consumer's acknowledged position; ok is false for a
// consumer that never acked.
func (l *Log) Position(ctx context.Context, consumer string) (seq uint64, ok bool, err error) {
	err = l.db.QueryRowContext(ctx, "SELECT seq FROM consumers WHERE name = ?", consumer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("eventlog: reading %s's position: %w", consumer, err)
	}
	return seq, true, nil
}

// Positions returns every consumer's acknowledged position, by name.
func (l *Log) Positions(ctx context.Context) (map[string]uint64, error) {
	rows, err := l.db.QueryContext(ctx, "SELECT name, seq FROM consumers")
	if err != nil {
		return nil, fmt.Errorf("eventlog: reading the consumers' positions: %w", err)
	}
	defer rows.Close()
	out := make(map[string]uint64)
	for rows.Next() {
		var (
			name string
			seq  uint64
		)
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, fmt.Errorf("eventlog: reading the consumers' positions: %w", err)
		}
		out[name] = seq
	}
	return out, rows.Err()
}

// Status returns the log's figures for wad.status.
func (l *Log) Status(ctx context.Context) (ctl.EventLogStatus, error) {
	var consumers int
	if err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM consumers").Scan(&consumers); err != nil {
		return ctl.EventLogStatus{}, fmt.Errorf("eventlog: counting consumers: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return ctl.EventLogStatus{
		Head:      l.head.Load(),
		Oldest:    l.oldest,
		Events:    l.events,
		Bytes:     l.bytes,
		Consumers: consumers,
	}, nil
}

// Prune removes what retention no longer keeps as of now and returns
// how many events it removed.
func (l *Log) Prune(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.Add(-l.o.MaxAge).UnixNano()
	var removed, freed int64
	from := l.oldestKept()
	for {
		n, b, more, err := l.pruneChunk(ctx, cutoff)
		removed += n
		freed += b
		if err != nil {
			return removed, err
		}
		if !more {
			break
		}
	}
	if removed == 0 {
		return 0, nil
	}
	l.log.Info("event log pruned", "events", removed, "bytes", freed, "from", from, "to", l.oldestKept()-1)
	return removed, l.vacuum(ctx)
}

func (l *Log) oldestKept() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.oldest
}

// pruneChunk removes, in one transaction, up to pruneChunk of the
// oldest events that are older than cutoff or keep the log over
// MaxBytes, and reports whether there may be more to remove.
func (l *Log) pruneChunk(ctx context.Context, cutoff int64) (removed, freed int64, more bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, false, fmt.Errorf("eventlog: pruning: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT seq, time, length(body) FROM events ORDER BY seq LIMIT ?", pruneChunk)
	if err != nil {
		return 0, 0, false, fmt.Errorf("eventlog: pruning: %w", err)
	}
	var cut uint64
	for rows.Next() {
		var (
			seq  uint64
			t, n int64
		)
		if err := rows.Scan(&seq, &t, &n); err != nil {
			rows.Close()
			return 0, 0, false, fmt.Errorf("eventlog: pruning: %w", err)
		}
		if t >= cutoff && l.bytes-freed <= l.o.MaxBytes {
			break
		}
		cut = seq
		removed++
		freed += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("eventlog: pruning: %w", err)
	}
	if removed == 0 {
		return 0, 0, false, nil
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE seq <= ?", cut); err != nil {
		return 0, 0, false, fmt.Errorf("eventlog: pruning through %d: %w", cut, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, false, fmt.Errorf("eventlog: pruning through %d: %w", cut, err)
	}
	l.oldest = cut + 1
	l.events -= removed
	l.bytes -= freed
	return removed, freed, removed == pruneChunk, nil
}

// vacuum gives the database's free pages back to the file system, a
// chunk at a time so that appends get in between.
func (l *Log) vacuum(ctx context.Context) error {
	last := int64(-1)
	for {
		var free int64
		if err := l.db.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
			return fmt.Errorf("eventlog: vacuuming: %w", err)
		}
		// A pass that frees nothing means a file made without
		// auto_vacuum=INCREMENTAL: its pages stay, for VACUUM to take.
		if free == 0 || free == last {
			return nil
		}
		last = free
		l.mu.Lock()
		_, err := l.db.ExecContext(ctx, "PRAGMA incremental_vacuum("+strconv.Itoa(vacuumChunk)+")")
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("eventlog: vacuuming: %w", err)
		}
	}
}

// Run prunes every PruneInterval, and when an append took the log over
// MaxBytes, until ctx ends.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.o.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.kick:
		}
		if _, err := l.Prune(ctx, time.Now()); err != nil && ctx.Err() == nil {
			l.log.Warn("event log pruning failed", "err", err)
		}
	}
}

// Reset removes every event and every consumer position (reaper mode
// reset, at start). The sequence goes on from where it was, so a
// reader's old position reads as a loss, never as someone else's
// events.
func (l *Log) Reset(ctx context.Context) error {
	if err := l.reset(ctx); err != nil {
		return err
	}
	return l.vacuum(ctx)
}

func (l *Log) reset(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("eventlog: resetting: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM events"); err != nil {
		return fmt.Errorf("eventlog: resetting: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM consumers"); err != nil {
		return fmt.Errorf("eventlog: resetting: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("eventlog: resetting: %w", err)
	}
	l.oldest = l.head.Load() + 1
	l.events, l.bytes = 0, 0
	return nil
}

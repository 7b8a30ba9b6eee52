package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wad-project/wad/ctl"
)

// migrations are the webhooks component's schema steps (append-only).
// A cursor is the seq of the last event its webhook is done with. A
// dead letter with requeued set was queued again by Retry: it is
// delivered ahead of new events and deleted once a receiver takes it.
var migrations = []string{
	`CREATE TABLE webhook_cursors (
		name      TEXT PRIMARY KEY,
		seq       INTEGER NOT NULL,
		delivered INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE webhook_dead_letters (
		webhook    TEXT NOT NULL,
		seq        INTEGER NOT NULL,
		client     TEXT NOT NULL,
		kind       TEXT NOT NULL,
		body       BLOB NOT NULL,
		attempts   INTEGER NOT NULL,
		last_error TEXT NOT NULL,
		time       TEXT NOT NULL,
		requeued   INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (webhook, seq)
	)`,
}

// load reads h's cursor, delivered count and dead-letter count into its
// status, storing head as the cursor of a webhook that has none.
func (d *Dispatcher) load(ctx context.Context, h *hook, head uint64) error {
	name := h.cfg.Name
	var cursor, delivered uint64
	err := d.db.QueryRowContext(ctx, "SELECT seq, delivered FROM webhook_cursors WHERE name = ?", name).Scan(&cursor, &delivered)
	if errors.Is(err, sql.ErrNoRows) {
		cursor = head
		err = d.saveCursor(ctx, name, cursor, 0)
	}
	if err != nil {
		return fmt.Errorf("loading webhook %q's cursor: %w", name, err)
	}
	var dead int
	if err := d.db.QueryRowContext(ctx, "SELECT count(*) FROM webhook_dead_letters WHERE webhook = ? AND requeued = 0", name).Scan(&dead); err != nil {
		return fmt.Errorf("counting webhook %q's dead letters: %w", name, err)
	}
	h.update(func(st *ctl.WebhookStatus) {
		st.Cursor, st.Delivered, st.DeadLetters = cursor, delivered, dead
		st.State, st.Attempts, st.LastError, st.NextAttempt = ctl.WebhookIdle, 0, "", time.Time{}
	})
	return nil
}

// saveCursorSQL stores a webhook's cursor and delivered count.
const saveCursorSQL = `INSERT INTO webhook_cursors (name, seq, delivered) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, delivered = excluded.delivered`

func (d *Dispatcher) saveCursor(ctx context.Context, name string, seq, delivered uint64) error {
	_, err := d.saveStmt.ExecContext(ctx, name, seq, delivered)
	return err
}

// letter is a dead letter on its way again.
type letter struct {
	seq      uint64
	body     []byte
	attempts int
}

// storeDeadLetter records ev as a dead letter of name and moves the
// cursor to it, in one transaction.
func (d *Dispatcher) storeDeadLetter(ctx context.Context, name string, ev *ctl.Event, body []byte, attempts int, lastErr string, delivered uint64) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("dead-lettering event %d of webhook %q: %w", ev.Seq, name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_dead_letters (webhook, seq, client, kind, body, attempts, last_error, time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (webhook, seq) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error,
			time = excluded.time, requeued = 0`,
		name, ev.Seq, ev.Client, ev.Kind, body, attempts, lastErr, formatTime(time.Now())); err != nil {
		return fmt.Errorf("dead-lettering event %d of webhook %q: %w", ev.Seq, name, err)
	}
	if _, err := tx.StmtContext(ctx, d.saveStmt).ExecContext(ctx, name, ev.Seq, delivered); err != nil {
		return fmt.Errorf("dead-lettering event %d of webhook %q: %w", ev.Seq, name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dead-lettering event %d of webhook %q: %w", ev.Seq, name, err)
	}
	return nil
}

// requeue marks name's dead letters (only seq's when it is not 0) as
// queued again and returns how many it marked.
func (d *Dispatcher) requeue(ctx context.Context, name string, seq uint64) (int, error) {
	q, args := "UPDATE webhook_dead_letters SET requeued = 1 WHERE webhook = ? AND requeued = 0", []any{name}
	if seq != 0 {
		q, args = q+" AND seq = ?", append(args, seq)
	}
	res, err := d.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("retrying webhook %q's dead letters: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("retrying webhook %q's dead letters: %w", name, err)
	}
	return int(n), nil
}

// requeued returns name's letters queued again, in seq order.
func (d *Dispatcher) requeued(ctx context.Context, name string) ([]letter, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT seq, body, attempts FROM webhook_dead_letters WHERE webhook = ? AND requeued = 1 ORDER BY seq", name)
	if err != nil {
		return nil, fmt.Errorf("reading webhook %q's retry queue: %w", name, err)
	}
	defer rows.Close()
	var out []letter
	for rows.Next() {
		var l letter
		if err := rows.Scan(&l.seq, &l.body, &l.attempts); err != nil {
			return nil, fmt.Errorf("reading webhook %q's retry queue: %w", name, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading webhook %q's retry queue: %w", name, err)
	}
	return out, nil
}

// settle ends a queued letter's new round: a delivered letter is
// deleted and counted; one that failed again is a dead letter again.
func (d *Dispatcher) settle(ctx context.Context, name string, l letter, delivered uint64, attempts int, lastErr string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("settling event %d of webhook %q: %w", l.seq, name, err)
	}
	defer tx.Rollback()
	if lastErr == "" {
		_, err = tx.ExecContext(ctx, "DELETE FROM webhook_dead_letters WHERE webhook = ? AND seq = ?", name, l.seq)
		if err == nil {
			_, err = tx.ExecContext(ctx, "UPDATE webhook_cursors SET delivered = ? WHERE name = ?", delivered, name)
		}
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE webhook_dead_letters SET requeued = 0, attempts = ?, last_error = ?, time = ?
			WHERE webhook = ? AND seq = ?`, attempts, lastErr, formatTime(time.Now()), name, l.seq)
	}
	if err != nil {
		return fmt.Errorf("settling event %d of webhook %q: %w", l.seq, name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("settling event %d of webhook %q: %w", l.seq, name, err)
	}
	return nil
}

// deadLetters returns name's dead letters (not those queued again), in
// seq order.
func (d *Dispatcher) deadLetters(ctx context.Context, name string) ([]ctl.DeadLetter, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, client, kind, attempts, last_error, time FROM webhook_dead_letters
		WHERE webhook = ? AND requeued = 0 ORDER BY seq`, name)
	if err != nil {
		return nil, fmt.Errorf("reading webhook %q's dead letters: %w", name, err)
	}
	defer rows.Close()
	var out []ctl.DeadLetter
	for rows.Next() {
		var l ctl.DeadLetter
		var t string
		if err := rows.Scan(&l.Seq, &l.Client, &l.Kind, &l.Attempts, &l.LastError, &t); err != nil {
			return nil, fmt.Errorf("reading webhook %q's dead letters: %w", name, err)
		}
		if l.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return nil, fmt.Errorf("reading webhook %q's dead letters: event %d: %w", name, l.Seq, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading webhook %q's dead letters: %w", name, err)
	}
	return out, nil
}

// reset deletes every cursor and dead letter.
func (d *Dispatcher) reset(ctx context.Context) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("resetting webhooks: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{"DELETE FROM webhook_cursors", "DELETE FROM webhook_dead_letters"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("resetting webhooks: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("resetting webhooks: %w", err)
	}
	return nil
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

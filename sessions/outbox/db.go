package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// migrations are the outbox component's schema steps (append-only). n
// is the queue order. op is the JSON of the operation without its
// media, media the JSON of the media's metadata (its bytes are in the
// spool, named by id). wa_id is the id the message went under when the
// backend could not use id. Times are Unix nanoseconds, 0 for none;
// finished is when the message was sent or failed (what Keep counts
// from), ts WhatsApp's server time.
var migrations = []string{
	`CREATE TABLE outbox (
		n         INTEGER PRIMARY KEY AUTOINCREMENT,
		id        TEXT NOT NULL UNIQUE,
		wa_id     TEXT,
		client    TEXT NOT NULL,
		chat      TEXT NOT NULL,
		method    TEXT NOT NULL,
		op        BLOB NOT NULL,
		media     TEXT,
		state     TEXT NOT NULL,
		reason    TEXT NOT NULL DEFAULT '',
		error     TEXT NOT NULL DEFAULT '',
		code      INTEGER NOT NULL DEFAULT 0,
		attempts  INTEGER NOT NULL DEFAULT 0,
		queued    INTEGER NOT NULL,
		sent      INTEGER NOT NULL DEFAULT 0,
		delivered INTEGER NOT NULL DEFAULT 0,
		read      INTEGER NOT NULL DEFAULT 0,
		ts        INTEGER NOT NULL DEFAULT 0,
		finished  INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX outbox_queue ON outbox (client, state, n);
	CREATE INDEX outbox_wa_id ON outbox (wa_id) WHERE wa_id IS NOT NULL;
	CREATE INDEX outbox_finished ON outbox (finished) WHERE finished > 0`,
}

// statusCols are the columns scanStatus reads, in its order.
const statusCols = `id, client, chat, method, state, reason, error, code, attempts, queued, sent, delivered, read, ts`

type scanner interface{ Scan(dest ...any) error }

// scanStatus reads a row of statusCols, followed by the columns extra
// points to.
func scanStatus(row scanner, extra ...any) (ctl.MessageStatus, error) {
	var (
		st                                ctl.MessageStatus
		queued, sent, delivered, read, ts int64
	)
	err := row.Scan(append([]any{&st.ID, &st.Client, &st.Chat, &st.Method, &st.State, &st.Reason, &st.Error, &st.Code, &st.Attempts,
		&queued, &sent, &delivered, &read, &ts}, extra...)...)
	st.Queued, st.Sent, st.Delivered, st.Read, st.Timestamp = unixTime(queued), unixTime(sent), unixTime(delivered), unixTime(read), unixTime(ts)
	return st, err
}

// unixTime turns Unix nanoseconds into a UTC time, 0 into the zero time.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// nanos turns t into Unix nanoseconds, the zero time into 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// entry is a queued message as its worker reads it.
type entry struct {
	st    ctl.MessageStatus
	op    sessions.Op // without its media
	media *media.File // metadata only; nil without media
	err   error       // why op could not be read from the table
}

// encodeOp returns the JSON of op (a Send's without its media) and of
// its media's metadata (nil without media), and op's chat.
func encodeOp(op sessions.Op) (opJSON, mediaJSON []byte, chat string, err error) {
	switch o := op.(type) {
	case sessions.Send:
		if o.Media != nil {
			if mediaJSON, err = json.Marshal(o.Media); err != nil {
				return nil, nil, "", fmt.Errorf("encoding the media's metadata: %w", err)
			}
			o.Media = nil
		}
		op, chat = o, o.To
	case sessions.React:
		chat = o.Chat
	case sessions.Edit:
		chat = o.Chat
	case sessions.Revoke:
		chat = o.Chat
	default:
		return nil, nil, "", ctl.Errorf(ctl.CodeInternal, "the outbox cannot queue %s", op.Method())
	}
	if opJSON, err = json.Marshal(op); err != nil {
		return nil, nil, "", fmt.Errorf("encoding %s: %w", op.Method(), err)
	}
	return opJSON, mediaJSON, chat, nil
}

// unmarshalOp decodes an op of type T.
func unmarshalOp[T sessions.Op](b []byte) (sessions.Op, error) {
	var o T
	err := json.Unmarshal(b, &o)
	return o, err
}

// decodeOp is the inverse of encodeOp.
func decodeOp(method string, opJSON, mediaJSON []byte) (sessions.Op, *media.File, error) {
	var (
		op  sessions.Op
		err error
	)
	switch method {
	case ctl.MethodSend:
		op, err = unmarshalOp[sessions.Send](opJSON)
	case ctl.MethodReact:
		op, err = unmarshalOp[sessions.React](opJSON)
	case ctl.MethodEdit:
		op, err = unmarshalOp[sessions.Edit](opJSON)
	case ctl.MethodRevoke:
		op, err = unmarshalOp[sessions.Revoke](opJSON)
	default:
		return nil, nil, fmt.Errorf("unknown method %q", method)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("decoding %s: %w", method, err)
	}
	if mediaJSON == nil {
		return op, nil, nil
	}
	meta := new(media.File)
	if err := json.Unmarshal(mediaJSON, meta); err != nil {
		return nil, nil, fmt.Errorf("decoding the media's metadata: %w", err)
	}
	return op, meta, nil
}

// withID returns op with NewID set to id.
func withID(op sessions.Op, id string) sessions.Op {
	switch o := op.(type) {
	case sessions.Send:
		o.NewID = id
		return o
	case sessions.React:
		o.NewID = id
		return o
	case sessions.Edit:
		o.NewID = id
		return o
	case sessions.Revoke:
		o.NewID = id
		return o
	}
	return op
}

// insert commits a new queued entry.
func (o *Outbox) insert(ctx context.Context, st ctl.MessageStatus, opJSON, mediaJSON []byte) error {
	var mediaCol any
	if mediaJSON != nil {
		mediaCol = string(mediaJSON)
	}
	_, err := o.db.ExecContext(ctx, `INSERT INTO outbox (id, client, chat, method, op, media, state, queued)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, st.ID, st.Client, st.Chat, st.Method, opJSON, mediaCol, st.State, nanos(st.Queued))
	if err != nil {
		return fmt.Errorf("queueing %s %s: %w", st.Method, st.ID, err)
	}
	return nil
}

// oldest returns client's oldest queued entry, or nil.
func (o *Outbox) oldest(ctx context.Context, client string) (*entry, error) {
	row := o.db.QueryRowContext(ctx, `SELECT `+statusCols+`, op, media FROM outbox
		WHERE client = ? AND state = ? ORDER BY n LIMIT 1`, client, ctl.OutQueued)
	var (
		e         entry
		opJSON    []byte
		mediaJSON sql.NullString
	)
	var err error
	e.st, err = scanStatus(row, &opJSON, &mediaJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s's queue: %w", client, err)
	}
	var mj []byte
	if mediaJSON.Valid {
		mj = []byte(mediaJSON.String)
	}
	if e.op, e.media, err = decodeOp(e.st.Method, opJSON, mj); err != nil {
		// Unreadable (written by another wad?): it fails, and the
		// messages behind it go.
		e.err = fmt.Errorf("the queued message cannot be read: %w", err)
		return &e, nil
	}
	e.op = withID(e.op, e.st.ID)
	return &e, nil
}

// finish moves a queued entry to state (sent or failed) with set (SQL
// assignments) and args, and returns its new status; ok is false when
// the entry was not queued any more (reset meanwhile).
func (o *Outbox) finish(ctx context.Context, id, set string, args ...any) (st ctl.MessageStatus, ok bool, err error) {
	row := o.db.QueryRowContext(ctx, `UPDATE outbox SET `+set+` WHERE id = ? AND state = ? RETURNING `+statusCols,
		append(args, id, ctl.OutQueued)...)
	st, err = scanStatus(row)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("recording the state of %s: %w", id, err)
	}
	return st, true, nil
}

// updateMany runs an UPDATE ... RETURNING statusCols and returns the
// statuses of the rows it changed.
func (o *Outbox) updateMany(ctx context.Context, query string, args ...any) ([]ctl.MessageStatus, error) {
	rows, err := o.db.QueryContext(ctx, query+` RETURNING `+statusCols, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ctl.MessageStatus
	for rows.Next() {
		st, err := scanStatus(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

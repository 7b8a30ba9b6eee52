package outbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// backend wraps the stand-in so that its sessions honour NewID, record
// every operation with the time it was done, and fail as a test says.
type backend struct {
	*sessiontest.Backend

	mu      sync.Mutex
	done    []done
	fail    func(client string, op sessions.Op) error
	ignoreN bool // answer the stand-in's own ids, not NewID
}

// done is one operation a session was asked to do.
type done struct {
	client string
	op     sessions.Op // a Send's Media replaced by nil
	sha    string      // a Send's media's SHA-256, hex
	at     time.Time
	err    error
}

func (b *backend) New(ctx context.Context, env sessions.Env) (sessions.Session, error) {
	s, err := b.Backend.New(ctx, env)
	if err != nil {
		return nil, err
	}
	return &session{Session: s.(*sessiontest.Session), b: b, client: env.Client}, nil
}

type session struct {
	*sessiontest.Session
	b      *backend
	client string
}

func (s *session) Do(ctx context.Context, op sessions.Op) (any, error) {
	if s.St.Get().State != ctl.StateConnected {
		return nil, ctl.Errorf(ctl.CodeSessionNotReady, "not connected")
	}
	d := done{client: s.client, op: op, at: time.Now()}
	if m, ok := op.(sessions.Send); ok && m.Media != nil {
		h := sha256.New()
		if _, err := io.Copy(h, m.Media.Reader()); err != nil {
			return nil, err
		}
		d.sha = hex.EncodeToString(h.Sum(nil))
		m.Media = nil
		d.op = m
	}
	s.b.mu.Lock()
	fail, ignore := s.b.fail, s.b.ignoreN
	s.b.mu.Unlock()
	if fail != nil {
		d.err = fail(s.client, op)
	}
	s.b.mu.Lock()
	s.b.done = append(s.b.done, d)
	s.b.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	var id string
	switch o := op.(type) {
	case sessions.Send:
		if ignore { // the stand-in makes its own id without one
			o.NewID = ""
		}
		res, err := s.Session.Do(ctx, o)
		if err != nil {
			return nil, err
		}
		id = res.(ctl.SendResult).ID
	case sessions.React:
		id = o.NewID
	case sessions.Edit:
		id = o.NewID
	case sessions.Revoke:
		id = o.NewID
	case sessions.ChatPresence:
		return ctl.OK{OK: true}, nil
	default:
		return nil, sessions.ErrUnsupported
	}
	return ctl.SendResult{ID: id, Timestamp: time.Unix(1700000000, 0).UTC()}, nil
}

// ops returns what sessions of client were asked to do, failed attempts
// included, presence left out unless presence.
func (b *backend) ops(client string, presence bool) []done {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []done
	for _, d := range b.done {
		if _, p := d.op.(sessions.ChatPresence); d.client == client && (presence || !p) {
			out = append(out, d)
		}
	}
	return out
}

func (b *backend) setFail(f func(client string, op sessions.Op) error) {
	b.mu.Lock()
	b.fail = f
	b.mu.Unlock()
}

// env is a registry on the wrapped stand-in, a database and an outbox.
type env struct {
	t     testing.TB
	b     *backend
	reg   *sessions.Registry
	dir   string
	db    *store.DB
	ob    *Outbox
	cfg   Config
	stop  context.CancelFunc
	ran   chan struct{}
	event *sessions.Subscription
}

// fast is a configuration without pacing.
func fast() Config { return Config{MaxAttempts: 3, Keep: time.Hour} }

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), cfg: cfg, b: &backend{Backend: &sessiontest.Backend{Connect: true}}}
	e.reg = sessions.New(sessions.Config{DefaultBackend: "whatsmeow", Log: slog.New(slog.DiscardHandler)}, e.b)
	e.event = e.reg.Bus().Subscribe(nil, []string{ctl.KindMessageStatus})
	e.open()
	t.Cleanup(func() {
		e.halt()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.reg.Close(ctx); err != nil {
			t.Error(err)
		}
		e.db.Close()
	})
	return e
}

// open opens the database and the outbox (again).
func (e *env) open() {
	e.t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(e.dir, store.FileName))
	if err != nil {
		e.t.Fatal(err)
	}
	ob, err := Open(ctx, db, e.reg, e.cfg, Options{SpoolDir: filepath.Join(e.dir, "outbox"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	ob.retryBase = time.Millisecond
	e.db, e.ob = db, ob
}

// reopen closes the database and opens it and the outbox again, as a
// restarted daemon would.
func (e *env) reopen() {
	e.t.Helper()
	e.halt()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// run starts Run.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.ran = cancel, make(chan struct{})
	go func() {
		defer close(e.ran)
		e.ob.Run(ctx)
	}()
}

// halt stops Run, if it runs, and waits for it.
func (e *env) halt() {
	if e.stop != nil {
		e.stop()
		<-e.ran
		e.stop = nil
	}
}

// login makes client's session connected.
func (e *env) login(client string) *sessiontest.Session {
	e.t.Helper()
	if _, err := e.reg.Login(context.Background(), client, sessions.LoginOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return e.b.Session(client)
}

func (e *env) enqueue(client string, op sessions.Op) ctl.MessageStatus {
	e.t.Helper()
	st, err := e.ob.Enqueue(context.Background(), client, op)
	if err != nil {
		e.t.Fatalf("Enqueue(%s, %s): %v", client, op.Method(), err)
	}
	return st
}

func (e *env) wait(client, id string) ctl.MessageStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := e.ob.Wait(ctx, client, id)
	if err != nil {
		e.t.Fatalf("Wait(%s, %s): %v", client, id, err)
	}
	return st
}

// drained waits until Queued reports nothing: it counts a message out
// just after the commit that Wait may see first.
func (e *env) drained() {
	e.t.Helper()
	for range 500 {
		if len(e.ob.Queued()) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("Queued() = %v, want nothing", e.ob.Queued())
}

// next returns the next message_status event.
func (e *env) next() ctl.MessageStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := e.event.Next(ctx)
	if err != nil {
		e.t.Fatalf("waiting for a message_status event: %v", err)
	}
	return *ev.Status
}

// text is a text message to a fixed chat.
func text(s string) sessions.Send { return sessions.Send{To: "4915112345678@s.whatsapp.net", Text: s} }

// document prepares a media file of data.
func document(t testing.TB, data []byte) *media.File {
	t.Helper()
	var p media.Preparer
	f, err := p.Prepare(context.Background(), media.Input{Kind: ctl.MediaDocument, Filename: "notes.txt", Caption: "the notes",
		R: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

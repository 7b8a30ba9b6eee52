package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// NewLogger returns the daemon's logger at the level held by level (which
// a reload may change): native journal entries with structured fields
// when stderr is connected to the journal (running under systemd), text
// lines on w otherwise.
func NewLogger(w io.Writer, level *slog.LevelVar) *slog.Logger {
	if ok, _ := journal.StderrIsJournalStream(); ok && journal.Enabled() {
		return slog.New(newJournalHandler(level, journal.Send))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// journalHandler writes slog records as journal entries. The message text
// carries the attributes too (for `journalctl` without -o verbose); each
// attribute is also a field, named WAD_<KEY> (so `client` is WAD_CLIENT,
// `backend` WAD_BACKEND, `state` WAD_STATE) for `journalctl WAD_CLIENT=sales`.
type journalHandler struct {
	level slog.Leveler
	send  func(string, journal.Priority, map[string]string) error
	attrs []slog.Attr
	group string
	mu    *sync.Mutex
}

func newJournalHandler(level slog.Leveler, send func(string, journal.Priority, map[string]string) error) *journalHandler {
	return &journalHandler{level: level, send: send, mu: new(sync.Mutex)}
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	h2 := *h
	if h.group != "" {
		name = h.group + "." + name
	}
	h2.group = name
	return &h2
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// fieldName turns an attribute key into a journal field name.
func fieldName(key string) string {
	var b strings.Builder
	b.WriteString("WAD_")
	for _, r := range strings.ToUpper(key) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "wad"}
	var text bytes.Buffer
	text.WriteString(r.Message)
	add := func(a slog.Attr) {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			return
		}
		v := a.Value.String()
		vars[fieldName(a.Key)] = v
		if strings.ContainsAny(v, " \t\"=") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&text, " %s=%s", a.Key, v)
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		add(a)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(text.String(), priority(r.Level), vars)
}

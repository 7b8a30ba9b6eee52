package outbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

var idRe = regexp.MustCompile(`^3EB0[0-9A-F]{18}$`)

func TestEnqueueSendsUnderItsID(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	st := e.enqueue("c1", text("hello"))
	if !idRe.MatchString(st.ID) || st.State != ctl.OutQueued || st.Client != "c1" || st.Method != ctl.MethodSend || st.Chat != text("").To || st.Queued.IsZero() {
		t.Fatalf("Enqueue returned %+v", st)
	}
	if got, err := e.ob.Status(context.Background(), "c1", st.ID); err != nil || got.State != ctl.OutQueued {
		t.Fatalf("Status before Run: %+v, %v", got, err)
	}
	if n := len(e.b.ops("c1", true)); n != 0 {
		t.Fatalf("%d operations done before Run", n)
	}
	e.run()
	got := e.wait("c1", st.ID)
	if got.State != ctl.OutSent || got.Sent.IsZero() || !got.Timestamp.Equal(time.Unix(1700000000, 0)) || got.Attempts != 1 {
		t.Fatalf("after Wait: %+v", got)
	}
	ops := e.b.ops("c1", true)
	if len(ops) != 1 {
		t.Fatalf("backend did %d operations, want 1", len(ops))
	}
	if s, ok := ops[0].op.(sessions.Send); !ok || s.NewID != st.ID || s.Text != "hello" {
		t.Fatalf("backend got %+v, want a Send of hello with NewID %s", ops[0].op, st.ID)
	}
	for _, want := range []string{ctl.OutQueued, ctl.OutSent} {
		if ev := e.next(); ev.ID != st.ID || ev.State != want {
			t.Fatalf("event %+v, want %s", ev, want)
		}
	}
	e.drained()
}

func TestReactEditRevoke(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	e.run()
	chat := "4915112345678@s.whatsapp.net"
	ops := []sessions.Op{
		sessions.React{Chat: chat, ID: "X1", Emoji: "👍"},
		sessions.Edit{Chat: chat, ID: "X1", Text: "edited"},
		sessions.Revoke{Chat: chat, ID: "X1"},
	}
	for i, op := range ops {
		st := e.enqueue("c1", op)
		if st.Method != op.Method() || st.Chat != chat {
			t.Fatalf("Enqueue(%s) = %+v", op.Method(), st)
		}
		if got := e.wait("c1", st.ID); got.State != ctl.OutSent {
			t.Fatalf("%s: %+v", op.Method(), got)
		}
		if d := e.b.ops("c1", false)[i]; d.op != withID(op, st.ID) {
			t.Fatalf("backend got %+v, want %+v", d.op, withID(op, st.ID))
		}
	}
}

func TestEnqueueRefuses(t *testing.T) {
	e := newEnv(t, fast())
	e.b.Unsupported = []string{ctl.MethodEdit}
	e.login("c1")
	e.b.Connect = false
	if _, err := e.reg.Login(context.Background(), "qr", sessions.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.ob.Enqueue(ctx, "nobody", text("x")); !errors.Is(err, ctl.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := e.ob.Enqueue(ctx, "c1", sessions.Edit{Chat: "1@s.whatsapp.net", ID: "X", Text: "y"}); !errors.Is(err, ctl.ErrUnavailable) {
		t.Errorf("unsupported op: %v", err)
	}
	_, err := e.ob.Enqueue(ctx, "qr", text("x"))
	if !errors.Is(err, ctl.ErrNotReady) || !strings.Contains(err.Error(), "no login") {
		t.Errorf("session showing a QR code: %v", err)
	}
	f := document(t, []byte("refused"))
	if _, err := e.ob.Enqueue(ctx, "qr", sessions.Send{To: "1@s.whatsapp.net", Media: f}); err == nil {
		t.Error("a media message for a session showing a QR code was queued")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "outbox")); len(ents) != 0 {
		t.Errorf("a refused message left %d spool files", len(ents))
	}
	// Stopped and disconnected sessions queue.
	e.b.Session("c1").St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	e.enqueue("c1", text("later"))
	if _, err := e.reg.Stop(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	e.enqueue("c1", text("much later"))
	if q := e.ob.Queued(); q["c1"] != 2 || len(q) != 1 {
		t.Errorf("Queued() = %v", q)
	}
}

func TestOrderPerClient(t *testing.T) {
	e := newEnv(t, fast())
	clients := []string{"a", "b", "c"}
	for _, c := range clients {
		e.login(c)
	}
	var last map[string]string = map[string]string{}
	enq := func(from, to int) {
		for i := from; i < to; i++ {
			for _, c := range clients {
				last[c] = e.enqueue(c, text(fmt.Sprintf("%s-%02d", c, i))).ID
			}
		}
	}
	enq(0, 25)
	e.run()
	enq(25, 50)
	for _, c := range clients {
		e.wait(c, last[c])
		ops := e.b.ops(c, false)
		if len(ops) != 50 {
			t.Fatalf("client %s: %d sends, want 50", c, len(ops))
		}
		for i, d := range ops {
			if want := fmt.Sprintf("%s-%02d", c, i); d.op.(sessions.Send).Text != want {
				t.Fatalf("client %s: send %d is %q, want %q", c, i, d.op.(sessions.Send).Text, want)
			}
		}
	}
}

func TestDisconnectedHoldsLoggedOutFails(t *testing.T) {
	e := newEnv(t, fast())
	held := e.login("held")
	gone := e.login("gone")
	held.St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	gone.St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	e.run()
	var heldIDs, goneIDs []string
	for i := range 3 {
		heldIDs = append(heldIDs, e.enqueue("held", text(fmt.Sprint("held ", i))).ID)
		goneIDs = append(goneIDs, e.enqueue("gone", text(fmt.Sprint("gone ", i))).ID)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(e.b.ops("held", true)) + len(e.b.ops("gone", true)); n != 0 {
		t.Fatalf("%d operations done on disconnected sessions", n)
	}
	if _, err := e.reg.Logout(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	for _, id := range goneIDs {
		if st := e.wait("gone", id); st.State != ctl.OutFailed || st.Reason != ctl.FailLoggedOut || st.Error == "" {
			t.Errorf("after logout: %+v", st)
		}
	}
	held.St.Set(ctl.StateConnected, "", "")
	for _, id := range heldIDs {
		if st := e.wait("held", id); st.State != ctl.OutSent {
			t.Errorf("after reconnecting: %+v", st)
		}
	}
	if n := len(e.b.ops("gone", true)); n != 0 {
		t.Errorf("%d operations done for the logged-out session", n)
	}
	e.drained()
}

func TestUnlinkedSessionFailsQueue(t *testing.T) {
	e := newEnv(t, fast())
	s := e.login("c1")
	s.St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	e.run()
	id := e.enqueue("c1", text("x")).ID
	s.St.Set(ctl.StateLoggedOut, "unlinked", "")
	if st := e.wait("c1", id); st.State != ctl.OutFailed || st.Reason != ctl.FailLoggedOut {
		t.Fatalf("after the phone unlinked the session: %+v", st)
	}
}

func TestRetries(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	tries := map[string]int{}
	e.b.setFail(func(_ string, op sessions.Op) error {
		s, ok := op.(sessions.Send)
		if !ok {
			return nil
		}
		tries[s.Text]++
		switch {
		case s.Text == "down":
			return ctl.Errorf(ctl.CodeUpstream, "network down %d", tries[s.Text])
		case s.Text == "flaky" && tries[s.Text] < 3:
			return ctl.Errorf(ctl.CodeTimeout, "timed out")
		case s.Text == "nobody":
			return ctl.Errorf(ctl.CodeInvalidParams, "4915100000001 is not on WhatsApp")
		}
		return nil
	})
	e.run()
	down := e.enqueue("c1", text("down")).ID
	flaky := e.enqueue("c1", text("flaky")).ID
	nobody := e.enqueue("c1", text("nobody")).ID
	if st := e.wait("c1", down); st.State != ctl.OutFailed || st.Reason != ctl.FailUpstream || st.Attempts != 3 || st.Error != "network down 3" || st.Code != ctl.CodeUpstream {
		t.Errorf("always failing upstream: %+v", st)
	}
	if st := e.wait("c1", flaky); st.State != ctl.OutSent || st.Attempts != 3 || st.Error != "" {
		t.Errorf("failing twice: %+v", st)
	}
	if st := e.wait("c1", nobody); st.State != ctl.OutFailed || st.Reason != ctl.FailRejected || st.Attempts != 1 || !strings.Contains(st.Error, "not on WhatsApp") || st.Code != ctl.CodeInvalidParams {
		t.Errorf("rejected: %+v", st)
	}
	if tries["down"] != 3 || tries["flaky"] != 3 || tries["nobody"] != 1 {
		t.Errorf("attempts %v", tries)
	}
	// queued, attempt 1, attempt 2, failed.
	var states []string
	for len(states) < 4 {
		if ev := e.next(); ev.ID == down {
			states = append(states, fmt.Sprintf("%s/%d", ev.State, ev.Attempts))
		}
	}
	if got := strings.Join(states, " "); got != "queued/0 queued/1 queued/2 failed/3" {
		t.Errorf("events of the failing message: %s", got)
	}
}

func TestBackoff(t *testing.T) {
	o := &Outbox{retryBase: retryBase}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 6: time.Minute, 100: time.Minute} {
		if got := o.backoff(n); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestTyping(t *testing.T) {
	cfg := fast()
	cfg.Typing, cfg.TypingSpeed, cfg.MaxTyping = true, 1000, 10*time.Millisecond
	e := newEnv(t, cfg)
	e.login("c1")
	e.run()
	e.wait("c1", e.enqueue("c1", text("typed")).ID)
	ops := e.b.ops("c1", true)
	if len(ops) != 2 {
		t.Fatalf("%d operations, want presence and send", len(ops))
	}
	if p, ok := ops[0].op.(sessions.ChatPresence); !ok || p.State != ctl.PresenceTyping || p.Chat != text("").To {
		t.Errorf("first operation %+v, want typing in the chat", ops[0].op)
	}
	if ops[1].at.Sub(ops[0].at) < 5*time.Millisecond {
		t.Errorf("sent %s after typing began, want about 5ms", ops[1].at.Sub(ops[0].at))
	}
}

func TestReceipts(t *testing.T) {
	e := newEnv(t, fast())
	s := e.login("c1")
	e.run()
	id := e.enqueue("c1", text("hello")).ID
	e.wait("c1", id)
	e.next() // queued
	e.next() // sent
	at := time.Unix(1700000100, 0).UTC()
	receipt := func(typ string, at time.Time, ids ...string) {
		s.Emit(ctl.Event{Kind: ctl.KindReceipt, Receipt: &ctl.Receipt{IDs: ids, Chat: text("").To, Type: typ, Timestamp: at}})
	}
	receipt("sender", at, id)
	receipt("delivered", at, id, "UNKNOWN")
	if ev := e.next(); ev.State != ctl.OutDelivered || !ev.Delivered.Equal(at) || !ev.Read.IsZero() {
		t.Fatalf("after delivered: %+v", ev)
	}
	receipt("read", at.Add(time.Minute), id)
	if ev := e.next(); ev.State != ctl.OutRead || !ev.Delivered.Equal(at) || !ev.Read.Equal(at.Add(time.Minute)) {
		t.Fatalf("after read: %+v", ev)
	}
	receipt("delivered", at.Add(2*time.Minute), id) // late: no move back
	receipt("played", at.Add(3*time.Minute), id)
	if ev := e.next(); ev.State != ctl.OutPlayed || !ev.Delivered.Equal(at) || !ev.Read.Equal(at.Add(time.Minute)) {
		t.Fatalf("after a late delivered and played: %+v", ev)
	}
	receipt("read", at.Add(4*time.Minute), id)
	receipt("delivered", at, id)
	// Another client's receipt naming the id moves nothing.
	other := e.login("c2")
	other.Emit(ctl.Event{Kind: ctl.KindReceipt, Receipt: &ctl.Receipt{IDs: []string{id}, Type: "delivered"}})
	id2 := e.enqueue("c1", text("second")).ID
	if ev := e.next(); ev.ID != id2 || ev.State != ctl.OutQueued {
		t.Fatalf("an older receipt moved the message: %+v", ev)
	}
	if st, _ := e.ob.Status(context.Background(), "c1", id); st.State != ctl.OutPlayed {
		t.Fatalf("status %+v", st)
	}
}

func TestBackendOwnID(t *testing.T) {
	e := newEnv(t, fast())
	s := e.login("c1")
	e.b.ignoreN = true
	e.run()
	id := e.enqueue("c1", text("hello")).ID
	e.wait("c1", id)
	waID := "TEST0001"
	for _, x := range []string{id, waID} {
		if st, err := e.ob.Status(context.Background(), "c1", x); err != nil || st.ID != id || st.State != ctl.OutSent {
			t.Fatalf("Status(%s) = %+v, %v", x, st, err)
		}
	}
	e.next()
	e.next()
	s.Emit(ctl.Event{Kind: ctl.KindReceipt, Receipt: &ctl.Receipt{IDs: []string{waID}, Type: "read"}})
	if ev := e.next(); ev.ID != id || ev.State != ctl.OutRead {
		t.Fatalf("after a receipt for the backend's id: %+v", ev)
	}
}

func TestPersistence(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	data := bytes.Repeat([]byte("spooled media "), 5000)
	sum := sha256.Sum256(data)
	textID := e.enqueue("c1", text("first")).ID
	mediaID := e.enqueue("c1", sessions.Send{To: text("").To, Media: document(t, data)}).ID
	spool := filepath.Join(e.dir, "outbox")
	if _, err := os.Stat(filepath.Join(spool, mediaID)); err != nil {
		t.Fatalf("media not spooled: %v", err)
	}
	// A leftover of a crash between spooling and queueing.
	if err := os.WriteFile(filepath.Join(spool, "3EB0LEFTOVER"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if q := e.ob.Queued(); q["c1"] != 2 {
		t.Fatalf("Queued() after reopening = %v", q)
	}
	if _, err := os.Stat(filepath.Join(spool, "3EB0LEFTOVER")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover spool file kept: %v", err)
	}
	e.run()
	e.wait("c1", textID)
	if st := e.wait("c1", mediaID); st.State != ctl.OutSent {
		t.Fatalf("media message: %+v", st)
	}
	ops := e.b.ops("c1", false)
	if len(ops) != 2 {
		t.Fatalf("%d sends, want 2 (each once)", len(ops))
	}
	if s := ops[0].op.(sessions.Send); s.NewID != textID || s.Text != "first" {
		t.Errorf("first send %+v", s)
	}
	if s := ops[1].op.(sessions.Send); s.NewID != mediaID || ops[1].sha != hex.EncodeToString(sum[:]) {
		t.Errorf("media send %+v with bytes %s, want %x", s, ops[1].sha, sum)
	}
	sent := e.b.Session("c1").Sent
	if m := sent[len(sent)-1].Media; m == nil || m.Kind != ctl.MediaDocument || m.Filename != "notes.txt" || m.Caption != "the notes" || m.Size != int64(len(data)) {
		t.Errorf("media metadata sent: %+v", m)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("%d spool files left after sending", len(ents))
	}
	e.reopen()
	e.run()
	time.Sleep(50 * time.Millisecond)
	if n := len(e.b.ops("c1", false)); n != 2 {
		t.Errorf("%d sends after a second restart, want 2", n)
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	a := e.enqueue("c1", text("a")).ID
	b := e.enqueue("c1", sessions.Send{To: text("").To, Media: document(t, []byte("media bytes"))}).ID
	e.next()
	e.next()
	if err := e.ob.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		if ev := e.next(); ev.ID != id || ev.State != ctl.OutFailed || ev.Reason != ctl.FailReset {
			t.Errorf("event %+v, want %s failed/reset", ev, id)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "outbox")); len(ents) != 0 {
		t.Errorf("%d spool files left by Reset", len(ents))
	}
	if q := e.ob.Queued(); len(q) != 0 {
		t.Errorf("Queued() = %v after Reset", q)
	}
	e.run()
	if st := e.wait("c1", a); st.State != ctl.OutFailed {
		t.Errorf("after Run: %+v", st)
	}
	if n := len(e.b.ops("c1", false)); n != 0 {
		t.Errorf("%d sends after Reset", n)
	}
}

func TestWaitAndStatus(t *testing.T) {
	e := newEnv(t, fast())
	s := e.login("c1")
	e.login("c2")
	ctx := context.Background()
	if _, err := e.ob.Status(ctx, "c1", "3EB0000000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := e.ob.Wait(ctx, "c1", "3EB0000000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait for an unknown id: %v", err)
	}
	s.St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	id := e.enqueue("c1", text("x")).ID
	if _, err := e.ob.Status(ctx, "c2", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("another client's id: %v", err)
	}
	e.run()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if st, err := e.ob.Wait(short, "c1", id); !errors.Is(err, context.DeadlineExceeded) || st.State != ctl.OutQueued {
		t.Errorf("Wait while disconnected: %+v, %v", st, err)
	}
	e.b.setFail(func(_ string, op sessions.Op) error {
		if op.(sessions.Send).Text == "bad" {
			return ctl.Errorf(ctl.CodeInvalidParams, "bad")
		}
		return nil
	})
	bad := e.enqueue("c1", text("bad")).ID
	done := make(chan ctl.MessageStatus, 2)
	for _, x := range []string{id, bad} {
		go func() {
			st, err := e.ob.Wait(ctx, "c1", x)
			if err != nil {
				t.Error(err)
			}
			done <- st
		}()
	}
	time.Sleep(20 * time.Millisecond)
	s.St.Set(ctl.StateConnected, "", "")
	got := map[string]string{}
	for range 2 {
		st := <-done
		got[st.ID] = st.State
	}
	if got[id] != ctl.OutSent || got[bad] != ctl.OutFailed {
		t.Errorf("Waits returned %v", got)
	}
	if e.ob.waitsLen() != 0 {
		t.Errorf("%d waiters left", e.ob.waitsLen())
	}
}

func (o *Outbox) waitsLen() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.waits)
}

func TestPrune(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	e.run()
	id := e.enqueue("c1", text("x")).ID
	e.wait("c1", id)
	if _, err := e.db.Exec(`UPDATE outbox SET finished = ? WHERE id = ?`, time.Now().Add(-2*time.Hour).UnixNano(), id); err != nil {
		t.Fatal(err)
	}
	e.ob.prune(context.Background())
	if _, err := e.ob.Status(context.Background(), "c1", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("after pruning: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	i := func(n int) *int { return &n }
	d := func(x time.Duration) *time.Duration { return &x }
	b := func(v bool) *bool { return &v }
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no rate limit", func(c *Config) { c.PerMinute, c.Burst = 0, 0 }, ""},
		{"negative rate", func(c *Config) { c.PerMinute = -1 }, "outbox.per_minute:"},
		{"no burst", func(c *Config) { c.Burst = 0 }, "outbox.burst:"},
		{"negative delay", func(c *Config) { c.MinDelay = -time.Second }, "outbox.min_delay:"},
		{"delays crossed", func(c *Config) { c.MinDelay = 5 * time.Second }, "outbox.max_delay:"},
		{"typing without speed", func(c *Config) { c.Typing, c.TypingSpeed = true, 0 }, "outbox.typing_speed:"},
		{"speed without typing", func(c *Config) { c.TypingSpeed = 0 }, ""},
		{"negative max typing", func(c *Config) { c.MaxTyping = -1 }, "outbox.max_typing:"},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "outbox.max_attempts:"},
		{"short keep", func(c *Config) { c.Keep = time.Second }, "outbox.keep:"},
		{"bad client id", func(c *Config) { c.Clients = map[string]Override{"a b": {}} }, "outbox.clients:"},
		{"client delays crossed", func(c *Config) { c.Clients = map[string]Override{"sales": {MinDelay: d(time.Minute)}} }, "outbox.clients.sales.max_delay:"},
		{"client min delay", func(c *Config) { c.Clients = map[string]Override{"sales": {MinDelay: d(-1)}} }, "outbox.clients.sales.min_delay:"},
		{"client burst", func(c *Config) { c.Clients = map[string]Override{"sales": {Burst: i(0)}} }, "outbox.clients.sales.burst:"},
		{"client typing", func(c *Config) {
			c.Clients = map[string]Override{"sales": {Typing: b(true), TypingSpeed: i(0)}}
		}, "outbox.clients.sales.typing_speed:"},
		{"client fine", func(c *Config) { c.Clients = map[string]Override{"sales": {PerMinute: i(0), Burst: i(0)}} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want %s...", err, tc.want)
			}
		})
	}
}

func TestConfigFor(t *testing.T) {
	c := DefaultConfig()
	n, delay, on := 60, 10*time.Second, true
	c.Clients = map[string]Override{"sales": {PerMinute: &n, MaxDelay: &delay, Typing: &on}}
	if got, want := c.For("other"), (Pacing{PerMinute: 20, Burst: 5, MinDelay: time.Second, MaxDelay: 3 * time.Second, TypingSpeed: 15, MaxTyping: 5 * time.Second}); got != want {
		t.Errorf("For(other) = %+v, want %+v", got, want)
	}
	if got, want := c.For("sales"), (Pacing{PerMinute: 60, Burst: 5, MinDelay: time.Second, MaxDelay: 10 * time.Second, Typing: true, TypingSpeed: 15, MaxTyping: 5 * time.Second}); got != want {
		t.Errorf("For(sales) = %+v, want %+v", got, want)
	}
}

func TestSetConfig(t *testing.T) {
	e := newEnv(t, fast())
	slow := fast()
	slow.PerMinute, slow.Burst = 1, 1
	e.ob.SetConfig(slow)
	if got := e.ob.cfg.Load().For("x").PerMinute; got != 1 {
		t.Fatalf("pacing after SetConfig: %d a minute", got)
	}
}

func TestSessionRestoredAfterRun(t *testing.T) {
	e := newEnv(t, fast())
	e.login("late")
	e.login("never")
	late := e.enqueue("late", text("x")).ID
	never := e.enqueue("never", text("y")).ID
	for _, c := range []string{"late", "never"} {
		if _, err := e.reg.Logout(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	// A restarted daemon: the sessions come back (or not) after Run.
	e.reopen()
	e.ob.restoreGrace = 300 * time.Millisecond
	e.run()
	time.Sleep(50 * time.Millisecond)
	e.login("late")
	if st := e.wait("late", late); st.State != ctl.OutSent {
		t.Errorf("session restored within the grace: %+v", st)
	}
	if st := e.wait("never", never); st.State != ctl.OutFailed || st.Reason != ctl.FailLoggedOut {
		t.Errorf("session never restored: %+v", st)
	}
}

// A Wait for a message that cannot go because the daemon stops sending
// answers with the message still queued, at once, instead of holding
// the caller's connection until shutdown gives up on it.
func TestWaitAnswersWhenSendingStops(t *testing.T) {
	e := newEnv(t, fast())
	s := e.login("c1")
	s.St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	id := e.enqueue("c1", text("x")).ID
	e.run()
	got := make(chan ctl.MessageStatus, 1)
	go func() {
		st, _ := e.ob.Wait(context.Background(), "c1", id)
		got <- st
	}()
	e.halt()
	select {
	case st := <-got:
		if st.State != ctl.OutQueued {
			t.Fatalf("Wait after the stop: %+v, want queued", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait still waits after Run ended")
	}
	if st, err := e.ob.Wait(context.Background(), "c1", id); err != nil || st.State != ctl.OutQueued {
		t.Fatalf("Wait after Run ended: %+v, %v", st, err)
	}
}

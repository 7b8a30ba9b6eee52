package whatsmeow_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/daemon/webhooks"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/sessions"
)

// These tests check "nothing lost" as an app sees it: messages a phone
// sends through the fake WhatsApp server, the real whatsmeow session,
// the event log in the daemon's wad.db, and the real socket.

// sendTexts has from's phone send n texts to to and returns their ids.
func sendTexts(t *testing.T, from, to *wafake.Account, n int, prefix string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := from.SendText(to.JID(), fmt.Sprintf("%s%04d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// collectMessages reads n message events from w (other kinds are
// skipped), checking seq only grows, and returns their texts in order.
func collectMessages(t *testing.T, w *ctl.Watcher, n int) ([]string, []uint64) {
	t.Helper()
	var texts []string
	var seqs []uint64
	for len(texts) < n {
		ev := nextEvent(t, w)
		if ev.Dropped != 0 || ev.Kind == ctl.KindEventsDropped {
			t.Fatalf("lost events: %+v", ev)
		}
		if ev.Kind != ctl.KindMessage {
			continue
		}
		if len(seqs) > 0 && ev.Seq <= seqs[len(seqs)-1] {
			t.Fatalf("seq %d after %d", ev.Seq, seqs[len(seqs)-1])
		}
		texts, seqs = append(texts, ev.Message.Text), append(seqs, ev.Seq)
	}
	return texts, seqs
}

func TestConsumerAwayForAThousandMessagesGetsEachOnceInOrder(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340300", "Desk")
	kundin := newAccount(t, srv, "4917612340301", "Kundin")
	linkOverSocket(t, d, me, "desk")
	ctx := waitCtx(t)
	params := ctl.SubscribeParams{Clients: []string{"desk"}, Kinds: []string{ctl.KindMessage}, Consumer: "crm"}

	// First contact: a new consumer starts live. It handles one message,
	// acks it, and goes away.
	app := d.Dial()
	w, err := app.Watch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if w.Result.Since != nil {
		t.Fatalf("a new consumer replays from %d", *w.Result.Since)
	}
	sendTexts(t, kundin, me, 1, "hello")
	texts, seqs := collectMessages(t, w, 1)
	if texts[0] != "hello0000" {
		t.Fatalf("got %q", texts[0])
	}
	if pos, err := app.Ack(ctx, "crm", seqs[0]); err != nil || pos != seqs[0] {
		t.Fatalf("ack: %d, %v", pos, err)
	}
	app.Close()

	// A thousand messages arrive while it is away.
	ref := watch(t, d, "desk")
	sendTexts(t, kundin, me, 1000, "m")
	want, _ := collectMessages(t, ref, 1000)

	// Back, it resumes after its ack: each of the thousand once, in the
	// order the daemon got them, then live.
	app = d.Dial()
	w, err = app.Watch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if w.Result.Since == nil || *w.Result.Since != seqs[0] {
		t.Fatalf("resumed from %v, want after the ack %d", w.Result.Since, seqs[0])
	}
	got, gotSeqs := collectMessages(t, w, 1000)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
	sendTexts(t, kundin, me, 1, "live")
	if texts, _ := collectMessages(t, w, 1); texts[0] != "live0000" {
		t.Fatalf("after the replay got %q, want the live message", texts[0])
	}

	// The same with since, on a connection of its own.
	w2, err := d.Dial().Watch(ctx, ctl.SubscribeParams{Clients: []string{"desk"}, Since: &seqs[0]})
	if err != nil {
		t.Fatal(err)
	}
	got2, gotSeqs2 := collectMessages(t, w2, 1000)
	for i := range got {
		if got2[i] != got[i] || gotSeqs2[i] != gotSeqs[i] {
			t.Fatalf("since replay, message %d: %q (seq %d), consumer got %q (seq %d)", i, got2[i], gotSeqs2[i], got[i], gotSeqs[i])
		}
	}
	st, err := d.Client.Status(ctx)
	if err != nil || st.EventLog == nil || st.EventLog.Consumers != 1 || st.EventLog.Head < gotSeqs[999] {
		t.Fatalf("wad.status event_log %+v, %v", st.EventLog, err)
	}
}

// A connection that stops reading fills its socket and then its live
// queue; the subscription goes on from the log and, read again, delivers
// every event once, in order.
func TestSocketReaderThatStopsReadingGetsEveryEventThroughReplay(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340310", "Desk")
	kundin := newAccount(t, srv, "4917612340311", "Kundin")
	linkOverSocket(t, d, me, "desk")

	conn, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintln(conn, `{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"clients":["desk"],"kinds":["message"]}}`)
	r := bufio.NewReaderSize(conn, 1<<16)
	if line, err := r.ReadBytes('\n'); err != nil {
		t.Fatal(err)
	} else if !json.Valid(line) {
		t.Fatalf("subscribe reply %q", line)
	}

	const n = 1500
	ref := watch(t, d, "desk")
	sendTexts(t, kundin, me, n, "m")
	want, _ := collectMessages(t, ref, n)
	if d.Registry.Bus().FellBehind() == 0 {
		t.Fatal("the reader that stopped never fell behind its live queue: the test proves nothing")
	}

	var last uint64
	for i := range n {
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", i, err)
		}
		var note struct {
			Params ctl.Event `json:"params"`
		}
		if err := json.Unmarshal(line, &note); err != nil {
			t.Fatal(err)
		}
		ev := note.Params
		if ev.Kind != ctl.KindMessage || ev.Dropped != 0 || ev.Seq <= last {
			t.Fatalf("event %d after seq %d: %s", i, last, line)
		}
		if ev.Message.Text != want[i] {
			t.Fatalf("event %d: %q, want %q", i, ev.Message.Text, want[i])
		}
		last = ev.Seq
	}
}

// receiver is a webhook receiver on loopback that fails the first
// failFirst attempts (all of them when negative) of each event.
type receiver struct {
	*httptest.Server
	secret    string
	failFirst int

	mu       sync.Mutex
	attempts map[string]int
	got      []ctl.Event
	bad      []string
}

func newReceiver(t *testing.T, secret string, failFirst int) *receiver {
	rc := &receiver{secret: secret, failFirst: failFirst, attempts: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, []byte(rc.secret))
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); r.Header.Get("webhook-signature") != want {
		rc.bad = append(rc.bad, "bad signature on "+id)
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		rc.bad = append(rc.bad, "bad timestamp "+ts)
	}
	rc.attempts[id]++
	if rc.failFirst < 0 || rc.attempts[id] <= rc.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev ctl.Event
	if err := json.Unmarshal(body, &ev); err != nil || strconv.FormatUint(ev.Seq, 10) != id {
		rc.bad = append(rc.bad, fmt.Sprintf("body %s under id %s", body, id))
	}
	rc.got = append(rc.got, ev)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() ([]ctl.Event, map[string]int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	at := make(map[string]int, len(rc.attempts))
	for k, v := range rc.attempts {
		at[k] = v
	}
	return append([]ctl.Event(nil), rc.got...), at, append([]string(nil), rc.bad...)
}

func TestWebhooksDeliverSignedEventsRetryAndDeadLetter(t *testing.T) {
	dir := t.TempDir()
	srv := newFake(t, wafake.Options{})
	b := newBackend(t, dir, srv, nil)
	flaky := newReceiver(t, "flaky-secret", 3)
	broken := newReceiver(t, "broken-secret", -1)
	d := daemontest.Start(t, daemontest.Options{
		Backends: []sessions.Backend{b}, StateDir: dir, DefaultBackend: "whatsmeow", StartTimeout: 60 * time.Second,
		Config: func(c *daemon.Config) {
			c.Webhooks = []webhooks.Config{
				{Name: "flaky", URL: flaky.URL + "/hook", Secret: flaky.secret, Kinds: []string{ctl.KindMessage},
					MaxAttempts: 5, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
				{Name: "broken", URL: broken.URL + "/hook?token=s3cret", Secret: broken.secret, Kinds: []string{ctl.KindMessage},
					MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
			}
		},
	})
	me := newAccount(t, srv, "4915112340320", "Desk")
	kundin := newAccount(t, srv, "4917612340321", "Kundin")
	linkOverSocket(t, d, me, "desk")
	sendTexts(t, kundin, me, 3, "hook")
	ctx := waitCtx(t)

	var got []ctl.Event
	for ctx.Err() == nil {
		got, _, _ = flaky.snapshot()
		st, err := d.Client.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 3 && len(st.Webhooks) == 2 && st.Webhooks[1].DeadLetters == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, attempts, bad := flaky.snapshot()
	if len(bad) > 0 {
		t.Fatalf("flaky receiver: %v", bad)
	}
	for i, ev := range got {
		if ev.Message == nil || ev.Message.Text != fmt.Sprintf("hook%04d", i) {
			t.Fatalf("delivery %d: %+v", i, ev)
		}
		if n := attempts[strconv.FormatUint(ev.Seq, 10)]; n != 4 {
			t.Fatalf("event %d took %d attempts, want 4 (3 failures)", ev.Seq, n)
		}
	}
	if _, attempts, bad := broken.snapshot(); len(bad) > 0 || len(attempts) != 3 {
		t.Fatalf("broken receiver: %d events attempted, %v", len(attempts), bad)
	} else {
		for id, n := range attempts {
			if n != 2 {
				t.Fatalf("event %s attempted %d times, want max_attempts 2", id, n)
			}
		}
	}

	list, err := d.Client.Webhooks(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Name != "broken" || len(list[1].Letters) != 3 || list[1].URL != broken.URL+"/hook?…" {
		t.Fatalf("webhooks.list: %+v", list)
	}
	if list[0].DeadLetters != 0 || list[0].Delivered != 3 || list[0].Cursor != got[2].Seq {
		t.Fatalf("flaky webhook status %+v", list[0].WebhookStatus)
	}

	// The receiver recovers: a retry delivers the dead letters.
	broken.mu.Lock()
	broken.failFirst = 0
	broken.mu.Unlock()
	if n, err := d.Client.WebhookRetry(ctx, "broken", 0); err != nil || n != 3 {
		t.Fatalf("webhooks.retry: %d, %v", n, err)
	}
	for ctx.Err() == nil {
		if got, _, _ := broken.snapshot(); len(got) == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _, bad := broken.snapshot(); len(got) != 3 || len(bad) > 0 {
		t.Fatalf("after the retry the receiver got %d events, %v", len(got), bad)
	}
	if _, err := d.Client.WebhookRetry(ctx, "nope", 0); !isCode(err, ctl.CodeInvalidParams) {
		t.Fatalf("retry of an unknown webhook: %v", err)
	}
}

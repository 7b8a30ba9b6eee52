package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions/eventlog"
)

const secret = "test-secret-0123456789"

type env struct {
	t   testing.TB
	db  *store.DB
	log *eventlog.Log
}

func newEnv(t testing.TB) *env {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := eventlog.Open(ctx, db, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, log: l}
}

func (e *env) append(client, kind string) uint64 {
	e.t.Helper()
	ev := ctl.Event{Client: client, Kind: kind}
	if kind == ctl.KindMessage {
		ev.Message = &ctl.Message{ID: "m" + client, Text: "hello"}
	}
	if err := e.log.Append(&ev); err != nil {
		e.t.Fatal(err)
	}
	return ev.Seq
}

// hookConfig returns a validated config for url with tiny backoffs.
func hookConfig(t testing.TB, name, url string) Config {
	t.Helper()
	c := Config{Name: name, URL: url, Secret: secret, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) dispatcher(hooks ...Config) *Dispatcher {
	e.t.Helper()
	d, err := New(context.Background(), e.db, e.log, hooks, Options{Version: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// start runs d until the returned stop is called (or the test ends);
// stop returns once Run did.
func start(t testing.TB, d *Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// request is one request a receiver saw.
type request struct {
	header http.Header
	body   []byte
	status int
}

// receiver is a loopback webhook receiver. answer decides the status of
// each request, given how many times its webhook-id was seen before.
type receiver struct {
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, seen int) int

	mu    sync.Mutex
	all   []request
	seen  map[string]int
	taken []uint64 // seqs answered with a 2xx, in order
}

func newReceiver(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, seen int) int) *receiver {
	rc := &receiver{answer: answer, seen: make(map[string]int)}
	if rc.answer == nil {
		rc.answer = func(http.ResponseWriter, *http.Request, int) int { return http.StatusNoContent }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	seen := rc.seen[id]
	rc.seen[id]++
	rc.mu.Unlock()
	status := rc.answer(w, r, seen)
	rc.mu.Lock()
	rc.all = append(rc.all, request{header: r.Header.Clone(), body: body, status: status})
	if status/100 == 2 {
		seq, _ := strconv.ParseUint(id, 10, 64)
		rc.taken = append(rc.taken, seq)
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) delivered() []uint64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.taken)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.all)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitDelivered(t testing.TB, rc *receiver, want ...uint64) {
	t.Helper()
	waitFor(t, "deliveries "+fmtSeqs(want), func() bool { return len(rc.delivered()) >= len(want) })
	if got := rc.delivered(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

func fmtSeqs(s []uint64) string {
	var b strings.Builder
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(v, 10))
	}
	return b.String()
}

func statusOf(t testing.TB, d *Dispatcher, name string) ctl.WebhookStatus {
	t.Helper()
	for _, st := range d.Status(context.Background()) {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for webhook %q", name)
	return ctl.WebhookStatus{}
}

func waitIdle(t testing.TB, d *Dispatcher, name string) ctl.WebhookStatus {
	t.Helper()
	var st ctl.WebhookStatus
	waitFor(t, name+" idle and caught up", func() bool {
		st = statusOf(t, d, name)
		return st.State == ctl.WebhookIdle && st.Pending == 0
	})
	return st
}

// checkSigned verifies a request's headers and signature independently
// of Sign.
func checkSigned(t *testing.T, r request, seq uint64, notBefore time.Time) {
	t.Helper()
	h := r.header
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := h.Get("User-Agent"); got != "wad/test" {
		t.Errorf("User-Agent %q", got)
	}
	if got := h.Get("webhook-id"); got != strconv.FormatUint(seq, 10) {
		t.Errorf("webhook-id %q, want %d", got, seq)
	}
	ts := h.Get("webhook-timestamp")
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix < notBefore.Unix() || unix > time.Now().Unix() {
		t.Errorf("webhook-timestamp %q not within [%d, now]", ts, notBefore.Unix())
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(h.Get("webhook-id") + "." + ts + "." + string(r.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := h.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature %q, want %q", got, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if _, ok := raw["subscription"]; ok {
		t.Errorf("body has a subscription: %s", r.body)
	}
	var ev ctl.Event
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seq != seq {
		t.Errorf("body seq %d, want %d", ev.Seq, seq)
	}
}

func TestDeliversAfterFailures(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, func(_ http.ResponseWriter, _ *http.Request, seen int) int {
		if seen < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	d := e.dispatcher(hookConfig(t, "h", rc.srv.URL))
	start(t, d)
	began := time.Now()
	seq := e.append("alice", ctl.KindMessage)
	waitDelivered(t, rc, seq)

	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d attempts, want 4", len(reqs))
	}
	for i, r := range reqs {
		checkSigned(t, r, seq, began)
		if want := []int{500, 500, 500, 200}[i]; r.status != want {
			t.Errorf("attempt %d answered %d, want %d", i+1, r.status, want)
		}
	}
	var ev ctl.Event
	if err := json.Unmarshal(reqs[3].body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Client != "alice" || ev.Kind != ctl.KindMessage || ev.Message == nil || ev.Message.Text != "hello" {
		t.Errorf("delivered %+v", ev)
	}
	st := waitIdle(t, d, "h")
	if st.Cursor != seq || st.Delivered != 1 || st.DeadLetters != 0 || st.Attempts != 0 || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
}

func TestDeadLetterAndRetry(t *testing.T) {
	e := newEnv(t)
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) int {
		if down.Load() && r.Header.Get("webhook-id") == "1" {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	c := hookConfig(t, "h", rc.srv.URL)
	c.MaxAttempts = 3
	d := e.dispatcher(c)
	stop := start(t, d)
	e.append("alice", ctl.KindMessage)
	e.append("alice", ctl.KindReceipt)
	e.append("bob", ctl.KindMessage)
	waitDelivered(t, rc, 2, 3)
	if n := len(rc.requests()); n != 5 {
		t.Errorf("%d requests, want 3 attempts of 1 and one each of 2 and 3", n)
	}

	st := waitIdle(t, d, "h")
	if st.DeadLetters != 1 || st.Delivered != 2 || st.Cursor != 3 || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	ctx := context.Background()
	infos, err := d.List(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || len(infos[0].Letters) != 1 {
		t.Fatalf("list %+v", infos)
	}
	l := infos[0].Letters[0]
	if l.Seq != 1 || l.Client != "alice" || l.Kind != ctl.KindMessage || l.Attempts != 3 ||
		!strings.Contains(l.LastError, "500") || time.Since(l.Time) > time.Minute {
		t.Errorf("dead letter %+v", l)
	}
	if infos, err := d.List(ctx, false); err != nil || infos[0].Letters != nil || infos[0].DeadLetters != 1 {
		t.Errorf("list without letters: %+v, %v", infos, err)
	}

	if _, err := d.Retry(ctx, "nope", 0); !errors.Is(err, ErrUnknown) {
		t.Errorf("retry of an unknown webhook: %v", err)
	}
	if n, err := d.Retry(ctx, "h", 2); n != 0 || err != nil {
		t.Errorf("retry of a seq that is no dead letter: %d, %v", n, err)
	}
	down.Store(false)
	if n, err := d.Retry(ctx, "h", 0); n != 1 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
	waitDelivered(t, rc, 2, 3, 1)
	st = waitIdle(t, d, "h")
	if st.DeadLetters != 0 || st.Delivered != 3 {
		t.Errorf("status after retry %+v", st)
	}
	if infos, _ := d.List(ctx, true); len(infos[0].Letters) != 0 {
		t.Errorf("letters after retry: %+v", infos[0].Letters)
	}

	// A retried letter that fails again is a dead letter again, with
	// every attempt counted.
	if n, err := d.Retry(ctx, "h", 0); n != 0 || err != nil {
		t.Fatalf("retry with no letters: %d, %v", n, err)
	}
	rcFail := newReceiver(t, func(http.ResponseWriter, *http.Request, int) int { return http.StatusBadGateway })
	stop()
	c2 := hookConfig(t, "h2", rcFail.srv.URL)
	c2.MaxAttempts = 2
	d = e.dispatcher(c, c2)
	stop = start(t, d)
	seq := e.append("carol", ctl.KindMessage)
	waitFor(t, "a dead letter of h2", func() bool { return statusOf(t, d, "h2").DeadLetters == 1 })
	if n, err := d.Retry(ctx, "h2", seq); n != 1 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
	waitFor(t, "the dead letter back", func() bool {
		infos, err := d.List(ctx, true)
		return err == nil && len(infos[1].Letters) == 1 && infos[1].Letters[0].Attempts == 4
	})

	// Retry is kept across a restart: queued while stopped, delivered
	// by the next dispatcher.
	stop()
	if n, err := d.Retry(ctx, "h2", seq); n != 1 || err != nil {
		t.Fatalf("retry while stopped: %d, %v", n, err)
	}
	ok := newReceiver(t, nil)
	c2.URL = ok.srv.URL
	d = e.dispatcher(c, c2)
	if st := statusOf(t, d, "h2"); st.DeadLetters != 0 {
		t.Errorf("queued letter counted as dead: %+v", st)
	}
	start(t, d)
	waitDelivered(t, ok, seq)
	if st := waitIdle(t, d, "h2"); st.DeadLetters != 0 || st.Delivered != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestRedirectIsAFailure(t *testing.T) {
	e := newEnv(t)
	target := newReceiver(t, nil)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	c := hookConfig(t, "h", redirect.URL)
	c.MaxAttempts = 2
	d := e.dispatcher(c)
	start(t, d)
	e.append("alice", ctl.KindMessage)
	waitFor(t, "a dead letter", func() bool { return statusOf(t, d, "h").DeadLetters == 1 })
	if n := len(target.requests()); n != 0 {
		t.Errorf("redirect followed: the target saw %d requests", n)
	}
	if st := statusOf(t, d, "h"); !strings.Contains(st.LastError, "302") || st.Delivered != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestHangingReceiverBlocksNoOne(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var hung atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	fast := newReceiver(t, nil)
	slow := hookConfig(t, "slow", hang.URL)
	slow.Timeout = time.Hour
	d := e.dispatcher(slow, hookConfig(t, "fast", fast.srv.URL))
	start(t, d)
	var seqs []uint64
	for range 5 {
		seqs = append(seqs, e.append("alice", ctl.KindMessage))
	}
	waitDelivered(t, fast, seqs...)
	waitFor(t, "the hanging attempt", func() bool { return hung.Load() == 1 })
	st := statusOf(t, d, "slow")
	if st.State != ctl.WebhookDelivering || st.Attempts != 1 || st.Pending != 5 || st.Delivered != 0 {
		t.Errorf("slow status %+v", st)
	}
}

func TestAttemptTimeout(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	c := hookConfig(t, "h", hang.URL)
	c.Timeout, c.MaxAttempts = 20*time.Millisecond, 2
	d := e.dispatcher(c)
	start(t, d)
	e.append("alice", ctl.KindMessage)
	waitFor(t, "a dead letter", func() bool { return statusOf(t, d, "h").DeadLetters == 1 })
	if st := statusOf(t, d, "h"); !strings.Contains(st.LastError, "no answer within 20ms") {
		t.Errorf("status %+v", st)
	}
}

func TestRestartResumes(t *testing.T) {
	e := newEnv(t)
	e.append("alice", ctl.KindMessage) // before the webhook existed
	e.append("alice", ctl.KindMessage)
	rc := newReceiver(t, nil)
	c := hookConfig(t, "h", rc.srv.URL)
	d := e.dispatcher(c)
	stop := start(t, d)
	var want []uint64
	for range 3 {
		want = append(want, e.append("alice", ctl.KindMessage))
	}
	waitDelivered(t, rc, want...)
	waitFor(t, "the acknowledgements", func() bool { return statusOf(t, d, "h").Delivered == 3 })
	stop()
	for range 3 {
		want = append(want, e.append("alice", ctl.KindMessage))
	}
	d = e.dispatcher(c)
	if st := statusOf(t, d, "h"); st.Cursor != want[2] || st.Pending != 3 || st.Delivered != 3 {
		t.Errorf("status after restart %+v", st)
	}
	start(t, d)
	waitDelivered(t, rc, want...)
	if st := waitIdle(t, d, "h"); st.Delivered != 6 || st.Cursor != want[5] {
		t.Errorf("status %+v", st)
	}
	if n := len(rc.requests()); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
}

func TestFilter(t *testing.T) {
	e := newEnv(t)
	all := newReceiver(t, nil)
	alice := newReceiver(t, nil)
	receipts := newReceiver(t, nil)
	bobMessages := newReceiver(t, nil)
	ca := hookConfig(t, "alice", alice.srv.URL)
	ca.Clients = []string{"alice"}
	cr := hookConfig(t, "receipts", receipts.srv.URL)
	cr.Kinds = []string{ctl.KindReceipt}
	cb := hookConfig(t, "bob-messages", bobMessages.srv.URL)
	cb.Clients, cb.Kinds = []string{"bob"}, []string{ctl.KindMessage}
	d := e.dispatcher(hookConfig(t, "all", all.srv.URL), ca, cr, cb)

	var wantAll, wantAlice, wantReceipts, wantBob []uint64
	for _, ev := range []struct{ client, kind string }{
		{"alice", ctl.KindMessage}, {"bob", ctl.KindMessage}, {"bob", ctl.KindReceipt},
		{"alice", ctl.KindReceipt}, {"carol", ctl.KindMessage}, {"bob", ctl.KindState},
	} {
		seq := e.append(ev.client, ev.kind)
		wantAll = append(wantAll, seq)
		if ev.client == "alice" {
			wantAlice = append(wantAlice, seq)
		}
		if ev.kind == ctl.KindReceipt {
			wantReceipts = append(wantReceipts, seq)
		}
		if ev.client == "bob" && ev.kind == ctl.KindMessage {
			wantBob = append(wantBob, seq)
		}
	}
	for i, st := range d.Status(context.Background()) {
		if want := []int64{6, 2, 2, 1}[i]; st.Pending != want || st.State != ctl.WebhookIdle {
			t.Errorf("before Run: %+v, want %d pending", st, want)
		}
	}
	start(t, d)
	waitDelivered(t, all, wantAll...)
	waitDelivered(t, alice, wantAlice...)
	waitDelivered(t, receipts, wantReceipts...)
	waitDelivered(t, bobMessages, wantBob...)
	for _, name := range []string{"all", "alice", "receipts", "bob-messages"} {
		if st := waitIdle(t, d, name); st.Cursor != e.log.Head() {
			t.Errorf("%s: cursor %d, want the head %d", name, st.Cursor, e.log.Head())
		}
	}
	infos, err := d.List(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(infos[3].Clients, []string{"bob"}) || !slices.Equal(infos[3].Kinds, []string{ctl.KindMessage}) {
		t.Errorf("list %+v", infos[3])
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t)
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(http.ResponseWriter, *http.Request, int) int {
		if down.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	c := hookConfig(t, "h", rc.srv.URL)
	c.MaxAttempts = 1
	d := e.dispatcher(c)
	stop := start(t, d)
	e.append("alice", ctl.KindMessage)
	waitFor(t, "a dead letter", func() bool { return statusOf(t, d, "h").DeadLetters == 1 })
	if err := d.Reset(context.Background()); err == nil {
		t.Error("Reset while running succeeded")
	}
	stop()
	e.append("alice", ctl.KindMessage)
	d = e.dispatcher(c)
	if err := d.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, d, "h"); st.Cursor != e.log.Head() || st.DeadLetters != 0 || st.Pending != 0 {
		t.Errorf("status after reset %+v", st)
	}
	if infos, err := d.List(context.Background(), true); err != nil || len(infos[0].Letters) != 0 {
		t.Errorf("letters after reset: %+v, %v", infos, err)
	}
	down.Store(false)
	start(t, d)
	seq := e.append("alice", ctl.KindMessage)
	waitDelivered(t, rc, seq)
}

func TestDelay(t *testing.T) {
	c := Config{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		for range 50 {
			if got := c.delay(n, 0); got < want/2 || got > want {
				t.Fatalf("delay after attempt %d: %s, want within [%s, %s]", n, got, want/2, want)
			}
		}
	}
	if got := c.delay(1, 7*time.Second); got != 7*time.Second {
		t.Errorf("Retry-After 7s: %s", got)
	}
	if got := c.delay(1, time.Hour); got != 10*time.Second {
		t.Errorf("Retry-After 1h: %s, want max_backoff", got)
	}
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "soon": 0, "-1": 0,
		time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat): 0} {
		if got := retryAfter(v); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	e := newEnv(t)
	var when []time.Time
	var mu sync.Mutex
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, seen int) int {
		mu.Lock()
		when = append(when, time.Now())
		mu.Unlock()
		if seen == 0 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusNoContent
	})
	c := hookConfig(t, "h", rc.srv.URL)
	c.MaxBackoff = 2 * time.Second
	d := e.dispatcher(c)
	start(t, d)
	seq := e.append("alice", ctl.KindMessage)
	waitFor(t, "the retry scheduled", func() bool { return !statusOf(t, d, "h").NextAttempt.IsZero() })
	if st := statusOf(t, d, "h"); st.State != ctl.WebhookRetrying || st.Attempts != 1 || !strings.Contains(st.LastError, "429") {
		t.Errorf("status %+v", st)
	}
	waitDelivered(t, rc, seq)
	mu.Lock()
	defer mu.Unlock()
	if gap := when[1].Sub(when[0]); gap < 900*time.Millisecond {
		t.Errorf("retried after %s despite Retry-After: 1", gap)
	}
}

// A "whsec_" secret keys the HMAC with the bytes it encodes, as
// Standard Webhooks libraries read it; any other, with its own bytes.
func TestSignKeys(t *testing.T) {
	body := []byte(`{"seq":7}`)
	mac := hmac.New(sha256.New, []byte("raw key"))
	mac.Write([]byte("7.1700000000."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, secret := range []string{"raw key", "whsec_" + base64.StdEncoding.EncodeToString([]byte("raw key"))} {
		if got := Sign(secret, "7", "1700000000", body); got != want {
			t.Errorf("Sign with %q = %s, want %s", secret, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"ftp", Config{URL: "ftp://example.com/x", Secret: "s"}, "http or https"},
		{"relative", Config{URL: "/hook", Secret: "s"}, "absolute"},
		{"no host", Config{URL: "http:///hook", Secret: "s"}, "absolute"},
		{"no url", Config{Secret: "s"}, "url is required"},
		{"no secret", Config{URL: "https://example.com/hook"}, "secret is required"},
		{"bad kind", Config{URL: "https://example.com/hook", Secret: "s", Kinds: []string{"nope"}}, "unknown kind"},
		{"live kind", Config{URL: "https://example.com/hook", Secret: "s", Kinds: []string{ctl.KindQR}}, "never logged"},
		{"bad client", Config{URL: "https://example.com/hook", Secret: "s", Clients: []string{"a/b"}}, "invalid client id"},
		{"negative", Config{URL: "https://example.com/hook", Secret: "s", MaxAttempts: -1}, "negative"},
		{"backoff", Config{URL: "https://example.com/hook", Secret: "s", Backoff: time.Hour, MaxBackoff: time.Minute}, "exceeds"},
		{"whsec", Config{URL: "https://example.com/hook", Secret: "whsec_not base64!"}, "not followed by base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want an error with %q", err, tc.want)
			}
		})
	}

	c := Config{URL: "https://example.com/hook", Secret: "s"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{Name: c.URL, URL: c.URL, Secret: "s", Timeout: DefaultTimeout, MaxAttempts: DefaultMaxAttempts,
		Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}
	if c.Name != want.Name || c.Timeout != want.Timeout || c.MaxAttempts != want.MaxAttempts ||
		c.Backoff != want.Backoff || c.MaxBackoff != want.MaxBackoff {
		t.Errorf("defaults: %+v, want %+v", c, want)
	}

	// A default name shows no token of the URL's.
	c = Config{URL: "https://user:pw@example.com/hook?token=s3cret#x", Secret: "s"}
	if err := c.Validate(); err != nil || c.Name != "https://example.com/hook?…" {
		t.Errorf("default name of a URL with credentials and a query: %q, %v", c.Name, err)
	}

	hooks := []Config{{URL: "https://example.com/a", Secret: "s"}, {Name: "https://example.com/a", URL: "https://example.com/b", Secret: "s"}}
	if err := ValidateAll(hooks); err == nil || !strings.Contains(err.Error(), "duplicate name") {
		t.Errorf("ValidateAll with a duplicate: %v", err)
	}
	hooks[1].Name = "b"
	if err := ValidateAll(hooks); err != nil {
		t.Errorf("ValidateAll: %v", err)
	}
}

func BenchmarkDeliver(b *testing.B) {
	e := newEnv(b)
	var got atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		if got.Add(1) == int64(b.N) {
			close(done)
		}
	}))
	b.Cleanup(srv.Close)
	d := e.dispatcher(hookConfig(b, "h", srv.URL))
	for range b.N {
		e.append("alice", ctl.KindMessage)
	}
	b.ResetTimer()
	began := time.Now()
	start(b, d)
	<-done
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

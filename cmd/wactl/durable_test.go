package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// durableStub answers the methods of the event log and the webhooks:
// a subscribe is answered with head and since as asked, then the
// events of the stub (after the reply, as the daemon does); acks are
// recorded.
type durableStub struct {
	events []ctl.Event
	head   uint64

	mu   sync.Mutex
	acks []uint64
}

func (st *durableStub) handle(r stubRequest) (any, *ctl.Error) {
	switch r.Method {
	case ctl.MethodSubscribe:
		var p ctl.SubscribeParams
		json.Unmarshal(r.Params, &p)
		res := ctl.SubscribeResult{Subscription: "S1", Head: st.head, Since: p.Since}
		if p.Since == nil && p.Consumer == "old-reader" {
			res.Since = ptr(uint64(40))
		}
		return stubThen{res, func() {
			for _, ev := range st.events {
				ev.Subscription = "S1"
				r.Notify(ev)
			}
		}}, nil
	case ctl.MethodAck:
		var p ctl.AckParams
		json.Unmarshal(r.Params, &p)
		st.mu.Lock()
		st.acks = append(st.acks, p.Seq)
		st.mu.Unlock()
		return ctl.AckResult{Consumer: p.Consumer, Seq: p.Seq}, nil
	case ctl.MethodStatus:
		return ctl.StatusResult{Version: "test", PID: 4242, Uptime: 3725, Socket: "/run/wad/wad.sock",
			EventLog: &ctl.EventLogStatus{Head: 1234, Oldest: 1001, Events: 234, Bytes: 1_536_000, Consumers: 2},
			Webhooks: stubWebhooks(), Queued: map[string]int{"support": 2, "sales": 17}}, nil
	case ctl.MethodList:
		return ctl.ListResult{Sessions: []ctl.Session{{Client: "sales", Backend: "whatsmeow", State: ctl.StateConnected,
			JID: alice, Since: time.Date(2026, 12, 3, 15, 4, 5, 0, time.Local)}}}, nil
	case ctl.MethodWebhooks:
		var p ctl.WebhooksParams
		json.Unmarshal(r.Params, &p)
		var res ctl.WebhooksResult
		for _, w := range stubWebhooks() {
			info := ctl.WebhookInfo{WebhookStatus: w}
			if p.DeadLetters && w.DeadLetters > 0 {
				at := time.Date(2026, 12, 3, 14, 0, 0, 0, time.Local)
				info.Letters = []ctl.DeadLetter{
					{Seq: 1017, Client: "sales", Kind: ctl.KindMessage, Attempts: 10, LastError: "status 503 Service Unavailable", Time: at},
					{Seq: 1020, Client: "support", Kind: ctl.KindReceipt, Attempts: 10, LastError: "dial tcp 10.0.0.7:443: connect: connection refused", Time: at},
				}
			}
			res.Webhooks = append(res.Webhooks, info)
		}
		return res, nil
	case ctl.MethodWebhookRetry:
		var p ctl.WebhookRetryParams
		json.Unmarshal(r.Params, &p)
		switch {
		case p.Webhook != "crm":
			return nil, &ctl.Error{Code: ctl.CodeInvalidParams, Message: fmt.Sprintf("no webhook named %q", p.Webhook)}
		case p.Seq == 0:
			return ctl.WebhookRetryResult{Queued: 2}, nil
		case p.Seq == 1017:
			return ctl.WebhookRetryResult{Queued: 1}, nil
		}
		return ctl.WebhookRetryResult{}, nil
	}
	return ctl.OK{OK: true}, nil
}

func stubWebhooks() []ctl.WebhookStatus {
	return []ctl.WebhookStatus{
		{Name: "audit", URL: "https://audit.example.com/wad", State: ctl.WebhookIdle, Cursor: 1234, Delivered: 5120},
		{Name: "crm", URL: "https://crm.example.com/hooks/whatsapp", State: ctl.WebhookRetrying, Cursor: 1190, Pending: 44,
			Delivered: 870, Attempts: 3, LastError: "status 503 Service Unavailable", DeadLetters: 2,
			NextAttempt: time.Date(2026, 12, 3, 15, 4, 5, 0, time.Local)},
	}
}

// watchStub runs `wactl watch` with args against a durable stub and
// returns its exit code, its output and the acks the stub got. It
// interrupts the watch once until says the output is complete.
func watchStub(t *testing.T, st *durableStub, until func(string) bool, args ...string) (int, string, []uint64) {
	code, out, _ := watchStubRequests(t, st, until, args...)
	return code, out, st.acked()
}

// watchStubRequests is watchStub returning the requests the stub got.
func watchStubRequests(t *testing.T, st *durableStub, until func(string) bool, args ...string) (int, string, []stubRequest) {
	t.Helper()
	s := startStub(t, st.handle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncbuf.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, append([]string{"--socket", s.Socket, "watch"}, args...), nil, &out, &out) }()
	deadline := time.After(20 * time.Second)
	for !until(out.String()) {
		select {
		case code := <-done:
			return code, out.String(), s.Requests()
		case <-deadline:
			t.Fatalf("watch %q: no complete output after 20s:\n%s", args, out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	return <-done, out.String(), s.Requests()
}

func (st *durableStub) acked() []uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]uint64(nil), st.acks...)
}

// TestWatchConsumerAcknowledgesWhatItPrinted prevents a durable watch
// that loses events or acknowledges too often: a consumer's watch asks
// for its consumer, numbers each line with the event's seq, shows the
// events pruned before it read them, and acknowledges in batches up to
// the last event printed, the last batch at exit.
func TestWatchConsumerAcknowledgesWhatItPrinted(t *testing.T) {
	st := &durableStub{head: 250}
	at := time.Date(2026, 12, 3, 15, 4, 5, 0, time.Local)
	st.events = append(st.events, ctl.Event{Kind: ctl.KindEventsDropped, EventsDropped: &ctl.SeqRange{From: 1, To: 4}, Time: at})
	for seq := uint64(5); seq <= 250; seq++ {
		st.events = append(st.events, ctl.Event{Seq: seq, Client: "sales", Kind: ctl.KindMessage, Time: at,
			Message: &ctl.Message{ID: fmt.Sprintf("M%d", seq), Sender: alice, Chat: alice, Text: "hi"}})
	}
	st.events = append(st.events, ctl.Event{Client: "sales", Kind: ctl.KindQR, QR: "2@live-only", Time: at})
	code, out, acks := watchStub(t, st, func(s string) bool { return strings.Contains(s, "2@live-only") }, "--consumer", "crm-sync", "sales")
	if code != 0 {
		t.Fatalf("watch: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"consumer crm-sync is new: watching live after #250\n",
		"15:04:05 events_dropped: events #1-#4 were pruned from the log before they were read\n",
		`15:04:05 #5 sales message M5 from ` + alice + ` in ` + alice + `: "hi"` + "\n",
		"15:04:05 #250 sales message M250 ",
		"15:04:05 sales qr 2@live-only\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("watch output lacks %q", want)
		}
	}
	if len(acks) == 0 || len(acks) > 5 || acks[len(acks)-1] != 250 {
		t.Fatalf("acks %v: want a few batches, the last one 250", acks)
	}
	for i := 1; i < len(acks); i++ {
		if acks[i] <= acks[i-1] {
			t.Errorf("acks %v go backwards", acks)
		}
	}
	var sub ctl.SubscribeParams
	_, _, reqs := watchStubRequests(t, st, func(s string) bool { return strings.Contains(s, "2@live-only") },
		"--consumer", "crm-sync", "--since", "0", "--kinds", "message,state", "sales")
	for _, r := range reqs {
		if r.Method == ctl.MethodSubscribe {
			r.decode(t, &sub)
		}
	}
	if sub.Consumer != "crm-sync" || sub.Since == nil || *sub.Since != 0 || strings.Join(sub.Kinds, ",") != "message,state" || strings.Join(sub.Clients, ",") != "sales" {
		t.Errorf("subscribe params %+v", sub)
	}
}

// TestWatchReplayAndLoss prevents a replay that does not say where it
// starts, and a consumer that acknowledges past events it lost: when
// the daemon reports events dropped, the watch acknowledges only what
// came before and exits 1 saying where the next watch resumes.
func TestWatchReplayAndLoss(t *testing.T) {
	at := time.Date(2026, 12, 3, 15, 4, 5, 0, time.Local)
	st := &durableStub{head: 60}
	for seq := uint64(41); seq <= 45; seq++ {
		st.events = append(st.events, ctl.Event{Seq: seq, Client: "sales", Kind: ctl.KindState, Time: at,
			Session: &ctl.Session{Client: "sales", State: ctl.StateConnected}})
	}
	st.events = append(st.events, ctl.Event{Seq: 50, Client: "sales", Kind: ctl.KindState, Dropped: 4, Time: at,
		Session: &ctl.Session{Client: "sales", State: ctl.StateDisconnected}})
	// The daemon's drops are live-only events, which no watch gets
	// again: a consumer shows them and goes on.
	code, out, acks := watchStub(t, st, func(s string) bool { return strings.Contains(s, "#50") }, "--consumer", "old-reader")
	if code != 0 || !strings.Contains(out, "replaying the events after #40 (the log's head is #60), then live\n") ||
		!strings.Contains(out, "15:04:05 #45 sales state connected\n") ||
		!strings.Contains(out, "15:04:05 #50 sales state disconnected [4 earlier events dropped]") {
		t.Errorf("watch with live-only losses: exit %d\n%s", code, out)
	}
	if len(acks) == 0 || acks[len(acks)-1] != 50 {
		t.Errorf("acks %v, want the last one 50", acks)
	}

	// Without a consumer nothing is acknowledged, and a loss is shown.
	st = &durableStub{head: 60, events: st.events}
	code, out, acks = watchStub(t, st, func(s string) bool { return strings.Contains(s, `"seq":50`) }, "--since", "40", "--json")
	if code != 0 || len(acks) != 0 || strings.Contains(out, "replaying") || !strings.Contains(out, `{"subscription":"S1","seq":50,"client":"sales","kind":"state"`) {
		t.Errorf("watch --since --json: exit %d, acks %v\n%s", code, acks, out)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"watch", "--since", "-1"}, "want a sequence number"},
		{[]string{"watch", "--since", "x"}, "want a sequence number"},
		{[]string{"watch", "--consumer", "no such/name"}, "invalid consumer name"},
		{[]string{"webhooks", "retry", "crm", "0"}, "want an event's sequence number"},
		{[]string{"webhooks", "retry"}, "takes NAME [SEQ]"},
		{[]string{"webhooks", "extra"}, "takes no arguments"},
	} {
		code, _, errs := wactl(t, "/nonexistent", "", tc.args...)
		if code != 2 || !strings.Contains(errs, tc.msg) {
			t.Errorf("wactl %q: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.msg)
		}
	}
}

// TestWebhooksAndEventLogStatus prevents webhook and event log state
// that wactl does not show: the webhooks table, their dead letters,
// a retry's count, and the lines of status.
func TestWebhooksAndEventLogStatus(t *testing.T) {
	t.Setenv("COLUMNS", "")
	st := &durableStub{}
	s := startStub(t, st.handle)
	code, out, errs := wactl(t, s.Socket, "", "webhooks")
	if code != 0 {
		t.Fatalf("webhooks: exit %d %q", code, errs)
	}
	golden(t, "webhooks", out)
	code, out, _ = wactl(t, s.Socket, "", "webhooks", "--dead-letters")
	if code != 0 {
		t.Fatalf("webhooks --dead-letters: exit %d", code)
	}
	golden(t, "webhooks-dead-letters", out)
	code, out, _ = wactl(t, s.Socket, "", "status")
	if code != 0 {
		t.Fatalf("status: exit %d", code)
	}
	golden(t, "status-webhooks", out)

	code, out, _ = wactl(t, s.Socket, "", "--json", "webhooks", "--dead-letters")
	var list ctl.WebhooksResult
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Webhooks) != 2 || len(list.Webhooks[1].Letters) != 2 {
		t.Errorf("--json webhooks: exit %d %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"webhooks", "retry", "crm"}, 0, "crm: queued 2 dead letters for delivery again\n"},
		{[]string{"webhooks", "retry", "crm", "1017"}, 0, "crm: queued 1 dead letter for delivery again\n"},
		{[]string{"webhooks", "retry", "crm", "999"}, 0, "crm: no dead letter #999: nothing queued\n"},
		{[]string{"--json", "webhooks", "retry", "crm"}, 0, "{\n  \"queued\": 2\n}\n"},
		{[]string{"webhooks", "retry", "erp"}, 1, ""},
	} {
		code, out, errs := wactl(t, s.Socket, "", tc.args...)
		if code != tc.code || out != tc.out {
			t.Errorf("wactl %q: exit %d, %q %q; want %d and %q", tc.args, code, out, errs, tc.code, tc.out)
		}
	}
	var retries []ctl.WebhookRetryParams
	for _, r := range s.Requests() {
		if r.Method == ctl.MethodWebhookRetry {
			var p ctl.WebhookRetryParams
			r.decode(t, &p)
			retries = append(retries, p)
		}
	}
	if len(retries) != 5 || retries[1] != (ctl.WebhookRetryParams{Webhook: "crm", Seq: 1017}) || retries[4].Webhook != "erp" {
		t.Errorf("retry params %+v", retries)
	}
}

// TestWatchResumesAConsumer prevents a durable watch that does not
// resume against the real daemon: --since replays the log with each
// event's seq, and a consumer's second watch starts with the event
// after the last one its first watch printed.
func TestWatchResumesAConsumer(t *testing.T) {
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	if _, err := d.Client.Login(context.Background(), ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	emit := func(id string) {
		b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: id, Sender: alice, Chat: alice, Text: "text of " + id}})
	}
	// watch runs a watch until its output has want, then interrupts it.
	watch := func(want string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out syncbuf.Buffer
		done := make(chan int)
		go func() {
			done <- run(ctx, append([]string{"--socket", d.Socket, "watch", "sales", "--kinds", "message"}, args...), nil, &out, &out)
		}()
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("watch %q: no %q after 20s:\n%s", args, want, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("watch %q: exit %d\n%s", args, code, out.String())
		}
		return out.String()
	}
	emit("M1")
	emit("M2")
	out := watch(`"text of M2"`, "--since", "0")
	if !strings.Contains(out, "replaying the events after #0") || !regexp.MustCompile(`#\d+ sales message M1 from `).MatchString(out) {
		t.Errorf("watch --since 0:\n%s", out)
	}

	subs := d.Registry.Bus().Len()
	go func() {
		for d.Registry.Bus().Len() == subs {
			time.Sleep(5 * time.Millisecond)
		}
		emit("M3")
	}()
	out = watch(`"text of M3"`, "--consumer", "crm")
	if !strings.Contains(out, "consumer crm is new") || strings.Contains(out, "M2") {
		t.Errorf("first watch of a new consumer:\n%s", out)
	}
	emit("M4")
	out = watch(`"text of M4"`, "--consumer", "crm")
	if strings.Contains(out, "M3") || !strings.Contains(out, "replaying the events after #") {
		t.Errorf("second watch of the consumer:\n%s", out)
	}
	code, out, _ := wactl(t, d.Socket, "", "status")
	if code != 0 || !strings.Contains(out, ", 1 consumer\n") {
		t.Errorf("status after a consumer's watch: exit %d\n%s", code, out)
	}
}

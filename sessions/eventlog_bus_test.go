package sessions_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/eventlog"
)

// logBus returns a bus backed by a real event log in a fresh wad.db.
func logBus(t testing.TB, buffer int, o eventlog.Options) (*sessions.Bus, *eventlog.Log) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := eventlog.Open(ctx, db, o)
	if err != nil {
		t.Fatal(err)
	}
	return &sessions.Bus{Buffer: buffer, Log: l}, l
}

func msg(i int) ctl.Event {
	return ctl.Event{Client: "c", Kind: ctl.KindMessage, Message: &ctl.Message{ID: fmt.Sprint(i)}}
}

// next reads one event or fails the test after a while.
func next(t *testing.T, sub *sessions.Subscription) ctl.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

// A subscription that stops reading is switched to the log when its live
// queue overflows and, read again, delivers every event once, in order,
// then goes on live. Only the live-only kinds are lost.
func TestOverflowedSubscriptionReplaysFromTheLogAndLosesNothing(t *testing.T) {
	b, _ := logBus(t, 4, eventlog.Options{})
	sub := b.Subscribe(nil, nil)
	for i := 1; i <= 100; i++ {
		b.Publish(msg(i))
		if i == 50 {
			b.Publish(ctl.Event{Client: "c", Kind: ctl.KindQR, QR: "x"})
		}
	}
	var dropped uint64
	for i := 1; i <= 100; i++ {
		ev := next(t, sub)
		if ev.Kind != ctl.KindMessage || ev.Message.ID != fmt.Sprint(i) || ev.Seq != uint64(i) {
			t.Fatalf("event %d: got %s %+v seq %d", i, ev.Kind, ev.Message, ev.Seq)
		}
		dropped += ev.Dropped
	}
	if dropped != 1 || sub.Dropped() != 1 {
		t.Fatalf("dropped %d (Dropped() %d); want just the qr event", dropped, sub.Dropped())
	}
	b.Publish(msg(101))
	b.Publish(ctl.Event{Client: "c", Kind: ctl.KindQR, QR: "y"})
	if ev := next(t, sub); ev.Seq != 101 {
		t.Fatalf("live again: got seq %d", ev.Seq)
	}
	if ev := next(t, sub); ev.Kind != ctl.KindQR || ev.Seq != 0 {
		t.Fatalf("live-only event after catching up: %+v", ev)
	}
}

// SubscribeSince while a publisher runs: the replay and the live queue
// meet with no gap and no duplicate, whichever wins each race.
func TestReplaySeamUnderConcurrentPublishing(t *testing.T) {
	b, _ := logBus(t, 8, eventlog.Options{})
	const total = 3000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= total; i++ {
			b.Publish(msg(i))
		}
	})
	var subs []*sessions.Subscription
	for since := uint64(0); len(subs) < 6; since += 200 {
		sub, err := b.SubscribeSince(nil, nil, min(since, b.Log.Head()))
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	for _, sub := range subs {
		ev := next(t, sub)
		first := ev.Seq
		for want := first + 1; want <= total; want++ {
			ev = next(t, sub)
			if ev.Seq != want || ev.Message.ID != fmt.Sprint(want) {
				t.Fatalf("%s: after seq %d got seq %d (id %s)", sub.ID, want-1, ev.Seq, ev.Message.ID)
			}
		}
	}
}

// A filtered replay delivers the matching events only and reports what
// retention pruned before it got there, once.
func TestReplayFiltersAndReportsWhatRetentionPruned(t *testing.T) {
	b, l := logBus(t, 0, eventlog.Options{})
	for i := 1; i <= 20; i++ {
		ev := msg(i)
		if i%2 == 0 {
			ev.Client = "other"
		}
		b.Publish(ev)
	}
	sub, err := b.SubscribeSince([]string{"c"}, []string{ctl.KindMessage}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Head != 20 {
		t.Fatalf("Head %d, want 20", sub.Head)
	}
	for _, want := range []uint64{5, 7} {
		if ev := next(t, sub); ev.Seq != want {
			t.Fatalf("got seq %d, want %d", ev.Seq, want)
		}
	}

	// Prune everything older than now while a second reader sits at 4.
	late, err := b.SubscribeSince([]string{"c"}, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Prune(context.Background(), time.Now().Add(eventlog.DefaultMaxAge+time.Minute)); err != nil || n != 20 {
		t.Fatalf("pruned %d (%v), want 20", n, err)
	}
	b.Publish(msg(21))
	ev := next(t, late)
	if ev.Kind != ctl.KindEventsDropped || ev.EventsDropped == nil || *ev.EventsDropped != (ctl.SeqRange{From: 5, To: 20}) {
		t.Fatalf("got %+v (%+v), want events_dropped 5..20", ev, ev.EventsDropped)
	}
	if ev := next(t, late); ev.Seq != 21 {
		t.Fatalf("after the loss got seq %d, want 21", ev.Seq)
	}
	if _, err := b.SubscribeSince(nil, nil, 22); !isInvalidParams(err) {
		t.Fatalf("since past the head: %v", err)
	}
}

func isInvalidParams(err error) bool {
	e, ok := err.(*ctl.Error)
	return ok && e.Code == ctl.CodeInvalidParams
}

// BenchmarkPublish measures what the event log adds to publishing one
// message event to one live subscriber: compare the two sub-benchmarks'
// ns/op.
func BenchmarkPublish(b *testing.B) {
	ev := ctl.Event{Client: "sales", Kind: ctl.KindMessage, Message: &ctl.Message{
		ID: "3EB0C431C26A1916E2F1", Chat: "4915112345678@s.whatsapp.net", Sender: "4915112345678@s.whatsapp.net",
		Timestamp: time.Now(), Type: "text", Text: "Hello, could you send me the invoice for last month? Thanks!"}}
	for _, withLog := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "log"}[withLog], func(b *testing.B) {
			bus := &sessions.Bus{}
			if withLog {
				bus, _ = logBus(b, 0, eventlog.Options{})
			}
			sub := bus.Subscribe(nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for {
					if _, err := sub.Next(ctx); err != nil {
						return
					}
				}
			}()
			b.ResetTimer()
			for b.Loop() {
				bus.Publish(ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

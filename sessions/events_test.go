package sessions_test

import (
	"context"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

func TestSlowSubscriberDropsOldestAndNeverBlocksPublish(t *testing.T) {
	b := &sessions.Bus{Buffer: 4}
	sub := b.Subscribe(nil, nil)
	done := make(chan struct{})
	go func() {
		for i := range 10 {
			b.Publish(ctl.Event{Client: "c", Kind: ctl.KindState, QR: string(rune('a' + i))})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	ev, err := sub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ev.QR != "g" || ev.Dropped != 6 || ev.Subscription != sub.ID {
		t.Fatalf("first event after overflow = %+v; want the 7th with 6 dropped", ev)
	}
	for _, want := range []string{"h", "i", "j"} {
		ev, _ := sub.Next(context.Background())
		if ev.QR != want || ev.Dropped != 0 {
			t.Fatalf("got %+v, want %s", ev, want)
		}
	}
	if sub.Dropped() != 6 {
		t.Fatalf("Dropped() = %d", sub.Dropped())
	}
}

func TestSubscriptionFiltersAndEndsOnUnsubscribe(t *testing.T) {
	b := &sessions.Bus{}
	sub := b.Subscribe([]string{"sales"}, []string{ctl.KindMessage})
	b.Publish(ctl.Event{Client: "other", Kind: ctl.KindMessage})
	b.Publish(ctl.Event{Client: "sales", Kind: ctl.KindState})
	b.Publish(ctl.Event{Client: "sales", Kind: ctl.KindMessage, Message: &ctl.Message{ID: "m1"}})
	ev, err := sub.Next(context.Background())
	if err != nil || ev.Message == nil || ev.Message.ID != "m1" {
		t.Fatalf("got %+v, %v", ev, err)
	}
	if !b.Unsubscribe(sub.ID) {
		t.Fatal("unsubscribe of a live subscription returned false")
	}
	if _, err := sub.Next(context.Background()); err != sessions.ErrClosed {
		t.Fatalf("Next after unsubscribe: %v", err)
	}
}

// The daemon's own tap sees its kinds but is not a peer's subscription.
func TestTapReceivesItsKindsAndIsNotCounted(t *testing.T) {
	b := &sessions.Bus{}
	tap := b.Tap([]string{ctl.KindCall})
	sub := b.Subscribe(nil, nil)
	if n := b.Len(); n != 1 {
		t.Fatalf("Len %d with one subscription and one tap", n)
	}
	b.Publish(ctl.Event{Client: "c", Kind: ctl.KindState})
	b.Publish(ctl.Event{Client: "c", Kind: ctl.KindCall, Call: &ctl.Call{ID: "x"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := tap.Next(ctx)
	if err != nil || ev.Kind != ctl.KindCall || ev.Call.ID != "x" {
		t.Fatalf("tap got %+v, %v", ev, err)
	}
	if ev, _ := sub.Next(ctx); ev.Kind != ctl.KindState {
		t.Fatalf("subscription got %+v first", ev)
	}
}

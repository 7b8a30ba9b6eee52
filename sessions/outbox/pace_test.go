package outbox

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

func TestPacerBucket(t *testing.T) {
	p := Pacing{PerMinute: 600, Burst: 5} // a token every 100ms
	var pc pacer
	t0 := time.Unix(1700000000, 0)
	for i := range 5 {
		if d := pc.delay(t0, p); d != 0 {
			t.Fatalf("send %d of the burst waits %s", i, d)
		}
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
		if d := pc.delay(t0, p); d != want {
			t.Fatalf("send %d after the burst waits %s, want %s", i+6, d, want)
		}
	}
	// A second later the bucket is full again, and no fuller.
	t1 := t0.Add(time.Second)
	for i := range 5 {
		if d := pc.delay(t1, p); d != 0 {
			t.Fatalf("send %d of the second burst waits %s", i, d)
		}
	}
	if d := pc.delay(t1, p); d != 100*time.Millisecond {
		t.Fatalf("send after the second burst waits %s", d)
	}
	// 25 sends from an empty start: 5 at once, then one every 100ms.
	pc = pacer{}
	var last time.Duration
	for range 25 {
		last = pc.delay(t0, p)
	}
	if last != 2*time.Second {
		t.Errorf("the 25th send waits %s, want 2s", last)
	}
}

func TestPacerUnlimited(t *testing.T) {
	var pc pacer
	now := time.Now()
	for range 1000 {
		if d := pc.delay(now, Pacing{}); d != 0 {
			t.Fatalf("no pacing waits %s", d)
		}
	}
}

func TestPacerPause(t *testing.T) {
	p := Pacing{MinDelay: time.Second, MaxDelay: 3 * time.Second}
	t0 := time.Unix(1700000000, 0)
	pc := pacer{}
	if d := pc.delay(t0, p); d != 0 {
		t.Fatalf("the first send waits %s", d)
	}
	pc.last = t0
	for range 100 {
		if d := pc.delay(t0.Add(500*time.Millisecond), p); d < 500*time.Millisecond || d > 2500*time.Millisecond {
			t.Fatalf("500ms after a send, the next waits %s, want 0.5s to 2.5s", d)
		}
	}
	if d := pc.delay(t0.Add(time.Minute), p); d != 0 {
		t.Errorf("a minute after a send, the next waits %s", d)
	}
	fixed := Pacing{MinDelay: time.Second, MaxDelay: time.Second}
	if d := pc.delay(t0, fixed); d != time.Second {
		t.Errorf("fixed pause: %s", d)
	}
}

func TestPacerReconfigured(t *testing.T) {
	var pc pacer
	t0 := time.Unix(1700000000, 0)
	pc.delay(t0, Pacing{PerMinute: 60, Burst: 1})
	if d := pc.delay(t0, Pacing{PerMinute: 60, Burst: 1}); d != time.Second {
		t.Fatalf("60 a minute: %s", d)
	}
	if d := pc.delay(t0.Add(2*time.Second), Pacing{PerMinute: 6000, Burst: 1}); d != 0 {
		t.Fatalf("after raising the rate: %s", d)
	}
	if d := pc.delay(t0.Add(2*time.Second), Pacing{PerMinute: 6000, Burst: 1}); d != 10*time.Millisecond {
		t.Fatalf("at 6000 a minute: %s", d)
	}
}

func TestTypingTime(t *testing.T) {
	p := Pacing{Typing: true, TypingSpeed: 15, MaxTyping: 5 * time.Second}
	for _, tc := range []struct {
		text string
		p    Pacing
		want time.Duration
	}{
		{"", p, 0},
		{"123456789012345", p, time.Second},
		{"ééééé", p, time.Second / 3},
		{string(make([]byte, 1000)), p, 5 * time.Second},
		{"hello", Pacing{TypingSpeed: 15, MaxTyping: time.Second}, 0},
	} {
		if got := typingTime(tc.text, tc.p); got != tc.want {
			t.Errorf("typingTime(%d chars, %+v) = %s, want %s", len(tc.text), tc.p, got, tc.want)
		}
	}
}

// BenchmarkBurstOf100 queues 100 sends for one client paced at 1200 a
// minute with a burst of 10 and no pause, and reports the rate the
// backend saw them at and the most it saw in any one second: the
// configured 20 a second plus the burst.
func BenchmarkBurstOf100(b *testing.B) {
	cfg := fast()
	cfg.PerMinute, cfg.Burst = 1200, 10
	var rate, window float64
	for range b.N {
		b.StopTimer()
		e := newEnv(b, cfg)
		e.login("c1")
		var last string
		for i := range 100 {
			last = e.enqueue("c1", text(fmt.Sprint("burst ", i))).ID
		}
		b.StartTimer()
		e.run()
		e.wait("c1", last)
		b.StopTimer()
		ops := e.b.ops("c1", false)
		if len(ops) != 100 {
			b.Fatalf("%d sends, want 100", len(ops))
		}
		at := make([]time.Time, len(ops))
		for i, d := range ops {
			at[i] = d.at
		}
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		span := at[len(at)-1].Sub(at[0])
		rate = float64(len(at)-1) / span.Minutes()
		most := 0
		for i := range at {
			j := sort.Search(len(at), func(j int) bool { return at[j].Sub(at[i]) >= time.Second })
			most = max(most, j-i)
		}
		window = float64(most)
		e.halt()
	}
	b.ReportMetric(rate, "sends/min")
	b.ReportMetric(window, "max-sends/1s")
}

package eventlog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
)

func openDB(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openLog(t testing.TB, path string, o Options) (*Log, *store.DB) {
	t.Helper()
	db := openDB(t, path)
	l, err := Open(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	return l, db
}

func newLog(t testing.TB, o Options) *Log {
	t.Helper()
	l, _ := openLog(t, filepath.Join(t.TempDir(), store.FileName), o)
	return l
}

func message(client string, i int) *ctl.Event {
	return &ctl.Event{
		Client: client,
		Kind:   ctl.KindMessage,
		Message: &ctl.Message{
			ID:        fmt.Sprintf("3EB0%016X", i),
			Chat:      "4915112345678@s.whatsapp.net",
			Sender:    "4915112345678@s.whatsapp.net",
			Timestamp: time.Unix(1764770000+int64(i), 0).UTC(),
			Type:      "text",
			Text:      "Hallo, ist das Paket schon angekommen? Ich warte seit Montag darauf und hätte es gern bis Freitag.",
		},
	}
}

func appendN(t testing.TB, l *Log, n int, ev func(i int) *ctl.Event) {
	t.Helper()
	for i := range n {
		if err := l.Append(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(evs []ctl.Event) []uint64 {
	var s []uint64
	for _, e := range evs {
		s = append(s, e.Seq)
	}
	return s
}

func span(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// mixed is event i of a log whose clients go a, b, c and whose kinds
// alternate message, receipt.
func mixed(i int) *ctl.Event {
	c := string(rune('a' + i%3))
	if i%2 == 1 {
		return &ctl.Event{Client: c, Kind: ctl.KindReceipt, Receipt: &ctl.Receipt{IDs: []string{fmt.Sprint(i)}, Type: "read"}}
	}
	return message(c, i)
}

func TestAppendNumbersAndReadFilters(t *testing.T) {
	ctx := context.Background()
	l := newLog(t, Options{})
	if l.Head() != 0 {
		t.Fatalf("head of a new log = %d", l.Head())
	}
	for i := range 12 {
		ev := mixed(i)
		ev.Subscription, ev.Dropped = "sub-1", 3
		if err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i+1) || ev.Time.IsZero() {
			t.Fatalf("append %d: seq %d, time %v", i, ev.Seq, ev.Time)
		}
	}
	if l.Head() != 12 {
		t.Fatalf("head = %d, want 12", l.Head())
	}

	b, err := l.Read(ctx, 0, 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(b.Events), span(1, 12)) || b.Through != 12 || b.Lost != nil {
		t.Fatalf("read all: seqs %v through %d lost %v", seqs(b.Events), b.Through, b.Lost)
	}
	e := b.Events[2]
	if e.Client != "c" || e.Kind != ctl.KindMessage || e.Message == nil || e.Message.Text == "" || e.Time.IsZero() {
		t.Fatalf("event 3 = %+v", e)
	}
	if e.Subscription != "" || e.Dropped != 0 {
		t.Fatalf("event 3 kept subscription %q dropped %d", e.Subscription, e.Dropped)
	}

	for _, c := range []struct {
		name    string
		after   uint64
		limit   int
		f       Filter
		want    []uint64
		through uint64
	}{
		{"one client", 0, 0, Filter{Clients: []string{"b"}}, []uint64{2, 5, 8, 11}, 12},
		{"two clients", 0, 0, Filter{Clients: []string{"a", "c"}}, []uint64{1, 3, 4, 6, 7, 9, 10, 12}, 12},
		{"kinds", 0, 0, Filter{Kinds: []string{ctl.KindReceipt}}, []uint64{2, 4, 6, 8, 10, 12}, 12},
		{"both", 0, 0, Filter{Clients: []string{"a"}, Kinds: []string{ctl.KindMessage}}, []uint64{1, 7}, 12},
		{"after", 5, 0, Filter{}, span(6, 12), 12},
		{"limit", 0, 5, Filter{}, span(1, 5), 5},
		{"limit filtered", 0, 2, Filter{Clients: []string{"b"}}, []uint64{2, 5}, 5},
		{"limit not reached", 8, 3, Filter{Clients: []string{"b"}}, []uint64{11}, 12},
		{"limit exactly reached", 0, 4, Filter{Clients: []string{"b"}}, []uint64{2, 5, 8, 11}, 11},
		{"nothing matches", 3, 0, Filter{Clients: []string{"z"}}, nil, 12},
		{"at head", 12, 0, Filter{}, nil, 12},
		{"past head", 20, 0, Filter{}, nil, 20},
	} {
		b, err := l.Read(ctx, c.after, c.limit, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(seqs(b.Events), c.want) || b.Through != c.through || b.Lost != nil {
			t.Errorf("%s: seqs %v through %d lost %v, want %v through %d", c.name, seqs(b.Events), b.Through, b.Lost, c.want, c.through)
		}
		n, err := l.Count(ctx, c.after, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.limit == 0 && n != int64(len(c.want)) {
			t.Errorf("%s: count %d, want %d", c.name, n, len(c.want))
		}
	}

	if err := l.Append(&ctl.Event{Client: "a", Kind: ctl.KindQR, QR: "x"}); err == nil {
		t.Error("appending a qr event succeeded")
	}
	if l.Head() != 12 {
		t.Errorf("head after a refused append = %d", l.Head())
	}
}

func TestReadPagesThroughTheLog(t *testing.T) {
	ctx := context.Background()
	l := newLog(t, Options{})
	appendN(t, l, 100, mixed)
	for _, f := range []Filter{{}, {Clients: []string{"b"}}, {Clients: []string{"a", "b"}, Kinds: []string{ctl.KindMessage}}} {
		var got []uint64
		pos := uint64(0)
		for pos < l.Head() {
			b, err := l.Read(ctx, pos, 7, f)
			if err != nil {
				t.Fatal(err)
			}
			if b.Through <= pos {
				t.Fatalf("%+v: read after %d went through %d", f, pos, b.Through)
			}
			got = append(got, seqs(b.Events)...)
			pos = b.Through
		}
		want, err := l.Read(ctx, 0, 1000, f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, seqs(want.Events)) {
			t.Errorf("%+v: paged %v, in one read %v", f, got, seqs(want.Events))
		}
	}
}

func TestHeadSurvivesReopenAndReset(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.FileName)
	l, db := openLog(t, path, Options{})
	appendN(t, l, 5, mixed)
	if _, err := l.Ack(ctx, "hook", 3); err != nil {
		t.Fatal(err)
	}
	db.Close()

	l, db = openLog(t, path, Options{})
	if l.Head() != 5 {
		t.Fatalf("head after reopen = %d, want 5", l.Head())
	}
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Oldest != 1 || st.Events != 5 || st.Consumers != 1 {
		t.Fatalf("status after reopen = %+v", st)
	}
	checkCounters(t, l, db)
	if err := l.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := l.Status(ctx); err != nil || st != (ctl.EventLogStatus{Head: 5, Oldest: 6}) {
		t.Fatalf("status after reset = %+v, %v", st, err)
	}
	if _, ok, err := l.Position(ctx, "hook"); err != nil || ok {
		t.Fatalf("position after reset: ok %v, %v", ok, err)
	}
	db.Close()

	l, db = openLog(t, path, Options{})
	if st, err := l.Status(ctx); err != nil || st != (ctl.EventLogStatus{Head: 5, Oldest: 6}) {
		t.Fatalf("status after reset and reopen = %+v, %v", st, err)
	}
	b, err := l.Read(ctx, 2, 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost == nil || *b.Lost != (ctl.SeqRange{From: 3, To: 5}) || len(b.Events) != 0 || b.Through != 5 {
		t.Fatalf("read after 2 of a reset log: lost %v events %v through %d", b.Lost, seqs(b.Events), b.Through)
	}
	ev := mixed(0)
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 6 {
		t.Fatalf("first append after reset got seq %d, want 6", ev.Seq)
	}
	b, err = l.Read(ctx, 2, 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost == nil || *b.Lost != (ctl.SeqRange{From: 3, To: 5}) || !slices.Equal(seqs(b.Events), []uint64{6}) || b.Through != 6 {
		t.Fatalf("read after 2: lost %v events %v through %d", b.Lost, seqs(b.Events), b.Through)
	}
	checkCounters(t, l, db)
}

// checkCounters compares the log's figures with the table's.
func checkCounters(t *testing.T, l *Log, db *store.DB) {
	t.Helper()
	var n, size int64
	var oldest, newest *int64
	if err := db.QueryRow("SELECT count(*), coalesce(sum(length(body)), 0), min(seq), max(seq) FROM events").
		Scan(&n, &size, &oldest, &newest); err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != n || st.Bytes != size {
		t.Errorf("status says %d events of %d bytes, the table holds %d of %d", st.Events, st.Bytes, n, size)
	}
	if n == 0 {
		if st.Oldest != st.Head+1 {
			t.Errorf("empty log: oldest %d, head %d", st.Oldest, st.Head)
		}
		return
	}
	if uint64(*oldest) != st.Oldest || uint64(*newest) != st.Head || *newest-*oldest+1 != n {
		t.Errorf("status %+v, table holds %d events in [%d, %d]", st, n, *oldest, *newest)
	}
}

func TestPruneByAge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.FileName)
	l, db := openLog(t, path, Options{MaxAge: time.Hour})
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	appendN(t, l, 2500, func(i int) *ctl.Event {
		ev := mixed(i)
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		return ev
	})
	n, err := l.Prune(ctx, t0.Add(time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("prune at the first event's max age: removed %d, %v", n, err)
	}
	// Events 1..2100 are older than an hour at t0+2100s+1h.
	n, err = l.Prune(ctx, t0.Add(time.Hour+2100*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2100 {
		t.Fatalf("pruned %d, want 2100", n)
	}
	checkCounters(t, l, db)
	b, err := l.Read(ctx, 10, 5, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost == nil || *b.Lost != (ctl.SeqRange{From: 11, To: 2100}) || !slices.Equal(seqs(b.Events), span(2101, 2105)) || b.Through != 2105 {
		t.Fatalf("read after 10: lost %v events %v through %d", b.Lost, seqs(b.Events), b.Through)
	}
	b, err = l.Read(ctx, 2099, 1, Filter{Clients: []string{"zz"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost == nil || *b.Lost != (ctl.SeqRange{From: 2100, To: 2100}) || len(b.Events) != 0 || b.Through != 2500 {
		t.Fatalf("read after 2099: lost %v events %v through %d", b.Lost, seqs(b.Events), b.Through)
	}
	b, err = l.Read(ctx, 2100, 1, Filter{})
	if err != nil || b.Lost != nil || !slices.Equal(seqs(b.Events), []uint64{2101}) {
		t.Fatalf("read after 2100: lost %v events %v, %v", b.Lost, seqs(b.Events), err)
	}

	n, err = l.Prune(ctx, t0.Add(48*time.Hour))
	if err != nil || n != 400 {
		t.Fatalf("pruning everything removed %d, %v", n, err)
	}
	checkCounters(t, l, db)
	var free int64
	if err := db.QueryRow("PRAGMA freelist_count").Scan(&free); err != nil || free != 0 {
		t.Errorf("free pages after pruning: %d, %v", free, err)
	}
	db.Close()
	l, db = openLog(t, path, Options{MaxAge: time.Hour})
	if st, err := l.Status(ctx); err != nil || st != (ctl.EventLogStatus{Head: 2500, Oldest: 2501}) {
		t.Fatalf("status after pruning everything and reopening = %+v, %v", st, err)
	}
	checkCounters(t, l, db)
}

func TestPruneBySize(t *testing.T) {
	ctx := context.Background()
	const maxBytes = 100_000
	path := filepath.Join(t.TempDir(), store.FileName)
	l, db := openLog(t, path, Options{MaxBytes: maxBytes})
	appendN(t, l, 3000, mixed)
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.Prune(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkCounters(t, l, db)
	after, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Bytes > maxBytes || st.Events-after.Events != n {
		t.Fatalf("pruned %d: before %+v, after %+v", n, st, after)
	}
	var next int64
	if err := db.QueryRow("SELECT length(body) FROM events WHERE seq = ?", after.Oldest-1).Scan(&next); err == nil {
		t.Fatalf("event %d, before the oldest, is still there", after.Oldest-1)
	}
	// Keeping one more event would have taken the log over max: the
	// prefix removed is the shortest.
	var last int64
	if err := db.QueryRow("SELECT max(length(body)) FROM events").Scan(&last); err != nil {
		t.Fatal(err)
	}
	if after.Bytes+last <= maxBytes {
		t.Errorf("kept %d bytes of %d; an event (≤ %d bytes) more would have fit", after.Bytes, maxBytes, last)
	}
	b, err := l.Read(ctx, 0, 1, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost == nil || *b.Lost != (ctl.SeqRange{From: 1, To: after.Oldest - 1}) || !slices.Equal(seqs(b.Events), []uint64{after.Oldest}) {
		t.Fatalf("read from the start: lost %v events %v", b.Lost, seqs(b.Events))
	}
}

func TestRunPrunesWhenOverSize(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLog(t, Options{MaxBytes: 10_000, PruneInterval: time.Hour})
	done := make(chan struct{})
	go func() {
		l.Run(ctx)
		close(done)
	}()
	appendN(t, l, 200, mixed)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := l.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bytes <= 10_000 && st.Oldest > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not prune: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestAckAndPosition(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.FileName)
	l, db := openLog(t, path, Options{})
	if _, ok, err := l.Position(ctx, "hook"); err != nil || ok {
		t.Fatalf("position of an unknown consumer: ok %v, %v", ok, err)
	}
	appendN(t, l, 10, mixed)
	for _, c := range []struct {
		seq, want uint64
	}{{4, 4}, {7, 7}, {5, 7}, {0, 7}, {10, 10}} {
		got, err := l.Ack(ctx, "hook", c.seq)
		if err != nil || got != c.want {
			t.Errorf("ack %d: %d, %v, want %d", c.seq, got, err, c.want)
		}
	}
	if _, err := l.Ack(ctx, "hook", 11); !errors.Is(err, ErrAhead) {
		t.Errorf("ack past the head: %v", err)
	}
	if _, err := l.Ack(ctx, "other", 2); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l, _ = openLog(t, path, Options{})
	for name, want := range map[string]uint64{"hook": 10, "other": 2} {
		if seq, ok, err := l.Position(ctx, name); err != nil || !ok || seq != want {
			t.Errorf("position of %s after reopen: %d %v %v, want %d", name, seq, ok, err, want)
		}
	}
	if st, err := l.Status(ctx); err != nil || st.Consumers != 2 {
		t.Errorf("status: %+v, %v", st, err)
	}
}

func TestChangedIsClosedByAppend(t *testing.T) {
	l := newLog(t, Options{})
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any append")
	default:
	}
	appendN(t, l, 1, mixed)
	select {
	case <-ch:
	default:
		t.Fatal("not closed by the append")
	}
	select {
	case <-l.Changed():
		t.Fatal("the new channel is closed already")
	default:
	}
}

func TestConcurrentAppendsAndReads(t *testing.T) {
	ctx := context.Background()
	l := newLog(t, Options{})
	const writers, per, readers = 4, 150, 3
	n := uint64(writers * per)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				if err := l.Append(message(fmt.Sprint(w), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	got := make([][]uint64, readers)
	for r := range readers {
		wg.Go(func() {
			pos := uint64(0)
			for pos < n {
				ch := l.Changed()
				if l.Head() == pos {
					select {
					case <-ch:
					case <-time.After(10 * time.Second):
						t.Errorf("reader %d stuck at %d", r, pos)
						return
					}
					continue
				}
				b, err := l.Read(ctx, pos, 16, Filter{})
				if err != nil {
					t.Error(err)
					return
				}
				if b.Lost != nil {
					t.Errorf("reader %d lost %v", r, *b.Lost)
				}
				got[r] = append(got[r], seqs(b.Events)...)
				pos = b.Through
			}
		})
	}
	wg.Wait()
	for r, s := range got {
		if !slices.Equal(s, span(1, n)) {
			t.Errorf("reader %d read %d events, not 1..%d once each", r, len(s), n)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	l := newLog(b, Options{})
	ev := message("4915112345678", 1)
	b.ReportAllocs()
	for b.Loop() {
		e := *ev
		if err := l.Append(&e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkRead(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), store.FileName)
	l, _ := openLog(b, path, Options{})
	clients := []string{"4915112345678", "4915187654321", "4917011112222", "4917633334444"}
	appendN(b, l, n, func(i int) *ctl.Event {
		if i%5 == 4 {
			return &ctl.Event{Client: clients[i%4], Kind: ctl.KindReceipt, Receipt: &ctl.Receipt{IDs: []string{fmt.Sprint(i)}, Type: "read"}}
		}
		return message(clients[i%4], i)
	})
	for _, c := range []struct {
		name string
		f    Filter
	}{
		{"all", Filter{}},
		{"client", Filter{Clients: clients[:1]}},
		{"clients", Filter{Clients: clients[:2]}},
		{"kind", Filter{Kinds: []string{ctl.KindMessage}}},
		{"rare", Filter{Kinds: []string{ctl.KindReceipt}, Clients: clients[3:]}},
	} {
		b.Run(c.name, func(b *testing.B) {
			events := 0
			for b.Loop() {
				for pos := uint64(0); pos < n; {
					batch, err := l.Read(ctx, pos, 256, c.f)
					if err != nil {
						b.Fatal(err)
					}
					events += len(batch.Events)
					pos = batch.Through
				}
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

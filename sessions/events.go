package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/eventlog"
)

// DefaultEventBuffer is how many events a subscription holds for a slow
// reader before it starts dropping the oldest.
const DefaultEventBuffer = 256

// replayBatch is how many events a subscription reads from the log at a
// time while it replays.
const replayBatch = 256

// Bus fans events out to subscriptions. Publish never blocks on a
// reader: each subscription has a bounded live queue.
//
// With a Log, every event of a logged kind is appended to it before any
// subscription sees it, in the order the events are published, and a
// subscription that falls behind its live queue switches to reading the
// log from where it was until it has caught up, then goes live again:
// it loses nothing but events the log's retention pruned before it read
// them, which it is told of by an events_dropped event. Only live-only
// events (qr, check_progress) can be dropped, counted in Event.Dropped.
//
// Without a Log (tests), the oldest queued event is dropped when a
// reader falls behind, and the next event it reads carries the count in
// Event.Dropped.
type Bus struct {
	mu      sync.Mutex
	subs    map[string]*Subscription
	nextID  atomic.Uint64
	nextTap atomic.Uint64
	// Buffer is the queue length of new subscriptions; zero means
	// DefaultEventBuffer.
	Buffer int
	// Log, when set, makes events durable (see Bus). Set it before the
	// first Publish.
	Log *eventlog.Log
	// ErrorLog receives the errors of appending to Log; nil discards.
	ErrorLog *slog.Logger
	// appendErrors counts the events Log refused (they went out live,
	// with no seq); behind, the times a subscription fell behind.
	appendErrors, behind atomic.Uint64
}

// Subscription is one subscriber's filtered view of the bus.
type Subscription struct {
	ID string
	// Head is the seq of the newest logged event when the subscription
	// was made (0 without a log).
	Head    uint64
	clients []string
	kinds   []string
	tap     bool // made by Tap: not counted by Len
	bus     *Bus
	log     *eventlog.Log // nil: live only, dropping the oldest

	mu      sync.Mutex
	queue   []ctl.Event // ring of cap len(queue)
	head, n int
	dropped uint64 // since the last event handed out
	total   uint64
	closed  bool
	ready   chan struct{} // 1-buffered: something to read or closed

	// With a log: replaying means reading the log after pos instead of
	// the live queue, which then holds nothing; pending is the part of
	// the last batch read not handed out yet; last is the seq of the
	// last logged event handed out (where a replay resumes).
	replaying bool
	pos, last uint64
	pending   []ctl.Event
}

// Subscribe returns a live subscription for the given clients and kinds
// (empty: all). Unknown kinds are the caller's to reject.
func (b *Bus) Subscribe(clients, kinds []string) *Subscription {
	s, _ := b.subscribe(clients, kinds, false, nil)
	return s
}

// SubscribeSince returns a subscription that first delivers the logged
// events after seq since, then continues live with no gap and no
// duplicate. It fails with invalid params without a Log or when since is
// past the log's head.
func (b *Bus) SubscribeSince(clients, kinds []string, since uint64) (*Subscription, error) {
	if b.Log == nil {
		return nil, ctl.Errorf(ctl.CodeInvalidParams, "since needs the event log, and this bus has none")
	}
	return b.subscribe(clients, kinds, false, &since)
}

// Tap is Subscribe for the daemon's own use (reject_calls): a
// subscription that Len does not count, since no peer made it.
func (b *Bus) Tap(kinds []string) *Subscription {
	s, _ := b.subscribe(nil, kinds, true, nil)
	return s
}

func (b *Bus) subscribe(clients, kinds []string, tap bool, since *uint64) (*Subscription, error) {
	prefix, next := "sub-", &b.nextID
	if tap {
		// Its own numbering: peers see the ids of their subscriptions
		// count from sub-1 whatever the daemon taps.
		prefix, next = "tap-", &b.nextTap
	}
	n := b.Buffer
	if n <= 0 {
		n = DefaultEventBuffer
	}
	s := &Subscription{
		ID:      prefix + strconv.FormatUint(next.Add(1), 10),
		clients: slices.Clone(clients),
		kinds:   slices.Clone(kinds),
		queue:   make([]ctl.Event, n),
		ready:   make(chan struct{}, 1),
		tap:     tap,
		bus:     b,
		log:     b.Log,
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// Under b.mu no event is being appended: Head is exactly the seam
	// between what the log holds and what the live queue will get.
	if s.log != nil {
		s.Head = s.log.Head()
		s.last = s.Head
		if since != nil {
			if *since > s.Head {
				return nil, ctl.Errorf(ctl.CodeInvalidParams, "since %d is past the event log's head %d", *since, s.Head)
			}
			s.replaying, s.pos, s.last = true, *since, *since
		}
	}
	if b.subs == nil {
		b.subs = make(map[string]*Subscription)
	}
	b.subs[s.ID] = s
	return s, nil
}

// Unsubscribe removes a subscription and wakes its reader; it reports
// whether the id was subscribed.
func (b *Bus) Unsubscribe(id string) bool {
	b.mu.Lock()
	s := b.subs[id]
	delete(b.subs, id)
	b.mu.Unlock()
	if s == nil {
		return false
	}
	s.close()
	return true
}

// Len returns the number of subscriptions peers made (not Taps).
func (b *Bus) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.subs {
		if !s.tap {
			n++
		}
	}
	return n
}

// Publish appends ev to the log when its kind is logged, then delivers it
// to every matching subscription. It never waits for a reader. An event
// the log refuses (a full disk) still goes out live, without a seq, and
// the error is logged.
func (b *Bus) Publish(ev ctl.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	ev.Seq = 0
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Log != nil && eventlog.Logged(ev.Kind) {
		if err := b.Log.Append(&ev); err != nil {
			b.appendErrors.Add(1)
			if b.ErrorLog != nil {
				b.ErrorLog.Error("event not logged; it goes out live only", "client", ev.Client, "kind", ev.Kind, "err", err)
			}
		}
	}
	for _, s := range b.subs {
		if s.matches(ev) {
			s.push(ev)
		}
	}
}

// AppendErrors returns how many events the log refused.
func (b *Bus) AppendErrors() uint64 { return b.appendErrors.Load() }

// FellBehind returns how many times a subscription's live queue
// overflowed and it went on from the log.
func (b *Bus) FellBehind() uint64 { return b.behind.Load() }

func (s *Subscription) matches(ev ctl.Event) bool {
	return (len(s.clients) == 0 || slices.Contains(s.clients, ev.Client)) &&
		(len(s.kinds) == 0 || slices.Contains(s.kinds, ev.Kind))
}

func (s *Subscription) push(ev ctl.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.log != nil {
		if s.replaying {
			if ev.Seq == 0 { // live-only, and the live queue is off
				s.dropped++
				s.total++
			}
			return // logged: the replay reads it from the log
		}
		if s.n == len(s.queue) {
			s.fallBehind(ev)
			s.bus.behind.Add(1)
			return
		}
	}
	if s.n == len(s.queue) { // full: drop the oldest
		s.queue[s.head] = ctl.Event{}
		s.head = (s.head + 1) % len(s.queue)
		s.n--
		s.dropped++
		s.total++
	}
	s.queue[(s.head+s.n)%len(s.queue)] = ev
	s.n++
	s.wake()
}

// fallBehind switches a log-backed subscription whose live queue is full
// to replaying the log after the last event handed out, which
// delivers again what was queued (and ev) but for the live-only events:
// those are lost. s.mu is held.
func (s *Subscription) fallBehind(ev ctl.Event) {
	lost := 0
	if ev.Seq == 0 {
		lost++
	}
	for i := range s.n {
		if s.queue[(s.head+i)%len(s.queue)].Seq == 0 {
			lost++
		}
	}
	s.dropped += uint64(lost)
	s.total += uint64(lost)
	clear(s.queue)
	s.head, s.n = 0, 0
	s.pending = nil
	s.replaying, s.pos = true, s.last
	s.wake()
}

// wake tells a waiting Next there is something to do; s.mu is held.
func (s *Subscription) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.wake()
}

// Dropped returns how many events this subscription has lost in all.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// ErrClosed is returned by Next once the subscription is gone.
var ErrClosed = ctl.Errorf(ctl.CodeSessionNotFound, "subscription closed")

// Next returns the next event, waiting for one until ctx ends or the
// subscription is removed (ErrClosed). The event's Subscription is set
// and Dropped counts the live-only events lost just before it. An error
// reading the log is returned as it is; the subscription stays usable.
func (s *Subscription) Next(ctx context.Context) (ctl.Event, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ctl.Event{}, ErrClosed
		}
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending = s.pending[1:]
			return s.handOut(ev), nil
		}
		if s.replaying {
			pos := s.pos
			s.mu.Unlock()
			if err := s.replay(ctx, pos); err != nil {
				return ctl.Event{}, err
			}
			continue
		}
		if s.n > 0 {
			ev := s.queue[s.head]
			s.queue[s.head] = ctl.Event{}
			s.head = (s.head + 1) % len(s.queue)
			s.n--
			return s.handOut(ev), nil
		}
		s.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
			return ctl.Event{}, ctx.Err()
		}
	}
}

// handOut stamps ev for the reader and unlocks s.mu, which is held.
func (s *Subscription) handOut(ev ctl.Event) ctl.Event {
	ev.Subscription = s.ID
	ev.Dropped = s.dropped
	s.dropped = 0
	if ev.Seq > s.last {
		s.last = ev.Seq
	}
	if ev.EventsDropped != nil && ev.EventsDropped.To > s.last {
		s.last = ev.EventsDropped.To
	}
	s.mu.Unlock()
	return ev
}

// replay reads the next batch of the log after pos into pending, and
// goes live once it has read up to the log's head.
func (s *Subscription) replay(ctx context.Context, pos uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := s.log.Read(ctx, pos, replayBatch, eventlog.Filter{Clients: s.clients, Kinds: s.kinds})
	if err != nil {
		return fmt.Errorf("replaying the event log after %d: %w", pos, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.replaying || s.pos != pos || s.closed {
		return nil // fell behind again, or closed, meanwhile
	}
	s.pending = b.Events
	if b.Lost != nil {
		lost := *b.Lost
		s.pending = append([]ctl.Event{{Kind: ctl.KindEventsDropped, EventsDropped: &lost, Time: time.Now().UTC()}}, s.pending...)
	}
	s.pos = b.Through
	// Under s.mu, a publisher that appended past Through has not pushed
	// yet: if Head is still Through, every later event reaches the live
	// queue, and if not, the next batch reads it.
	if s.pos >= s.log.Head() {
		s.replaying = false
	}
	return nil
}

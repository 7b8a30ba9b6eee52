package sessions

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
)

// DefaultEventBuffer is how many events a subscription holds for a slow
// reader before it starts dropping the oldest.
const DefaultEventBuffer = 256

// Bus fans events out to subscriptions. Publish never blocks: each
// subscription has a bounded queue, and when a reader falls behind the
// oldest queued event is dropped and counted; the next event it reads
// carries the count in Event.Dropped. A slow subscriber therefore loses
// old events, never delays a session, and always sees the newest state.
type Bus struct {
	mu      sync.Mutex
	subs    map[string]*Subscription
	nextID  atomic.Uint64
	nextTap atomic.Uint64
	// Buffer is the queue length of new subscriptions; zero means
	// DefaultEventBuffer.
	Buffer int
}

// Subscription is one subscriber's filtered view of the bus.
type Subscription struct {
	ID      string
	clients []string
	kinds   []string
	tap     bool // made by Tap: not counted by Len

	mu      sync.Mutex
	queue   []ctl.Event // ring of cap len(queue)
	head, n int
	dropped uint64 // since the last event handed out
	total   uint64
	closed  bool
	ready   chan struct{} // 1-buffered: something to read or closed
}

// Subscribe returns a subscription for the given clients and kinds (empty:
// all). Unknown kinds are the caller's to reject.
func (b *Bus) Subscribe(clients, kinds []string) *Subscription {
	return b.subscribe(clients, kinds, false)
}

// Tap is Subscribe for the daemon's own use (reject_calls): a
// subscription that Len does not count, since no peer made it.
func (b *Bus) Tap(kinds []string) *Subscription {
	return b.subscribe(nil, kinds, true)
}

func (b *Bus) subscribe(clients, kinds []string, tap bool) *Subscription {
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
	}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[string]*Subscription)
	}
	b.subs[s.ID] = s
	b.mu.Unlock()
	return s
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

// Publish delivers ev to every matching subscription. It never blocks.
func (b *Bus) Publish(ev ctl.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		if s.matches(ev) {
			s.push(ev)
		}
	}
}

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
	if s.n == len(s.queue) { // full: drop the oldest
		s.queue[s.head] = ctl.Event{}
		s.head = (s.head + 1) % len(s.queue)
		s.n--
		s.dropped++
		s.total++
	}
	s.queue[(s.head+s.n)%len(s.queue)] = ev
	s.n++
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Dropped returns how many events this subscription has lost in all.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// ErrClosed is returned by Next once the subscription is gone.
var ErrClosed = ctl.Errorf(ctl.CodeSessionNotFound, "subscription closed")

// Next returns the oldest queued event, waiting for one until ctx ends or
// the subscription is removed (ErrClosed). The event's Subscription is set
// and Dropped counts the events lost just before it.
func (s *Subscription) Next(ctx context.Context) (ctl.Event, error) {
	for {
		s.mu.Lock()
		if s.n > 0 {
			ev := s.queue[s.head]
			s.queue[s.head] = ctl.Event{}
			s.head = (s.head + 1) % len(s.queue)
			s.n--
			ev.Subscription = s.ID
			ev.Dropped = s.dropped
			s.dropped = 0
			s.mu.Unlock()
			return ev, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return ctl.Event{}, ErrClosed
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return ctl.Event{}, ctx.Err()
		}
	}
}

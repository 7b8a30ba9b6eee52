package daemon

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/creachadair/jrpc2"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// maxSubsPerConn bounds the subscriptions one connection may hold.
const maxSubsPerConn = 64

// connState is what the daemon keeps per connection: its line channel and
// its subscriptions' feeds, which end with it.
type connState struct {
	ctx   context.Context // ends when the connection ends
	lines *lineChannel
	conn  net.Conn
	mu    sync.Mutex
	feeds map[string]*feed
}

type connKey struct{}

func connFrom(ctx context.Context) *connState {
	c, _ := ctx.Value(connKey{}).(*connState)
	return c
}

// feed delivers one subscription's events as notifications on its
// connection. The bus queues for it (dropping the oldest when it falls
// behind), so a connection that does not read blocks only its feeds.
type feed struct {
	sub  *sessions.Subscription
	stop context.CancelFunc
	done chan struct{} // closed when the feed writes no more
}

// startFeed subscribes to the bus for the connection (live, or replaying
// the log after since) and starts the feed. Events are queued from now
// on; the feed writes none before the reply to call c (the subscribe
// request) has been written, so a client sees the subscription id before
// its first event even when the subscribe shares a batch with calls that
// publish. It fails with limit reached when the connection holds
// maxSubsPerConn subscriptions.
func (d *Daemon) startFeed(cs *connState, srv *jrpc2.Server, c *call, a ctl.SubscribeParams, since *uint64) (*sessions.Subscription, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.feeds) >= maxSubsPerConn {
		return nil, ctl.Errorf(ctl.CodeLimitReached, "too many subscriptions on this connection (limit %d)", maxSubsPerConn)
	}
	if cs.feeds == nil {
		cs.feeds = make(map[string]*feed)
	}
	var sub *sessions.Subscription
	if since == nil {
		sub = d.reg.Bus().Subscribe(a.Clients, a.Kinds)
	} else {
		var err error
		if sub, err = d.reg.Bus().SubscribeSince(a.Clients, a.Kinds, *since); err != nil {
			return nil, err
		}
	}
	ctx, stop := context.WithCancel(cs.ctx)
	f := &feed{sub: sub, stop: stop, done: make(chan struct{})}
	cs.feeds[sub.ID] = f
	replied := cs.lines.afterReply(c.req.ID())
	go d.pump(ctx, f, replied, srv, c)
	return sub, nil
}

// stopFeed ends the connection's subscription id and waits until its feed
// writes no more. It reports whether the connection had that
// subscription.
func (d *Daemon) stopFeed(cs *connState, id string) bool {
	cs.mu.Lock()
	f := cs.feeds[id]
	delete(cs.feeds, id)
	cs.mu.Unlock()
	if f == nil {
		return false
	}
	f.stop()
	<-f.done
	d.reg.Bus().Unsubscribe(id)
	return true
}

// stopFeeds ends every subscription of a connection that has closed.
func (d *Daemon) stopFeeds(cs *connState) {
	cs.mu.Lock()
	ids := make([]string, 0, len(cs.feeds))
	for id := range cs.feeds {
		ids = append(ids, id)
	}
	cs.mu.Unlock()
	for _, id := range ids {
		d.stopFeed(cs, id)
	}
}

// pump is a feed's goroutine. It waits for replied (the subscribe reply
// is out), then writes each event in the order the bus queued it, until
// ctx ends (unsubscribe, or the connection closed) or a write fails.
// Events of clients the peer may not read are skipped, under the access
// rules in force when each event is sent. An error reading the event log
// is logged and the read retried: the subscription stays where it was.
func (d *Daemon) pump(ctx context.Context, f *feed, replied <-chan struct{}, srv *jrpc2.Server, c *call) {
	defer close(f.done)
	select {
	case <-replied:
	case <-ctx.Done():
		return
	}
	for {
		ev, err := f.sub.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, sessions.ErrClosed) {
			// Stopped while waiting: unsubscribe's reply may be next.
			return
		}
		if err != nil {
			d.log.Error("reading the event log for a subscription", "subscription", f.sub.ID, "err", err)
			select {
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				return
			}
		}
		// A loss report names no client: every reader needs it.
		if ev.Kind != ctl.KindEventsDropped && !d.policy().allowed(c.peer, c.access, ev.Client) {
			continue
		}
		if err := srv.Notify(ctx, ctl.NotifyEvent, ev); err != nil {
			return
		}
	}
}

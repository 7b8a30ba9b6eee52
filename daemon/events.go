package daemon

import (
	"context"
	"sync"

	"github.com/creachadair/jrpc2"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// maxSubsPerConn bounds the subscriptions one connection may hold.
const maxSubsPerConn = 64

// connState is what the daemon keeps per connection: its subscriptions,
// which end with it.
type connState struct {
	ctx  context.Context // ends when the connection ends
	mu   sync.Mutex
	subs map[string]*sessions.Subscription
}

type connKey struct{}

func connFrom(ctx context.Context) *connState {
	c, _ := ctx.Value(connKey{}).(*connState)
	return c
}

func (c *connState) add(s *sessions.Subscription) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.subs) >= maxSubsPerConn {
		return false
	}
	if c.subs == nil {
		c.subs = make(map[string]*sessions.Subscription)
	}
	c.subs[s.ID] = s
	return true
}

func (c *connState) remove(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.subs[id]
	delete(c.subs, id)
	return ok
}

func (c *connState) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.subs {
		ids = append(ids, id)
	}
	return ids
}

// pump delivers one subscription's events as notifications on its
// connection. The bus queues for it (dropping the oldest when it falls
// behind), so a connection that does not read blocks only this goroutine.
// Events of clients the peer may not read are skipped, under the access
// rules in force when each event is sent.
func (d *Daemon) pump(cs *connState, srv *jrpc2.Server, p *peer, sub *sessions.Subscription) {
	for {
		ev, err := sub.Next(cs.ctx)
		if err != nil {
			return
		}
		if !d.policy().allowed(p, ctl.Read, ev.Client) {
			continue
		}
		if err := srv.Notify(cs.ctx, ctl.NotifyEvent, ev); err != nil {
			return
		}
	}
}

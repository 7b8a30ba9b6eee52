package daemon

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/creachadair/jrpc2"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/eventlog"
)

// methods returns the daemon's method table: the methods of spec
// (ctl.Methods unless Options.Methods replaced it), bound to the
// implementations below. Access to each is checked against the class spec
// gives it, once, in bind; implementations that act on a client check
// that client with call.client.
func (d *Daemon) methods(spec []ctl.Method) table {
	return newTable(d, spec, map[string]impl{
		ctl.MethodVersion:           bind(d.version),
		ctl.MethodStatus:            bind(d.status),
		ctl.MethodList:              bind(d.list),
		ctl.MethodSession:           bind(d.sessionStatus),
		ctl.MethodLogin:             bind(d.login),
		ctl.MethodLogout:            bind(d.logout),
		ctl.MethodStop:              bind(d.stop),
		ctl.MethodSend:              bind(d.send),
		ctl.MethodReact:             bind(d.react),
		ctl.MethodEdit:              bind(d.edit),
		ctl.MethodRevoke:            bind(d.revoke),
		ctl.MethodDownload:          bind(d.download),
		ctl.MethodMsgStatus:         bind(d.messageStatus),
		ctl.MethodRead:              bind(d.read),
		ctl.MethodPresence:          bind(d.presence),
		ctl.MethodCheck:             bind(d.check),
		ctl.MethodContacts:          bind(d.contacts),
		ctl.MethodContactInfo:       bind(d.contactInfo),
		ctl.MethodChats:             bind(d.chats),
		ctl.MethodGroups:            bind(d.groups),
		ctl.MethodGroupInfo:         bind(d.groupInfo),
		ctl.MethodGroupCreate:       bind(d.groupCreate),
		ctl.MethodGroupParticipants: bind(d.groupParticipants),
		ctl.MethodGroupInvite:       bind(d.groupInvite),
		ctl.MethodGroupJoin:         bind(d.groupJoin),
		ctl.MethodGroupLeave:        bind(d.groupLeave),
		ctl.MethodGroupSet:          bind(d.groupSet),
		ctl.MethodProfile:           bind(d.profile),
		ctl.MethodProfileSet:        bind(d.profileSet),
		ctl.MethodPresenceSubscribe: bind(d.presenceSubscribe),
		ctl.MethodCallReject:        bind(d.callReject),
		ctl.MethodSubscribe:         bind(d.subscribe),
		ctl.MethodUnsubscribe:       bind(d.unsubscribe),
		ctl.MethodAck:               bind(d.ack),
		ctl.MethodWebhooks:          bind(d.webhooksList),
		ctl.MethodWebhookRetry:      bind(d.webhookRetry),
		ctl.MethodDoctor:            d.doctorer(),
		ctl.MethodDiscover:          d.discoverer(spec),
	})
}

func (d *Daemon) version(context.Context, *call, ctl.Empty) (ctl.VersionResult, error) {
	return ctl.VersionResult{Version: d.version_, GoVersion: runtime.Version(), Backends: d.reg.Backends()}, nil
}

func (d *Daemon) status(ctx context.Context, c *call, _ ctl.Empty) (ctl.StatusResult, error) {
	counts := d.reg.Counts()
	n := 0
	for _, k := range counts {
		n += k
	}
	cfg := d.config()
	r := ctl.StatusResult{
		Version:       d.version_,
		PID:           os.Getpid(),
		Started:       d.started,
		Uptime:        time.Since(d.started).Round(time.Millisecond).Seconds(),
		StateDir:      cfg.StateDir,
		Socket:        d.ln.Path,
		Sessions:      n,
		States:        counts,
		MaxSessions:   d.reg.MaxSessions(),
		Backends:      d.reg.Backends(),
		Default:       cfg.Sessions.DefaultBackend,
		Subscriptions: d.reg.Bus().Len(),
		Webhooks:      d.webhookStatus(ctx, c),
		Queued:        d.out.Queued(),
	}
	if st, err := d.events.Status(ctx); err != nil {
		d.log.Warn("reading the event log's status", "err", err)
	} else {
		r.EventLog = &st
	}
	if c.peer != nil {
		pp := c.peer.Peer
		r.Peer = &pp
	}
	return r, nil
}

// list returns the sessions of the clients the peer may read.
func (d *Daemon) list(_ context.Context, c *call, _ ctl.Empty) (ctl.ListResult, error) {
	all := d.reg.List()
	out := make([]ctl.Session, 0, len(all))
	for _, s := range all {
		if c.may(s.Client) {
			out = append(out, s)
		}
	}
	return ctl.ListResult{Sessions: out}, nil
}

func (d *Daemon) sessionStatus(_ context.Context, c *call, a ctl.ClientParams) (ctl.Session, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Get(a.Client)
}

func (d *Daemon) login(ctx context.Context, c *call, a ctl.LoginParams) (ctl.Session, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Login(ctx, a.Client, sessions.LoginOptions{Backend: a.Backend, Phone: a.Phone})
}

func (d *Daemon) logout(ctx context.Context, c *call, a ctl.ClientParams) (ctl.Session, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Logout(ctx, a.Client)
}

func (d *Daemon) stop(ctx context.Context, c *call, a ctl.ClientParams) (ctl.Session, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.Session{}, err
	}
	return d.reg.Stop(ctx, a.Client)
}

// subscribe starts a subscription on the calling connection: live, or
// replaying the log after since (given, or the consumer's position). Its
// events are queued from now on, but none is written before the reply
// to this call (see feed).
func (d *Daemon) subscribe(ctx context.Context, c *call, a ctl.SubscribeParams) (ctl.SubscribeResult, error) {
	for _, id := range a.Clients {
		if err := c.client(id); err != nil {
			return ctl.SubscribeResult{}, err
		}
	}
	for _, k := range a.Kinds {
		if !slices.Contains(ctl.Kinds, k) {
			return ctl.SubscribeResult{}, ctl.Errorf(ctl.CodeInvalidParams, "unknown event kind %q (known: %v)", k, ctl.Kinds)
		}
	}
	cs := connFrom(ctx)
	srv := jrpc2.ServerFromContext(ctx)
	if cs == nil || srv == nil {
		return ctl.SubscribeResult{}, errOutsideConn
	}
	since := a.Since
	if a.Consumer != "" {
		if err := ctl.ValidateConsumer(a.Consumer); err != nil {
			return ctl.SubscribeResult{}, err
		}
		if err := c.everyClient("a consumer"); err != nil {
			return ctl.SubscribeResult{}, err
		}
		if since == nil {
			pos, ok, err := d.events.Position(ctx, a.Consumer)
			if err != nil {
				return ctl.SubscribeResult{}, ctl.Errorf(ctl.CodeInternal, "reading consumer %q: %v", a.Consumer, err)
			}
			if ok {
				since = &pos
			}
		}
	}
	sub, err := d.startFeed(cs, srv, c, a, since)
	if err != nil {
		return ctl.SubscribeResult{}, err
	}
	return ctl.SubscribeResult{Subscription: sub.ID, Head: sub.Head, Since: since}, nil
}

// ack records that a consumer has processed the events up to a seq.
func (d *Daemon) ack(ctx context.Context, c *call, a ctl.AckParams) (ctl.AckResult, error) {
	if err := ctl.ValidateConsumer(a.Consumer); err != nil {
		return ctl.AckResult{}, err
	}
	if err := c.everyClient("a consumer"); err != nil {
		return ctl.AckResult{}, err
	}
	pos, err := d.events.Ack(ctx, a.Consumer, a.Seq)
	if errors.Is(err, eventlog.ErrAhead) {
		return ctl.AckResult{}, ctl.Errorf(ctl.CodeInvalidParams, "seq %d is past the event log's head %d", a.Seq, d.events.Head())
	}
	if err != nil {
		return ctl.AckResult{}, ctl.Errorf(ctl.CodeInternal, "recording the ack of consumer %q: %v", a.Consumer, err)
	}
	return ctl.AckResult{Consumer: a.Consumer, Seq: pos}, nil
}

// unsubscribe ends a subscription of the calling connection. It returns
// once no event of it can be written any more, so none follows the reply.
func (d *Daemon) unsubscribe(ctx context.Context, _ *call, a ctl.UnsubscribeParams) (ctl.OK, error) {
	cs := connFrom(ctx)
	if cs == nil || !d.stopFeed(cs, a.Subscription) {
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "no subscription %q on this connection", a.Subscription)
	}
	return ctl.OK{OK: true}, nil
}

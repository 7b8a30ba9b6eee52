package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/creachadair/jrpc2"
	"golang.org/x/time/rate"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// The methods of contacts, chats, groups, profile, presence and calls.
// Like the messaging methods they validate everything a peer can get
// wrong before anything reaches WhatsApp; contact.check is also paced
// per client here, whatever the backend, and incoming calls are refused
// here when [sessions] reject_calls says so.

// pacers paces the contact.check queries of each client: at most one
// query of check_batch numbers per check_interval, however many calls
// ask at once, since bulk lookups get accounts flagged.
type pacers struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// wait blocks until client may send its next query, or ctx ends.
func (p *pacers) wait(ctx context.Context, client string, every time.Duration) error {
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]*rate.Limiter)
	}
	l := p.m[client]
	if l == nil {
		l = rate.NewLimiter(rate.Every(every), 1)
		p.m[client] = l
	} else if l.Limit() != rate.Every(every) {
		l.SetLimit(rate.Every(every)) // the config was reloaded
	}
	p.mu.Unlock()
	return l.Wait(ctx)
}

func (d *Daemon) check(ctx context.Context, c *call, a ctl.CheckParams) (ctl.CheckResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.CheckResult{}, err
	}
	if len(a.Phones) == 0 {
		return ctl.CheckResult{}, ctl.Errorf(ctl.CodeInvalidParams, "phones is required: E.164 numbers to look up")
	}
	if len(a.Phones) > ctl.MaxCheckPhones {
		return ctl.CheckResult{}, ctl.Errorf(ctl.CodeInvalidParams, "%d phones; the limit is %d per call", len(a.Phones), ctl.MaxCheckPhones)
	}
	phones := make([]string, len(a.Phones))
	for i, p := range a.Phones {
		n, err := ctl.NormalizePhone(p)
		if err != nil {
			return ctl.CheckResult{}, ctl.Errorf(ctl.CodeInvalidParams, "phones[%d]: %s", i, ctl.AsError(err).Message)
		}
		phones[i] = n
	}
	if err := d.reg.Check(a.Client, sessions.CheckPhones{}); err != nil {
		return ctl.CheckResult{}, err
	}
	ctx, cancel := whileCallerListens(ctx)
	defer cancel()
	request := ""
	if req := jrpc2.InboundRequest(ctx); req != nil {
		request = req.ID()
	}
	// Each number is asked once, however often it is listed.
	seen := make(map[string]ctl.PhoneCheck, len(phones))
	todo := make([]string, 0, len(phones))
	for _, p := range phones {
		if _, dup := seen[p]; !dup {
			seen[p] = ctl.PhoneCheck{}
			todo = append(todo, p)
		}
	}
	for done := 0; done < len(todo); {
		cfg := d.config().Sessions
		batch := todo[done:min(done+cfg.CheckBatch, len(todo))]
		err := d.checkPace.wait(ctx, a.Client, cfg.CheckInterval)
		var res ctl.CheckResult
		if err == nil {
			res, err = doAs[ctl.CheckResult](ctx, d, a.Client, sessions.CheckPhones{Phones: batch})
		}
		if err != nil {
			if ctx.Err() == nil {
				return ctl.CheckResult{}, err
			}
			d.log.Info("contact.check stopped: its caller went away", "client", a.Client, "done", done, "total", len(todo))
			return ctl.CheckResult{}, ctl.Errorf(ctl.CodeTimeout, "contact.check stopped after %d of %d numbers: %v", done, len(todo), context.Cause(ctx))
		}
		if len(res.Results) != len(batch) {
			return ctl.CheckResult{}, ctl.Errorf(ctl.CodeInternal, "backend answered %d of %d numbers", len(res.Results), len(batch))
		}
		for i, r := range res.Results {
			r.Phone = batch[i]
			res.Results[i] = r
			seen[r.Phone] = r
		}
		done += len(batch)
		d.reg.Bus().Publish(ctl.Event{Client: a.Client, Kind: ctl.KindCheckProgress, Check: &ctl.CheckProgress{
			Request: request, Done: done, Total: len(todo), Results: res.Results,
		}})
	}
	out := ctl.CheckResult{Results: make([]ctl.PhoneCheck, len(phones))}
	for i, p := range phones {
		out.Results[i] = seen[p]
	}
	return out, nil
}

func (d *Daemon) contacts(ctx context.Context, c *call, a ctl.ClientParams) (ctl.ContactsResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.ContactsResult{}, err
	}
	return doAs[ctl.ContactsResult](ctx, d, a.Client, sessions.ListContacts{})
}

func (d *Daemon) contactInfo(ctx context.Context, c *call, a ctl.ContactInfoParams) (ctl.ContactInfo, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.ContactInfo{}, err
	}
	jid, err := ctl.ParseUserJID("jid", a.JID)
	if err != nil {
		return ctl.ContactInfo{}, err
	}
	return doAs[ctl.ContactInfo](ctx, d, a.Client, sessions.ContactInfo{JID: jid, Picture: a.Picture})
}

func (d *Daemon) chats(ctx context.Context, c *call, a ctl.ClientParams) (ctl.ChatsResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.ChatsResult{}, err
	}
	return doAs[ctl.ChatsResult](ctx, d, a.Client, sessions.ListChats{})
}

func (d *Daemon) groups(ctx context.Context, c *call, a ctl.ClientParams) (ctl.GroupsResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.GroupsResult{}, err
	}
	return doAs[ctl.GroupsResult](ctx, d, a.Client, sessions.ListGroups{})
}

// groupTarget validates the client and group of a group.* call.
func groupTarget(c *call, client, group string) (string, error) {
	if err := c.client(client); err != nil {
		return "", err
	}
	return ctl.ParseGroupJID("group", group)
}

func (d *Daemon) groupInfo(ctx context.Context, c *call, a ctl.GroupParams) (ctl.Group, error) {
	g, err := groupTarget(c, a.Client, a.Group)
	if err != nil {
		return ctl.Group{}, err
	}
	return doAs[ctl.Group](ctx, d, a.Client, sessions.GroupInfo{Group: g})
}

func (d *Daemon) groupCreate(ctx context.Context, c *call, a ctl.GroupCreateParams) (ctl.GroupCreateResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.GroupCreateResult{}, err
	}
	if err := ctl.ValidateGroupName(a.Name); err != nil {
		return ctl.GroupCreateResult{}, err
	}
	ps, err := ctl.ParseParticipants("participants", a.Participants)
	if err != nil {
		return ctl.GroupCreateResult{}, err
	}
	return doAs[ctl.GroupCreateResult](ctx, d, a.Client, sessions.CreateGroup{Name: a.Name, Participants: ps})
}

func (d *Daemon) groupParticipants(ctx context.Context, c *call, a ctl.ParticipantsParams) (ctl.ParticipantsResult, error) {
	g, err := groupTarget(c, a.Client, a.Group)
	if err != nil {
		return ctl.ParticipantsResult{}, err
	}
	var action string
	var list []string
	for _, x := range []struct {
		name string
		l    []string
	}{{ctl.ActionAdd, a.Add}, {ctl.ActionRemove, a.Remove}, {ctl.ActionPromote, a.Promote}, {ctl.ActionDemote, a.Demote}} {
		if x.l == nil {
			continue
		}
		if action != "" {
			return ctl.ParticipantsResult{}, ctl.Errorf(ctl.CodeInvalidParams, "give exactly one of add, remove, promote and demote per call (got %s and %s)", action, x.name)
		}
		action, list = x.name, x.l
	}
	if action == "" {
		return ctl.ParticipantsResult{}, ctl.Errorf(ctl.CodeInvalidParams, "give one of add, remove, promote and demote: the participants to change")
	}
	ps, err := ctl.ParseParticipants(action, list)
	if err != nil {
		return ctl.ParticipantsResult{}, err
	}
	return doAs[ctl.ParticipantsResult](ctx, d, a.Client, sessions.UpdateParticipants{Group: g, Action: action, Participants: ps})
}

func (d *Daemon) groupInvite(ctx context.Context, c *call, a ctl.InviteLinkParams) (ctl.InviteLinkResult, error) {
	g, err := groupTarget(c, a.Client, a.Group)
	if err != nil {
		return ctl.InviteLinkResult{}, err
	}
	return doAs[ctl.InviteLinkResult](ctx, d, a.Client, sessions.InviteLink{Group: g, Reset: a.Reset})
}

func (d *Daemon) groupJoin(ctx context.Context, c *call, a ctl.JoinParams) (ctl.JoinResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.JoinResult{}, err
	}
	code, err := ctl.ParseInviteLink(a.Link)
	if err != nil {
		return ctl.JoinResult{}, err
	}
	return doAs[ctl.JoinResult](ctx, d, a.Client, sessions.JoinGroup{Code: code})
}

func (d *Daemon) groupLeave(ctx context.Context, c *call, a ctl.GroupParams) (ctl.OK, error) {
	g, err := groupTarget(c, a.Client, a.Group)
	if err != nil {
		return ctl.OK{}, err
	}
	return doAs[ctl.OK](ctx, d, a.Client, sessions.LeaveGroup{Group: g})
}

func (d *Daemon) groupSet(ctx context.Context, c *call, a ctl.GroupSetParams) (ctl.OK, error) {
	g, err := groupTarget(c, a.Client, a.Group)
	if err != nil {
		return ctl.OK{}, err
	}
	if a.Name == nil && a.Topic == nil && a.Announce == nil && a.Locked == nil {
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "nothing to set: give name, topic, announce or locked")
	}
	if a.Name != nil {
		if err := ctl.ValidateGroupName(*a.Name); err != nil {
			return ctl.OK{}, err
		}
	}
	if a.Topic != nil && len(*a.Topic) > ctl.MaxGroupTopicLen {
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "topic is %d bytes; the limit is 2048 characters", len(*a.Topic))
	}
	return doAs[ctl.OK](ctx, d, a.Client, sessions.SetGroup{Group: g, Name: a.Name, Topic: a.Topic, Announce: a.Announce, Locked: a.Locked})
}

func (d *Daemon) profile(ctx context.Context, c *call, a ctl.ClientParams) (ctl.Profile, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.Profile{}, err
	}
	return doAs[ctl.Profile](ctx, d, a.Client, sessions.GetProfile{})
}

func (d *Daemon) profileSet(ctx context.Context, c *call, a ctl.ProfileSetParams) (ctl.ProfileSetResult, error) {
	files := takeFiles(ctx)
	defer files.Close()
	if err := c.client(a.Client); err != nil {
		return ctl.ProfileSetResult{}, err
	}
	op := sessions.SetProfile{Name: a.Name, About: a.About, RemovePicture: a.RemovePicture}
	if a.Name == nil && a.About == nil && a.Picture == nil && !a.RemovePicture {
		return ctl.ProfileSetResult{}, ctl.Errorf(ctl.CodeInvalidParams, "nothing to set: give name, about, picture or remove_picture")
	}
	if a.Picture != nil && a.RemovePicture {
		return ctl.ProfileSetResult{}, ctl.Errorf(ctl.CodeInvalidParams, "give picture or remove_picture, not both")
	}
	if a.Name != nil {
		if err := ctl.ValidatePushName(*a.Name); err != nil {
			return ctl.ProfileSetResult{}, err
		}
	}
	if a.About != nil && len(*a.About) > ctl.MaxAboutLen {
		return ctl.ProfileSetResult{}, ctl.Errorf(ctl.CodeInvalidParams, "about is %d bytes; the limit is 139 characters", len(*a.About))
	}
	if err := d.reg.Check(a.Client, op); err != nil {
		return ctl.ProfileSetResult{}, err
	}
	if a.Picture != nil {
		pic := *a.Picture
		pic.Kind = ctl.MediaImage
		pic.Caption = ""
		if err := validateMediaParams(&pic); err != nil {
			return ctl.ProfileSetResult{}, ctl.Errorf(ctl.CodeInvalidParams, "picture: %s", ctl.AsError(err).Message)
		}
		f, err := d.prepareMedia(ctx, &pic, files)
		if err != nil {
			return ctl.ProfileSetResult{}, err
		}
		defer f.Close()
		op.Picture = f
	}
	return doAs[ctl.ProfileSetResult](ctx, d, a.Client, op)
}

func (d *Daemon) presenceSubscribe(ctx context.Context, c *call, a ctl.JIDParams) (ctl.OK, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.OK{}, err
	}
	jid, err := ctl.ParseUserJID("jid", a.JID)
	if err != nil {
		return ctl.OK{}, err
	}
	return doAs[ctl.OK](ctx, d, a.Client, sessions.SubscribePresence{JID: jid})
}

// maxCallIDLen bounds a call id (WhatsApp's are 32 hex digits).
const maxCallIDLen = 128

func (d *Daemon) callReject(ctx context.Context, c *call, a ctl.CallRejectParams) (ctl.OK, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.OK{}, err
	}
	if err := ctl.ValidateMessageID("id", a.ID); err != nil {
		return ctl.OK{}, err
	}
	from, err := ctl.ParseUserJID("from", a.From)
	if err != nil {
		return ctl.OK{}, err
	}
	if a.Text != "" {
		if err := ctl.ValidateText(a.Text); err != nil {
			return ctl.OK{}, err
		}
	}
	return doAs[ctl.OK](ctx, d, a.Client, sessions.RejectCall{ID: a.ID, From: from, Text: a.Text})
}

// rejectCalls refuses every incoming call offered while [sessions]
// reject_calls is on, with reject_calls_text as the reply, until ctx
// ends. sub is a Tap of call events, made before the daemon serves.
func (d *Daemon) rejectCalls(ctx context.Context, sub *sessions.Subscription) {
	defer d.reg.Bus().Unsubscribe(sub.ID)
	for {
		ev, err := sub.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, sessions.ErrClosed) {
			return
		}
		if err != nil { // reading the event log after falling behind
			d.log.Error("reading the event log for reject_calls", "err", err)
			select {
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				return
			}
		}
		cfg := d.config().Sessions
		if ev.Call == nil || ev.Call.State != ctl.CallOffer || !cfg.RejectCalls {
			continue
		}
		op := sessions.RejectCall{ID: ev.Call.ID, From: ev.Call.From, Text: cfg.RejectCallsText}
		go func() {
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if _, err := d.reg.Do(rctx, ev.Client, op); err != nil {
				d.log.Warn("rejecting a call failed", "client", ev.Client, "call", op.ID, "err", err)
			} else {
				d.log.Info("rejected a call (reject_calls)", "client", ev.Client, "call", op.ID, "from", op.From)
			}
		}()
	}
}

package wafake

// Calls: an account's phone calling another account, the callee's
// devices hearing of it, answering or refusing it, and the caller
// hanging up. Only the signalling a linked device sees: no media, relays
// or keys. whatsmeow: call.go (handleCallEvent, RejectCall) and
// receipt.go (the ack of a call node).

import (
	"context"
	"fmt"
	"slices"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

func init() {
	stanzas["call"] = (*conn).handleCall
}

// call is a call an account placed that is not over.
type call struct {
	id     string
	caller *Account
	callee *Account
	video  bool
	// lid: the callee's devices hear of it from the caller's LID (with
	// caller_pn on the child), as WhatsApp does for LID chats.
	lid bool
}

// CallReject is a refusal of a call the caller's phone was told of.
type CallReject struct {
	// ID is the call's id, By the device that refused it, Creator the
	// call-creator the refusal named.
	ID      string
	By      types.JID
	Creator types.JID
	// Time is when the server got it.
	Time time.Time
}

// Call is the account's phone calling the user to (voice, or video):
// each linked device of to gets <call from=caller id t notify platform
// version><offer call-id call-creator>...</offer></call> with the media
// a phone offers, held and acked as other stanzas. It returns the call
// id.
func (a *Account) Call(to types.JID, video bool) (string, error) {
	return a.call(to, video, false)
}

// CallAsLID is Call with the caller named by its LID, as WhatsApp does
// in LID chats: <call from=caller LID> with <offer call-creator=LID
// device caller_pn=phone-number device>. The callee's refusal must name
// the LID.
func (a *Account) CallAsLID(to types.JID, video bool) (string, error) {
	return a.call(to, video, true)
}

func (a *Account) call(to types.JID, video, lid bool) (string, error) {
	s := a.s
	s.mu.Lock()
	r := s.accountLocked(to.ToNonAD())
	if r == nil || r == a {
		s.mu.Unlock()
		return "", fmt.Errorf("wafake: %s is not another user on WhatsApp", to)
	}
	c := &call{id: newCallID(), caller: a, callee: r, video: video, lid: lid}
	a.calls[c.id] = c
	comps := r.companionsLocked()
	push := a.PushName
	s.mu.Unlock()
	media := []waBinary.Node{
		{Tag: "audio", Attrs: waBinary.Attrs{"enc": "opus", "rate": "16000"}},
		{Tag: "audio", Attrs: waBinary.Attrs{"enc": "opus", "rate": "8000"}},
	}
	if video {
		media = append(media, waBinary.Node{Tag: "video", Attrs: waBinary.Attrs{"enc": "vp8", "dec": "vp8", "orientation": "0", "screen_width": "1080", "screen_height": "2340", "device_orientation": "0"}})
	}
	media = append(media,
		waBinary.Node{Tag: "net", Attrs: waBinary.Attrs{"medium": "3"}},
		waBinary.Node{Tag: "encopt", Attrs: waBinary.Attrs{"keygen": "2"}},
	)
	attrs := waBinary.Attrs{"platform": "android", "version": "2.24.22.79"}
	if push != "" {
		attrs["notify"] = push
	}
	a.sendCall(c, comps, "offer", attrs, media)
	return c.id, nil
}

// newCallID returns a call id shaped like WhatsApp's (32 hex digits).
func newCallID() string {
	id := newMessageID()
	for len(id) < 32 {
		id += newMessageID()
	}
	return id[:32]
}

// companionsLocked lists the account's linked devices by number.
func (a *Account) companionsLocked() []*Companion {
	var out []*Companion
	for _, d := range a.devicesLocked(false)[1:] {
		out = append(out, a.companions[d.Device])
	}
	return out
}

// sendCall hands each of comps a <call> about c from the caller with one
// child of tag.
func (a *Account) sendCall(c *call, comps []*Companion, tag string, extra waBinary.Attrs, content []waBinary.Node) {
	s := a.s
	from := c.caller.userJID(c.lid)
	child := waBinary.Node{Tag: tag, Attrs: waBinary.Attrs{"call-id": c.id, "call-creator": c.caller.deviceJID(0, c.lid)}}
	if c.lid {
		child.Attrs["caller_pn"] = c.caller.deviceJID(0, false)
	}
	for k, v := range extra {
		if k != "platform" && k != "version" && k != "notify" {
			child.Attrs[k] = v
		}
	}
	if len(content) > 0 {
		child.Content = content
	}
	for _, comp := range comps {
		attrs := waBinary.Attrs{"from": from, "id": newMessageID(), "t": time.Now().Unix()}
		for _, k := range []string{"platform", "version", "notify"} {
			if v, ok := extra[k]; ok {
				attrs[k] = v
			}
		}
		s.deliver(comp, waBinary.Node{Tag: "call", Attrs: attrs, Content: []waBinary.Node{child}}, from, "")
	}
}

// endCall forgets call id of caller a and returns it, nil if not live.
func (a *Account) endCall(id string) *call {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	c := a.calls[id]
	delete(a.calls, id)
	return c
}

// callTo returns the live call id placed to a, or nil.
func (s *Server) callTo(a *Account, id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.accounts {
		if c := o.calls[id]; c != nil && c.callee == a {
			return c
		}
	}
	return nil
}

// Hangup is the caller's phone ending call id before it was answered
// or after (reason as WhatsApp words it: "timeout" when nobody answered
// in time, else empty): the callee's devices get <terminate>.
func (a *Account) Hangup(id, reason string) error {
	c := a.endCall(id)
	if c == nil {
		return fmt.Errorf("wafake: %s placed no call %s", a.Phone, id)
	}
	a.s.mu.Lock()
	comps := c.callee.companionsLocked()
	a.s.mu.Unlock()
	var extra waBinary.Attrs
	if reason != "" {
		extra = waBinary.Attrs{"reason": reason}
	}
	a.sendCall(c, comps, "terminate", extra, nil)
	return nil
}

// Answer is the callee's phone taking call id: its linked devices get
// <accept> (the call was accepted elsewhere).
func (a *Account) Answer(id string) error {
	c := a.s.callTo(a, id)
	if c == nil {
		return fmt.Errorf("wafake: no call %s to %s", id, a.Phone)
	}
	a.s.mu.Lock()
	comps := a.companionsLocked()
	a.s.mu.Unlock()
	a.sendCall(c, comps, "accept", waBinary.Attrs{"platform": "android", "version": "2.24.22.79"}, nil)
	return nil
}

// Decline is the callee's phone refusing call id: the call is over,
// the caller is told (CallRejects) and the callee's linked devices get
// <reject> (it was rejected elsewhere).
func (a *Account) Decline(id string) error {
	c := a.s.callTo(a, id)
	if c == nil {
		return fmt.Errorf("wafake: no call %s to %s", id, a.Phone)
	}
	c.caller.endCall(id)
	a.s.mu.Lock()
	comps := a.companionsLocked()
	a.s.mu.Unlock()
	c.caller.recordReject(CallReject{ID: id, By: a.deviceJID(0, false), Time: time.Now()})
	a.sendCall(c, comps, "reject", nil, nil)
	return nil
}

// handleCall takes a <call> a device sends. The fake knows one: its
// refusal of a call (whatsmeow's RejectCall: <call id from to=caller>
// <reject call-id call-creator count/></call>), which the server acks
// (<ack class="call" id from=to type="reject"/>); the call is over, the
// caller's phone is told (CallRejects) and the callee's other devices
// get the <reject>.
func (c *conn) handleCall(n *waBinary.Node) {
	s := c.s
	id, _ := n.Attrs["id"].(string)
	to, _ := n.Attrs["to"].(types.JID)
	ch := n.GetChildren()
	if id == "" || len(ch) != 1 {
		s.logf("call without an id or one child: %s", n.XMLString())
		return
	}
	child := ch[0]
	ack := waBinary.Attrs{"class": "call", "id": id, "from": to, "type": child.Tag}
	c.send(waBinary.Node{Tag: "ack", Attrs: ack}) //nolint:errcheck
	if child.Tag != "reject" {
		s.logf("call %s from %s: %s not handled", id, c.dev.JID, child.Tag)
		return
	}
	callID, _ := child.Attrs["call-id"].(string)
	s.mu.Lock()
	caller := s.accountLocked(to.ToNonAD())
	callee, self := c.acct, c.dev
	s.mu.Unlock()
	if caller == nil {
		s.logf("call reject to unknown %s", to)
		return
	}
	cl := caller.endCall(callID)
	if cl == nil || cl.callee != callee {
		s.logf("call reject of unknown call %s", callID)
		return
	}
	creator, _ := child.Attrs["call-creator"].(types.JID)
	caller.recordReject(CallReject{ID: callID, By: self.JID, Creator: creator, Time: time.Now()})
	s.mu.Lock()
	var others []*Companion
	for _, comp := range callee.companionsLocked() {
		if comp != self {
			others = append(others, comp)
		}
	}
	s.mu.Unlock()
	callee.sendCall(cl, others, "reject", nil, nil)
}

func (a *Account) recordReject(r CallReject) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.rejects = append(a.rejects, r)
	if a.rejected != nil {
		close(a.rejected)
		a.rejected = nil
	}
}

// CallRejects returns the refusals of the account's calls, in order.
func (a *Account) CallRejects() []CallReject {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return slices.Clone(a.rejects)
}

// WaitCallReject waits until call id of the account was refused.
func (a *Account) WaitCallReject(ctx context.Context, id string) (CallReject, error) {
	for {
		a.s.mu.Lock()
		for _, r := range a.rejects {
			if r.ID == id {
				a.s.mu.Unlock()
				return r, nil
			}
		}
		if a.rejected == nil {
			a.rejected = make(chan struct{})
		}
		ch := a.rejected
		a.s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return CallReject{}, fmt.Errorf("wafake: call %s of %s was not refused: %w", id, a.Phone, ctx.Err())
		}
	}
}

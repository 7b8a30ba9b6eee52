package wafake

// Presence and chat state: a device announcing itself available or
// unavailable, typing and recording notifications, and the privacy
// settings a device reads before it sends read receipts. whatsmeow:
// presence.go (SendPresence, SubscribePresence, SendChatPresence,
// handleChatState), privacysettings.go (TryFetchPrivacySettings,
// parsePrivacySettings) and receipt.go (MarkRead, which sends read-self
// instead of read when read receipts are off).

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

func init() {
	stanzas["presence"] = (*conn).handlePresence
	stanzas["chatstate"] = (*conn).handleChatState
	loggedInIQs["privacy get privacy"] = (*conn).privacySettings
}

// ChatState is a typing notification an account's phone was sent.
type ChatState struct {
	// From is the device that sent it (phone-number JID).
	From types.JID
	// State is composing or paused.
	State string
	// Media is "audio" while recording a voice note, else empty.
	Media string
	// Time is when the server got it.
	Time time.Time
}

// handlePresence takes a device's own presence: type available or
// unavailable (with its push name) sets whether it gets chat states. The
// server sends nothing back. A subscription to a user's presence
// (<presence type="subscribe" to=user>, whatsmeow's SubscribePresence)
// is answered at once with that user's current presence and then with
// each change (Account.SetPresence), on that connection only: presences
// are neither acked nor held, and a subscription ends with the
// connection. (Whether WhatsApp drops a
// subscription without a privacy token is not known; the fake takes
// it.)
func (c *conn) handlePresence(n *waBinary.Node) {
	typ, _ := n.Attrs["type"].(string)
	switch typ {
	case "available", "unavailable":
		c.s.mu.Lock()
		c.available = typ == "available"
		c.s.mu.Unlock()
	case "subscribe":
		to, ok := n.Attrs["to"].(types.JID)
		if !ok {
			c.s.logf("presence subscribe without a to: %s", n.XMLString())
			return
		}
		c.s.mu.Lock()
		a := c.s.accountLocked(to.ToNonAD())
		var pres waBinary.Node
		if a != nil {
			a.subscribers[c.dev] = c
			subscribedAs.Store(subscription{a, c}, to.ToNonAD())
			pres = a.presenceLocked(to.Server == types.HiddenUserServer)
		}
		c.s.mu.Unlock()
		if a == nil {
			c.s.logf("presence subscribe to unknown %s", to)
			return
		}
		c.send(pres) //nolint:errcheck // presences are not held
	default:
		c.s.logf("presence %q of %s: accepted, not answered", typ, c.dev.JID)
	}
}

// presenceLocked is the account's presence as the server pushes it:
// <presence from=user/> while online, else type unavailable with the
// last-seen time (none before the phone was ever online).
func (a *Account) presenceLocked(lid bool) waBinary.Node {
	attrs := waBinary.Attrs{"from": a.userJID(lid)}
	if !a.online {
		attrs["type"] = "unavailable"
		if !a.lastSeen.IsZero() {
			attrs["last"] = strconv.FormatInt(a.lastSeen.Unix(), 10)
		}
	}
	return waBinary.Node{Tag: "presence", Attrs: attrs}
}

// SetPresence is the account's phone coming online (true) or going
// offline (false, last seen now): the devices subscribed to it that are
// connected get the new presence.
func (a *Account) SetPresence(online bool) {
	s := a.s
	s.mu.Lock()
	if a.online && !online {
		a.lastSeen = time.Now()
	}
	a.online = online
	pres := a.presenceLocked(false)
	var live []*conn
	for comp, c := range a.subscribers {
		if comp.conn == c && comp.acct.companions[comp.JID.Device] == comp {
			live = append(live, c)
		} else {
			delete(a.subscribers, comp) // ended with its connection
		}
	}
	s.mu.Unlock()
	for _, c := range live {
		c.send(pres) //nolint:errcheck // presences are not held
	}
}

// Subscribed reports whether device jid's live connection subscribed to
// the account's presence.
func (a *Account) Subscribed(jid types.JID) bool {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	for comp, c := range a.subscribers {
		if comp.JID == jid && comp.conn == c {
			return true
		}
	}
	return false
}

// subscription is a connection's subscription to an account's presence.
type subscription struct {
	a *Account
	c *conn
}

// subscribedAs is the JID each subscription named the account by (its
// phone number or LID). Kept here, not in Account, and never dropped:
// the fake lives for a test.
var subscribedAs sync.Map // subscription -> types.JID

// SubscribedAs returns the JID (phone number or LID) device jid's live
// connection named the account by when it subscribed to its presence;
// ok is false when it did not.
func (a *Account) SubscribedAs(jid types.JID) (to types.JID, ok bool) {
	a.s.mu.Lock()
	var live *conn
	for comp, c := range a.subscribers {
		if comp.JID == jid && comp.conn == c {
			live = c
		}
	}
	a.s.mu.Unlock()
	if live == nil {
		return types.EmptyJID, false
	}
	v, ok := subscribedAs.Load(subscription{a, live})
	if !ok {
		return types.EmptyJID, false
	}
	return v.(types.JID), true
}

// Available reports whether device jid's live connection has announced
// itself available (whatsmeow's SendPresence(PresenceAvailable)): only
// then does the server pass it chat states.
func (s *Server) Available(jid types.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.companionLocked(jid)
	return c != nil && c.conn != nil && c.conn.available
}

// handleChatState takes a device's typing notification for a user
// (<chatstate to=...><composing/></chatstate>, media="audio" when
// recording, or <paused/>): the server does not ack it, records it at
// the user's phone (Account.ChatStates) and passes it, from the
// sender's user JID, to that user's other devices that are connected
// and available; one that is not misses it, as chat states are not
// held.
func (c *conn) handleChatState(n *waBinary.Node) {
	s := c.s
	to, ok := n.Attrs["to"].(types.JID)
	states := n.GetChildren()
	if !ok || len(states) != 1 {
		s.logf("chatstate without a to or one state: %s", n.XMLString())
		return
	}
	if to.Server != types.DefaultUserServer && to.Server != types.HiddenUserServer {
		s.logf("no handler for chatstate to %s", to)
		return
	}
	st := states[0]
	media, _ := st.Attrs["media"].(string)
	lid := to.Server == types.HiddenUserServer
	s.mu.Lock()
	r := s.accountLocked(to)
	self := c.dev
	from := c.acct.userJID(lid)
	s.mu.Unlock()
	if r == nil {
		s.logf("chatstate to unknown %s", to)
		return
	}
	r.recordChatState(ChatState{From: self.JID, State: st.Tag, Media: media, Time: time.Now()})
	s.passChatState(r, self, from, st)
}

// passChatState sends state, from the user from, to the devices of r
// but skip that are connected and available.
func (s *Server) passChatState(r *Account, skip *Companion, from types.JID, state waBinary.Node) {
	fwd := waBinary.Node{Tag: "chatstate", Attrs: waBinary.Attrs{"from": from},
		Content: []waBinary.Node{{Tag: state.Tag, Attrs: state.Attrs}}}
	s.mu.Lock()
	var targets []*Companion
	for _, comp := range r.companions {
		if comp != skip {
			targets = append(targets, comp)
		}
	}
	s.mu.Unlock()
	for _, comp := range targets {
		comp.sendMu.Lock()
		s.mu.Lock()
		live := comp.active
		if live != comp.conn || live == nil || !live.available {
			live = nil
		}
		s.mu.Unlock()
		if live != nil {
			live.send(fwd) //nolint:errcheck // chat states are not held
		}
		comp.sendMu.Unlock()
	}
}

func (a *Account) recordChatState(cs ChatState) {
	a.ph.mu.Lock()
	a.ph.states = append(a.ph.states, cs)
	a.ph.notifyLocked()
	a.ph.mu.Unlock()
}

// ChatStates returns the typing notifications sent to the account, in
// order.
func (a *Account) ChatStates() []ChatState {
	a.ph.mu.Lock()
	defer a.ph.mu.Unlock()
	return slices.Clone(a.ph.states)
}

// WaitChatState waits until the account has been sent a chat state
// match accepts (any when match is nil) and returns the first such.
func (a *Account) WaitChatState(ctx context.Context, match func(ChatState) bool) (ChatState, error) {
	for {
		a.ph.mu.Lock()
		for _, cs := range a.ph.states {
			if match == nil || match(cs) {
				a.ph.mu.Unlock()
				return cs, nil
			}
		}
		ch := a.ph.waitLocked()
		a.ph.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ChatState{}, fmt.Errorf("wafake: phone %s was sent no such chat state: %w", a.Phone, ctx.Err())
		}
	}
}

// SendChatState is the account's phone typing to the user to: state is
// composing or paused, media "audio" for recording a voice note (with
// composing). The server passes it to to's devices that are connected
// and available (whatsmeow: events.ChatPresence).
func (a *Account) SendChatState(to types.JID, state, media string) error {
	if state != "composing" && state != "paused" {
		return fmt.Errorf("wafake: chat state %q is neither composing nor paused", state)
	}
	s := a.s
	s.mu.Lock()
	r := s.accountLocked(to)
	s.mu.Unlock()
	if r == nil || to.Device != 0 {
		return fmt.Errorf("wafake: %s is not a user on WhatsApp", to)
	}
	st := waBinary.Node{Tag: state}
	if state == "composing" && media != "" {
		st.Attrs = waBinary.Attrs{"media": media}
	}
	s.passChatState(r, nil, a.userJID(to.Server == types.HiddenUserServer), st)
	return nil
}

// privacySettings answers a device's privacy query with the account's
// settings, a new account's defaults: read receipts on (so whatsmeow's
// MarkRead sends read, not read-self), last seen, online, profile photo,
// group adds and calls by everyone, status to contacts.
func (c *conn) privacySettings(n *waBinary.Node) {
	var cats []waBinary.Node
	for _, kv := range [][2]string{
		{"readreceipts", "all"}, {"last", "all"}, {"online", "all"}, {"profile", "all"},
		{"status", "contacts"}, {"groupadd", "all"}, {"calladd", "all"},
	} {
		cats = append(cats, waBinary.Node{Tag: "category", Attrs: waBinary.Attrs{"name": kv[0], "value": kv[1]}})
	}
	c.result(n, waBinary.Node{Tag: "privacy", Content: cats})
}

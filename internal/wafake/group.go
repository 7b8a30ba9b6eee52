package wafake

// Groups as the server keeps them: their metadata, members and admins,
// invite links, the w:g2 queries a device sends and the w:gp2 (and
// picture) notifications the server sends every member device when a
// group changes. Group messages (sender keys) are not here. whatsmeow:
// group.go (sendGroupIQ and each query, parseGroupNode,
// parseParticipant, parseGroupCreate, parseGroupChange,
// parseParticipantList), notification.go (handleNotification's w:gp2
// and picture cases, handlePictureNotification) and receipt.go
// (sendAck, which acks every notification).

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

func init() {
	loggedInIQs["w:g2 set create"] = (*conn).groupCreate
	loggedInIQs["w:g2 get query"] = (*conn).groupQuery
	loggedInIQs["w:g2 get participating"] = (*conn).groupParticipating
	for _, action := range []string{"add", "remove", "promote", "demote"} {
		loggedInIQs["w:g2 set "+action] = (*conn).groupParticipants
	}
	// get invite: the group's link (to=group) or what a link leads to
	// (to=@g.us, code); set invite: a new link (to=group) or joining
	// with one (to=@g.us, code).
	loggedInIQs["w:g2 get invite"] = (*conn).groupInvite
	loggedInIQs["w:g2 set invite"] = (*conn).groupInvite
	loggedInIQs["w:g2 set leave"] = (*conn).groupLeave
	for _, tag := range []string{"subject", "description", "announcement", "not_announcement", "locked", "unlocked"} {
		loggedInIQs["w:g2 set "+tag] = (*conn).groupSetting
	}
	// A group's picture: the profile picture iqs with the group as
	// target (profile.go passes those on here).
	loggedInIQs["w:profile:picture set picture"] = (*conn).groupPicture
	loggedInIQs["w:profile:picture set "] = (*conn).groupPicture
}

// MaxGroupSubject is the most characters a group subject may have; a
// longer one is refused with 406 not-acceptable.
const MaxGroupSubject = 100

// addRequestTTL is how long the invite code of a refused add is good
// for (unverified; WhatsApp shows such invites as valid for days).
const addRequestTTL = 3 * 24 * time.Hour

// groupStore is the server's groups (in Server, guarded by Server.mu;
// usable at its zero value).
type groupStore struct {
	byID    map[string]*group // by the id, the JID's user part
	invites map[string]*group // current invite codes
	revoked map[string]bool   // invite codes reset since
	refuse  map[*Account]bool // accounts whose privacy refuses adds
	lid     bool              // new groups are LID-addressed
	version int               // last participant/announce version id
}

// group is one group on the server.
type group struct {
	id        string
	lid       bool // addressing_mode lid
	creator   *Account
	created   time.Time
	subject   string
	subjectBy *Account
	subjectAt time.Time
	topic     string
	topicID   string
	topicBy   *Account
	topicAt   time.Time
	announce  bool
	locked    bool
	invite    string
	pictureID string
	members   []*member
	// approval: joining by invite link needs an admin's approval; the
	// ones asking are in requests, not members.
	approval bool
	requests []*Account
}

type member struct {
	acct         *Account
	admin, super bool
}

func (g *group) jid() types.JID { return types.NewJID(g.id, types.GroupServer) }

func (g *group) member(a *Account) *member {
	for _, m := range g.members {
		if m.acct == a {
			return m
		}
	}
	return nil
}

// userJID is a as the group addresses it.
func (g *group) userJID(a *Account) types.JID { return a.userJID(g.lid) }

// participant is a's <participant> node: its JID in the group's
// addressing with the other one (phone_number for a LID, lid for a
// phone number), and its admin type.
func (g *group) participant(a *Account, typ string) waBinary.Node {
	attrs := waBinary.Attrs{"jid": g.userJID(a)}
	if g.lid {
		attrs["phone_number"] = a.JID()
	} else {
		attrs["lid"] = a.LIDJID()
	}
	if typ != "" {
		attrs["type"] = typ
	}
	return waBinary.Node{Tag: "participant", Attrs: attrs}
}

func (m *member) typ() string {
	switch {
	case m.super:
		return "superadmin"
	case m.admin:
		return "admin"
	}
	return ""
}

// node is the group's <group> node as the server answers a query:
// id (the JID's user part), creator, creation, subject with who set it
// when, size, addressing mode, then the participants, the description,
// announcement, locked and the member add mode.
func (g *group) node(extra ...waBinary.Node) waBinary.Node {
	attrs := waBinary.Attrs{
		"id": g.id, "creation": g.created.Unix(), "subject": g.subject, "s_t": g.subjectAt.Unix(),
		"size": len(g.members), "addressing_mode": "pn",
	}
	if g.lid {
		attrs["addressing_mode"] = "lid"
	}
	if g.creator != nil {
		attrs["creator"] = g.userJID(g.creator)
		if g.lid {
			attrs["creator_pn"] = g.creator.JID()
		}
	}
	if g.subjectBy != nil {
		attrs["s_o"] = g.userJID(g.subjectBy)
		if g.lid {
			attrs["s_o_pn"] = g.subjectBy.JID()
		}
	}
	var content []waBinary.Node
	for _, m := range g.members {
		content = append(content, g.participant(m.acct, m.typ()))
	}
	content = append(content, extra...)
	if g.topic != "" {
		d := waBinary.Attrs{"id": g.topicID, "t": g.topicAt.Unix()}
		if g.topicBy != nil {
			d["participant"] = g.userJID(g.topicBy)
			if g.lid {
				d["participant_pn"] = g.topicBy.JID()
			}
		}
		content = append(content, waBinary.Node{Tag: "description", Attrs: d,
			Content: []waBinary.Node{{Tag: "body", Content: []byte(g.topic)}}})
	}
	if g.announce {
		content = append(content, waBinary.Node{Tag: "announcement"})
	}
	if g.locked {
		content = append(content, waBinary.Node{Tag: "locked"})
	}
	content = append(content, waBinary.Node{Tag: "member_add_mode", Content: []byte("admin_add")})
	return waBinary.Node{Tag: "group", Attrs: attrs, Content: content}
}

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	out := make([]byte, n)
	for i := range out {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		out[i] = byte('0' + d.Int64())
	}
	return string(out)
}

// randomCode returns an invite code as WhatsApp's look: 22 letters and
// digits.
func randomCode() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 22)
	for i := range out {
		d, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		out[i] = alphabet[d.Int64()]
	}
	return string(out)
}

func notificationID() string {
	var b [4]byte
	rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
}

// initLocked makes the store's maps.
func (st *groupStore) initLocked() {
	if st.byID == nil {
		st.byID = map[string]*group{}
		st.invites = map[string]*group{}
		st.revoked = map[string]bool{}
		st.refuse = map[*Account]bool{}
	}
}

func (st *groupStore) nextVersion() string {
	st.version++
	return strconv.Itoa(1700000000 + st.version)
}

// groupLocked returns the group jid names, or nil.
func (s *Server) groupLocked(jid types.JID) *group {
	s.groups.initLocked()
	if jid.Server != types.GroupServer {
		return nil
	}
	return s.groups.byID[jid.User]
}

// newInviteLocked gives g a new invite code, revoking the old one.
func (s *Server) newInviteLocked(g *group) {
	if g.invite != "" {
		delete(s.groups.invites, g.invite)
		s.groups.revoked[g.invite] = true
	}
	g.invite = randomCode()
	s.groups.invites[g.invite] = g
}

// gp2 is a group notification in the making: its children and who gets
// it.
type gp2 struct {
	g        *group
	actor    *Account // nil: no participant attr
	notify   string   // the notify attr when not the actor's push name
	children []waBinary.Node
	to       []*Account // the accounts whose devices get it
}

// recipients are g's members now.
func (g *group) recipients() []*Account {
	out := make([]*Account, len(g.members))
	for i, m := range g.members {
		out[i] = m.acct
	}
	return out
}

// notifyLocked builds n's <notification type="w:gp2" from=group id t
// participant notify> and the devices it goes to; send with
// Server.send.
func (s *Server) notifyLocked(n gp2) []delivery {
	attrs := waBinary.Attrs{"type": "w:gp2", "from": n.g.jid(), "id": notificationID(), "t": time.Now().Unix()}
	if n.actor != nil {
		attrs["participant"] = n.g.userJID(n.actor)
		if n.g.lid {
			attrs["participant_pn"] = n.actor.JID()
		}
		if n.actor.PushName != "" {
			attrs["notify"] = n.actor.PushName
		}
	}
	if n.notify != "" {
		attrs["notify"] = n.notify
	}
	node := waBinary.Node{Tag: "notification", Attrs: attrs, Content: n.children}
	return s.deliveriesLocked(node, n.g.jid(), "w:gp2", n.to)
}

// delivery is a stanza for one device.
type delivery struct {
	comp *Companion
	node waBinary.Node
	from types.JID
	typ  string
}

func (s *Server) deliveriesLocked(node waBinary.Node, from types.JID, typ string, to []*Account) []delivery {
	var out []delivery
	for _, a := range to {
		for _, d := range a.devicesLocked(false)[1:] {
			out = append(out, delivery{comp: a.companions[d.Device], node: node, from: from, typ: typ})
		}
	}
	return out
}

// send delivers ds, without Server.mu held.
func (s *Server) send(ds []delivery) {
	for _, d := range ds {
		s.deliver(d.comp, d.node, d.from, d.typ)
	}
}

// participantsNode is a <tag> of participants for a notification.
func (g *group) participantsNode(tag string, accts []*Account, attrs waBinary.Attrs) waBinary.Node {
	var ps []waBinary.Node
	for _, a := range accts {
		ps = append(ps, g.participant(a, ""))
	}
	return waBinary.Node{Tag: tag, Attrs: attrs, Content: ps}
}

// ParticipantResult is what the server made of one participant of a
// create or a participants change: Code 0 for done, else WhatsApp's
// per-participant error (403 their privacy refuses adds, with an
// InviteCode; 404 not on WhatsApp or not a member; 409 already a
// member).
type ParticipantResult struct {
	JID        types.JID
	Code       int
	InviteCode string
}

// requested resolves a participant a device named.
func (s *Server) requestedLocked(p waBinary.Node) (types.JID, *Account, bool) {
	jid, ok := p.Attrs["jid"].(types.JID)
	if p.Tag != "participant" || !ok {
		return types.JID{}, nil, false
	}
	return jid, s.accountLocked(jid.ToNonAD()), true
}

// addLocked adds whom to g for actor, as an add or at creation: those
// whose privacy refuses adds get 403 and an invite code (an
// <add_request code expiration/>), those not on WhatsApp 404, members
// 409. It returns the results' nodes (in the request's order) and who
// was added.
func (s *Server) addLocked(g *group, actor *Account, whom []waBinary.Node) (nodes []waBinary.Node, added []*Account, results []ParticipantResult) {
	for _, p := range whom {
		jid, a, ok := s.requestedLocked(p)
		if !ok {
			continue
		}
		r := ParticipantResult{JID: jid}
		switch {
		case a == nil:
			r.Code = 404
		case g.member(a) != nil || slices.Contains(added, a):
			r.Code = 409
		case a != actor && s.groups.refuse[a]:
			r.Code = 403
			r.InviteCode = randomCode()
		}
		results = append(results, r)
		if r.Code == 0 {
			added = append(added, a)
			nodes = append(nodes, g.participant(a, ""))
			continue
		}
		pn := waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": strconv.Itoa(r.Code)}}
		if a != nil {
			pn.Attrs["jid"] = g.userJID(a)
			if g.lid {
				pn.Attrs["phone_number"] = a.JID()
			}
		}
		if r.Code == 403 {
			pn.Content = []waBinary.Node{{Tag: "add_request", Attrs: waBinary.Attrs{
				"code": r.InviteCode, "expiration": time.Now().Add(addRequestTTL).Unix(),
			}}}
		}
		nodes = append(nodes, pn)
	}
	for _, a := range added {
		g.members = append(g.members, &member{acct: a})
	}
	return nodes, added, results
}

// createGroupLocked makes a group of actor and whom (participant
// nodes), with the create's options. It returns the group, the result
// node (the group with the refused participants, error set) and the
// notifications: a <create type="new" key=...> to every member.
func (s *Server) createGroupLocked(actor *Account, subject, key string, whom []waBinary.Node, opts []waBinary.Node) (*group, waBinary.Node, []ParticipantResult, []delivery) {
	s.groups.initLocked()
	now := time.Now()
	g := &group{
		id: "120363" + randomDigits(12), lid: s.groups.lid, creator: actor, created: now,
		subject: subject, subjectBy: actor, subjectAt: now,
		members: []*member{{acct: actor, admin: true, super: true}},
	}
	for s.groups.byID[g.id] != nil {
		g.id = "120363" + randomDigits(12)
	}
	for _, o := range opts {
		switch o.Tag {
		case "announcement":
			g.announce = true
		case "locked":
			g.locked = true
		}
	}
	s.groups.byID[g.id] = g
	nodes, _, results := s.addLocked(g, actor, whom)
	var refused []waBinary.Node
	for _, n := range nodes {
		if _, failed := n.Attrs["error"]; failed {
			refused = append(refused, n)
		}
	}
	res := g.node(refused...)
	create := waBinary.Node{Tag: "create", Attrs: waBinary.Attrs{"type": "new"}, Content: []waBinary.Node{g.node()}}
	if key != "" {
		create.Attrs["key"] = key
	}
	ds := s.notifyLocked(gp2{g: g, actor: actor, children: []waBinary.Node{create}, to: g.recipients()})
	return g, res, results, ds
}

// groupCreate answers a create (<create subject key><participant
// jid/>...[<locked/>][<announcement/>]...</create> to @g.us) with the
// new group, and notifies every member.
func (c *conn) groupCreate(n *waBinary.Node) {
	cr := n.GetChildByTag("create")
	subject, _ := cr.Attrs["subject"].(string)
	key, _ := cr.Attrs["key"].(string)
	if subject == "" {
		c.iqError(n, 400, "bad-request")
		return
	}
	if utf8.RuneCountInString(subject) > MaxGroupSubject {
		c.iqError(n, 406, "not-acceptable")
		return
	}
	var whom, opts []waBinary.Node
	for _, ch := range cr.GetChildren() {
		if ch.Tag == "participant" {
			whom = append(whom, ch)
		} else {
			opts = append(opts, ch)
		}
	}
	c.s.mu.Lock()
	_, res, _, ds := c.s.createGroupLocked(c.acct, subject, key, whom, opts)
	c.s.mu.Unlock()
	c.result(n, res)
	c.s.send(ds)
}

// memberGroup resolves the group an iq is to and checks the asking
// account is in it: 404 item-not-found for no such group, 403
// forbidden for a non-member (whatsmeow: ErrGroupNotFound,
// ErrNotInGroup). Call with s.mu held; on false the error was sent.
func (c *conn) memberGroupLocked(n *waBinary.Node) (*group, *member, bool) {
	to, _ := n.Attrs["to"].(types.JID)
	g := c.s.groupLocked(to)
	if g == nil {
		c.iqError(n, 404, "item-not-found")
		return nil, nil, false
	}
	m := g.member(c.acct)
	if m == nil {
		c.iqError(n, 403, "forbidden")
		return nil, nil, false
	}
	return g, m, true
}

// groupQuery answers a group info query (<query request="interactive"/>
// to the group).
func (c *conn) groupQuery(n *waBinary.Node) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	g, _, ok := c.memberGroupLocked(n)
	if !ok {
		return
	}
	c.result(n, g.node())
}

// groupParticipating answers the list of the account's groups
// (<participating><participants/><description/></participating> to
// @g.us) with <groups><group/>...</groups>.
func (c *conn) groupParticipating(n *waBinary.Node) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.groups.initLocked()
	var gs []*group
	for _, g := range c.s.groups.byID {
		if g.member(c.acct) != nil {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b *group) int { return a.created.Compare(b.created) })
	var nodes []waBinary.Node
	for _, g := range gs {
		nodes = append(nodes, g.node())
	}
	c.result(n, waBinary.Node{Tag: "groups", Content: nodes})
}

// groupParticipants answers an add, remove, promote or demote
// (<action><participant jid/>...</action> to the group), admins only
// (401 not-authorized otherwise), with a result per participant in the
// same tag, and notifies the members of what was done.
func (c *conn) groupParticipants(n *waBinary.Node) {
	action := n.GetChildren()[0]
	c.s.mu.Lock()
	g, m, ok := c.memberGroupLocked(n)
	if !ok {
		c.s.mu.Unlock()
		return
	}
	if !m.admin {
		c.s.mu.Unlock()
		c.iqError(n, 401, "not-authorized")
		return
	}
	nodes, ds := c.s.changeParticipantsLocked(g, c.acct, action.Tag, action.GetChildren())
	c.s.mu.Unlock()
	c.result(n, waBinary.Node{Tag: action.Tag, Content: nodes})
	c.s.send(ds)
}

// changeParticipantsLocked does action (add, remove, promote, demote)
// for actor on the participants named, returning the per-participant
// result nodes and the notification of what was done to the members
// (a remove reaches those removed too).
func (s *Server) changeParticipantsLocked(g *group, actor *Account, action string, whom []waBinary.Node) ([]waBinary.Node, []delivery) {
	if action == "add" {
		nodes, added, _ := s.addLocked(g, actor, whom)
		var ds []delivery
		if len(added) > 0 {
			ds = s.notifyLocked(gp2{g: g, actor: actor, to: g.recipients(), children: []waBinary.Node{
				g.participantsNode("add", added, waBinary.Attrs{"v_id": s.groups.nextVersion()}),
			}})
		}
		return nodes, ds
	}
	var nodes []waBinary.Node
	var done []*Account
	to := g.recipients()
	for _, p := range whom {
		jid, a, ok := s.requestedLocked(p)
		if !ok {
			continue
		}
		var m *member
		if a != nil {
			m = g.member(a)
		}
		if m == nil || slices.Contains(done, a) {
			nodes = append(nodes, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": "404"}})
			continue
		}
		switch action {
		case "remove":
			g.members = slices.DeleteFunc(g.members, func(x *member) bool { return x == m })
		case "promote":
			m.admin = true
		case "demote":
			m.admin, m.super = false, false
		}
		done = append(done, a)
		nodes = append(nodes, g.participant(a, ""))
	}
	var ds []delivery
	if len(done) > 0 {
		ds = s.notifyLocked(gp2{g: g, actor: actor, to: to, children: []waBinary.Node{
			g.participantsNode(action, done, waBinary.Attrs{"v_id": s.groups.nextVersion()}),
		}})
	}
	return nodes, ds
}

// groupInvite answers the invite queries, which share a key: to the
// group, get the invite link (admins; 401 otherwise) or, with set,
// revoke it for a new one; to @g.us with a code, get what group the
// link leads to or, with set, join it. An unknown code is 406
// not-acceptable, a reset one 410 gone (whatsmeow:
// ErrInviteLinkInvalid, ErrInviteLinkRevoked).
func (c *conn) groupInvite(n *waBinary.Node) {
	to, _ := n.Attrs["to"].(types.JID)
	inv := n.GetChildByTag("invite")
	code, hasCode := inv.Attrs["code"].(string)
	set := n.Attrs["type"] == "set"
	s := c.s
	s.mu.Lock()
	if to.User != "" {
		g, m, ok := c.memberGroupLocked(n)
		if !ok {
			s.mu.Unlock()
			return
		}
		if !m.admin {
			s.mu.Unlock()
			c.iqError(n, 401, "not-authorized")
			return
		}
		var ds []delivery
		if set || g.invite == "" {
			s.newInviteLocked(g)
		}
		if set {
			ds = s.notifyLocked(gp2{g: g, actor: c.acct, to: g.recipients(), children: []waBinary.Node{
				{Tag: "invite", Attrs: waBinary.Attrs{"code": g.invite}},
			}})
		}
		code := g.invite
		s.mu.Unlock()
		c.result(n, waBinary.Node{Tag: "invite", Attrs: waBinary.Attrs{"code": code}})
		s.send(ds)
		return
	}
	s.groups.initLocked()
	g := s.groups.invites[code]
	if !hasCode || g == nil {
		revoked := s.groups.revoked[code]
		s.mu.Unlock()
		if revoked {
			c.iqError(n, 410, "gone")
		} else {
			c.iqError(n, 406, "not-acceptable")
		}
		return
	}
	if !set {
		res := g.node()
		s.mu.Unlock()
		c.result(n, res)
		return
	}
	if g.approval && g.member(c.acct) == nil {
		if !slices.Contains(g.requests, c.acct) {
			g.requests = append(g.requests, c.acct)
		}
		s.mu.Unlock()
		c.result(n, waBinary.Node{Tag: "membership_approval_request", Attrs: waBinary.Attrs{"jid": g.jid()}})
		return
	}
	ds := s.joinLocked(g, c.acct)
	s.mu.Unlock()
	c.result(n, waBinary.Node{Tag: "group", Attrs: waBinary.Attrs{"jid": g.jid()}})
	s.send(ds)
}

// joinLocked adds a to g by its invite link: a's devices get a
// <create reason="invite"> with the group (notify="invite", no
// participant), the other members an <add reason="invite">. A member
// joins nothing.
func (s *Server) joinLocked(g *group, a *Account) []delivery {
	if g.member(a) != nil {
		return nil
	}
	others := g.recipients()
	g.members = append(g.members, &member{acct: a})
	ds := s.notifyLocked(gp2{g: g, notify: "invite", to: []*Account{a}, children: []waBinary.Node{
		{Tag: "create", Attrs: waBinary.Attrs{"reason": "invite"}, Content: []waBinary.Node{g.node()}},
	}})
	return append(ds, s.notifyLocked(gp2{g: g, actor: a, to: others, children: []waBinary.Node{
		g.participantsNode("add", []*Account{a}, waBinary.Attrs{"reason": "invite", "v_id": s.groups.nextVersion()}),
	}})...)
}

// groupLeave answers a leave (<leave><group id=group JID/></leave> to
// @g.us): the account is removed from each group named, and every
// member, the one leaving included, gets a <remove> by that account.
// An unknown group is 404, one the account is not in 403.
func (c *conn) groupLeave(n *waBinary.Node) {
	s := c.s
	var ds []delivery
	var gs []waBinary.Node
	leave := n.GetChildByTag("leave")
	s.mu.Lock()
	for _, ch := range leave.GetChildren() {
		jid, _ := ch.Attrs["id"].(types.JID)
		g := s.groupLocked(jid)
		if g == nil || g.member(c.acct) == nil {
			s.mu.Unlock()
			if g == nil {
				c.iqError(n, 404, "item-not-found")
			} else {
				c.iqError(n, 403, "forbidden")
			}
			return
		}
		ds = append(ds, s.leaveLocked(g, c.acct)...)
		gs = append(gs, waBinary.Node{Tag: "group", Attrs: waBinary.Attrs{"id": jid}})
	}
	s.mu.Unlock()
	c.result(n, waBinary.Node{Tag: "leave", Content: gs})
	s.send(ds)
}

func (s *Server) leaveLocked(g *group, a *Account) []delivery {
	to := g.recipients()
	g.members = slices.DeleteFunc(g.members, func(m *member) bool { return m.acct == a })
	return s.notifyLocked(gp2{g: g, actor: a, to: to, children: []waBinary.Node{
		g.participantsNode("remove", []*Account{a}, waBinary.Attrs{"v_id": s.groups.nextVersion()}),
	}})
}

// groupSetting answers the settings a member changes: subject,
// description (a topic with id, prev and delete="true", or a bare
// description), announcement and not_announcement (admins), locked
// and unlocked (admins). While a group is locked only admins may change
// its subject and description (401 not-authorized). A description whose
// prev is not the current one's id is 409 conflict.
func (c *conn) groupSetting(n *waBinary.Node) {
	ch := n.GetChildren()[0]
	s := c.s
	s.mu.Lock()
	g, m, ok := c.memberGroupLocked(n)
	if !ok {
		s.mu.Unlock()
		return
	}
	code, ds := s.setLocked(g, c.acct, m, ch)
	s.mu.Unlock()
	switch code {
	case 0:
		c.result(n)
		s.send(ds)
	case 400:
		c.iqError(n, 400, "bad-request")
	case 401:
		c.iqError(n, 401, "not-authorized")
	case 406:
		c.iqError(n, 406, "not-acceptable")
	case 409:
		c.iqError(n, 409, "conflict")
	}
}

// setLocked applies one setting node for actor (member m) and returns 0
// and the notification, or an error code.
func (s *Server) setLocked(g *group, actor *Account, m *member, ch waBinary.Node) (int, []delivery) {
	now := time.Now()
	var change waBinary.Node
	switch ch.Tag {
	case "subject":
		if g.locked && !m.admin {
			return 401, nil
		}
		b, _ := ch.Content.([]byte)
		subject := string(b)
		if subject == "" {
			return 400, nil
		}
		if utf8.RuneCountInString(subject) > MaxGroupSubject {
			return 406, nil
		}
		g.subject, g.subjectBy, g.subjectAt = subject, actor, now
		change = waBinary.Node{Tag: "subject", Attrs: waBinary.Attrs{"subject": subject, "s_t": now.Unix(), "s_o": g.userJID(actor)}}
		if g.lid {
			change.Attrs["s_o_pn"] = actor.JID()
		}
	case "description":
		if g.locked && !m.admin {
			return 401, nil
		}
		id, _ := ch.Attrs["id"].(string)
		if prev, ok := ch.Attrs["prev"].(string); ok && prev != g.topicID {
			return 409, nil
		}
		if id == "" {
			id = newMessageID()
		}
		var body []byte
		if b, ok := ch.GetOptionalChildByTag("body"); ok {
			body, _ = b.Content.([]byte)
		}
		del := ch.Attrs["delete"] == "true" || len(body) == 0
		if del {
			g.topic, g.topicID, g.topicBy, g.topicAt = "", id, actor, now
			change = waBinary.Node{Tag: "description", Attrs: waBinary.Attrs{"id": id}, Content: []waBinary.Node{{Tag: "delete"}}}
		} else {
			g.topic, g.topicID, g.topicBy, g.topicAt = string(body), id, actor, now
			change = waBinary.Node{Tag: "description", Attrs: waBinary.Attrs{"id": id},
				Content: []waBinary.Node{{Tag: "body", Content: body}}}
		}
	case "announcement", "not_announcement":
		if !m.admin {
			return 401, nil
		}
		g.announce = ch.Tag == "announcement"
		change = waBinary.Node{Tag: ch.Tag, Attrs: waBinary.Attrs{"v_id": s.groups.nextVersion()}}
	case "locked", "unlocked":
		if !m.admin {
			return 401, nil
		}
		g.locked = ch.Tag == "locked"
		change = waBinary.Node{Tag: ch.Tag}
	default:
		return 400, nil
	}
	return 0, s.notifyLocked(gp2{g: g, actor: actor, to: g.recipients(), children: []waBinary.Node{change}})
}

// Group is a snapshot of a group on the server.
type Group struct {
	JID      types.JID
	Subject  string
	Topic    string
	Announce bool
	Locked   bool
	// LID is set for a LID-addressed group.
	LID bool
	// InviteCode is the current invite link's code, empty before one
	// was asked for.
	InviteCode string
	PictureID  string
	Members    []GroupMember
}

// GroupMember is a member of a Group.
type GroupMember struct {
	// JID is the member's phone-number JID.
	JID               types.JID
	Admin, SuperAdmin bool
}

// Group returns the group jid, or false.
func (s *Server) Group(jid types.JID) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupLocked(jid)
	if g == nil {
		return Group{}, false
	}
	out := Group{JID: g.jid(), Subject: g.subject, Topic: g.topic, Announce: g.announce, Locked: g.locked,
		LID: g.lid, InviteCode: g.invite, PictureID: g.pictureID}
	for _, m := range g.members {
		out.Members = append(out.Members, GroupMember{JID: m.acct.JID(), Admin: m.admin, SuperAdmin: m.super})
	}
	return out, true
}

// LIDGroups sets whether groups created from now on are addressed by
// LID (addressing_mode lid: participants as LIDs with phone_number,
// notifications with participant_pn), as WhatsApp creates most new
// groups today, or by phone number (the default).
func (s *Server) LIDGroups(lid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups.lid = lid
}

// GroupApproval sets whether joining group by its invite link needs an
// admin's approval: a join is then answered <membership_approval_request
// jid=group/> and the one asking becomes no member (JoinRequests).
func (s *Server) GroupApproval(group types.JID, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupLocked(group)
	if g == nil {
		return fmt.Errorf("wafake: no group %s", group)
	}
	g.approval = on
	return nil
}

// JoinRequests returns the accounts (their phone-number JIDs) asking to
// join group by its link, in order.
func (s *Server) JoinRequests(group types.JID) []types.JID {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupLocked(group)
	if g == nil {
		return nil
	}
	var out []types.JID
	for _, a := range g.requests {
		out = append(out, a.JID())
	}
	return out
}

// RefuseGroupAdds sets the account's privacy for being added to groups:
// with refuse, like "My contacts" for someone who is not one (the fake
// keeps no address books), anyone adding it (at creation or later)
// gets error 403 for it with an invite code to send it instead.
func (a *Account) RefuseGroupAdds(refuse bool) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.s.groups.initLocked()
	a.s.groups.refuse[a] = refuse
}

// The account's phone acting on groups: the server does what it would
// for a device's query and notifies every member device.

// CreateGroup is the account's phone creating a group with members; it
// returns the group and what became of each member asked for.
func (a *Account) CreateGroup(subject string, members ...*Account) (types.JID, []ParticipantResult, error) {
	s := a.s
	var whom []waBinary.Node
	for _, m := range members {
		whom = append(whom, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": m.JID()}})
	}
	if subject == "" || utf8.RuneCountInString(subject) > MaxGroupSubject {
		return types.JID{}, nil, fmt.Errorf("wafake: invalid group subject %q", subject)
	}
	s.mu.Lock()
	g, _, results, ds := s.createGroupLocked(a, subject, newMessageID(), whom, nil)
	s.mu.Unlock()
	s.send(ds)
	return g.jid(), results, nil
}

// adminGroup resolves a group a phone acts on: it must exist and have
// the account as an admin.
func (a *Account) adminGroupLocked(jid types.JID, admin bool) (*group, *member, error) {
	g := a.s.groupLocked(jid)
	if g == nil {
		return nil, nil, fmt.Errorf("wafake: no group %s", jid)
	}
	m := g.member(a)
	if m == nil {
		return nil, nil, fmt.Errorf("wafake: %s is not in group %s", a.Phone, jid)
	}
	if admin && !m.admin {
		return nil, nil, fmt.Errorf("wafake: %s is not an admin of group %s", a.Phone, jid)
	}
	return g, m, nil
}

// UpdateGroup is the account's phone (an admin) adding, removing,
// promoting or demoting (action) accounts in group.
func (a *Account) UpdateGroup(group types.JID, action string, whom ...*Account) ([]ParticipantResult, error) {
	switch action {
	case "add", "remove", "promote", "demote":
	default:
		return nil, fmt.Errorf("wafake: no participant action %q", action)
	}
	s := a.s
	var ps []waBinary.Node
	for _, w := range whom {
		ps = append(ps, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": w.JID()}})
	}
	s.mu.Lock()
	g, _, err := a.adminGroupLocked(group, true)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	nodes, ds := s.changeParticipantsLocked(g, a, action, ps)
	s.mu.Unlock()
	s.send(ds)
	var out []ParticipantResult
	for _, n := range nodes {
		jid, _ := n.Attrs["jid"].(types.JID)
		code, _ := strconv.Atoi(fmt.Sprint(n.Attrs["error"]))
		r := ParticipantResult{JID: jid, Code: code}
		if ar, ok := n.GetOptionalChildByTag("add_request"); ok {
			r.InviteCode, _ = ar.Attrs["code"].(string)
		}
		out = append(out, r)
	}
	return out, nil
}

// SetGroupSubject, SetGroupTopic (empty: removed), SetGroupAnnounce and
// SetGroupLocked are the account's phone changing a group setting.
func (a *Account) SetGroupSubject(group types.JID, subject string) error {
	return a.setGroup(group, waBinary.Node{Tag: "subject", Content: []byte(subject)})
}

// SetGroupTopic: see SetGroupSubject.
func (a *Account) SetGroupTopic(group types.JID, topic string) error {
	n := waBinary.Node{Tag: "description", Attrs: waBinary.Attrs{"id": newMessageID()}}
	if topic == "" {
		n.Attrs["delete"] = "true"
	} else {
		n.Content = []waBinary.Node{{Tag: "body", Content: []byte(topic)}}
	}
	return a.setGroup(group, n)
}

// SetGroupAnnounce: see SetGroupSubject.
func (a *Account) SetGroupAnnounce(group types.JID, announce bool) error {
	tag := "not_announcement"
	if announce {
		tag = "announcement"
	}
	return a.setGroup(group, waBinary.Node{Tag: tag})
}

// SetGroupLocked: see SetGroupSubject.
func (a *Account) SetGroupLocked(group types.JID, locked bool) error {
	tag := "unlocked"
	if locked {
		tag = "locked"
	}
	return a.setGroup(group, waBinary.Node{Tag: tag})
}

func (a *Account) setGroup(group types.JID, ch waBinary.Node) error {
	s := a.s
	s.mu.Lock()
	g, m, err := a.adminGroupLocked(group, false)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	code, ds := s.setLocked(g, a, m, ch)
	s.mu.Unlock()
	if code != 0 {
		return fmt.Errorf("wafake: %s of group %s refused with %d", ch.Tag, group, code)
	}
	s.send(ds)
	return nil
}

// groupPicture sets (<picture type="image">JPEG</picture>) or, with no
// child, removes the picture of the group the iq targets, answering
// <picture id/> (an image that is not a JPEG is 406 not-acceptable:
// whatsmeow's ErrInvalidImageFormat); the members get a picture
// notification.
func (c *conn) groupPicture(n *waBinary.Node) {
	target, _ := n.Attrs["target"].(types.JID)
	if target.Server != types.GroupServer {
		c.s.logf("no handler for iq %s", n.XMLString())
		c.iqError(n, 501, "feature-not-implemented")
		return
	}
	var img []byte
	if p, ok := n.GetOptionalChildByTag("picture"); ok {
		img, _ = p.Content.([]byte)
		if len(img) < 3 || img[0] != 0xFF || img[1] != 0xD8 || img[2] != 0xFF {
			c.iqError(n, 406, "not-acceptable")
			return
		}
	}
	s := c.s
	s.mu.Lock()
	g := s.groupLocked(target)
	var m *member
	if g != nil {
		m = g.member(c.acct)
	}
	switch {
	case g == nil:
		s.mu.Unlock()
		c.iqError(n, 404, "item-not-found")
		return
	case m == nil:
		s.mu.Unlock()
		c.iqError(n, 403, "forbidden")
		return
	case g.locked && !m.admin:
		s.mu.Unlock()
		c.iqError(n, 401, "not-authorized")
		return
	}
	id, ds := s.setPictureLocked(g, c.acct, img == nil)
	s.mu.Unlock()
	if img == nil {
		c.result(n)
	} else {
		c.result(n, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{"id": id}})
	}
	s.send(ds)
}

// setPictureLocked gives g a new picture id (or none, with remove) and
// returns it with the <notification type="picture"> for the members:
// <set jid id author/> or <delete jid author/>.
func (s *Server) setPictureLocked(g *group, actor *Account, remove bool) (string, []delivery) {
	child := waBinary.Node{Tag: "delete", Attrs: waBinary.Attrs{"jid": g.jid(), "author": g.userJID(actor)}}
	g.pictureID = ""
	if !remove {
		g.pictureID = randomDigits(10)
		child = waBinary.Node{Tag: "set", Attrs: waBinary.Attrs{"jid": g.jid(), "id": g.pictureID, "author": g.userJID(actor)}}
	}
	node := waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
		"type": "picture", "from": g.jid(), "id": notificationID(), "t": time.Now().Unix(),
	}, Content: []waBinary.Node{child}}
	return g.pictureID, s.deliveriesLocked(node, g.jid(), "picture", g.recipients())
}

// SetGroupPicture is the account's phone setting group's picture to a
// new one (or removing it, with remove): the members' devices get a
// <notification type="picture"> with a <set jid id author/> (or
// <delete jid author/>). It returns the new picture id.
func (a *Account) SetGroupPicture(group types.JID, remove bool) (string, error) {
	s := a.s
	s.mu.Lock()
	g, m, err := a.adminGroupLocked(group, false)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	if g.locked && !m.admin {
		s.mu.Unlock()
		return "", fmt.Errorf("wafake: group %s is locked", group)
	}
	id, ds := s.setPictureLocked(g, a, remove)
	s.mu.Unlock()
	s.send(ds)
	return id, nil
}

// GroupInviteCode is the account's phone (an admin) asking for the
// group's invite code, made on first use.
func (a *Account) GroupInviteCode(group types.JID) (string, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, _, err := a.adminGroupLocked(group, true)
	if err != nil {
		return "", err
	}
	if g.invite == "" {
		s.newInviteLocked(g)
	}
	return g.invite, nil
}

// JoinGroup is the account's phone joining with an invite code.
func (a *Account) JoinGroup(code string) (types.JID, error) {
	s := a.s
	s.mu.Lock()
	s.groups.initLocked()
	g := s.groups.invites[code]
	if g == nil {
		s.mu.Unlock()
		return types.JID{}, fmt.Errorf("wafake: no group has invite code %q", code)
	}
	ds := s.joinLocked(g, a)
	s.mu.Unlock()
	s.send(ds)
	return g.jid(), nil
}

// LeaveGroup is the account's phone leaving group.
func (a *Account) LeaveGroup(group types.JID) error {
	s := a.s
	s.mu.Lock()
	g, _, err := a.adminGroupLocked(group, false)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	ds := s.leaveLocked(g, a)
	s.mu.Unlock()
	s.send(ds)
	return nil
}

// Groups lists the groups on the server, oldest first.
func (s *Server) Groups() []types.JID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups.initLocked()
	gs := make([]*group, 0, len(s.groups.byID))
	for _, g := range s.groups.byID {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int { return a.created.Compare(b.created) })
	out := make([]types.JID, len(gs))
	for i, g := range gs {
		out[i] = g.jid()
	}
	return out
}

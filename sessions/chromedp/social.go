package chromedp

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Contacts, chats, groups, profile, presence and calls, the way
// whatsapp-web.js reaches them inside WhatsApp Web (agent.js). The page
// names people by WhatsApp Web's @c.us JIDs; here they become
// "<digits>@s.whatsapp.net" (fromWebJID), LIDs pass as they are. The
// agent reports the phone-number JID where WhatsApp Web knows the LID's
// number and the LID otherwise.

// socialOps are the methods of this file, all of which whatsapp-web.js's
// ways through WhatsApp Web can do (registered in ops).
var socialOps = []string{
	ctl.MethodCheck, ctl.MethodContacts, ctl.MethodContactInfo, ctl.MethodChats,
	ctl.MethodGroups, ctl.MethodGroupInfo, ctl.MethodGroupCreate, ctl.MethodGroupParticipants,
	ctl.MethodGroupInvite, ctl.MethodGroupJoin, ctl.MethodGroupLeave, ctl.MethodGroupSet,
	ctl.MethodProfile, ctl.MethodProfileSet, ctl.MethodPresenceSubscribe, ctl.MethodCallReject,
}

// Timeouts of the operations of this file beyond opTimeout: a number
// checked or a participant added or created costs one query to WhatsApp
// each (whatsapp-web.js adds participants one at a time).
const perQueryTimeout = 5 * time.Second

// mutedForever is how the wire writes a chat muted for good.
var mutedForever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// social performs the operations of this file. r is connected.
func (r *browserRun) social(ctx context.Context, op sessions.Op) (any, error) {
	switch op := op.(type) {
	case sessions.CheckPhones:
		return r.check(ctx, op)
	case sessions.ListContacts:
		var got []pageContact
		if err := r.callInto(ctx, opTimeout, "list the contacts", &got, "contacts"); err != nil {
			return nil, err
		}
		out := ctl.ContactsResult{Contacts: make([]ctl.Contact, 0, len(got))}
		for _, c := range got {
			out.Contacts = append(out.Contacts, c.contact())
		}
		return out, nil
	case sessions.ContactInfo:
		var c pageContact
		if err := r.callInto(ctx, opTimeout, "tell about the contact", &c, "contactInfo", toWebJID(op.JID), op.Picture); err != nil {
			return nil, err
		}
		return ctl.ContactInfo{Contact: c.contact(), About: c.About, PictureID: c.PicID, PictureURL: c.PicURL}, nil
	case sessions.ListChats:
		var got []pageChat
		if err := r.callInto(ctx, opTimeout, "list the chats", &got, "chats"); err != nil {
			return nil, err
		}
		out := ctl.ChatsResult{Chats: make([]ctl.Chat, 0, len(got))}
		for _, c := range got {
			out.Chats = append(out.Chats, c.chat())
		}
		return out, nil
	case sessions.ListGroups:
		var got []pageGroup
		if err := r.callInto(ctx, opTimeout, "list the groups", &got, "groups"); err != nil {
			return nil, err
		}
		out := ctl.GroupsResult{Groups: make([]ctl.Group, 0, len(got))}
		for _, g := range got {
			out.Groups = append(out.Groups, g.group())
		}
		return out, nil
	case sessions.GroupInfo:
		var g pageGroup
		if err := r.callInto(ctx, opTimeout, "tell about the group", &g, "groupInfo", op.Group); err != nil {
			return nil, err
		}
		return g.group(), nil
	case sessions.CreateGroup:
		var got struct {
			Group        pageGroup           `json:"group"`
			Participants []pageParticipantRe `json:"participants"`
		}
		d := opTimeout + time.Duration(len(op.Participants))*perQueryTimeout
		if err := r.callInto(ctx, d, "create the group", &got, "groupCreate", op.Name, webJIDs(op.Participants)); err != nil {
			return nil, err
		}
		return ctl.GroupCreateResult{Group: got.Group.group(), Participants: participantResults(got.Participants, op.Participants)}, nil
	case sessions.UpdateParticipants:
		var got []pageParticipantRe
		d := opTimeout + time.Duration(len(op.Participants))*perQueryTimeout
		if err := r.callInto(ctx, d, op.Action+" the participants", &got, "groupParticipants", op.Group, op.Action, webJIDs(op.Participants)); err != nil {
			return nil, err
		}
		return ctl.ParticipantsResult{Participants: participantResults(got, op.Participants)}, nil
	case sessions.InviteLink:
		var code string
		if err := r.callInto(ctx, opTimeout, "give the group's invite link", &code, "inviteLink", op.Group, op.Reset); err != nil {
			return nil, err
		}
		return ctl.InviteLinkResult{Link: ctl.InviteLinkPrefix + code}, nil
	case sessions.JoinGroup:
		var g string
		if err := r.callInto(ctx, opTimeout, "join the group", &g, "join", op.Code); err != nil {
			return nil, err
		}
		return ctl.JoinResult{Group: g}, nil
	case sessions.LeaveGroup:
		return r.okCall(ctx, "leave the group", "leave", op.Group)
	case sessions.SetGroup:
		return r.okCall(ctx, "change the group", "groupSet", op.Group, map[string]any{
			"name": op.Name, "topic": op.Topic, "announce": op.Announce, "locked": op.Locked,
		})
	case sessions.GetProfile:
		var p pageContact
		if err := r.callInto(ctx, opTimeout, "tell this account's profile", &p, "profile"); err != nil {
			return nil, err
		}
		return ctl.Profile{JID: fromWebJID(p.JID), LID: p.LID, Name: p.Name, About: p.About, PictureID: p.PicID, PictureURL: p.PicURL}, nil
	case sessions.SetProfile:
		return r.setProfile(ctx, op)
	case sessions.SubscribePresence:
		return r.okCall(ctx, "subscribe to the presence", "presenceSubscribe", toWebJID(op.JID))
	case sessions.RejectCall:
		var got struct {
			From      string `json:"from"`
			TextError string `json:"textError"`
		}
		d := opTimeout
		if op.Text != "" {
			d += sendTimeout
		}
		if err := r.callInto(ctx, d, "reject the call", &got, "callReject", op.ID, toWebJID(op.From), op.Text); err != nil {
			return nil, err
		}
		// The call is rejected even when the text to the caller failed.
		r.s.env.Publish(ctl.Event{Kind: ctl.KindCall, Time: time.Now().UTC(),
			Call: &ctl.Call{ID: op.ID, From: fromWebJID(got.From), State: ctl.CallRejected}})
		if got.TextError != "" {
			return nil, ctl.Errorf(ctl.CodeUpstream, "WhatsApp Web rejected the call, but the text to the caller failed: %s", got.TextError)
		}
		return ctl.OK{OK: true}, nil
	}
	return nil, sessions.ErrUnsupported
}

// callInto runs an agent operation and decodes its result into out.
func (r *browserRun) callInto(ctx context.Context, d time.Duration, what string, out any, name string, args ...any) error {
	raw, err := r.call(ctx, d, what, name, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return ctl.Errorf(ctl.CodeInternal, "the agent's %s returned %.200s: %v", name, raw, err)
	}
	return nil
}

// okCall runs an agent operation whose result is ctl.OK.
func (r *browserRun) okCall(ctx context.Context, what, name string, args ...any) (any, error) {
	if _, err := r.call(ctx, opTimeout, what, name, args...); err != nil {
		return nil, err
	}
	return ctl.OK{OK: true}, nil
}

func webJIDs(jids []string) []string {
	out := make([]string, len(jids))
	for i, j := range jids {
		out[i] = toWebJID(j)
	}
	return out
}

// pageCheck is one answer of the agent's check.
type pageCheck struct {
	Phone   string `json:"phone"`
	On      bool   `json:"on"`
	JID     string `json:"jid"`
	LID     string `json:"lid"`
	Biz     bool   `json:"biz"`
	BizName string `json:"bizName"`
}

func (r *browserRun) check(ctx context.Context, op sessions.CheckPhones) (ctl.CheckResult, error) {
	var got []pageCheck
	d := opTimeout + time.Duration(len(op.Phones))*perQueryTimeout
	if err := r.callInto(ctx, d, "check the numbers", &got, "check", op.Phones); err != nil {
		return ctl.CheckResult{}, err
	}
	if len(got) != len(op.Phones) {
		return ctl.CheckResult{}, ctl.Errorf(ctl.CodeInternal, "the agent answered %d of %d numbers", len(got), len(op.Phones))
	}
	out := ctl.CheckResult{Results: make([]ctl.PhoneCheck, len(got))}
	for i, c := range got {
		out.Results[i] = ctl.PhoneCheck{Phone: op.Phones[i], OnWhatsApp: c.On}
		if c.On {
			out.Results[i].JID = fromWebJID(c.JID)
			out.Results[i].LID = c.LID
			out.Results[i].Business = c.Biz
			out.Results[i].BusinessName = c.BizName
		}
	}
	return out, nil
}

// pageContact is a person as the agent describes them (contacts,
// contactInfo, profile).
type pageContact struct {
	JID    string `json:"jid"`
	LID    string `json:"lid"`
	Phone  string `json:"phone"`
	Name   string `json:"name"`
	First  string `json:"first"`
	Push   string `json:"push"`
	Biz    string `json:"biz"`
	About  string `json:"about"`
	PicID  string `json:"picId"`
	PicURL string `json:"picUrl"`
}

func (c pageContact) contact() ctl.Contact {
	return ctl.Contact{JID: fromWebJID(c.JID), LID: c.LID, Phone: c.Phone, Name: c.Name, FirstName: c.First, PushName: c.Push, BusinessName: c.Biz}
}

// pageChat is a chat as the agent describes it.
type pageChat struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Kind     string  `json:"kind"`
	Unread   int     `json:"unread"`
	T        float64 `json:"t"`
	Mute     float64 `json:"mute"` // unix seconds; -1: for good; 0: not muted
	Archived bool    `json:"archived"`
	Pinned   bool    `json:"pinned"`
}

func (c pageChat) chat() ctl.Chat {
	out := ctl.Chat{ID: fromWebJID(c.ID), Name: c.Name, Kind: c.Kind, Unread: c.Unread, LastTime: unixTime(c.T), Archived: c.Archived, Pinned: c.Pinned}
	switch {
	case c.Mute < 0:
		out.MutedUntil = mutedForever
	case c.Mute > 0:
		if until := unixTime(c.Mute); until.After(time.Now()) {
			out.MutedUntil = until
		}
	}
	return out
}

// pageGroup is a group as the agent describes it.
type pageGroup struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Topic        string            `json:"topic"`
	Owner        string            `json:"owner"`
	Created      float64           `json:"created"`
	Announce     bool              `json:"announce"`
	Locked       bool              `json:"locked"`
	Size         int               `json:"size"`
	Participants []pageParticipant `json:"participants"`
}

type pageParticipant struct {
	JID        string `json:"jid"`
	LID        string `json:"lid"`
	Phone      string `json:"phone"`
	Admin      bool   `json:"admin"`
	SuperAdmin bool   `json:"superAdmin"`
}

func (g pageGroup) group() ctl.Group {
	out := ctl.Group{ID: g.ID, Name: g.Name, Topic: g.Topic, Owner: fromWebJID(g.Owner), Created: unixTime(g.Created),
		Announce: g.Announce, Locked: g.Locked, Size: g.Size}
	for _, p := range g.Participants {
		out.Participants = append(out.Participants, ctl.Participant{JID: fromWebJID(p.JID), LID: p.LID, Phone: p.Phone, Admin: p.Admin, SuperAdmin: p.SuperAdmin})
	}
	if out.Size == 0 {
		out.Size = len(out.Participants)
	}
	return out
}

// pageParticipantRe is what became of one participant asked for.
type pageParticipantRe struct {
	JID        string  `json:"jid"`
	OK         bool    `json:"ok"`
	Code       int     `json:"code"`
	Error      string  `json:"error"`
	InviteCode string  `json:"inviteCode"`
	InviteExp  float64 `json:"inviteExp"`
}

// participantMessages are the words whatsapp-web.js has for WhatsApp's
// statuses per participant.
var participantMessages = map[int]string{
	400: "WhatsApp Web could not add them",
	401: "this account may not do that (not an admin)",
	403: "their privacy settings allow only an invite",
	404: "not on WhatsApp, or not in the group",
	408: "they left recently and cannot be added yet",
	409: "already a member",
	417: "they cannot be added to the community; use the invite link",
	419: "the group is full",
	500: "WhatsApp failed",
}

// participantResults turns the agent's answers into the wire's, in the
// order asked and with the JIDs as asked.
func participantResults(got []pageParticipantRe, asked []string) []ctl.ParticipantResult {
	out := make([]ctl.ParticipantResult, len(asked))
	for i, a := range asked {
		out[i] = ctl.ParticipantResult{JID: a}
		if i >= len(got) {
			out[i].Code, out[i].Error = 500, "WhatsApp Web said nothing of this participant"
			continue
		}
		p := got[i]
		out[i].OK = p.OK
		if p.OK {
			continue
		}
		out[i].Code, out[i].Error = p.Code, p.Error
		if out[i].Code == 0 {
			out[i].Code = 500
		}
		if out[i].Error == "" {
			out[i].Error = participantMessages[out[i].Code]
			if out[i].Error == "" {
				out[i].Error = "refused by WhatsApp"
			}
		}
		out[i].InviteCode = p.InviteCode
		out[i].InviteExpires = unixTime(p.InviteExp)
	}
	return out
}

// setProfile moves a picture into the page first, then changes what is
// set.
func (r *browserRun) setProfile(ctx context.Context, op sessions.SetProfile) (ctl.ProfileSetResult, error) {
	spec := map[string]any{"name": op.Name, "about": op.About, "removePicture": op.RemovePicture}
	if op.Picture != nil {
		if op.Picture.Kind != ctl.MediaImage {
			return ctl.ProfileSetResult{}, ctl.Errorf(ctl.CodeInvalidParams, "a profile picture must be an image, not %s", op.Picture.Kind)
		}
		h, err := r.upload(ctx, op.Picture)
		if err != nil {
			return ctl.ProfileSetResult{}, err
		}
		defer r.dropBlob(h)
		spec["picture"] = h
	}
	var got struct {
		PicID string `json:"picId"`
	}
	if err := r.callInto(ctx, opTimeout, "change this account's profile", &got, "profileSet", spec); err != nil {
		return ctl.ProfileSetResult{}, err
	}
	return ctl.ProfileSetResult{PictureID: got.PicID}, nil
}

// Events of this file's domain, as the agent reports them.

type pageGroupEvent struct {
	Group        string     `json:"group"`
	Type         string     `json:"type"`
	Author       string     `json:"author"`
	Participants []string   `json:"participants"`
	Name         string     `json:"name"`
	Topic        string     `json:"topic"`
	Value        *bool      `json:"value"`
	PicID        string     `json:"picId"`
	Info         *pageGroup `json:"info"`
}

type pagePresence struct {
	JID    string  `json:"jid"`
	Online bool    `json:"online"`
	T      float64 `json:"t"`
}

type pageChatState struct {
	Chat   string `json:"chat"`
	Sender string `json:"sender"`
	State  string `json:"state"`
}

type pageCall struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	State  string `json:"state"`
	Video  bool   `json:"video"`
	Group  string `json:"group"`
	Reason string `json:"reason"`
}

type pageContactChange struct {
	JID     string `json:"jid"`
	Push    string `json:"push"`
	Picture bool   `json:"picture"`
	PicID   string `json:"picId"`
}

// publishSocial reports one of the agent's group, presence, chatstate,
// call and contact events; it reports whether kind was one of them.
func (r *browserRun) publishSocial(kind string, d json.RawMessage) bool {
	now := time.Now().UTC()
	var ev ctl.Event
	var err error
	switch kind {
	case "group":
		var g pageGroupEvent
		if err = json.Unmarshal(d, &g); err == nil {
			ch := &ctl.GroupChange{Group: g.Group, Type: g.Type, Author: fromWebJID(g.Author), Name: g.Name, Topic: g.Topic, Value: g.Value, PictureID: g.PicID}
			for _, p := range g.Participants {
				ch.Participants = append(ch.Participants, fromWebJID(p))
			}
			if g.Info != nil {
				info := g.Info.group()
				ch.Info = &info
			}
			ev = ctl.Event{Kind: ctl.KindGroup, Group: ch}
		}
	case "presence":
		var p pagePresence
		if err = json.Unmarshal(d, &p); err == nil {
			ev = ctl.Event{Kind: ctl.KindPresence, Presence: &ctl.Presence{JID: fromWebJID(p.JID), Available: p.Online, LastSeen: unixTime(p.T)}}
		}
	case "chatstate":
		var c pageChatState
		if err = json.Unmarshal(d, &c); err == nil {
			ev = ctl.Event{Kind: ctl.KindChatPresence, ChatPresence: &ctl.ChatPresence{Chat: fromWebJID(c.Chat), Sender: fromWebJID(c.Sender), State: c.State}}
		}
	case "call":
		var c pageCall
		if err = json.Unmarshal(d, &c); err == nil {
			ev = ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: c.ID, From: fromWebJID(c.From), State: c.State, Video: c.Video, Group: c.Group, Reason: c.Reason}}
		}
	case "contact":
		var c pageContactChange
		if err = json.Unmarshal(d, &c); err == nil {
			ev = ctl.Event{Kind: ctl.KindContact, Contact: &ctl.ContactChange{JID: fromWebJID(c.JID), PushName: c.Push, Picture: c.Picture, PictureID: c.PicID}}
		}
	default:
		return false
	}
	if err != nil {
		r.log.Warn("wad agent reported an unreadable event", "kind", kind, "err", err)
		return true
	}
	ev.Time = now
	r.s.env.Publish(ev)
	return true
}

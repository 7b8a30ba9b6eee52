package chromedp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// fakeDirectory is what the fake WhatsApp servers know: the people on
// WhatsApp by their number's digits, and the invite codes.
type fakeDirectory struct {
	Users   map[string]fakeUser   `json:"users"`
	Invites map[string]fakeInvite `json:"invites"`
}

type fakeUser struct {
	LID     string `json:"lid,omitempty"`
	Contact bool   `json:"contact,omitempty"` // in the phone's address book
	Name    string `json:"name,omitempty"`    // as saved there
	Push    string `json:"push,omitempty"`
	Biz     bool   `json:"biz,omitempty"`
	BizName string `json:"bizName,omitempty"`
	About   string `json:"about,omitempty"`
	Pic     string `json:"pic,omitempty"`     // the picture's tag
	Privacy bool   `json:"privacy,omitempty"` // only an invite may add them to groups
	// AddError makes the server fail a query adding them to a group
	// with this status.
	AddError int `json:"addError,omitempty"`
}

type fakeInvite struct {
	Group        string   `json:"group"`
	Subject      string   `json:"subject"`
	Participants []string `json:"participants"` // the first is the admin
}

func (f *fakeWA) setDirectory(d fakeDirectory) {
	f.mu.Lock()
	f.directory = d
	f.mu.Unlock()
}

// The people of TestSocialThroughWhatsAppWeb.
const (
	anna, annaWeb, annaLID = "4917711111111@s.whatsapp.net", "4917711111111@c.us", "201@lid"
	bert, bertWeb          = "4917722222222@s.whatsapp.net", "4917722222222@c.us" // privacy: invite only
	carl, carlLID          = "4917733333333@s.whatsapp.net", "203@lid"            // a business
	dora, doraLID          = "4917744444444@s.whatsapp.net", "204@lid"            // WhatsApp Web never learns her number
	eve                    = "4917755555555@s.whatsapp.net"                       // adding her fails on the server
	nobody                 = "4917799999999@s.whatsapp.net"                       // not on WhatsApp
)

// Prevents: contacts, chats, groups, profile, presence and calls that do
// not reach WhatsApp Web the way whatsapp-web.js drives it: numbers
// checked without the LID WhatsApp told, contacts and chats missing what
// WhatsApp Web knows of them, a group create or add that hides which
// participant was refused (privacy, 403, with the invite code), group
// changes by others that never arrive as events (or arrive as
// messages), presence and typing never reported, calls that are not
// reported or cannot be rejected, and @c.us or LIDs reported where the
// phone-number JID is known.
func TestSocialThroughWhatsAppWeb(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	f.setDirectory(fakeDirectory{
		Users: map[string]fakeUser{
			"4917711111111": {LID: annaLID, Contact: true, Name: "Anna Alpha", Push: "Anna", About: "Hey there", Pic: "P1"},
			"4917722222222": {LID: "202@lid", Privacy: true, Push: "Bert"},
			"4917733333333": {LID: carlLID, Biz: true, BizName: "Carl GmbH"},
			"4917744444444": {LID: doraLID},
			"4917755555555": {LID: "205@lid", AddError: 500},
		},
		Invites: map[string]fakeInvite{
			"InviteCode1234": {Group: "120363000000000777@g.us", Subject: "Joined by link", Participants: []string{annaWeb}},
		},
	})
	e := newEnv(t, "", Config{WebURL: f.url("")})
	const client = "social"
	sub := e.reg.Bus().Subscribe([]string{client}, nil)
	_, dev := e.connect(f, client)
	me := e.waitState(client, time.Second, inState(ctl.StateConnected)).JID
	ctx := context.Background()

	do := func(op sessions.Op) (any, error) {
		octx, cancel := context.WithTimeout(ctx, 120*time.Second)
		defer cancel()
		return e.reg.Do(octx, client, op)
	}
	must := func(t *testing.T, op sessions.Op) any {
		t.Helper()
		res, err := do(op)
		if err != nil {
			t.Fatalf("%s %+v: %v", op.Method(), op, err)
		}
		return res
	}
	// sync returns once the page has played everything delivered before:
	// the fake plays what it is sent in order.
	syncN := 0
	sync := func(t *testing.T) {
		t.Helper()
		syncN++
		id := "SYNC" + strings.Repeat("0", 4) + string(rune('A'+syncN%26)) + time.Now().Format("150405.000000")
		f.deliverText(dev, "4917000000000@c.us", id, "sync")
		waitEvent(t, sub, "sync message", isMsgFrom("4917000000000@s.whatsapp.net", id))
	}

	for _, m := range socialOps {
		if !e.b.Supports(m) {
			t.Errorf("Supports(%s) = false", m)
		}
	}

	t.Run("check", func(t *testing.T) {
		res := must(t, sessions.CheckPhones{Phones: []string{"+4917711111111", "+4917799999999", "+4917733333333"}}).(ctl.CheckResult)
		want := []ctl.PhoneCheck{
			{Phone: "+4917711111111", OnWhatsApp: true, JID: anna, LID: annaLID},
			{Phone: "+4917799999999"},
			{Phone: "+4917733333333", OnWhatsApp: true, JID: carl, LID: carlLID, Business: true, BusinessName: "Carl GmbH"},
		}
		if !slices.Equal(res.Results, want) {
			t.Errorf("check: %+v, want %+v", res.Results, want)
		}
	})

	t.Run("contacts", func(t *testing.T) {
		res := must(t, sessions.ListContacts{}).(ctl.ContactsResult)
		want := ctl.Contact{JID: anna, LID: annaLID, Phone: "+4917711111111", Name: "Anna Alpha", FirstName: "Anna", PushName: "Anna"}
		if !slices.Contains(res.Contacts, want) {
			t.Errorf("contacts %+v lack %+v", res.Contacts, want)
		}
		for _, c := range res.Contacts {
			if !strings.HasSuffix(c.JID, "@s.whatsapp.net") && !strings.HasSuffix(c.JID, "@lid") || c.JID == me {
				t.Errorf("contact %+v: want a user JID other than this account's", c)
			}
		}

		info := must(t, sessions.ContactInfo{JID: anna, Picture: true}).(ctl.ContactInfo)
		if info.JID != anna || info.LID != annaLID || info.Name != "Anna Alpha" || info.About != "Hey there" || info.PictureID != "P1" || !strings.HasPrefix(info.PictureURL, "https://") {
			t.Errorf("contact.info of Anna: %+v", info)
		}
		// A LID WhatsApp Web has a number for (the check taught it) is
		// reported by number.
		// Carl has no picture: WhatsApp answers 404, which is no picture.
		info = must(t, sessions.ContactInfo{JID: carlLID, Picture: true}).(ctl.ContactInfo)
		if info.JID != carl || info.LID != carlLID || info.BusinessName != "Carl GmbH" || info.PictureURL != "" || info.PictureID != "" {
			t.Errorf("contact.info of Carl's LID: %+v, want his number, LID and business name and no picture", info)
		}
		// A LID is on WhatsApp without asking; one whose number WhatsApp
		// Web does not know is reported as the LID, without a number.
		info = must(t, sessions.ContactInfo{JID: doraLID}).(ctl.ContactInfo)
		if info.JID != doraLID || info.Phone != "" {
			t.Errorf("contact.info of Dora's LID: %+v, want her LID and no number", info)
		}
		if _, err := do(sessions.ContactInfo{JID: nobody}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("contact.info of a number not on WhatsApp: %v, want invalid params", err)
		}
	})

	t.Run("chats", func(t *testing.T) {
		future := time.Now().Add(2 * time.Hour).Unix()
		f.deliverItem(dev, map[string]any{"kind": "chat", "id": annaWeb, "title": "Anna Alpha", "unread": 3, "archive": true, "pin": true, "mute": -1, "t": 1700000200})
		f.deliverItem(dev, map[string]any{"kind": "chat", "id": bertWeb, "title": "Bert", "mute": future, "t": 1700000100})
		sync(t)
		res := must(t, sessions.ListChats{}).(ctl.ChatsResult)
		var a, b *ctl.Chat
		for i, c := range res.Chats {
			switch c.ID {
			case anna:
				a = &res.Chats[i]
			case bert:
				b = &res.Chats[i]
			}
			if i > 0 && c.LastTime.After(res.Chats[i-1].LastTime) {
				t.Errorf("chat %s is more recent than the one before it: want the most recent first", c.ID)
			}
		}
		if a == nil || b == nil {
			t.Fatalf("chats %+v lack Anna's or Bert's", res.Chats)
		}
		wantA := ctl.Chat{ID: anna, Name: "Anna Alpha", Kind: ctl.ChatUser, Unread: 3, LastTime: time.Unix(1700000200, 0).UTC(), MutedUntil: mutedForever, Archived: true, Pinned: true}
		if *a != wantA {
			t.Errorf("Anna's chat %+v, want %+v", *a, wantA)
		}
		if b.MutedUntil.Unix() != future || b.Archived || b.Pinned || b.Unread != 0 {
			t.Errorf("Bert's chat %+v, want muted until %d", *b, future)
		}
	})

	var group string
	t.Run("group create", func(t *testing.T) {
		res := must(t, sessions.CreateGroup{Name: "Team", Participants: []string{anna, bert, nobody}}).(ctl.GroupCreateResult)
		group = res.Group.ID
		if !strings.HasSuffix(group, "@g.us") || res.Group.Name != "Team" || res.Group.Owner != me {
			t.Errorf("created group %+v", res.Group)
		}
		if len(res.Participants) != 3 {
			t.Fatalf("participant results %+v, want 3", res.Participants)
		}
		if p := res.Participants[0]; p != (ctl.ParticipantResult{JID: anna, OK: true}) {
			t.Errorf("Anna: %+v, want added", p)
		}
		if p := res.Participants[1]; p.JID != bert || p.OK || p.Code != 403 || p.InviteCode == "" || p.InviteExpires.IsZero() || p.Error == "" {
			t.Errorf("Bert (privacy): %+v, want refused with 403 and an invite code", p)
		}
		if p := res.Participants[2]; p.JID != nobody || p.OK || p.Code != 404 {
			t.Errorf("a number not on WhatsApp: %+v, want 404", p)
		}
		got := f.lastSent(t, dev, "group_create")
		if got.Body != "Team" || !slices.Equal(got.Participants, []string{annaWeb}) || got.To != toWebJID(group) {
			t.Errorf("fake recorded %+v, want Team created with Anna only", got)
		}
		ev := waitEvent(t, sub, "joined", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Group == group }).Group
		if ev.Type != ctl.GroupJoined || ev.Info == nil || ev.Info.Name != "Team" {
			t.Errorf("group event after create %+v", ev)
		}

		info := must(t, sessions.GroupInfo{Group: group}).(ctl.Group)
		wantParts := []ctl.Participant{
			{JID: me, Phone: "+" + strings.TrimSuffix(me, "@s.whatsapp.net"), Admin: true, SuperAdmin: true},
			{JID: anna, LID: annaLID, Phone: "+4917711111111"},
		}
		if info.Name != "Team" || info.Size != 2 || !slices.Equal(info.Participants, wantParts) || info.Created.IsZero() {
			t.Errorf("group.info %+v, want Team with %+v", info, wantParts)
		}
		list := must(t, sessions.ListGroups{}).(ctl.GroupsResult)
		if !slices.ContainsFunc(list.Groups, func(g ctl.Group) bool { return g.ID == group && g.Name == "Team" && g.Size == 2 }) {
			t.Errorf("group.list %+v lacks Team", list.Groups)
		}
	})
	if group == "" {
		t.Fatal("no group to go on with")
	}

	t.Run("participants", func(t *testing.T) {
		res := must(t, sessions.UpdateParticipants{Group: group, Action: ctl.ActionAdd, Participants: []string{bert, eve, carl, anna}}).(ctl.ParticipantsResult)
		p := res.Participants
		if len(p) != 4 || p[0].JID != bert || p[0].Code != 403 || p[0].InviteCode == "" || p[1].JID != eve || p[1].OK || p[1].Code != 500 || p[1].Error == "" ||
			p[2] != (ctl.ParticipantResult{JID: carl, OK: true}) || p[3].JID != anna || p[3].Code != 409 {
			t.Errorf("add: %+v, want Bert 403 with a code, Eve's query failed (500), Carl added, Anna 409", p)
		}
		if n := f.countSent(dev, "group_add"); n != 3 {
			t.Errorf("the fake got %d add queries, want one per participant", n)
		}
		res = must(t, sessions.UpdateParticipants{Group: group, Action: ctl.ActionPromote, Participants: []string{carl, bert}}).(ctl.ParticipantsResult)
		if p := res.Participants; len(p) != 2 || !p[0].OK || p[1].OK || p[1].Code != 404 {
			t.Errorf("promote: %+v, want Carl promoted and Bert (not a member) 404", p)
		}
		if got := f.lastSent(t, dev, "group_promote"); !slices.Equal(got.Participants, []string{"4917733333333@c.us"}) {
			t.Errorf("fake recorded %+v, want Carl promoted", got)
		}
		info := must(t, sessions.GroupInfo{Group: group}).(ctl.Group)
		if !slices.ContainsFunc(info.Participants, func(p ctl.Participant) bool { return p.JID == carl && p.Admin && !p.SuperAdmin }) {
			t.Errorf("after promote: %+v", info.Participants)
		}
		must(t, sessions.UpdateParticipants{Group: group, Action: ctl.ActionDemote, Participants: []string{carl}})
		must(t, sessions.UpdateParticipants{Group: group, Action: ctl.ActionRemove, Participants: []string{carl}})
		if got := f.lastSent(t, dev, "group_remove"); !slices.Equal(got.Participants, []string{"4917733333333@c.us"}) {
			t.Errorf("fake recorded %+v, want Carl removed", got)
		}
		if info := must(t, sessions.GroupInfo{Group: group}).(ctl.Group); info.Size != 2 {
			t.Errorf("after remove: %+v", info)
		}
		if _, err := do(sessions.UpdateParticipants{Group: "120363999999999999@g.us", Action: ctl.ActionAdd, Participants: []string{carl}}); codeOf(err) != ctl.CodeUpstream {
			t.Errorf("add to an unknown group: %v, want upstream", err)
		}
	})

	t.Run("invite link and settings", func(t *testing.T) {
		l1 := must(t, sessions.InviteLink{Group: group}).(ctl.InviteLinkResult).Link
		l2 := must(t, sessions.InviteLink{Group: group}).(ctl.InviteLinkResult).Link
		l3 := must(t, sessions.InviteLink{Group: group, Reset: true}).(ctl.InviteLinkResult).Link
		if _, err := ctl.ParseInviteLink(l1); err != nil || l1 != l2 || l3 == l1 {
			t.Errorf("links %q %q, reset %q: want a valid link, the same twice, a new one after reset", l1, l2, l3)
		}
		if got := f.lastSent(t, dev, "group_invite_reset"); ctl.InviteLinkPrefix+got.Body != l3 {
			t.Errorf("fake reset to %q, link %q", got.Body, l3)
		}

		name, topic, yes := "Team 2", "All about it", true
		must(t, sessions.SetGroup{Group: group, Name: &name, Topic: &topic, Announce: &yes, Locked: &yes})
		var props []string
		for _, m := range f.sentBy(dev) {
			if m.Kind == "group_set" {
				props = append(props, m.Prop)
			}
		}
		if !slices.Equal(props, []string{"subject", "description", "announcement", "restrict"}) {
			t.Errorf("fake got settings %q, want subject, description, announcement, restrict", props)
		}
		info := must(t, sessions.GroupInfo{Group: group}).(ctl.Group)
		if info.Name != name || info.Topic != topic || !info.Announce || !info.Locked {
			t.Errorf("after group.set: %+v", info)
		}
		topic2 := "Changed again"
		must(t, sessions.SetGroup{Group: group, Topic: &topic2})
		if info := must(t, sessions.GroupInfo{Group: group}).(ctl.Group); info.Topic != topic2 {
			t.Errorf("second description: %+v", info)
		}
	})

	t.Run("group events", func(t *testing.T) {
		// Anna adds Dora, whose number WhatsApp Web never learnt: she is
		// named by LID.
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "add", "author": annaWeb, "recipients": []string{doraLID}})
		ev := waitEvent(t, sub, "participant added", func(ev ctl.Event) bool {
			return ev.Kind == ctl.KindGroup && ev.Group.Group == group && ev.Group.Type == ctl.GroupAdd
		}).Group
		if ev.Author != anna || !slices.Equal(ev.Participants, []string{doraLID}) {
			t.Errorf("add event %+v, want Anna adding %s", ev, doraLID)
		}
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "subject", "author": annaWeb, "body": "Renamed"})
		ev = waitEvent(t, sub, "renamed", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Type == ctl.GroupName }).Group
		if ev.Name != "Renamed" || ev.Author != anna {
			t.Errorf("name event %+v", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "description", "author": annaWeb, "body": "New topic"})
		ev = waitEvent(t, sub, "topic", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Type == ctl.GroupTopic }).Group
		if ev.Topic != "New topic" {
			t.Errorf("topic event %+v", ev)
		}
		// The picture's id is the new one, not the thumbnail WhatsApp Web
		// still holds, and empty only when it was removed.
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "picture", "author": annaWeb, "tag": "GP1"})
		ev = waitEvent(t, sub, "picture", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Type == ctl.GroupPicture }).Group
		if ev.PictureID != "GP1" || ev.Author != anna {
			t.Errorf("picture event %+v, want GP1", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "picture", "author": annaWeb, "tag": ""})
		ev = waitEvent(t, sub, "picture removed", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Type == ctl.GroupPicture }).Group
		if ev.PictureID != "" {
			t.Errorf("picture removed event %+v, want no id", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "announce", "author": annaWeb, "value": false})
		ev = waitEvent(t, sub, "announce", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Type == ctl.GroupAnnounce }).Group
		if ev.Value == nil || *ev.Value {
			t.Errorf("announce event %+v, want value false", ev)
		}
		// Someone adds this account to a group it did not know.
		const other = "120363000000000888@g.us"
		f.deliverItem(dev, map[string]any{"kind": "gp2", "group": other, "subtype": "add", "author": annaWeb, "recipients": []string{toWebJID(me)},
			"info": map[string]any{"subject": "Anna's", "owner": annaWeb, "participants": []map[string]any{{"id": annaWeb, "superAdmin": true, "admin": true}, {"id": toWebJID(me)}}}})
		ev = waitEvent(t, sub, "joined", func(ev ctl.Event) bool { return ev.Kind == ctl.KindGroup && ev.Group.Group == other }).Group
		if ev.Type != ctl.GroupJoined || ev.Author != anna || ev.Info == nil || ev.Info.Name != "Anna's" || ev.Info.Owner != anna || len(ev.Info.Participants) != 2 {
			t.Errorf("joined event %+v (info %+v)", ev, ev.Info)
		}
		for _, m := range f.eventsOf(dev) {
			if strings.Contains(m, "failed") {
				t.Errorf("the fake page: %s", m)
			}
		}
	})

	t.Run("join and leave", func(t *testing.T) {
		res := must(t, sessions.JoinGroup{Code: "InviteCode1234"}).(ctl.JoinResult)
		if res.Group != "120363000000000777@g.us" {
			t.Errorf("joined %+v", res)
		}
		if got := f.lastSent(t, dev, "group_join"); got.Body != "InviteCode1234" {
			t.Errorf("fake recorded %+v", got)
		}
		// This account is no admin there: WhatsApp refuses, and wad says so
		// as WhatsApp's refusal.
		if _, err := do(sessions.UpdateParticipants{Group: res.Group, Action: ctl.ActionRemove, Participants: []string{anna}}); codeOf(err) != ctl.CodeUpstream {
			t.Errorf("remove without being an admin: %v, want upstream", err)
		}
		if _, err := do(sessions.InviteLink{Group: res.Group}); codeOf(err) != ctl.CodeUpstream {
			t.Errorf("invite link without being an admin: %v, want upstream", err)
		}
		if _, err := do(sessions.JoinGroup{Code: "NoSuchCode999"}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("join with an unknown code: %v, want invalid params", err)
		}
		must(t, sessions.LeaveGroup{Group: group})
		if got := f.lastSent(t, dev, "group_leave"); got.To != group {
			t.Errorf("fake recorded %+v", got)
		}
		ev := waitEvent(t, sub, "left", func(ev ctl.Event) bool {
			return ev.Kind == ctl.KindGroup && ev.Group.Group == group && ev.Group.Type == ctl.GroupLeft
		}).Group
		if len(ev.Participants) != 0 {
			t.Errorf("left event %+v", ev)
		}
		if _, err := do(sessions.GroupInfo{Group: group}); codeOf(err) != ctl.CodeUpstream {
			t.Errorf("group.info after leaving: %v, want upstream", err)
		}
		list := must(t, sessions.ListGroups{}).(ctl.GroupsResult)
		if slices.ContainsFunc(list.Groups, func(g ctl.Group) bool { return g.ID == group }) ||
			!slices.ContainsFunc(list.Groups, func(g ctl.Group) bool { return g.ID == "120363000000000777@g.us" }) {
			t.Errorf("group.list %+v: want the joined group and not the one left", list.Groups)
		}
		if _, err := do(sessions.LeaveGroup{Group: group}); codeOf(err) != ctl.CodeUpstream {
			t.Errorf("leaving again: %v, want upstream", err)
		}
	})

	t.Run("profile", func(t *testing.T) {
		p := must(t, sessions.GetProfile{}).(ctl.Profile)
		if p.JID != me || p.Name != "Fake "+dev || p.PictureURL != "" {
			t.Errorf("profile %+v", p)
		}
		name, about := "Wad Bot", "Answering machine"
		pic := prepare(t, media.Input{Kind: ctl.MediaImage}, testPNG(t, 320, 240))
		res := must(t, sessions.SetProfile{Name: &name, About: &about, Picture: pic}).(ctl.ProfileSetResult)
		if got := f.lastSent(t, dev, "pushname"); got.Body != name {
			t.Errorf("fake recorded %+v", got)
		}
		if got := f.lastSent(t, dev, "about"); got.Body != about {
			t.Errorf("fake recorded %+v", got)
		}
		got := f.lastSent(t, dev, "picture")
		if got.Type != "set" || got.Width != 240 || got.Height != 240 || got.Size == 0 || res.PictureID != got.ID || got.To != toWebJID(me) {
			t.Errorf("fake recorded picture %+v, result %+v: want a 240×240 square with the result's id", got, res)
		}
		p = must(t, sessions.GetProfile{}).(ctl.Profile)
		if p.Name != name || p.About != about || p.PictureID != res.PictureID || p.PictureURL == "" {
			t.Errorf("profile after set %+v", p)
		}
		must(t, sessions.SetProfile{RemovePicture: true})
		if got := f.lastSent(t, dev, "picture"); got.Type != "delete" {
			t.Errorf("fake recorded %+v, want the picture deleted", got)
		}
		if _, err := do(sessions.SetProfile{RemovePicture: true}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("removing a picture there is not: %v, want invalid params", err)
		}
	})

	t.Run("presence", func(t *testing.T) {
		must(t, sessions.SubscribePresence{JID: anna})
		if got := f.lastSent(t, dev, "presence_subscribe"); got.To != annaWeb {
			t.Errorf("fake recorded %+v", got)
		}
		f.deliverItem(dev, map[string]any{"kind": "presence", "from": annaWeb, "type": "available"})
		ev := waitEvent(t, sub, "online", func(ev ctl.Event) bool { return ev.Kind == ctl.KindPresence }).Presence
		if *ev != (ctl.Presence{JID: anna, Available: true}) {
			t.Errorf("presence %+v", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "presence", "from": annaWeb, "type": "typing"})
		cp := waitEvent(t, sub, "typing", func(ev ctl.Event) bool { return ev.Kind == ctl.KindChatPresence }).ChatPresence
		if *cp != (ctl.ChatPresence{Chat: anna, Sender: anna, State: "typing"}) {
			t.Errorf("chat presence %+v", cp)
		}
		f.deliverItem(dev, map[string]any{"kind": "presence", "from": annaWeb, "type": "available"})
		cp = waitEvent(t, sub, "paused", func(ev ctl.Event) bool { return ev.Kind == ctl.KindChatPresence }).ChatPresence
		if cp.State != "paused" {
			t.Errorf("chat presence after typing %+v, want paused", cp)
		}
		f.deliverItem(dev, map[string]any{"kind": "presence", "from": annaWeb, "type": "unavailable", "t": 1700000300})
		ev = waitEvent(t, sub, "offline", func(ev ctl.Event) bool { return ev.Kind == ctl.KindPresence }).Presence
		if *ev != (ctl.Presence{JID: anna, LastSeen: time.Unix(1700000300, 0).UTC()}) {
			t.Errorf("presence %+v, want offline with last seen", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "presence", "from": "120363000000000777@g.us", "participant": annaWeb, "type": "recording_audio"})
		cp = waitEvent(t, sub, "recording in a group", func(ev ctl.Event) bool { return ev.Kind == ctl.KindChatPresence }).ChatPresence
		if *cp != (ctl.ChatPresence{Chat: "120363000000000777@g.us", Sender: anna, State: "recording"}) {
			t.Errorf("group chat presence %+v", cp)
		}
		if _, err := do(sessions.SubscribePresence{JID: "120363000000000777@g.us"}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("subscribing to a group: %v, want invalid params", err)
		}

		// WhatsApp Web forgets every presence when the socket drops: the
		// subscription is renewed when it connects again.
		n := f.countSent(dev, "presence_subscribe")
		s := e.session(client)
		evalPage(t, s, `window.require('WAWebSocketModel').Socket.set('state', 'TIMEOUT')`)
		e.waitState(client, 30*time.Second, inState(ctl.StateDisconnected))
		evalPage(t, s, `window.require('WAWebSocketModel').Socket.set('state', 'CONNECTED')`)
		e.waitState(client, 30*time.Second, inState(ctl.StateConnected))
		for deadline := time.Now().Add(30 * time.Second); f.countSent(dev, "presence_subscribe") == n && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		sync(t)
		if got := f.lastSent(t, dev, "presence_subscribe"); f.countSent(dev, "presence_subscribe") != n+1 || got.To != annaWeb {
			t.Errorf("after a reconnect the fake got %d subscriptions (last %+v), want Anna's renewed once", f.countSent(dev, "presence_subscribe")-n, got)
		}
	})

	t.Run("calls", func(t *testing.T) {
		isCall := func(id, state string) func(ctl.Event) bool {
			return func(ev ctl.Event) bool { return ev.Kind == ctl.KindCall && ev.Call.ID == id && ev.Call.State == state }
		}
		// The legacy path (processIncomingCall), rejected with a text.
		f.deliverItem(dev, map[string]any{"kind": "call", "id": "CALL1", "from": annaWeb, "video": true})
		c := waitEvent(t, sub, "offer", isCall("CALL1", ctl.CallOffer)).Call
		if *c != (ctl.Call{ID: "CALL1", From: anna, State: ctl.CallOffer, Video: true}) {
			t.Errorf("offer %+v", c)
		}
		must(t, sessions.RejectCall{ID: "CALL1", From: anna, Text: "Cannot talk now"})
		if got := f.lastSent(t, dev, "call_reject"); got.ID != "CALL1" || got.To != annaWeb || got.Type != "voip" {
			t.Errorf("fake recorded %+v, want CALL1 rejected through the VoIP stack", got)
		}
		if got := f.lastSent(t, dev, "msg"); got.To != annaWeb || got.Body != "Cannot talk now" {
			t.Errorf("fake recorded %+v, want the text to the caller", got)
		}
		waitEvent(t, sub, "rejected", isCall("CALL1", ctl.CallRejected))

		// The native VoIP stack's path (setActiveCall only), from a LID,
		// ended by the caller.
		f.deliverItem(dev, map[string]any{"kind": "call", "id": "CALL2", "from": doraLID, "native": true})
		c = waitEvent(t, sub, "native offer", isCall("CALL2", ctl.CallOffer)).Call
		if c.From != doraLID || c.Video {
			t.Errorf("offer %+v", c)
		}
		f.deliverItem(dev, map[string]any{"kind": "call", "id": "CALL2", "end": true})
		waitEvent(t, sub, "terminated", isCall("CALL2", ctl.CallTerminated))

		// A call WhatsApp Web holds no model of is refused with the stanza.
		must(t, sessions.RejectCall{ID: "CALL3", From: anna})
		if got := f.lastSent(t, dev, "call_reject"); got.ID != "CALL3" || got.To != annaWeb || got.Type != "stanza" {
			t.Errorf("fake recorded %+v, want CALL3 rejected with the stanza", got)
		}

		// The text after a rejection fails: the call is still rejected,
		// and the error says so.
		f.mu.Lock()
		f.refuseText = "Refused text"
		f.mu.Unlock()
		_, err := do(sessions.RejectCall{ID: "CALL4", From: anna, Text: "Refused text"})
		if codeOf(err) != ctl.CodeUpstream || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("reject with a failing text: %v, want upstream saying the call was rejected", err)
		}
		if got := f.lastSent(t, dev, "call_reject"); got.ID != "CALL4" {
			t.Errorf("fake recorded %+v, want CALL4 rejected", got)
		}
		waitEvent(t, sub, "rejected despite the text", isCall("CALL4", ctl.CallRejected))
		sync(t)
		for _, ev := range drain(sub) {
			if ev.Kind == ctl.KindCall && ev.Call.State == ctl.CallTerminated && ev.Call.ID != "CALL2" {
				t.Errorf("a rejected call was also reported terminated: %+v", ev.Call)
			}
		}
	})

	t.Run("contact changes", func(t *testing.T) {
		// Carl had no push name: WhatsApp Web learning one is no change.
		f.deliverItem(dev, map[string]any{"kind": "pushname", "from": "4917733333333@c.us", "pushname": "Carl"})
		f.deliverItem(dev, map[string]any{"kind": "pushname", "from": annaWeb, "pushname": "Anna A."})
		c := waitEvent(t, sub, "push name", func(ev ctl.Event) bool { return ev.Kind == ctl.KindContact && ev.Contact.PushName != "" }).Contact
		if *c != (ctl.ContactChange{JID: anna, PushName: "Anna A."}) {
			t.Errorf("contact event %+v", c)
		}
		// WhatsApp Web loading a thumbnail is no change.
		f.deliverItem(dev, map[string]any{"kind": "picture", "from": "4917733333333@c.us", "tag": "T1", "load": true})
		f.deliverItem(dev, map[string]any{"kind": "picture", "from": annaWeb, "tag": "P2"})
		c = waitEvent(t, sub, "picture", func(ev ctl.Event) bool { return ev.Kind == ctl.KindContact && ev.Contact.Picture }).Contact
		if *c != (ctl.ContactChange{JID: anna, Picture: true, PictureID: "P2"}) {
			t.Errorf("contact event %+v", c)
		}
	})

	t.Run("unsupported", func(t *testing.T) {
		if _, err := e.session(client).Do(ctx, otherOp{}); !errors.Is(err, sessions.ErrUnsupported) {
			t.Errorf("an unknown op: %v, want ErrUnsupported", err)
		}
		// A WhatsApp Web without the module an operation needs: the
		// backend cannot do it, and says which one it is.
		evalPage(t, e.session(client), `(function(){ const r = window.require; window.__wadTestRequire = r;
			window.require = (n) => { if (n === 'WAWebGroupCreateJob') { throw new Error('Requiring unknown module "' + n + '"'); } return r(n); }; })()`)
		_, err := do(sessions.CreateGroup{Name: "x", Participants: []string{anna}})
		evalPage(t, e.session(client), `window.require = window.__wadTestRequire`)
		if codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), Name) || !strings.Contains(err.Error(), "WAWebGroupCreateJob") {
			t.Errorf("group.create without WAWebGroupCreateJob: %v, want backend unavailable naming %s and the module", err, Name)
		}
	})
}

// drain returns the events sub holds now.
func drain(sub *sessions.Subscription) []ctl.Event {
	var out []ctl.Event
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		ev, err := sub.Next(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, ev)
	}
}

package whatsmeow_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/wafake"
)

// groupWatch reads a session's group events over the socket. The fake
// sends a notification after it answers the query that caused it, so
// one caused by the test's next step can overtake it: next takes the
// first event that matches, keeping the others for later calls.
type groupWatch struct {
	w       *ctl.Watcher
	pending []*ctl.GroupChange
}

func (g *groupWatch) next(t *testing.T, what string, match func(*ctl.GroupChange) bool) *ctl.GroupChange {
	t.Helper()
	for i, c := range g.pending {
		if match(c) {
			g.pending = slices.Delete(g.pending, i, i+1)
			return c
		}
	}
	for {
		ev := nextEvent(t, g.w)
		if ev.Kind != ctl.KindGroup {
			continue
		}
		if ev.Group == nil {
			t.Fatalf("group event without a group change: %+v", ev)
		}
		if match(ev.Group) {
			return ev.Group
		}
		b, _ := json.Marshal(ev.Group)
		t.Logf("group event (kept while waiting for %s): %s", what, b)
		g.pending = append(g.pending, ev.Group)
	}
}

// of matches a change of group of type typ.
func of(group, typ string) func(*ctl.GroupChange) bool {
	return func(c *ctl.GroupChange) bool { return c.Group == group && c.Type == typ }
}

func call[T any](t *testing.T, d *daemontest.Daemon, method string, params any) T {
	t.Helper()
	var res T
	if err := d.Client.Call(waitCtx(t), method, params, &res); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}

func callErr(t *testing.T, d *daemontest.Daemon, method string, params any, code int) {
	t.Helper()
	var res json.RawMessage
	err := d.Client.Call(waitCtx(t), method, params, &res)
	if !isCode(err, code) {
		t.Fatalf("%s: %v (result %s), want error %d", method, err, res, code)
	}
}

func boolPtr(b bool) *bool           { return &b }
func strPtr(s string) *string        { return &s }
func jidOf(a *wafake.Account) string { return a.JID().String() }

func TestGroupsOverTheSocket(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340201", "Support")
	bob := newAccount(t, srv, "4915112340202", "Bob")
	carol := newAccount(t, srv, "4915112340203", "Carol")
	dave := newAccount(t, srv, "4915112340204", "Dave")
	carol.RefuseGroupAdds(true)
	linkOverSocket(t, d, me, "support")
	gw := &groupWatch{w: watch(t, d, "support")}

	// Create: Carol's privacy refuses her (403 and an invite code), a
	// number not on WhatsApp is 404, Bob is in.
	created := call[ctl.GroupCreateResult](t, d, ctl.MethodGroupCreate, ctl.GroupCreateParams{
		Client: "support", Name: "Kunden", Participants: []string{"+4915112340202", jidOf(carol), "+4915112340299"},
	})
	gid := created.Group.ID
	if !strings.HasSuffix(gid, "@g.us") || created.Group.Name != "Kunden" || created.Group.Size != 2 ||
		created.Group.Owner != jidOf(me) || created.Group.Created.IsZero() {
		t.Fatalf("created %+v", created.Group)
	}
	if ps := created.Group.Participants; len(ps) != 2 || ps[0].JID != jidOf(me) || !ps[0].SuperAdmin ||
		ps[1].JID != jidOf(bob) || ps[1].Admin || ps[1].Phone != "+"+bob.Phone || ps[1].LID != bob.LIDJID().String() {
		t.Fatalf("participants %+v", ps)
	}
	rs := created.Participants
	if len(rs) != 3 {
		t.Fatalf("participant results %+v", rs)
	}
	if r := rs[0]; !r.OK || r.JID != jidOf(bob) || r.Code != 0 {
		t.Fatalf("bob: %+v", r)
	}
	if r := rs[1]; r.OK || r.JID != jidOf(carol) || r.Code != 403 || r.InviteCode == "" || r.InviteExpires.IsZero() || r.Error == "" {
		t.Fatalf("carol: %+v", r)
	}
	if r := rs[2]; r.OK || r.JID != "4915112340299@s.whatsapp.net" || r.Code != 404 {
		t.Fatalf("a number not on WhatsApp: %+v", r)
	}
	sg, _ := srv.Group(types.NewJID(strings.TrimSuffix(gid, "@g.us"), types.GroupServer))
	if len(sg.Members) != 2 || sg.Subject != "Kunden" {
		t.Fatalf("the server's group: %+v", sg)
	}
	// The create notification reaches this device too.
	if c := gw.next(t, "joined", of(gid, ctl.GroupJoined)); c.Info == nil || c.Info.Name != "Kunden" || c.Author != jidOf(me) {
		t.Fatalf("joined %+v", c)
	}

	info := call[ctl.Group](t, d, ctl.MethodGroupInfo, ctl.GroupParams{Client: "support", Group: gid})
	if info.ID != gid || info.Size != 2 || len(info.Participants) != 2 {
		t.Fatalf("group.info %+v", info)
	}
	list := call[ctl.GroupsResult](t, d, ctl.MethodGroups, ctl.ClientParams{Client: "support"})
	if len(list.Groups) != 1 || list.Groups[0].ID != gid || list.Groups[0].Size != 2 {
		t.Fatalf("group.list %+v", list)
	}

	// Bob becomes an admin and, from his phone, adds Dave: an event.
	pr := call[ctl.ParticipantsResult](t, d, ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: gid, Promote: []string{jidOf(bob)}})
	if len(pr.Participants) != 1 || !pr.Participants[0].OK {
		t.Fatalf("promote %+v", pr)
	}
	if c := gw.next(t, "promote", of(gid, ctl.GroupPromote)); !slices.Equal(c.Participants, []string{jidOf(bob)}) || c.Author != jidOf(me) {
		t.Fatalf("promote event %+v", c)
	}
	sgid := types.NewJID(strings.TrimSuffix(gid, "@g.us"), types.GroupServer)
	if _, err := bob.UpdateGroup(sgid, "add", dave); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "add", of(gid, ctl.GroupAdd)); !slices.Equal(c.Participants, []string{jidOf(dave)}) || c.Author != jidOf(bob) {
		t.Fatalf("add event %+v", c)
	}

	// Adding again: 409 for a member, 403 for Carol once more.
	pr = call[ctl.ParticipantsResult](t, d, ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: gid, Add: []string{jidOf(dave), jidOf(carol)}})
	if ps := pr.Participants; len(ps) != 2 || ps[0].OK || ps[0].Code != 409 || ps[1].OK || ps[1].Code != 403 || ps[1].InviteCode == "" {
		t.Fatalf("add %+v", pr)
	}
	// Remove and demote.
	pr = call[ctl.ParticipantsResult](t, d, ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: gid, Remove: []string{jidOf(dave)}})
	if len(pr.Participants) != 1 || !pr.Participants[0].OK || pr.Participants[0].JID != jidOf(dave) {
		t.Fatalf("remove %+v", pr)
	}
	if c := gw.next(t, "remove", of(gid, ctl.GroupRemove)); !slices.Equal(c.Participants, []string{jidOf(dave)}) {
		t.Fatalf("remove event %+v", c)
	}
	pr = call[ctl.ParticipantsResult](t, d, ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: gid, Demote: []string{jidOf(bob), jidOf(dave)}})
	if ps := pr.Participants; len(ps) != 2 || !ps[0].OK || ps[1].OK || ps[1].Code != 404 {
		t.Fatalf("demote %+v", pr)
	}
	gw.next(t, "demote", of(gid, ctl.GroupDemote))

	// Settings, in order, each an event.
	call[ctl.OK](t, d, ctl.MethodGroupSet, ctl.GroupSetParams{Client: "support", Group: gid,
		Name: strPtr("Kunden 2"), Topic: strPtr("Fragen hier"), Announce: boolPtr(true), Locked: boolPtr(true)})
	if c := gw.next(t, "name", of(gid, ctl.GroupName)); c.Name != "Kunden 2" || c.Author != jidOf(me) {
		t.Fatalf("name event %+v", c)
	}
	if c := gw.next(t, "topic", of(gid, ctl.GroupTopic)); c.Topic != "Fragen hier" {
		t.Fatalf("topic event %+v", c)
	}
	if c := gw.next(t, "announce", of(gid, ctl.GroupAnnounce)); c.Value == nil || !*c.Value {
		t.Fatalf("announce event %+v", c)
	}
	if c := gw.next(t, "locked", of(gid, ctl.GroupLocked)); c.Value == nil || !*c.Value {
		t.Fatalf("locked event %+v", c)
	}
	info = call[ctl.Group](t, d, ctl.MethodGroupInfo, ctl.GroupParams{Client: "support", Group: gid})
	if info.Name != "Kunden 2" || info.Topic != "Fragen hier" || !info.Announce || !info.Locked {
		t.Fatalf("after group.set: %+v", info)
	}
	call[ctl.OK](t, d, ctl.MethodGroupSet, ctl.GroupSetParams{Client: "support", Group: gid, Topic: strPtr(""), Announce: boolPtr(false)})
	if c := gw.next(t, "topic removed", of(gid, ctl.GroupTopic)); c.Topic != "" {
		t.Fatalf("topic removed %+v", c)
	}
	if c := gw.next(t, "announce off", of(gid, ctl.GroupAnnounce)); c.Value == nil || *c.Value {
		t.Fatalf("announce off %+v", c)
	}
	if sg, _ := srv.Group(sgid); sg.Topic != "" || sg.Announce || !sg.Locked || sg.Subject != "Kunden 2" {
		t.Fatalf("the server's group after group.set: %+v", sg)
	}

	// A picture set on Bob's phone.
	if _, err := bob.SetGroupPicture(sgid, false); err == nil {
		t.Fatal("Bob, no longer an admin, changed the picture of a locked group")
	}
	call[ctl.OK](t, d, ctl.MethodGroupSet, ctl.GroupSetParams{Client: "support", Group: gid, Locked: boolPtr(false)})
	gw.next(t, "unlocked", of(gid, ctl.GroupLocked))
	pic, err := bob.SetGroupPicture(sgid, false)
	if err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "picture", of(gid, ctl.GroupPicture)); c.PictureID != pic || c.Author != jidOf(bob) {
		t.Fatalf("picture event %+v (id %s)", c, pic)
	}
	if _, err := bob.SetGroupPicture(sgid, true); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "picture removed", of(gid, ctl.GroupPicture)); c.PictureID != "" {
		t.Fatalf("picture removed %+v", c)
	}

	// Invite links: get, reset; the old one is refused, the new one
	// lets Dave's phone in.
	old := call[ctl.InviteLinkResult](t, d, ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: "support", Group: gid})
	if !strings.HasPrefix(old.Link, ctl.InviteLinkPrefix) {
		t.Fatalf("link %q", old.Link)
	}
	again := call[ctl.InviteLinkResult](t, d, ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: "support", Group: gid})
	reset := call[ctl.InviteLinkResult](t, d, ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: "support", Group: gid, Reset: true})
	if again.Link != old.Link || reset.Link == old.Link || !strings.HasPrefix(reset.Link, ctl.InviteLinkPrefix) {
		t.Fatalf("links %q, %q, reset %q", old.Link, again.Link, reset.Link)
	}
	if sg, _ := srv.Group(sgid); ctl.InviteLinkPrefix+sg.InviteCode != reset.Link {
		t.Fatalf("the server's code %q, link %q", sg.InviteCode, reset.Link)
	}
	callErr(t, d, ctl.MethodGroupJoin, ctl.JoinParams{Client: "support", Link: old.Link}, ctl.CodeInvalidParams)
	if _, err := dave.JoinGroup(strings.TrimPrefix(reset.Link, ctl.InviteLinkPrefix)); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "dave joins by link", of(gid, ctl.GroupAdd)); !slices.Equal(c.Participants, []string{jidOf(dave)}) || c.Author != jidOf(dave) {
		t.Fatalf("join event %+v", c)
	}

	// Dave's group: this account joins by link, is not an admin there,
	// and leaves.
	other, _, err := dave.CreateGroup("Daves Gruppe")
	if err != nil {
		t.Fatal(err)
	}
	code, err := dave.GroupInviteCode(other)
	if err != nil {
		t.Fatal(err)
	}
	joined := call[ctl.JoinResult](t, d, ctl.MethodGroupJoin, ctl.JoinParams{Client: "support", Link: ctl.InviteLinkPrefix + code})
	if joined.Group != other.String() {
		t.Fatalf("joined %q, want %s", joined.Group, other)
	}
	if c := gw.next(t, "joined by link", of(other.String(), ctl.GroupJoined)); c.Info == nil || c.Info.Name != "Daves Gruppe" || c.Info.Size != 2 {
		t.Fatalf("joined by link %+v", c)
	}
	callErr(t, d, ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: "support", Group: other.String()}, ctl.CodeUpstream)
	callErr(t, d, ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: other.String(), Add: []string{jidOf(bob)}}, ctl.CodeUpstream)
	// A group.set that fails half way keeps what was done and says so.
	err = d.Client.Call(waitCtx(t), ctl.MethodGroupSet, ctl.GroupSetParams{Client: "support", Group: other.String(),
		Name: strPtr("Umbenannt"), Announce: boolPtr(true)}, nil)
	var ce *ctl.Error
	if !errors.As(err, &ce) || ce.Code != ctl.CodeUpstream || !strings.Contains(ce.Message, "after setting the name") {
		t.Fatalf("group.set by a non-admin: %v", err)
	}
	if sg, _ := srv.Group(other); sg.Subject != "Umbenannt" || sg.Announce {
		t.Fatalf("dave's group after a half group.set: %+v", sg)
	}
	gw.next(t, "renamed", of(other.String(), ctl.GroupName))
	call[ctl.OK](t, d, ctl.MethodGroupLeave, ctl.GroupParams{Client: "support", Group: other.String()})
	if c := gw.next(t, "left", of(other.String(), ctl.GroupLeft)); c.Author != jidOf(me) {
		t.Fatalf("left %+v", c)
	}
	if sg, _ := srv.Group(other); len(sg.Members) != 1 {
		t.Fatalf("dave's group after leaving: %+v", sg.Members)
	}
	callErr(t, d, ctl.MethodGroupInfo, ctl.GroupParams{Client: "support", Group: other.String()}, ctl.CodeUpstream)
	callErr(t, d, ctl.MethodGroupLeave, ctl.GroupParams{Client: "support", Group: other.String()}, ctl.CodeUpstream)
	callErr(t, d, ctl.MethodGroupInfo, ctl.GroupParams{Client: "support", Group: "120363999999999999@g.us"}, ctl.CodeInvalidParams)

	// Added by someone else, then removed.
	if _, err := dave.UpdateGroup(other, "add", me); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "added by dave", of(other.String(), ctl.GroupJoined)); c.Author != jidOf(dave) || c.Info == nil || c.Info.ID != other.String() {
		t.Fatalf("added %+v", c)
	}
	if _, err := dave.UpdateGroup(other, "remove", me); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "removed by dave", of(other.String(), ctl.GroupLeft)); c.Author != jidOf(dave) {
		t.Fatalf("removed %+v", c)
	}
	// A group created on a phone with this account in it.
	third, _, err := bob.CreateGroup("Bobs Runde", me, carol)
	if err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "bob's new group", of(third.String(), ctl.GroupJoined)); c.Author != jidOf(bob) || c.Info == nil || c.Info.Size != 2 {
		t.Fatalf("bob's group %+v", c)
	}
	list = call[ctl.GroupsResult](t, d, ctl.MethodGroups, ctl.ClientParams{Client: "support"})
	var ids []string
	for _, g := range list.Groups {
		ids = append(ids, g.ID)
	}
	slices.Sort(ids)
	want := []string{gid, third.String()}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("group.list %v, want %v", ids, want)
	}
	for _, p := range gw.pending {
		t.Errorf("unexpected group event %+v", p)
	}
}

func TestLIDGroupsNamePeopleByPhoneNumber(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	srv.LIDGroups(true)
	me := newAccount(t, srv, "4915112340211", "Support")
	bob := newAccount(t, srv, "4915112340212", "Bob")
	dave := newAccount(t, srv, "4915112340214", "Dave")
	linkOverSocket(t, d, me, "support")
	gw := &groupWatch{w: watch(t, d, "support")}

	g, _, err := bob.CreateGroup("LID-Gruppe", me)
	if err != nil {
		t.Fatal(err)
	}
	c := gw.next(t, "joined", of(g.String(), ctl.GroupJoined))
	if c.Author != jidOf(bob) || c.Info == nil || c.Info.Owner != jidOf(bob) {
		t.Fatalf("joined %+v", c)
	}
	for _, p := range c.Info.Participants {
		if !strings.HasSuffix(p.JID, "@s.whatsapp.net") || !strings.HasSuffix(p.LID, "@lid") || p.Phone == "" {
			t.Fatalf("participant by LID only: %+v", p)
		}
	}
	if _, err := bob.UpdateGroup(g, "add", dave); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "add", of(g.String(), ctl.GroupAdd)); !slices.Equal(c.Participants, []string{jidOf(dave)}) || c.Author != jidOf(bob) {
		t.Fatalf("add %+v", c)
	}
	info := call[ctl.Group](t, d, ctl.MethodGroupInfo, ctl.GroupParams{Client: "support", Group: g.String()})
	var jids []string
	for _, p := range info.Participants {
		jids = append(jids, p.JID)
	}
	if !slices.Equal(jids, []string{jidOf(bob), jidOf(me), jidOf(dave)}) {
		t.Fatalf("participants %v", jids)
	}
	// Addressed by LID, a participant is found and named by number.
	if _, err := bob.UpdateGroup(g, "promote", me); err != nil {
		t.Fatal(err)
	}
	if c := gw.next(t, "promote", of(g.String(), ctl.GroupPromote)); !slices.Equal(c.Participants, []string{jidOf(me)}) {
		t.Fatalf("promote %+v", c)
	}
	pr := call[ctl.ParticipantsResult](t, d, ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: g.String(), Remove: []string{dave.LIDJID().String()}})
	if len(pr.Participants) != 1 || !pr.Participants[0].OK || pr.Participants[0].JID != jidOf(dave) {
		t.Fatalf("remove by LID %+v", pr)
	}
	if c := gw.next(t, "remove", of(g.String(), ctl.GroupRemove)); !slices.Equal(c.Participants, []string{jidOf(dave)}) || c.Author != jidOf(me) {
		t.Fatalf("remove %+v", c)
	}
}

func TestBadGroupInputIsRefusedBeforeWhatsAppHearsOfIt(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340221", "Support")
	bob := newAccount(t, srv, "4915112340222", "Bob")
	linkOverSocket(t, d, me, "support")
	g, _, err := bob.CreateGroup("Bobs", me)
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, ctl.MaxGroupParticipants)
	for i := range many {
		many[i] = "+49151" + strings.Repeat("0", 8-len(strconv.Itoa(i))) + strconv.Itoa(i)
	}
	for _, c := range []struct {
		method string
		params any
	}{
		{ctl.MethodGroupInfo, ctl.GroupParams{Client: "support", Group: jidOf(bob)}},
		{ctl.MethodGroupLeave, ctl.GroupParams{Client: "support", Group: "nonsense"}},
		{ctl.MethodGroupJoin, ctl.JoinParams{Client: "support", Link: "https://example.com/ABCDEFGHIJKL"}},
		{ctl.MethodGroupJoin, ctl.JoinParams{Client: "support", Link: "short"}},
		{ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "support", Name: "Zu viele", Participants: many}},
		{ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "support", Name: "Gruppe", Participants: []string{g.String()}}},
		{ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "support", Name: "", Participants: []string{jidOf(bob)}}},
		{ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: g.String(), Add: []string{jidOf(bob)}, Remove: []string{jidOf(bob)}}},
		{ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "support", Group: g.String(), Add: many}},
		{ctl.MethodGroupSet, ctl.GroupSetParams{Client: "support", Group: g.String()}},
		{ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: "support", Group: "120363@s.whatsapp.net"}},
	} {
		callErr(t, d, c.method, c.params, ctl.CodeInvalidParams)
	}
	if gs := srv.Groups(); len(gs) != 1 || gs[0] != g {
		t.Fatalf("groups on the server: %v", gs)
	}
	if sg, _ := srv.Group(g); len(sg.Members) != 2 || sg.Subject != "Bobs" || sg.InviteCode != "" {
		t.Fatalf("bob's group changed: %+v", sg)
	}
}

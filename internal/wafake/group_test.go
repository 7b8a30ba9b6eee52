package wafake_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/internal/wafake"
)

// member finds jid's user among a group's participants.
func member(ps []types.GroupParticipant, a *wafake.Account) (types.GroupParticipant, bool) {
	for _, p := range ps {
		if p.JID.User == a.Phone || p.JID.User == a.LID {
			return p, true
		}
	}
	return types.GroupParticipant{}, false
}

func TestGroupsRunWhatsmeowsGroupQueriesAndNotifications(t *testing.T) {
	s, g := newMessagingServer(t)
	defer g.check(t)
	alice := addAccount(t, s, "4915110000301", "Alice")
	bob := addAccount(t, s, "4915110000302", "Bob")
	carol := addAccount(t, s, "4915110000303", "Carol") // refuses adds
	dave := addAccount(t, s, "4915110000304", "Dave")   // a phone only
	carol.RefuseGroupAdds(true)
	ac, aev := pairByQR(t, s, alice, newContainer(t))
	bc, bev := pairByQR(t, s, bob, newContainer(t))
	ctx := ctxFor(t)
	nobody := types.NewJID("4915110000399", types.DefaultUserServer)

	// Create: Carol's privacy refuses with 403 and an invite code, a
	// number not on WhatsApp is 404, Bob is in.
	info, err := ac.CreateGroup(ctx, wa.ReqCreateGroup{
		Name: "Team", Participants: []types.JID{bob.JID(), carol.JID(), nobody}, CreateKey: "3EB0ABCDEF",
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	gid := info.JID
	if gid.Server != types.GroupServer || !strings.HasPrefix(gid.User, "120363") || info.Name != "Team" || info.GroupCreated.IsZero() {
		t.Fatalf("created %+v", info)
	}
	if p, ok := member(info.Participants, alice); !ok || !p.IsSuperAdmin || p.Error != 0 || p.LID.User != alice.LID {
		t.Fatalf("creator %+v", p)
	}
	if p, ok := member(info.Participants, bob); !ok || p.Error != 0 || p.IsAdmin {
		t.Fatalf("bob %+v", p)
	}
	if p, ok := member(info.Participants, carol); !ok || p.Error != 403 || p.AddRequest == nil || p.AddRequest.Code == "" || p.AddRequest.Expiration.IsZero() {
		t.Fatalf("carol %+v", p)
	}
	found404 := false
	for _, p := range info.Participants {
		found404 = found404 || (p.JID == nobody && p.Error == 404)
	}
	if !found404 {
		t.Fatalf("no 404 for a number not on WhatsApp: %+v", info.Participants)
	}
	if sg, _ := s.Group(gid); len(sg.Members) != 2 {
		t.Fatalf("server has members %+v", sg.Members)
	}
	// The creator's device and Bob's get the create notification.
	if j := waitEvent(t, aev, "alice's joined", func(e *events.JoinedGroup) bool { return e.JID == gid }); j.CreateKey != "ABCDEF" || j.Type != "new" {
		t.Fatalf("alice's JoinedGroup %+v", j)
	}
	if j := waitEvent(t, bev, "bob's joined", func(e *events.JoinedGroup) bool { return e.JID == gid }); j.Sender == nil || j.Sender.User != alice.Phone || j.Name != "Team" {
		t.Fatalf("bob's JoinedGroup %+v", j)
	}

	// Info and list; a non-member and an unknown group.
	if gi, err := bc.GetGroupInfo(ctx, gid); err != nil || len(gi.Participants) != 2 {
		t.Fatalf("bob's group info %+v %v", gi, err)
	}
	if gs, err := bc.GetJoinedGroups(ctx); err != nil || len(gs) != 1 || gs[0].JID != gid {
		t.Fatalf("bob's groups %v %v", gs, err)
	}
	if _, err := bc.GetGroupInfo(ctx, types.NewJID("120363000000000000", types.GroupServer)); !errors.Is(err, wa.ErrGroupNotFound) {
		t.Fatalf("unknown group: %v", err)
	}

	// Participants: Bob is not an admin; Alice adds (409 for Bob, 403
	// for Carol again, Dave in) and promotes Bob.
	if _, err := bc.UpdateGroupParticipants(ctx, gid, []types.JID{dave.JID()}, wa.ParticipantChangeAdd); !errors.Is(err, wa.ErrIQNotAuthorized) {
		t.Fatalf("add by a non-admin: %v", err)
	}
	res, err := ac.UpdateGroupParticipants(ctx, gid, []types.JID{bob.JID(), carol.JID(), dave.JID()}, wa.ParticipantChangeAdd)
	if err != nil || len(res) != 3 || res[0].Error != 409 || res[1].Error != 403 || res[1].AddRequest == nil || res[2].Error != 0 {
		t.Fatalf("add: %+v %v", res, err)
	}
	if e := waitEvent(t, bev, "dave added", func(e *events.GroupInfo) bool { return len(e.Join) > 0 }); e.Join[0].User != dave.Phone || e.Sender.User != alice.Phone {
		t.Fatalf("add event %+v", e)
	}
	if _, err := ac.UpdateGroupParticipants(ctx, gid, []types.JID{bob.JID()}, wa.ParticipantChangePromote); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bev, "bob promoted", func(e *events.GroupInfo) bool { return len(e.Promote) == 1 && e.Promote[0].User == bob.Phone })

	// Settings, as every member device sees them.
	if err := ac.SetGroupName(ctx, gid, "Team 2"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bev, "name", func(e *events.GroupInfo) bool { return e.Name != nil && e.Name.Name == "Team 2" })
	if err := ac.SetGroupTopic(ctx, gid, "", "", "About us"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bev, "topic", func(e *events.GroupInfo) bool { return e.Topic != nil && e.Topic.Topic == "About us" })
	if err := ac.SetGroupTopic(ctx, gid, "WRONG", "", "x"); err == nil {
		t.Fatal("a topic with a stale prev was accepted")
	}
	if err := ac.SetGroupTopic(ctx, gid, "", "", ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bev, "topic deleted", func(e *events.GroupInfo) bool { return e.Topic != nil && e.Topic.TopicDeleted })
	if err := ac.SetGroupAnnounce(ctx, gid, true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bev, "announce", func(e *events.GroupInfo) bool { return e.Announce != nil && e.Announce.IsAnnounce })
	if err := ac.SetGroupLocked(ctx, gid, true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bev, "locked", func(e *events.GroupInfo) bool { return e.Locked != nil && e.Locked.IsLocked })
	if gi, err := bc.GetGroupInfo(ctx, gid); err != nil || !gi.IsAnnounce || !gi.IsLocked || gi.Name != "Team 2" || gi.Topic != "" {
		t.Fatalf("after settings: %+v %v", gi, err)
	}
	if _, err := ac.SetGroupPhoto(ctx, gid, []byte("not a jpeg")); !errors.Is(err, wa.ErrInvalidImageFormat) {
		t.Fatalf("a PNG as picture: %v", err)
	}
	pic, err := ac.SetGroupPhoto(ctx, gid, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0})
	if err != nil || pic == "" {
		t.Fatalf("picture: %q %v", pic, err)
	}
	waitEvent(t, bev, "picture", func(e *events.Picture) bool {
		return e.JID == gid && e.PictureID == pic && e.Author.User == alice.Phone
	})
	if _, err := dave.SetGroupPicture(gid, true); err == nil {
		t.Fatal("a non-admin changed the picture of a locked group")
	}

	// Invite links: admins only; reset revokes the old code.
	if _, err := ac.GetGroupInviteLink(ctx, gid, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.UpdateGroupParticipants(ctx, gid, []types.JID{bob.JID()}, wa.ParticipantChangeDemote); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.GetGroupInviteLink(ctx, gid, false); !errors.Is(err, wa.ErrGroupInviteLinkUnauthorized) {
		t.Fatalf("link for a non-admin: %v", err)
	}
	old, err := ac.GetGroupInviteLink(ctx, gid, false)
	if err != nil || !strings.HasPrefix(old, wa.InviteLinkPrefix) {
		t.Fatalf("link %q %v", old, err)
	}
	link, err := ac.GetGroupInviteLink(ctx, gid, true)
	if err != nil || link == old {
		t.Fatalf("reset link %q (old %q) %v", link, old, err)
	}
	if _, err := bc.GetGroupInfoFromLink(ctx, old); !errors.Is(err, wa.ErrInviteLinkRevoked) {
		t.Fatalf("revoked link: %v", err)
	}
	if _, err := bc.GetGroupInfoFromLink(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, wa.ErrInviteLinkInvalid) {
		t.Fatalf("unknown link: %v", err)
	}
	if gi, err := bc.GetGroupInfoFromLink(ctx, link); err != nil || gi.JID != gid {
		t.Fatalf("link info %+v %v", gi, err)
	}

	// Bob leaves, Carol's phone joins by the link, Bob joins back.
	if err := bc.LeaveGroup(ctx, gid); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aev, "bob left", func(e *events.GroupInfo) bool {
		return len(e.Leave) == 1 && e.Leave[0].User == bob.Phone && e.Sender.User == bob.Phone
	})
	if _, err := bc.GetGroupInfo(ctx, gid); !errors.Is(err, wa.ErrNotInGroup) {
		t.Fatalf("info after leaving: %v", err)
	}
	if err := bc.LeaveGroup(ctx, gid); err == nil {
		t.Fatal("left a group twice")
	}
	if _, err := carol.JoinGroup(strings.TrimPrefix(link, wa.InviteLinkPrefix)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aev, "carol joined", func(e *events.GroupInfo) bool {
		return len(e.Join) == 1 && e.Join[0].User == carol.Phone && e.JoinReason == "invite"
	})
	joined, err := bc.JoinGroupWithLink(ctx, link)
	if err != nil || joined != gid {
		t.Fatalf("join: %s %v", joined, err)
	}
	waitEvent(t, bev, "bob's invite join", func(e *events.JoinedGroup) bool { return e.JID == gid && e.Reason == "invite" })

	// The phone side: Dave's phone creates a group with Alice.
	other, _, err := dave.CreateGroup("Dave's", alice)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aev, "dave's group", func(e *events.JoinedGroup) bool { return e.JID == other && e.Sender.User == dave.Phone })
	if _, err := dave.UpdateGroup(other, "remove", alice); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aev, "removed", func(e *events.GroupInfo) bool {
		return e.JID == other && len(e.Leave) == 1 && e.Leave[0].User == alice.Phone
	})
	if gs, err := ac.GetJoinedGroups(ctx); err != nil || len(gs) != 1 || gs[0].JID != gid {
		t.Fatalf("alice's groups %v %v", gs, err)
	}
	// Every notification was acknowledged.
	waitDrained(t, s, *ac.Store.ID)
	waitDrained(t, s, *bc.Store.ID)
}

func TestLIDGroupsNameParticipantsByLIDWithTheirNumbers(t *testing.T) {
	s, g := newMessagingServer(t)
	defer g.check(t)
	s.LIDGroups(true)
	alice := addAccount(t, s, "4915110000311", "Alice")
	bob := addAccount(t, s, "4915110000312", "Bob")
	ac, _ := pairByQR(t, s, alice, newContainer(t))
	bc, bev := pairByQR(t, s, bob, newContainer(t))
	ctx := ctxFor(t)
	info, err := ac.CreateGroup(ctx, wa.ReqCreateGroup{Name: "LID", Participants: []types.JID{bob.JID()}})
	if err != nil {
		t.Fatal(err)
	}
	if info.AddressingMode != types.AddressingModeLID {
		t.Fatalf("addressing %q", info.AddressingMode)
	}
	p, ok := member(info.Participants, bob)
	if !ok || p.JID != bob.LIDJID() || p.PhoneNumber != bob.JID() {
		t.Fatalf("bob as %+v", p)
	}
	j := waitEvent(t, bev, "joined", func(e *events.JoinedGroup) bool { return e.JID == info.JID })
	if j.Sender.Server != types.HiddenUserServer || j.SenderPN == nil || *j.SenderPN != alice.JID() {
		t.Fatalf("sender %v / %v", j.Sender, j.SenderPN)
	}
	// Bob's device learnt Alice's number from the group.
	if pn, err := bc.Store.LIDs.GetPNForLID(ctx, alice.LIDJID()); err != nil || pn != alice.JID() {
		t.Fatalf("alice's number from her LID: %v %v", pn, err)
	}
	if !slices.ContainsFunc(info.Participants, func(p types.GroupParticipant) bool { return p.IsSuperAdmin && p.JID == alice.LIDJID() }) {
		t.Fatalf("creator not a LID superadmin: %+v", info.Participants)
	}
	// Acked (and no ack goroutine left to race the clients' closing).
	waitDrained(t, s, *ac.Store.ID)
	waitDrained(t, s, *bc.Store.ID)
}

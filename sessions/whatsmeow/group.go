package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	wa "go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

func init() {
	for _, m := range []string{
		ctl.MethodGroups, ctl.MethodGroupInfo, ctl.MethodGroupCreate, ctl.MethodGroupParticipants,
		ctl.MethodGroupInvite, ctl.MethodGroupJoin, ctl.MethodGroupLeave, ctl.MethodGroupSet,
	} {
		ops[m] = true
	}
}

// groupEventTimeout bounds what an event handler asks WhatsApp (the
// group this account was added to).
const groupEventTimeout = 20 * time.Second

// groupJID parses a group JID the daemon already checked.
func groupJID(s string) (types.JID, error) {
	j, err := types.ParseJID(s)
	if err != nil || j.User == "" || j.Server != types.GroupServer {
		return types.JID{}, ctl.Errorf(ctl.CodeInvalidParams, "invalid group %q: want <id>@g.us", s)
	}
	return j, nil
}

// groupError maps a whatsmeow error of a group operation (what, on
// group g when not empty) to the wire: what the caller named wrongly
// (no such group, a bad or revoked invite link) is invalid params, what
// WhatsApp refuses (not a member, not an admin) is upstream.
func groupError(client, what string, g types.JID, err error) error {
	on := ""
	if !g.IsEmpty() {
		on = " " + g.String()
	}
	switch {
	case errors.Is(err, wa.ErrNotConnected), errors.Is(err, wa.ErrNotLoggedIn), errors.Is(err, wa.ErrIQDisconnected):
		return ctl.Errorf(ctl.CodeSessionNotReady, "session %s is not connected to WhatsApp right now: %v", client, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, wa.ErrIQTimedOut):
		return ctl.Errorf(ctl.CodeTimeout, "%s%s: %v", what, on, err)
	case errors.Is(err, wa.ErrGroupNotFound), errors.Is(err, wa.ErrIQNotFound):
		return ctl.Errorf(ctl.CodeInvalidParams, "%s: WhatsApp knows no group%s (%v)", what, on, err)
	case errors.Is(err, wa.ErrNotInGroup), errors.Is(err, wa.ErrIQForbidden):
		return ctl.Errorf(ctl.CodeUpstream, "%s: this account is not a participant of group%s (%v)", what, on, err)
	case errors.Is(err, wa.ErrGroupInviteLinkUnauthorized), errors.Is(err, wa.ErrIQNotAuthorized):
		return ctl.Errorf(ctl.CodeUpstream, "%s: only admins of group%s may do that (%v)", what, on, err)
	case errors.Is(err, wa.ErrInviteLinkRevoked):
		return ctl.Errorf(ctl.CodeInvalidParams, "%s: the invite link was revoked (%v)", what, err)
	case errors.Is(err, wa.ErrInviteLinkInvalid):
		return ctl.Errorf(ctl.CodeInvalidParams, "%s: WhatsApp knows no such invite link (%v)", what, err)
	case errors.Is(err, wa.ErrIQNotAcceptable):
		return ctl.Errorf(ctl.CodeUpstream, "%s%s: WhatsApp did not accept it (too long, or not allowed for this group): %v", what, on, err)
	}
	return ctl.Errorf(ctl.CodeUpstream, "%s%s: WhatsApp refused: %v", what, on, err)
}

// person names a user as results and events do: the phone-number JID
// when known (pn, or from the store's LID mapping), else the LID.
func person(ctx context.Context, r *run, jid, pn types.JID) types.JID {
	if jid.Server == types.HiddenUserServer {
		if pn.Server != types.DefaultUserServer && r != nil {
			pn, _ = r.cli.Store.LIDs.GetPNForLID(ctx, jid)
		}
		if pn.Server == types.DefaultUserServer {
			return pn.ToNonAD()
		}
	}
	return jid.ToNonAD()
}

// participant converts a group member.
func participant(ctx context.Context, r *run, p types.GroupParticipant) ctl.Participant {
	pn := p.PhoneNumber
	if pn.IsEmpty() && !p.LID.IsEmpty() {
		pn, _ = r.cli.Store.LIDs.GetPNForLID(ctx, p.LID)
	}
	lid := p.LID
	if lid.IsEmpty() && p.JID.Server == types.DefaultUserServer {
		lid, _ = r.cli.Store.LIDs.GetLIDForPN(ctx, p.JID)
	}
	out := ctl.Participant{JID: person(ctx, r, p.JID, pn).String(), Admin: p.IsAdmin, SuperAdmin: p.IsSuperAdmin}
	if !lid.IsEmpty() {
		out.LID = lid.ToNonAD().String()
	}
	if !pn.IsEmpty() {
		out.Phone = "+" + pn.User
	}
	return out
}

// convertGroup turns whatsmeow's group info into its wire form; with
// members, its participants too (those WhatsApp refused, which a create
// answer lists with an error, are left out).
func convertGroup(ctx context.Context, r *run, g *types.GroupInfo, members bool) ctl.Group {
	out := ctl.Group{
		ID:       g.JID.String(),
		Name:     g.Name,
		Topic:    g.Topic,
		Created:  g.GroupCreated.UTC(),
		Announce: g.IsAnnounce,
		Locked:   g.IsLocked,
	}
	if !g.OwnerJID.IsEmpty() {
		out.Owner = person(ctx, r, g.OwnerJID, g.OwnerPN).String()
	}
	n := 0
	for _, p := range g.Participants {
		if p.Error != 0 {
			continue
		}
		n++
		if members {
			out.Participants = append(out.Participants, participant(ctx, r, p))
		}
	}
	out.Size = n
	if g.ParticipantCount > n {
		out.Size = g.ParticipantCount
	}
	return out
}

func (s *session) listGroups(ctx context.Context, r *run) (ctl.GroupsResult, error) {
	gs, err := r.cli.GetJoinedGroups(ctx)
	if err != nil {
		return ctl.GroupsResult{}, groupError(s.env.Client, "listing groups", types.EmptyJID, err)
	}
	out := ctl.GroupsResult{Groups: make([]ctl.Group, 0, len(gs))}
	for _, g := range gs {
		out.Groups = append(out.Groups, convertGroup(ctx, r, g, false))
	}
	return out, nil
}

func (s *session) groupInfo(ctx context.Context, r *run, op sessions.GroupInfo) (ctl.Group, error) {
	g, err := groupJID(op.Group)
	if err != nil {
		return ctl.Group{}, err
	}
	info, err := r.cli.GetGroupInfo(ctx, g)
	if err != nil {
		return ctl.Group{}, groupError(s.env.Client, "group info", g, err)
	}
	return convertGroup(ctx, r, info, true), nil
}

// userJIDs parses the participants the daemon normalised.
func userJIDs(in []string) ([]types.JID, error) {
	out := make([]types.JID, len(in))
	for i, p := range in {
		j, err := parseJID("participant", p)
		if err != nil {
			return nil, err
		}
		if j.Server != types.DefaultUserServer && j.Server != types.HiddenUserServer {
			return nil, ctl.Errorf(ctl.CodeInvalidParams, "participant %q is not a user JID or LID", p)
		}
		out[i] = j.ToNonAD()
	}
	return out, nil
}

// participantError is the wire text of WhatsApp's per-participant code.
func participantError(action string, code int) string {
	switch code {
	case 403:
		return "their privacy settings allow adding them only by an invite"
	case 404:
		if action == ctl.ActionAdd {
			return "not on WhatsApp"
		}
		return "not a participant of the group"
	case 408:
		return "left the group recently"
	case 409:
		return "already a participant"
	case 401:
		return "not allowed"
	}
	return fmt.Sprintf("refused by WhatsApp (code %d)", code)
}

// participantResults says what became of each participant asked for
// (asked, in order) from WhatsApp's answer, which names each by the JID
// asked or by the other one.
func participantResults(ctx context.Context, r *run, action string, asked []types.JID, got []types.GroupParticipant) []ctl.ParticipantResult {
	out := make([]ctl.ParticipantResult, len(asked))
	used := make([]bool, len(got))
	for i, a := range asked {
		res := ctl.ParticipantResult{JID: person(ctx, r, a, types.EmptyJID).String()}
		// The forms a may be answered by: as asked, or the other one
		// the answer or the store knows.
		forms := []types.JID{a.ToNonAD()}
		pn, lid := pnLID(ctx, r.cli, a)
		for _, j := range []types.JID{pn, lid} {
			if !j.IsEmpty() && j != forms[0] {
				forms = append(forms, j)
			}
		}
		names := func(p types.GroupParticipant) bool {
			for _, j := range []types.JID{p.JID, p.LID, p.PhoneNumber} {
				if !j.IsEmpty() && slices.Contains(forms, j.ToNonAD()) {
					return true
				}
			}
			return false
		}
		found := false
		for k, p := range got {
			if used[k] || !names(p) {
				continue
			}
			used[k], found = true, true
			res.JID = person(ctx, r, p.JID, p.PhoneNumber).String()
			if p.Error == 0 {
				res.OK = true
				break
			}
			res.Code, res.Error = p.Error, participantError(action, p.Error)
			if p.AddRequest != nil {
				res.InviteCode = p.AddRequest.Code
				res.InviteExpires = p.AddRequest.Expiration.UTC()
			}
			break
		}
		if !found {
			res.Error = "WhatsApp's answer did not mention this participant"
		}
		out[i] = res
	}
	return out
}

func (s *session) createGroup(ctx context.Context, r *run, op sessions.CreateGroup) (ctl.GroupCreateResult, error) {
	ps, err := userJIDs(op.Participants)
	if err != nil {
		return ctl.GroupCreateResult{}, err
	}
	info, err := r.cli.CreateGroup(ctx, wa.ReqCreateGroup{Name: op.Name, Participants: ps})
	if err != nil {
		return ctl.GroupCreateResult{}, groupError(s.env.Client, "creating the group", types.EmptyJID, err)
	}
	return ctl.GroupCreateResult{
		Group:        convertGroup(ctx, r, info, true),
		Participants: participantResults(ctx, r, ctl.ActionAdd, ps, info.Participants),
	}, nil
}

func (s *session) updateParticipants(ctx context.Context, r *run, op sessions.UpdateParticipants) (ctl.ParticipantsResult, error) {
	g, err := groupJID(op.Group)
	if err != nil {
		return ctl.ParticipantsResult{}, err
	}
	var change wa.ParticipantChange
	switch op.Action {
	case ctl.ActionAdd:
		change = wa.ParticipantChangeAdd
	case ctl.ActionRemove:
		change = wa.ParticipantChangeRemove
	case ctl.ActionPromote:
		change = wa.ParticipantChangePromote
	case ctl.ActionDemote:
		change = wa.ParticipantChangeDemote
	default:
		return ctl.ParticipantsResult{}, ctl.Errorf(ctl.CodeInvalidParams, "unknown participant action %q", op.Action)
	}
	ps, err := userJIDs(op.Participants)
	if err != nil {
		return ctl.ParticipantsResult{}, err
	}
	got, err := r.cli.UpdateGroupParticipants(ctx, g, ps, change)
	if err != nil {
		return ctl.ParticipantsResult{}, groupError(s.env.Client, "changing participants ("+op.Action+") of group", g, err)
	}
	return ctl.ParticipantsResult{Participants: participantResults(ctx, r, op.Action, ps, got)}, nil
}

func (s *session) inviteLink(ctx context.Context, r *run, op sessions.InviteLink) (ctl.InviteLinkResult, error) {
	g, err := groupJID(op.Group)
	if err != nil {
		return ctl.InviteLinkResult{}, err
	}
	link, err := r.cli.GetGroupInviteLink(ctx, g, op.Reset)
	if err != nil {
		return ctl.InviteLinkResult{}, groupError(s.env.Client, "the invite link of group", g, err)
	}
	return ctl.InviteLinkResult{Link: link}, nil
}

func (s *session) joinGroup(ctx context.Context, r *run, op sessions.JoinGroup) (ctl.JoinResult, error) {
	if op.Code == "" {
		return ctl.JoinResult{}, ctl.Errorf(ctl.CodeInvalidParams, "an invite code is required")
	}
	g, pending, err := joinWithLink(ctx, r.cli, op.Code)
	if err != nil {
		return ctl.JoinResult{}, groupError(s.env.Client, "joining with the invite link", types.EmptyJID, err)
	}
	if pending {
		return ctl.JoinResult{}, ctl.Errorf(ctl.CodeUpstream, "joining group %s needs an admin's approval; the request was sent", g)
	}
	return ctl.JoinResult{Group: g.String()}, nil
}

// joinWithLink is whatsmeow's JoinGroupWithLink, which answers a group
// that needs an admin's approval (<membership_approval_request jid>)
// as one joined (<group jid>); pending tells them apart.
func joinWithLink(ctx context.Context, cli *wa.Client, code string) (g types.JID, pending bool, err error) {
	code = strings.TrimPrefix(code, wa.InviteLinkPrefix)
	resp, err := cli.DangerousInternals().SendGroupIQ(ctx, "set", types.GroupServerJID, waBinary.Node{
		Tag: "invite", Attrs: waBinary.Attrs{"code": code},
	})
	switch {
	case errors.Is(err, wa.ErrIQGone):
		return types.EmptyJID, false, fmt.Errorf("%w: %w", wa.ErrInviteLinkRevoked, err)
	case errors.Is(err, wa.ErrIQNotAcceptable):
		return types.EmptyJID, false, fmt.Errorf("%w: %w", wa.ErrInviteLinkInvalid, err)
	case err != nil:
		return types.EmptyJID, false, err
	}
	if n, ok := resp.GetOptionalChildByTag("membership_approval_request"); ok {
		return n.AttrGetter().JID("jid"), true, nil
	}
	n, ok := resp.GetOptionalChildByTag("group")
	if !ok {
		return types.EmptyJID, false, &wa.ElementMissingError{Tag: "group", In: "response to group link join query"}
	}
	return n.AttrGetter().JID("jid"), false, nil
}

func (s *session) leaveGroup(ctx context.Context, r *run, op sessions.LeaveGroup) (ctl.OK, error) {
	g, err := groupJID(op.Group)
	if err != nil {
		return ctl.OK{}, err
	}
	if err := r.cli.LeaveGroup(ctx, g); err != nil {
		return ctl.OK{}, groupError(s.env.Client, "leaving group", g, err)
	}
	return ctl.OK{OK: true}, nil
}

// setGroup changes what op sets, in the order name, topic, announce,
// locked; a failure leaves the earlier changes made and says which
// failed.
func (s *session) setGroup(ctx context.Context, r *run, op sessions.SetGroup) (ctl.OK, error) {
	g, err := groupJID(op.Group)
	if err != nil {
		return ctl.OK{}, err
	}
	if op.Name == nil && op.Topic == nil && op.Announce == nil && op.Locked == nil {
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "nothing to set: give name, topic, announce or locked")
	}
	var done []string
	fail := func(what string, err error) (ctl.OK, error) {
		if len(done) > 0 {
			what = fmt.Sprintf("setting the %s (after setting the %s) of group", what, strings.Join(done, ", "))
		} else {
			what = fmt.Sprintf("setting the %s of group", what)
		}
		return ctl.OK{}, groupError(s.env.Client, what, g, err)
	}
	if op.Name != nil {
		if err := r.cli.SetGroupName(ctx, g, *op.Name); err != nil {
			return fail("name", err)
		}
		done = append(done, "name")
	}
	if op.Topic != nil {
		if err := r.cli.SetGroupTopic(ctx, g, "", "", *op.Topic); err != nil {
			return fail("topic", err)
		}
		done = append(done, "topic")
	}
	if op.Announce != nil {
		if err := r.cli.SetGroupAnnounce(ctx, g, *op.Announce); err != nil {
			return fail("announce setting", err)
		}
		done = append(done, "announce")
	}
	if op.Locked != nil {
		if err := r.cli.SetGroupLocked(ctx, g, *op.Locked); err != nil {
			return fail("locked setting", err)
		}
	}
	return ctl.OK{OK: true}, nil
}

// isOwn reports whether jid is this account (by phone number or LID).
func isOwn(r *run, jid types.JID) bool {
	st := r.cli.Store
	if st.ID != nil && jid.Server == types.DefaultUserServer && jid.User == st.ID.User {
		return true
	}
	return jid.Server == types.HiddenUserServer && !st.LID.IsEmpty() && jid.User == st.LID.User
}

// groupEvent publishes a whatsmeow group event; it reports whether evt
// was one. A change notification becomes one event per kind of change
// (name, topic, announce, locked, add, remove, promote, demote); this
// account's own joining (added, or a JoinedGroup) is "joined" with the
// group, its leaving or removal "left".
func (s *session) groupEvent(r *run, evt any) bool {
	switch e := evt.(type) {
	case *events.JoinedGroup, *events.GroupInfo:
	case *events.Picture:
		if e.JID.Server != types.GroupServer {
			return false // a person's picture: a contact event
		}
	default:
		return false
	}
	// Not in whatsmeow's handler: it holds up the session's node
	// processing, and a joined group is fetched from WhatsApp. Events
	// are published in the order they came.
	now := time.Now().UTC()
	select {
	case s.groupQueue(r) <- func() { s.publishGroupEvent(r, evt, now) }:
	case <-r.ctx.Done():
	}
	return true
}

// groupQueue returns the run's queue of group events, starting the
// goroutine that publishes them, one at a time, until the run ends.
func (s *session) groupQueue(r *run) chan func() {
	r.groupQOnce.Do(func() {
		r.groupQ = make(chan func(), 256)
		go func() {
			for {
				select {
				case <-r.ctx.Done():
					return
				case f := <-r.groupQ:
					f()
				}
			}
		}()
	})
	return r.groupQ
}

// publishGroupEvent publishes group event evt, which came at now.
func (s *session) publishGroupEvent(r *run, evt any, now time.Time) {
	ctx, cancel := context.WithTimeout(r.ctx, groupEventTimeout)
	defer cancel()
	publish := func(c *ctl.GroupChange) {
		s.env.Publish(ctl.Event{Kind: ctl.KindGroup, Group: c, Time: now})
	}
	author := func(j, pn *types.JID) string {
		if j == nil || j.IsEmpty() {
			return ""
		}
		var alt types.JID
		if pn != nil {
			alt = *pn
		}
		return person(ctx, r, *j, alt).String()
	}
	switch e := evt.(type) {
	case *events.JoinedGroup:
		info := convertGroup(ctx, r, &e.GroupInfo, true)
		publish(&ctl.GroupChange{Group: e.JID.String(), Type: ctl.GroupJoined, Author: author(e.Sender, e.SenderPN), Info: &info})
	case *events.GroupInfo:
		g := e.JID.String()
		by := author(e.Sender, e.SenderPN)
		if e.Name != nil {
			publish(&ctl.GroupChange{Group: g, Type: ctl.GroupName, Author: by, Name: e.Name.Name})
		}
		if e.Topic != nil {
			publish(&ctl.GroupChange{Group: g, Type: ctl.GroupTopic, Author: by, Topic: e.Topic.Topic})
		}
		if e.Announce != nil {
			v := e.Announce.IsAnnounce
			publish(&ctl.GroupChange{Group: g, Type: ctl.GroupAnnounce, Author: by, Value: &v})
		}
		if e.Locked != nil {
			v := e.Locked.IsLocked
			publish(&ctl.GroupChange{Group: g, Type: ctl.GroupLocked, Author: by, Value: &v})
		}
		people := func(js []types.JID) (own bool, others []string) {
			for _, j := range js {
				if isOwn(r, j) {
					own = true
					continue
				}
				others = append(others, person(ctx, r, j, types.EmptyJID).String())
			}
			return own, others
		}
		if len(e.Join) > 0 {
			own, others := people(e.Join)
			if own {
				c := &ctl.GroupChange{Group: g, Type: ctl.GroupJoined, Author: by}
				if info, err := r.cli.GetGroupInfo(ctx, e.JID); err == nil {
					gi := convertGroup(ctx, r, info, true)
					c.Info = &gi
				} else {
					s.log.Warn("fetching the group this account was added to failed", "group", g, "err", err)
				}
				publish(c)
			}
			if len(others) > 0 {
				publish(&ctl.GroupChange{Group: g, Type: ctl.GroupAdd, Author: by, Participants: others})
			}
		}
		if len(e.Leave) > 0 {
			own, others := people(e.Leave)
			if len(others) > 0 {
				publish(&ctl.GroupChange{Group: g, Type: ctl.GroupRemove, Author: by, Participants: others})
			}
			if own {
				publish(&ctl.GroupChange{Group: g, Type: ctl.GroupLeft, Author: by})
			}
		}
		for _, c := range []struct {
			typ string
			js  []types.JID
		}{{ctl.GroupPromote, e.Promote}, {ctl.GroupDemote, e.Demote}} {
			if len(c.js) == 0 {
				continue
			}
			ps := make([]string, len(c.js))
			for i, j := range c.js {
				ps[i] = person(ctx, r, j, types.EmptyJID).String()
			}
			publish(&ctl.GroupChange{Group: g, Type: c.typ, Author: by, Participants: ps})
		}
	case *events.Picture:
		c := &ctl.GroupChange{Group: e.JID.String(), Type: ctl.GroupPicture, PictureID: e.PictureID}
		if !e.Author.IsEmpty() {
			c.Author = person(ctx, r, e.Author, types.EmptyJID).String()
		}
		if e.Remove {
			c.PictureID = ""
		}
		publish(c)
	}
}

package sessions

import (
	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/media"
)

// The operations of contacts, chats, groups, profile, presence and calls
// (Session.Do), one type per JSON-RPC method. Their JIDs are validated
// and normalised (users as "<digits>@s.whatsapp.net" or "<id>@lid",
// groups as "<id>@g.us") before a backend sees them.

// CheckPhones asks WhatsApp which of Phones (E.164, at most one batch:
// the daemon paces batches) are on WhatsApp. Its result is
// ctl.CheckResult, one entry per phone in order.
type CheckPhones struct{ Phones []string }

// Method returns ctl.MethodCheck.
func (CheckPhones) Method() string { return ctl.MethodCheck }

// ListContacts returns the synced address book: ctl.ContactsResult.
type ListContacts struct{}

// Method returns ctl.MethodContacts.
func (ListContacts) Method() string { return ctl.MethodContacts }

// ContactInfo returns what WhatsApp tells of one person (a user JID or
// a LID): ctl.ContactInfo, with the picture URL when Picture is set.
type ContactInfo struct {
	JID     string
	Picture bool
}

// Method returns ctl.MethodContactInfo.
func (ContactInfo) Method() string { return ctl.MethodContactInfo }

// ListChats returns the chats: ctl.ChatsResult, most recent first.
type ListChats struct{}

// Method returns ctl.MethodChats.
func (ListChats) Method() string { return ctl.MethodChats }

// ListGroups returns the groups this account is in: ctl.GroupsResult.
type ListGroups struct{}

// Method returns ctl.MethodGroups.
func (ListGroups) Method() string { return ctl.MethodGroups }

// GroupInfo returns one group with its participants: ctl.Group.
type GroupInfo struct{ Group string }

// Method returns ctl.MethodGroupInfo.
func (GroupInfo) Method() string { return ctl.MethodGroupInfo }

// CreateGroup creates a group: ctl.GroupCreateResult.
type CreateGroup struct {
	Name         string
	Participants []string // user JIDs or LIDs, without this account
}

// Method returns ctl.MethodGroupCreate.
func (CreateGroup) Method() string { return ctl.MethodGroupCreate }

// UpdateParticipants adds, removes, promotes or demotes (Action, a
// ctl.Action*) participants: ctl.ParticipantsResult in order.
type UpdateParticipants struct {
	Group        string
	Action       string
	Participants []string
}

// Method returns ctl.MethodGroupParticipants.
func (UpdateParticipants) Method() string { return ctl.MethodGroupParticipants }

// InviteLink returns (with Reset, after revoking the old one) the
// group's invite link: ctl.InviteLinkResult.
type InviteLink struct {
	Group string
	Reset bool
}

// Method returns ctl.MethodGroupInvite.
func (InviteLink) Method() string { return ctl.MethodGroupInvite }

// JoinGroup joins with an invite code (ctl.ParseInviteLink):
// ctl.JoinResult.
type JoinGroup struct{ Code string }

// Method returns ctl.MethodGroupJoin.
func (JoinGroup) Method() string { return ctl.MethodGroupJoin }

// LeaveGroup leaves a group: ctl.OK.
type LeaveGroup struct{ Group string }

// Method returns ctl.MethodGroupLeave.
func (LeaveGroup) Method() string { return ctl.MethodGroupLeave }

// SetGroup changes what of a group's settings is set, in the order
// name, topic, announce, locked: ctl.OK. An empty Topic removes it.
type SetGroup struct {
	Group            string
	Name, Topic      *string
	Announce, Locked *bool
}

// Method returns ctl.MethodGroupSet.
func (SetGroup) Method() string { return ctl.MethodGroupSet }

// GetProfile returns this account's profile: ctl.Profile.
type GetProfile struct{}

// Method returns ctl.MethodProfile.
func (GetProfile) Method() string { return ctl.MethodProfile }

// SetProfile changes what is set of the push name, the about text and
// the picture: ctl.ProfileSetResult. Picture is a prepared image
// (media.Prepare, kind image), owned by the caller.
type SetProfile struct {
	Name, About   *string
	Picture       *media.File
	RemovePicture bool
}

// Method returns ctl.MethodProfileSet.
func (SetProfile) Method() string { return ctl.MethodProfileSet }

// SubscribePresence asks WhatsApp for a person's presence; presence
// events follow: ctl.OK.
type SubscribePresence struct{ JID string }

// Method returns ctl.MethodPresenceSubscribe.
func (SubscribePresence) Method() string { return ctl.MethodPresenceSubscribe }

// RejectCall refuses an incoming call and, with Text, messages the
// caller: ctl.OK.
type RejectCall struct {
	ID, From, Text string
}

// Method returns ctl.MethodCallReject.
func (RejectCall) Method() string { return ctl.MethodCallReject }

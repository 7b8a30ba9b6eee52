package ctl

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Contacts, chats, groups, profile, presence and calls: the params and
// results of their methods and the payloads of their events. docs/wire.md
// is the reference.
//
// Identifiers: a person is named by the phone-number JID
// ("<digits>@s.whatsapp.net") when it is known, else by the LID
// ("<digits>@lid"); Contact, Participant and ContactInfo carry the other
// one too when the backend knows both.

// MaxCheckPhones bounds the numbers of one contact.check.
const MaxCheckPhones = 10000

// MaxGroupParticipants is the most participants a WhatsApp group holds,
// its creator included; group.create and group.participants refuse more
// before anything is sent.
const MaxGroupParticipants = 1024

// MaxGroupNameLen and MaxGroupTopicLen are WhatsApp's limits on a group's
// subject and description, in bytes of UTF-8 (WhatsApp counts 100 and
// 2048 characters; the byte bound is checked here, the server checks the
// rest).
const (
	MaxGroupNameLen  = 100 * 4
	MaxGroupTopicLen = 2048 * 4
)

// MaxAboutLen bounds profile.set's about (WhatsApp: 139 characters).
const MaxAboutLen = 139 * 4

// MaxPushNameLen bounds profile.set's name (WhatsApp: 25 characters).
const MaxPushNameLen = 25 * 4

// CheckParams are the params of contact.check.
type CheckParams struct {
	Client string   `json:"client"`
	Phones []string `json:"phones"`
}

// CheckResult is the result of contact.check, one entry per phone asked,
// in the order asked.
type CheckResult struct {
	Results []PhoneCheck `json:"results"`
}

// PhoneCheck is whether one number is on WhatsApp.
type PhoneCheck struct {
	// Phone is the number as asked, in E.164 form.
	Phone      string `json:"phone"`
	OnWhatsApp bool   `json:"on_whatsapp"`
	// JID is the phone-number JID WhatsApp answered with (it may differ
	// from the number asked, e.g. a dropped leading zero).
	JID string `json:"jid,omitempty"`
	// LID is the account's hidden-user JID, when WhatsApp told it.
	LID string `json:"lid,omitempty"`
	// Business is true for a WhatsApp Business account.
	Business     bool   `json:"business,omitempty"`
	BusinessName string `json:"business_name,omitempty"`
}

// CheckProgress is the payload of a check_progress event: a contact.check
// call reports each batch as it is answered, so a long check can be
// watched and, if cancelled, what was checked is not lost.
type CheckProgress struct {
	// Request is the JSON-RPC id of the contact.check call, as JSON text.
	Request string `json:"request"`
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	// Results are this batch's answers.
	Results []PhoneCheck `json:"results"`
}

// Contact is one entry of the address book this account syncs.
type Contact struct {
	JID   string `json:"jid"`
	LID   string `json:"lid,omitempty"`
	Phone string `json:"phone,omitempty"` // E.164, when known
	// Name is the name saved in the phone's address book.
	Name      string `json:"name,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	// PushName is the name the contact set for themselves.
	PushName     string `json:"push_name,omitempty"`
	BusinessName string `json:"business_name,omitempty"`
}

// ContactsResult is the result of contact.list.
type ContactsResult struct {
	Contacts []Contact `json:"contacts"`
}

// ContactInfoParams are the params of contact.info. JID is an E.164
// number, a user JID or a LID; Picture asks for the profile picture URL
// too (one more request to WhatsApp).
type ContactInfoParams struct {
	Client  string `json:"client"`
	JID     string `json:"jid"`
	Picture bool   `json:"picture,omitempty"`
}

// ContactInfo is the result of contact.info.
type ContactInfo struct {
	Contact
	About string `json:"about,omitempty"`
	// PictureID and PictureURL are set when Picture was asked for and
	// the picture is visible to this account; the URL expires.
	PictureID  string `json:"picture_id,omitempty"`
	PictureURL string `json:"picture_url,omitempty"`
	// Devices is how many devices the account has (phone included).
	Devices int `json:"devices,omitempty"`
}

// Chat kinds (Chat.Kind).
const (
	ChatUser       = "user"
	ChatGroup      = "group"
	ChatBroadcast  = "broadcast"
	ChatNewsletter = "newsletter"
)

// Chat is one entry of chat.list. Fields a backend does not know are
// omitted; docs/wire.md says which backend knows what.
type Chat struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Kind     string    `json:"kind"`
	Unread   int       `json:"unread"`
	LastTime time.Time `json:"last_message_time,omitzero"`
	// MutedUntil is set while the chat is muted; the far future means
	// muted for good.
	MutedUntil time.Time `json:"muted_until,omitzero"`
	Archived   bool      `json:"archived,omitempty"`
	Pinned     bool      `json:"pinned,omitempty"`
}

// ChatsResult is the result of chat.list, the most recent chat first.
type ChatsResult struct {
	Chats []Chat `json:"chats"`
}

// GroupParams names one group: the params of group.info and group.leave.
type GroupParams struct {
	Client string `json:"client"`
	Group  string `json:"group"`
}

// Participant is a member of a group.
type Participant struct {
	JID        string `json:"jid"`
	LID        string `json:"lid,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Admin      bool   `json:"admin,omitempty"`
	SuperAdmin bool   `json:"super_admin,omitempty"` // the creator
}

// Group describes a group.
type Group struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Topic   string    `json:"topic,omitempty"`
	Owner   string    `json:"owner,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// Announce: only admins may send messages.
	Announce bool `json:"announce"`
	// Locked: only admins may edit the group's name, topic and picture.
	Locked bool `json:"locked"`
	// Size counts the participants.
	Size         int           `json:"size"`
	Participants []Participant `json:"participants,omitempty"`
}

// GroupsResult is the result of group.list.
type GroupsResult struct {
	Groups []Group `json:"groups"`
}

// GroupCreateParams are the params of group.create. Participants are
// E.164 numbers, user JIDs or LIDs; the creator is added on its own.
type GroupCreateParams struct {
	Client       string   `json:"client"`
	Name         string   `json:"name"`
	Participants []string `json:"participants"`
}

// GroupCreateResult is the result of group.create: the group as created
// and what became of each participant asked for.
type GroupCreateResult struct {
	Group        Group               `json:"group"`
	Participants []ParticipantResult `json:"participants"`
}

// Participant actions (ParticipantResult.Action, group event types).
const (
	ActionAdd     = "add"
	ActionRemove  = "remove"
	ActionPromote = "promote"
	ActionDemote  = "demote"
)

// ParticipantsParams are the params of group.participants: exactly one
// of Add, Remove, Promote and Demote.
type ParticipantsParams struct {
	Client  string   `json:"client"`
	Group   string   `json:"group"`
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
	Promote []string `json:"promote,omitempty"`
	Demote  []string `json:"demote,omitempty"`
}

// ParticipantResult is what became of one participant of a
// group.create or group.participants: WhatsApp accepts some and refuses
// others in one call.
type ParticipantResult struct {
	JID string `json:"jid"`
	OK  bool   `json:"ok"`
	// Code is WhatsApp's status for a refusal: 403 (their privacy
	// settings: only an invite works), 404 (not on WhatsApp), 408 (left
	// recently), 409 (already a member), ...
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	// InviteCode, with 403, is the code WhatsApp issued to invite this
	// person with a message instead.
	InviteCode    string    `json:"invite_code,omitempty"`
	InviteExpires time.Time `json:"invite_expires,omitzero"`
}

// ParticipantsResult is the result of group.participants, one entry per
// participant asked, in the order asked.
type ParticipantsResult struct {
	Participants []ParticipantResult `json:"participants"`
}

// InviteLinkParams are the params of group.invite_link; Reset revokes
// the current link and makes a new one.
type InviteLinkParams struct {
	Client string `json:"client"`
	Group  string `json:"group"`
	Reset  bool   `json:"reset,omitempty"`
}

// InviteLinkResult is the result of group.invite_link.
type InviteLinkResult struct {
	Link string `json:"link"`
}

// JoinParams are the params of group.join: Link is an invite link
// ("https://chat.whatsapp.com/<code>") or its code.
type JoinParams struct {
	Client string `json:"client"`
	Link   string `json:"link"`
}

// JoinResult is the result of group.join.
type JoinResult struct {
	Group string `json:"group"`
}

// GroupSetParams are the params of group.set: at least one of the
// optional fields. An empty Topic removes the description.
type GroupSetParams struct {
	Client   string  `json:"client"`
	Group    string  `json:"group"`
	Name     *string `json:"name,omitempty"`
	Topic    *string `json:"topic,omitempty"`
	Announce *bool   `json:"announce,omitempty"`
	Locked   *bool   `json:"locked,omitempty"`
}

// Profile is the result of profile.get: this account as others see it.
type Profile struct {
	JID        string `json:"jid"`
	LID        string `json:"lid,omitempty"`
	Name       string `json:"name,omitempty"` // the push name
	About      string `json:"about,omitempty"`
	PictureID  string `json:"picture_id,omitempty"`
	PictureURL string `json:"picture_url,omitempty"`
}

// ProfileSetParams are the params of profile.set: at least one of Name,
// About, Picture and RemovePicture. Picture is an image (JPEG, PNG or
// WebP) as data or fd like message.send's media; its kind is ignored.
type ProfileSetParams struct {
	Client        string  `json:"client"`
	Name          *string `json:"name,omitempty"`
	About         *string `json:"about,omitempty"`
	Picture       *Media  `json:"picture,omitempty"`
	RemovePicture bool    `json:"remove_picture,omitempty"`
}

// ProfileSetResult is the result of profile.set.
type ProfileSetResult struct {
	// PictureID is the id of the new picture, when one was set.
	PictureID string `json:"picture_id,omitempty"`
}

// JIDParams name a person: the params of presence.subscribe.
type JIDParams struct {
	Client string `json:"client"`
	JID    string `json:"jid"`
}

// CallRejectParams are the params of call.reject: ID and From as the
// call event carried them. Text, when set, is sent to the caller as a
// message after the call is refused.
type CallRejectParams struct {
	Client string `json:"client"`
	ID     string `json:"id"`
	From   string `json:"from"`
	Text   string `json:"text,omitempty"`
}

// Event kinds of this file's domain.
const (
	// KindCheckProgress: a batch of a contact.check was answered.
	KindCheckProgress = "check_progress"
	// KindGroup: a group this account is in changed (GroupChange).
	KindGroup = "group"
	// KindPresence: a subscribed contact came online or went offline.
	KindPresence = "presence"
	// KindChatPresence: someone is typing or recording in a chat.
	KindChatPresence = "chat_presence"
	// KindCall: an incoming call was offered, accepted on another device,
	// rejected or ended.
	KindCall = "call"
	// KindContact: a contact changed their push name or picture.
	KindContact = "contact"
)

// Group change types (GroupChange.Type).
const (
	GroupJoined   = "joined" // this account was added or joined
	GroupLeft     = "left"   // this account left or was removed
	GroupAdd      = ActionAdd
	GroupRemove   = ActionRemove
	GroupPromote  = ActionPromote
	GroupDemote   = ActionDemote
	GroupName     = "name"
	GroupTopic    = "topic"
	GroupAnnounce = "announce"
	GroupLocked   = "locked"
	GroupPicture  = "picture"
)

// GroupChange is the payload of a group event: one change, by Author.
// With Type "joined" Group carries the whole group.
type GroupChange struct {
	Group  string `json:"group"`
	Type   string `json:"type"`
	Author string `json:"author,omitempty"`
	// Participants are those added, removed, promoted or demoted.
	Participants []string `json:"participants,omitempty"`
	Name         string   `json:"name,omitempty"`
	Topic        string   `json:"topic,omitempty"`
	// Value is the new announce or locked setting.
	Value     *bool  `json:"value,omitempty"`
	PictureID string `json:"picture_id,omitempty"` // empty: removed
	Info      *Group `json:"info,omitempty"`
}

// Presence is the payload of a presence event.
type Presence struct {
	JID       string    `json:"jid"`
	Available bool      `json:"available"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// ChatPresence is the payload of a chat_presence event: State is
// "typing", "recording" or "paused".
type ChatPresence struct {
	Chat   string `json:"chat"`
	Sender string `json:"sender"`
	State  string `json:"state"`
}

// Call states (Call.State).
const (
	CallOffer             = "offer"
	CallAcceptedElsewhere = "accepted_elsewhere"
	CallRejected          = "rejected" // by this session (reject_calls or call.reject) or elsewhere
	CallTerminated        = "terminated"
)

// Call is the payload of a call event.
type Call struct {
	ID    string `json:"id"`
	From  string `json:"from"`
	State string `json:"state"`
	Video bool   `json:"video,omitempty"`
	// Group is set for a group call.
	Group string `json:"group,omitempty"`
	// Reason is WhatsApp's reason for a termination ("timeout", "busy",
	// ...) or, for a rejection, who rejected it ("auto" for
	// reject_calls).
	Reason string `json:"reason,omitempty"`
}

// ContactChange is the payload of a contact event.
type ContactChange struct {
	JID string `json:"jid"`
	// PushName is set when the contact changed their name.
	PushName string `json:"push_name,omitempty"`
	// Picture is true when the picture changed; PictureID is empty when
	// it was removed.
	Picture   bool   `json:"picture,omitempty"`
	PictureID string `json:"picture_id,omitempty"`
}

var (
	inviteCodeRe   = regexp.MustCompile(`^[A-Za-z0-9]{10,64}$`)
	invitePrefixes = []string{"https://chat.whatsapp.com/", "http://chat.whatsapp.com/", "chat.whatsapp.com/"}
)

// InviteLinkPrefix is how WhatsApp writes group invite links.
const InviteLinkPrefix = "https://chat.whatsapp.com/"

// ParseInviteLink returns the code of a group invite link (or of a bare
// code), or an invalid-params Error.
func ParseInviteLink(link string) (string, error) {
	s := strings.TrimSpace(link)
	for _, p := range invitePrefixes {
		if strings.HasPrefix(s, p) {
			s = strings.TrimPrefix(s, p)
			if i := strings.IndexAny(s, "?#"); i >= 0 {
				s = s[:i]
			}
			s = strings.TrimSuffix(s, "/")
			break
		}
	}
	if !inviteCodeRe.MatchString(s) {
		if link == "" {
			return "", Errorf(CodeInvalidParams, "link is required: an invite link (%s<code>)", InviteLinkPrefix)
		}
		return "", Errorf(CodeInvalidParams, "invalid invite link %q: want %s<code>", truncate(link, 80), InviteLinkPrefix)
	}
	return s, nil
}

// ParseGroupJID returns a group JID ("<id>@g.us") or an invalid-params
// Error naming the param.
func ParseGroupJID(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(CodeInvalidParams, "%s is required: a group JID (<id>@g.us)", what)
	}
	if !groupJIDRe.MatchString(s) {
		return "", Errorf(CodeInvalidParams, "%s: %q is not a group JID: want <id>@g.us", what, truncate(s, 80))
	}
	return s, nil
}

// ValidateGroupName returns an invalid-params Error unless name is a
// group subject WhatsApp takes: one non-empty line of at most 100
// characters.
func ValidateGroupName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(CodeInvalidParams, "name is required: the group's subject")
	}
	if len(name) > MaxGroupNameLen || strings.ContainsAny(name, "\n\r\x00") {
		return Errorf(CodeInvalidParams, "name must be one line of at most 100 characters")
	}
	return nil
}

// ParseParticipants turns the people of a group.create or
// group.participants param (E.164 numbers, user JIDs or LIDs) into JIDs:
// each once, at most a group's size besides its creator. Errors are
// invalid-params Errors naming the param what.
func ParseParticipants(what string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, Errorf(CodeInvalidParams, "%s is required: E.164 numbers or user JIDs", what)
	}
	if len(in) > MaxGroupParticipants-1 {
		return nil, Errorf(CodeInvalidParams, "%d %s; a group holds at most %d besides its creator", len(in), what, MaxGroupParticipants-1)
	}
	out := make([]string, 0, len(in))
	for i, p := range in {
		jid, err := ParseUserJID(what+"["+strconv.Itoa(i)+"]", p)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, jid) {
			return nil, Errorf(CodeInvalidParams, "%s lists %s twice", what, jid)
		}
		out = append(out, jid)
	}
	return out, nil
}

// ValidatePushName returns an invalid-params Error unless name is a push
// name WhatsApp takes: one non-empty line of at most 25 characters.
func ValidatePushName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > MaxPushNameLen || strings.ContainsAny(name, "\n\r\x00") {
		return Errorf(CodeInvalidParams, "name must be one non-empty line of at most 25 characters")
	}
	return nil
}

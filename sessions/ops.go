package sessions

import (
	"io"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/media"
)

// The operations a connected session performs (Session.Do), one type
// per JSON-RPC method. Their fields are validated and normalised before a
// backend sees them: chats and recipients are JIDs (ctl.ParseRecipient),
// texts pass ctl.ValidateText, media passed media.Prepare.

// Send sends one message: exactly one of Text, Media, Location and
// Contact. Its result is ctl.SendResult.
//
// NewID, in Send, React, Edit and Revoke, is the id the message this
// operation sends goes under (the outbound queue assigns it when it
// queues the message, so that it is known before it is sent, and sending
// again after a crash is recognisable as the same message); empty, the
// backend makes one. The result's ID is the id the message went under.
type Send struct {
	NewID    string
	To       string // a JID
	Text     string
	Media    *media.File // owned by the caller, who closes it after Do
	Location *ctl.Location
	Contact  *ctl.ContactCard
	// ReplyTo is the id of a message of the same chat to quote.
	ReplyTo string
	// Mentions are JIDs tagged in Text or the media caption.
	Mentions []string
}

// Method returns ctl.MethodSend.
func (Send) Method() string { return ctl.MethodSend }

// React sets (or, with an empty Emoji, removes) this account's reaction
// to a message. Its result is ctl.SendResult (the reaction's own id).
type React struct {
	NewID           string
	Chat, ID, Emoji string
}

// Method returns ctl.MethodReact.
func (React) Method() string { return ctl.MethodReact }

// Edit replaces the text of a message this account sent. Its result is
// ctl.SendResult.
type Edit struct {
	NewID          string
	Chat, ID, Text string
}

// Method returns ctl.MethodEdit.
func (Edit) Method() string { return ctl.MethodEdit }

// Revoke deletes a message for everyone. Its result is ctl.SendResult.
type Revoke struct {
	NewID    string
	Chat, ID string
}

// Method returns ctl.MethodRevoke.
func (Revoke) Method() string { return ctl.MethodRevoke }

// MarkRead marks messages of a chat read (all unread ones this session
// received when IDs is empty). Its result is ctl.ReadResult.
type MarkRead struct {
	Chat string
	IDs  []string
}

// Method returns ctl.MethodRead.
func (MarkRead) Method() string { return ctl.MethodRead }

// ChatPresence tells a chat that this account is typing, recording or
// has paused (ctl.Presence*). Its result is ctl.OK.
type ChatPresence struct {
	Chat, State string
}

// Method returns ctl.MethodPresence.
func (ChatPresence) Method() string { return ctl.MethodPresence }

// Download fetches and decrypts the media of a received message. With To
// set the bytes are written there and the result's Data stays empty;
// else they are returned in it, up to MaxData bytes (a larger file is an
// invalid-params error naming the fd way). Its result is
// ctl.DownloadResult, SHA256 checked against what the sender declared.
type Download struct {
	Chat, ID string
	To       io.Writer
	MaxData  int64
}

// Method returns ctl.MethodDownload.
func (Download) Method() string { return ctl.MethodDownload }

package wafake

// What a contact does to messages already sent, as its phone sends it:
// reactions, edits and deletes for everyone. Each is an ordinary 1:1
// message (SendMessage) whose stanza says what it is without being
// decrypted: type reaction, edit 1 for an edit, edit 7 for a revoke of
// one's own message or a reaction taken back. whatsmeow: send.go
// (BuildMessageKey, BuildReaction, BuildEdit, BuildRevoke,
// getTypeFromMessage, getEditAttribute) and message.go
// (parseMessageInfo's edit), types/events (Message.UnwrapRaw's
// EditedMessage).

import (
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// messageKey names message id of the 1:1 chat with chat, as the phone
// writing it sees it: fromMe for a message its own account sent.
func messageKey(chat types.JID, id string, fromMe bool) *waCommon.MessageKey {
	return &waCommon.MessageKey{
		RemoteJID: proto.String(chat.ToNonAD().String()),
		FromMe:    proto.Bool(fromMe),
		ID:        proto.String(id),
	}
}

// React is the account's phone reacting with emoji to message targetID
// of its chat with the user to; an empty emoji takes its reaction back
// (the stanza then has edit 7). fromMe says whose the target is: true
// for a message the account sent, false for one to sent. The key names
// the chat as the phone sees it (RemoteJID is to).
func (a *Account) React(to types.JID, targetID string, fromMe bool, emoji string) (Sent, error) {
	return a.SendMessage(to, &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
		Key:               messageKey(to, targetID, fromMe),
		Text:              proto.String(emoji),
		SenderTimestampMS: proto.Int64(time.Now().UnixMilli()),
	}})
}

// Edit is the account's phone replacing the text of message targetID,
// which it sent to the user to: a ProtocolMessage MESSAGE_EDIT with the
// new text, inside EditedMessage (the stanza has edit 1).
func (a *Account) Edit(to types.JID, targetID, newText string) (Sent, error) {
	return a.SendMessage(to, &waE2E.Message{EditedMessage: &waE2E.FutureProofMessage{
		Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Key:           messageKey(to, targetID, true),
			Type:          waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(),
			EditedMessage: &waE2E.Message{Conversation: proto.String(newText)},
			TimestampMS:   proto.Int64(time.Now().UnixMilli()),
		}},
	}})
}

// Revoke is the account's phone deleting for everyone message targetID,
// which it sent to the user to: a ProtocolMessage REVOKE (the stanza
// has edit 7).
func (a *Account) Revoke(to types.JID, targetID string) (Sent, error) {
	return a.SendMessage(to, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Key:  messageKey(to, targetID, true),
		Type: waE2E.ProtocolMessage_REVOKE.Enum(),
	}})
}

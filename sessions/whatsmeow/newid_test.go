package whatsmeow_test

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/sessions"
)

// queueID makes an id the way the outbound queue does: "3EB0" and 18
// uppercase hex digits.
func queueID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b))
}

// TestMessagesGoUnderTheIDsTheCallerGives sends a message, a reply to
// it, a reaction, an edit and a revoke, each with the id the outbound
// queue gave it: the contact's phone gets each under exactly that id,
// and the results name it.
func TestMessagesGoUnderTheIDsTheCallerGives(t *testing.T) {
	srv := newFake(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340130", "Sales")
	contact := newAccount(t, srv, "4917612340131", "Kunde")
	s, _ := loginFake(t, newBackend(t, t.TempDir(), srv, nil), me, "sales")
	ctx := waitCtx(t)
	chat := contact.JID().String()
	do := func(op sessions.Op) wafake.Message {
		t.Helper()
		v, err := s.Do(ctx, op)
		if err != nil {
			t.Fatalf("%s: %v", op.Method(), err)
		}
		res := v.(ctl.SendResult)
		m, err := contact.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == res.ID && !m.IsFromMe })
		if err != nil || m.Err != nil {
			t.Fatalf("%s: the contact never got %s: %v %v", op.Method(), res.ID, err, m.Err)
		}
		return m
	}
	under := func(op sessions.Op, id string) *waE2E.Message {
		t.Helper()
		m := do(op)
		if m.ID != id {
			t.Fatalf("%s went under %s, want %s", op.Method(), m.ID, id)
		}
		return m.Message
	}

	sentID := queueID(t)
	if m := under(sessions.Send{NewID: sentID, To: chat, Text: "Lieferung morgen"}, sentID); m.GetConversation() != "Lieferung morgen" {
		t.Fatalf("the contact got %v", m)
	}

	// The message is remembered under its id: a reply quotes it.
	replyID := queueID(t)
	ci := under(sessions.Send{NewID: replyID, To: chat, Text: "ab 8 Uhr", ReplyTo: sentID}, replyID).GetExtendedTextMessage().GetContextInfo()
	if ci.GetStanzaID() != sentID || ci.GetQuotedMessage().GetConversation() != "Lieferung morgen" {
		t.Fatalf("the reply's context %v, want a quote of %s", ci, sentID)
	}

	reactID := queueID(t)
	if rm := under(sessions.React{NewID: reactID, Chat: chat, ID: sentID, Emoji: "👍"}, reactID).GetReactionMessage(); rm.GetKey().GetID() != sentID || rm.GetText() != "👍" {
		t.Fatalf("reaction %v, want 👍 on %s", rm, sentID)
	}

	editID := queueID(t)
	pm := under(sessions.Edit{NewID: editID, Chat: chat, ID: sentID, Text: "Lieferung heute"}, editID).GetEditedMessage().GetMessage().GetProtocolMessage()
	if pm.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT || pm.GetKey().GetID() != sentID || pm.GetEditedMessage().GetConversation() != "Lieferung heute" {
		t.Fatalf("edit %v, want one of %s", pm, sentID)
	}

	revokeID := queueID(t)
	pm = under(sessions.Revoke{NewID: revokeID, Chat: chat, ID: sentID}, revokeID).GetProtocolMessage()
	if pm.GetType() != waE2E.ProtocolMessage_REVOKE || pm.GetKey().GetID() != sentID {
		t.Fatalf("revoke %v, want one of %s", pm, sentID)
	}

	// Without an id, whatsmeow makes one.
	if m := do(sessions.Send{To: chat, Text: "ohne id"}); !strings.HasPrefix(m.ID, "3EB0") || m.ID == sentID {
		t.Fatalf("a message without an id went under %q, want a fresh one made like WhatsApp's", m.ID)
	}
}

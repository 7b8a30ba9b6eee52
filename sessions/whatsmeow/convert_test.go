package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/ctl"
)

func TestSendErrorsKeepWhatsmeowsReasonUnderTheRightCode(t *testing.T) {
	cases := []struct {
		err  error
		code int
		text string
	}{
		{wa.ErrNotConnected, ctl.CodeSessionNotReady, "websocket not connected"},
		{fmt.Errorf("failed to get group members: %w", wa.ErrNotConnected), ctl.CodeSessionNotReady, "group members"},
		{wa.ErrNotLoggedIn, ctl.CodeSessionNotReady, "device JID"},
		{wa.ErrMessageTimedOut, ctl.CodeUpstream, "timed out waiting for message send response"},
		{wa.ErrIQTimedOut, ctl.CodeUpstream, "info query timed out"},
		{&wa.IQError{Code: 403, Text: "forbidden"}, ctl.CodeUpstream, "forbidden"},
		{fmt.Errorf("failed to send message: %w", context.DeadlineExceeded), ctl.CodeTimeout, "deadline"},
	}
	for _, c := range cases {
		got := sendError("sales", c.err)
		var e *ctl.Error
		if !errors.As(got, &e) || e.Code != c.code || !strings.Contains(e.Message, c.text) {
			t.Errorf("sendError(%v) = %v, want code %d mentioning %q", c.err, got, c.code, c.text)
		}
	}
}

func TestIncomingMessagesCarryTextOrMediaTypeAndCaption(t *testing.T) {
	src := types.MessageSource{
		Chat:   types.NewJID("120363000000000001", types.GroupServer),
		Sender: types.JID{User: "4917600000001", Server: types.DefaultUserServer, Device: 12},
	}
	long := strings.Repeat("long text ", 5000)
	cases := []struct {
		name string
		msg  *waE2E.Message
		want ctl.Message // ID/chat/sender checked separately
		skip bool
	}{
		{"conversation", &waE2E.Message{Conversation: proto.String("hi")}, ctl.Message{Type: "text", Text: "hi"}, false},
		{"long conversation kept whole", &waE2E.Message{Conversation: proto.String(long)}, ctl.Message{Type: "text", Text: long}, false},
		{"extended text", &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("see https://example.org")}}, ctl.Message{Type: "text", Text: "see https://example.org"}, false},
		{"image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("cap")}}, ctl.Message{Type: "image", Caption: "cap"}, false},
		{"video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: proto.String("v")}}, ctl.Message{Type: "video", Caption: "v"}, false},
		{"gif", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{GifPlayback: proto.Bool(true)}}, ctl.Message{Type: "gif"}, false},
		{"document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{FileName: proto.String("a.pdf"), Caption: proto.String("invoice")}}, ctl.Message{Type: "document", Text: "a.pdf", Caption: "invoice"}, false},
		{"audio", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{}}, ctl.Message{Type: "audio"}, false},
		{"voice", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true)}}, ctl.Message{Type: "voice"}, false},
		{"sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{}}, ctl.Message{Type: "sticker"}, false},
		{"location", &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(52.5), DegreesLongitude: proto.Float64(13.4), Name: proto.String("Berlin")}}, ctl.Message{Type: "location", Text: "52.500000,13.400000", Caption: "Berlin"}, false},
		{"contact", &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Ann")}}, ctl.Message{Type: "contact", Text: "Ann"}, false},
		{"reaction", &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: proto.String("👍")}}, ctl.Message{Type: "reaction"}, false},
		{"poll", &waE2E.Message{PollCreationMessageV3: &waE2E.PollCreationMessage{Name: proto.String("lunch?")}}, ctl.Message{Type: "poll", Text: "lunch?"}, false},
		{"revoke", &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}}, ctl.Message{Type: "revoke"}, false},
		{"other protocol messages are not messages", &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_EPHEMERAL_SETTING.Enum()}}, ctl.Message{}, true},
		{"bare sender key is not a message", &waE2E.Message{SenderKeyDistributionMessage: &waE2E.SenderKeyDistributionMessage{GroupID: proto.String("g")}}, ctl.Message{}, true},
		{"unknown kind", &waE2E.Message{PaymentInviteMessage: &waE2E.PaymentInviteMessage{}}, ctl.Message{Type: "unknown"}, false},
	}
	for _, c := range cases {
		_, m := convertMessage(&events.Message{Info: types.MessageInfo{MessageSource: src, ID: "ID1"}, Message: c.msg})
		if c.skip {
			if m != nil {
				t.Errorf("%s: published %+v", c.name, m)
			}
			continue
		}
		if m == nil {
			t.Errorf("%s: dropped", c.name)
			continue
		}
		if m.ID != "ID1" || m.Chat != "120363000000000001@g.us" || m.Sender != "4917600000001@s.whatsapp.net" {
			t.Errorf("%s: id/chat/sender %q %q %q", c.name, m.ID, m.Chat, m.Sender)
		}
		if m.Type != c.want.Type || m.Text != c.want.Text || m.Caption != c.want.Caption {
			t.Errorf("%s: got type %q text %.40q caption %q, want %q %.40q %q", c.name, m.Type, m.Text, m.Caption, c.want.Type, c.want.Text, c.want.Caption)
		}
	}
}

func TestLIDSendersAreShownByPhoneNumberWhenKnown(t *testing.T) {
	lid := types.NewJID("123456789012345", types.HiddenUserServer)
	pn := types.NewJID("4917600000001", types.DefaultUserServer)
	_, m := convertMessage(&events.Message{
		Info:    types.MessageInfo{MessageSource: types.MessageSource{Chat: lid, Sender: lid, SenderAlt: pn}, ID: "X"},
		Message: &waE2E.Message{Conversation: proto.String("hi")},
	})
	if m.Sender != pn.String() || m.Chat != pn.String() {
		t.Fatalf("sender %q chat %q, want %s", m.Sender, m.Chat, pn)
	}
	r := convertReceipt(&events.Receipt{MessageSource: types.MessageSource{Chat: pn, Sender: pn}, MessageIDs: []string{"A"}, Type: types.ReceiptTypeDelivered})
	if r.Type != "delivered" || r.Sender != pn.String() {
		t.Fatalf("receipt %+v", r)
	}
}

package whatsmeow

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/ctl"
)

// storeTimeout bounds the store writes done from event handlers.
const storeTimeout = 30 * time.Second

// handleEvent handles one whatsmeow event for the current run, as
// whatsmeow's event handler does; events arriving while the session is
// not running are ignored.
func (s *session) handleEvent(evt any) {
	if r := s.current(); r != nil {
		s.handle(r, evt)
	}
}

// handle maps a whatsmeow event of run r to the session's state (with a
// reason code a user can act on) or to a message or receipt event.
// Events of a run that is no longer current are dropped, so a dying
// client cannot change the state of its successor.
func (s *session) handle(r *run, evt any) {
	if s.current() != r {
		return
	}
	switch e := evt.(type) {
	case *events.QR:
		if len(e.Codes) == 0 {
			return
		}
		codes := slices.Clone(e.Codes)
		r.qrOnce.Do(func() { go s.rotateQR(r, codes) })
		if r.phone != "" {
			// whatsmeow asks for a pairing code once the login
			// websocket has shown its first QR offer.
			r.pairOnce.Do(func() { go s.requestPairCode(r) })
		}
	case *events.QRScannedWithoutMultidevice:
		s.log.Warn("the QR code was scanned by a phone without multi-device; enable it and scan again")
	case *events.PairSuccess:
		r.pairedOnce.Do(func() { close(r.pairedCh) })
		s.paired(r, e)
	case *events.ManualLoginReconnect:
		// WhatsApp ended the pairing stream (515): log in as the new
		// device.
		go s.relogin(r)
	case *events.PairError:
		if s.endRun(r) {
			s.st.Fail(ctl.ReasonPairingRejected, fmt.Sprintf("pairing with the phone failed: %v", e.Error))
		}
	case *events.Connected:
		jid, name := ownJID(r), r.cli.Store.PushName
		s.st.Update(func(x *ctl.Session) {
			x.State, x.Reason, x.Message = ctl.StateConnected, "", ""
			if jid != "" {
				x.JID = jid
			}
			if name != "" {
				x.PushName = name
			}
		})
	case *events.PushNameSetting:
		if name := e.Action.GetName(); name != "" {
			s.st.Update(func(x *ctl.Session) { x.PushName = name })
		}
	case *events.Disconnected:
		if r.cli.Store.ID == nil {
			// A login websocket closed before pairing: whatsmeow does
			// not reconnect those.
			if s.endRun(r) {
				s.st.Fail(ctl.ReasonNetwork, "WhatsApp closed the connection before the login finished")
			}
			return
		}
		s.st.Update(func(x *ctl.Session) {
			switch x.State {
			case ctl.StateStarting, ctl.StateConnected, ctl.StateDisconnected:
				x.State, x.Reason, x.Message = ctl.StateDisconnected, ctl.ReasonConnectionLost, "connection to WhatsApp lost; reconnecting"
			}
		})
	case *events.KeepAliveTimeout:
		s.st.Update(func(x *ctl.Session) {
			if x.State == ctl.StateConnected || x.State == ctl.StateDisconnected {
				x.State, x.Reason = ctl.StateDisconnected, ctl.ReasonConnectionLost
				x.Message = fmt.Sprintf("WhatsApp missed %d keepalive pings; waiting for the connection to recover", e.ErrorCount)
			}
		})
	case *events.KeepAliveRestored:
		s.st.Update(func(x *ctl.Session) {
			if x.State == ctl.StateDisconnected && r.cli.IsLoggedIn() {
				x.State, x.Reason, x.Message = ctl.StateConnected, "", ""
			}
		})
	case *events.LoggedOut:
		s.endRun(r)
		s.forgetPhone()
		reason, msg := ctl.ReasonLoggedOut, "unlinked from the phone"
		if e.OnConnect && e.Reason == events.ConnectFailureMainDeviceGone {
			// 403: the phone's own account logged out, was deleted or
			// moved to another phone, not this device unlinked.
			reason, msg = ctl.ReasonMainDeviceGone, "the phone's WhatsApp account is gone (logged out, deleted or moved to another phone); link again from the phone"
		}
		if e.OnConnect {
			msg += " (" + e.Reason.String() + ")"
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if _, err := s.b.st.forget(ctx, s.env.Client); err != nil {
			s.log.Error("deleting the logged-out device failed", "err", err)
			msg += "; deleting it from the store failed: " + err.Error()
		}
		s.st.Set(ctl.StateLoggedOut, reason, msg)
	case *events.StreamReplaced:
		if s.endRun(r) {
			s.st.Fail(ctl.ReasonStreamReplaced, "the same device connected elsewhere (another wad or whatsmeow with a copy of this store?); log in again to take it back")
		}
	case *events.ClientOutdated:
		if s.endRun(r) {
			s.st.Fail(ctl.ReasonClientOutdated, "WhatsApp refuses this client version; update wad")
		}
	case *events.TemporaryBan:
		if s.endRun(r) {
			s.st.Fail(ctl.ReasonTemporarilyBanned, e.String())
		}
	case *events.ConnectFailure:
		if s.endRun(r) {
			msg := "WhatsApp refused the connection: " + e.Reason.String()
			if e.Message != "" {
				msg += " (" + e.Message + ")"
			}
			s.st.Fail(ctl.ReasonBackendError, msg)
		}
	case *events.StreamError:
		s.log.Warn("unknown stream error from WhatsApp", "code", e.Code)
	case *events.Message:
		s.remember(e)
		if kind, m := convertMessage(e); m != nil {
			s.env.Publish(ctl.Event{Kind: kind, Message: m, Time: time.Now().UTC()})
		}
	case *events.Receipt:
		s.env.Publish(ctl.Event{Kind: ctl.KindReceipt, Receipt: convertReceipt(e), Time: time.Now().UTC()})
	default:
		_ = s.groupEvent(r, evt) || s.contactEvent(r, evt)
	}
}

// paired records the new device of client after the phone scanned the
// code (whatsmeow has saved the device row by now) and waits for the
// reconnect that follows.
func (s *session) paired(r *run, e *events.PairSuccess) {
	dev := e.ID
	if id := r.cli.Store.ID; id != nil {
		dev = *id
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := s.b.st.remember(ctx, s.env.Client, dev); err != nil {
		s.log.Error("storing the paired device failed", "err", err)
		if s.endRun(r) {
			s.st.Fail(ctl.ReasonStoreError, err.Error())
		}
		return
	}
	s.log.Info("paired with the phone", "jid", dev.String(), "platform", e.Platform)
	s.st.Update(func(x *ctl.Session) {
		x.JID = e.ID.ToNonAD().String()
		switch x.State {
		case ctl.StateQR, ctl.StatePairing:
			x.State = ctl.StateStarting // until whatsmeow's reconnect reports Connected
		}
	})
}

// relogin connects r's client again after pairing, as whatsmeow does on
// its own unless told not to (Start tells it not to): first the
// prekeys the device uploads at its first login are made in one
// transaction (deviceStore.prepareKeys), while no whatsmeow code can
// touch them.
func (s *session) relogin(r *run) {
	if err := s.b.st.prepareKeys(r.ctx, r.cli.Store); err != nil && r.ctx.Err() == nil {
		// whatsmeow makes them itself at login, one by one.
		s.log.Warn("generating the new device's prekeys failed", "err", err)
	}
	r.cli.Disconnect()
	if err := r.connect(); err != nil && s.endRun(r) {
		s.st.Fail(ctl.ReasonNetwork, "could not reach WhatsApp to log in after pairing: "+err.Error())
	}
}

// ownJID returns the account's JID (without device) or "".
func ownJID(r *run) string {
	if id := r.cli.Store.ID; id != nil {
		return id.ToNonAD().String()
	}
	return ""
}

// phoneJID prefers the phone-number form of a user JID that arrived as a
// LID, when whatsmeow knows it.
func phoneJID(j, alt types.JID) string {
	if j.Server == types.HiddenUserServer && alt.Server == types.DefaultUserServer {
		j = alt
	}
	return j.ToNonAD().String()
}

// convertMessage turns an incoming message into its wire form and event
// kind: a message (text, media with what is known of the file, location,
// contact, ...), or a reaction, edit or revoke of an earlier one. Other
// protocol messages (key distribution, settings) give nil.
func convertMessage(e *events.Message) (string, *ctl.Message) {
	info := e.Info
	m := &ctl.Message{
		ID:        info.ID,
		Chat:      info.Chat.String(),
		Sender:    phoneJID(info.Sender, info.SenderAlt),
		Timestamp: info.Timestamp.UTC(),
		FromMe:    info.IsFromMe,
	}
	m.Chat = chatJID(info).String()
	msg := e.Message
	if msg == nil {
		return "", nil
	}
	if pm := msg.GetProtocolMessage(); pm != nil {
		switch pm.GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			m.Type, m.TargetID = ctl.KindRevoke, pm.GetKey().GetID()
			return ctl.KindRevoke, m
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			m.Type, m.TargetID = ctl.KindEdit, pm.GetKey().GetID()
			m.Text = messageText(pm.GetEditedMessage())
			return ctl.KindEdit, m
		}
		return "", nil
	}
	if r := msg.GetReactionMessage(); r != nil {
		m.Type, m.TargetID, m.Emoji = ctl.KindReaction, r.GetKey().GetID(), r.GetText()
		return ctl.KindReaction, m
	}
	if msg.GetSenderKeyDistributionMessage() != nil && isOnlyKeyDistribution(msg) {
		return "", nil
	}
	if ci := contextInfo(msg); ci != nil {
		m.ReplyTo = ci.GetStanzaID()
		m.Mentions = ci.GetMentionedJID()
	}
	if mi := mediaInfo(msg); mi != nil {
		m.Type, m.Media = mi.Kind, mi
	}
	switch {
	case msg.GetConversation() != "":
		m.Type, m.Text = ctl.TypeText, msg.GetConversation()
	case msg.GetExtendedTextMessage() != nil:
		m.Type, m.Text = ctl.TypeText, msg.GetExtendedTextMessage().GetText()
	case msg.GetImageMessage() != nil:
		m.Caption = msg.GetImageMessage().GetCaption()
	case msg.GetVideoMessage() != nil:
		m.Caption = msg.GetVideoMessage().GetCaption()
		if msg.GetVideoMessage().GetGifPlayback() {
			m.Type = "gif"
		}
	case msg.GetPtvMessage() != nil:
		m.Type, m.Caption = "video_note", msg.GetPtvMessage().GetCaption()
	case msg.GetDocumentMessage() != nil:
		d := msg.GetDocumentMessage()
		m.Caption, m.Text = d.GetCaption(), d.GetFileName()
	case msg.GetAudioMessage() != nil, msg.GetStickerMessage() != nil:
	case msg.GetLocationMessage() != nil:
		l := msg.GetLocationMessage()
		m.Type = ctl.TypeLocation
		m.Location = &ctl.Location{Lat: l.GetDegreesLatitude(), Lon: l.GetDegreesLongitude(), Name: l.GetName(), Address: l.GetAddress()}
		m.Text = fmt.Sprintf("%.6f,%.6f", l.GetDegreesLatitude(), l.GetDegreesLongitude())
		m.Caption = joinNonEmpty(l.GetName(), l.GetAddress())
	case msg.GetLiveLocationMessage() != nil:
		l := msg.GetLiveLocationMessage()
		m.Type, m.Text, m.Caption = "live_location", fmt.Sprintf("%.6f,%.6f", l.GetDegreesLatitude(), l.GetDegreesLongitude()), l.GetCaption()
	case msg.GetContactMessage() != nil:
		c := msg.GetContactMessage()
		m.Type, m.Text = ctl.TypeContact, c.GetDisplayName()
		m.Contact = &ctl.ContactCard{Name: c.GetDisplayName(), Phone: vcardPhone(c.GetVcard())}
	case msg.GetContactsArrayMessage() != nil:
		m.Type, m.Text = "contacts", msg.GetContactsArrayMessage().GetDisplayName()
	case pollName(msg) != "":
		m.Type, m.Text = "poll", pollName(msg)
	default:
		m.Type = "unknown"
	}
	return ctl.KindMessage, m
}

// messageText is the text of a text message, or a media caption.
func messageText(msg *waE2E.Message) string {
	switch {
	case msg.GetConversation() != "":
		return msg.GetConversation()
	case msg.GetExtendedTextMessage() != nil:
		return msg.GetExtendedTextMessage().GetText()
	case msg.GetImageMessage() != nil:
		return msg.GetImageMessage().GetCaption()
	case msg.GetVideoMessage() != nil:
		return msg.GetVideoMessage().GetCaption()
	case msg.GetDocumentMessage() != nil:
		return msg.GetDocumentMessage().GetCaption()
	}
	return ""
}

// contextInfo is the context (quote, mentions) of the message's content.
func contextInfo(msg *waE2E.Message) *waE2E.ContextInfo {
	for _, ci := range []*waE2E.ContextInfo{
		msg.GetExtendedTextMessage().GetContextInfo(), msg.GetImageMessage().GetContextInfo(),
		msg.GetVideoMessage().GetContextInfo(), msg.GetAudioMessage().GetContextInfo(),
		msg.GetDocumentMessage().GetContextInfo(), msg.GetStickerMessage().GetContextInfo(),
		msg.GetLocationMessage().GetContextInfo(), msg.GetContactMessage().GetContextInfo(),
	} {
		if ci != nil {
			return ci
		}
	}
	return nil
}

// mediaInfo describes the file of a media message, or returns nil.
func mediaInfo(msg *waE2E.Message) *ctl.MediaInfo {
	type file interface {
		GetMimetype() string
		GetFileLength() uint64
		GetFileSHA256() []byte
		GetDirectPath() string
		GetMediaKey() []byte
	}
	var f file
	mi := &ctl.MediaInfo{}
	switch {
	case msg.GetImageMessage() != nil:
		x := msg.GetImageMessage()
		f, mi.Kind, mi.Width, mi.Height = x, ctl.MediaImage, int(x.GetWidth()), int(x.GetHeight())
	case msg.GetVideoMessage() != nil:
		x := msg.GetVideoMessage()
		f, mi.Kind, mi.Width, mi.Height, mi.Seconds = x, ctl.MediaVideo, int(x.GetWidth()), int(x.GetHeight()), float64(x.GetSeconds())
	case msg.GetAudioMessage() != nil:
		x := msg.GetAudioMessage()
		f, mi.Kind, mi.Seconds = x, ctl.MediaAudio, float64(x.GetSeconds())
		if x.GetPTT() {
			mi.Kind = ctl.MediaVoice
		}
	case msg.GetDocumentMessage() != nil:
		x := msg.GetDocumentMessage()
		f, mi.Kind, mi.Filename, mi.Pages = x, ctl.MediaDocument, x.GetFileName(), int(x.GetPageCount())
	case msg.GetStickerMessage() != nil:
		x := msg.GetStickerMessage()
		f, mi.Kind, mi.Width, mi.Height, mi.Animated = x, ctl.MediaSticker, int(x.GetWidth()), int(x.GetHeight()), x.GetIsAnimated()
	default:
		return nil
	}
	mi.Mime, mi.Size = f.GetMimetype(), int64(f.GetFileLength())
	if sum := f.GetFileSHA256(); len(sum) > 0 {
		mi.SHA256 = hex.EncodeToString(sum)
	}
	mi.Downloadable = f.GetDirectPath() != "" && len(f.GetMediaKey()) > 0
	return mi
}

// chatJID is the chat of a message as wad names it: a one-to-one chat
// that arrived by LID under the phone-number JID when whatsmeow knows it,
// so that events and the chat params of later calls agree.
func chatJID(info types.MessageInfo) types.JID {
	if info.Chat.Server == types.HiddenUserServer && info.Chat.User == info.Sender.User && info.SenderAlt.Server == types.DefaultUserServer {
		return info.SenderAlt.ToNonAD()
	}
	return info.Chat.ToNonAD()
}

// vcardPhone is the first phone number of a vCard, as written.
func vcardPhone(vcard string) string {
	for _, line := range strings.Split(vcard, "\n") {
		line = strings.TrimRight(line, "\r")
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.HasPrefix(strings.ToUpper(name), "TEL") {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// remember keeps a received (or other-device sent) message for replies,
// reactions, read marks and downloads; edits and revokes update what was
// kept.
func (s *session) remember(e *events.Message) {
	msg := e.Message
	if msg == nil {
		return
	}
	chat := chatJID(e.Info)
	if pm := msg.GetProtocolMessage(); pm != nil {
		switch pm.GetType() {
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			s.recent.update(chat, pm.GetKey().GetID(), func(m *recentMsg) { m.msg = pm.GetEditedMessage() })
		case waE2E.ProtocolMessage_REVOKE:
			s.recent.update(chat, pm.GetKey().GetID(), func(m *recentMsg) { m.msg = nil })
		}
		return
	}
	if msg.GetReactionMessage() != nil || isOnlyKeyDistribution(msg) {
		return
	}
	s.recent.add(e.Info.ID, &recentMsg{chat: chat, sender: e.Info.Sender.ToNonAD(), fromMe: e.Info.IsFromMe, at: e.Info.Timestamp, msg: msg})
}

func pollName(msg *waE2E.Message) string {
	for _, p := range []*waE2E.PollCreationMessage{msg.GetPollCreationMessage(), msg.GetPollCreationMessageV2(), msg.GetPollCreationMessageV3()} {
		if p != nil {
			return p.GetName()
		}
	}
	return ""
}

// isOnlyKeyDistribution reports whether msg carries nothing but a group
// sender key (and context info).
func isOnlyKeyDistribution(msg *waE2E.Message) bool {
	c := &waE2E.Message{SenderKeyDistributionMessage: msg.GetSenderKeyDistributionMessage(), MessageContextInfo: msg.GetMessageContextInfo()}
	return c.String() == msg.String()
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

// convertReceipt turns a receipt into its wire form; WhatsApp's empty
// type (delivered) is named.
func convertReceipt(e *events.Receipt) *ctl.Receipt {
	typ := string(e.Type)
	if e.Type == types.ReceiptTypeDelivered {
		typ = "delivered"
	}
	return &ctl.Receipt{
		IDs:       append([]string(nil), e.MessageIDs...),
		Chat:      e.Chat.String(),
		Sender:    phoneJID(e.Sender, e.SenderAlt),
		Timestamp: e.Timestamp.UTC(),
		Type:      typ,
	}
}

package wafake

// The other side of conversations: 1:1 messages between devices, routed
// by the server, with each account's phone as a full Signal device that
// decrypts what is sent to it and encrypts what it sends, and delivery
// and read receipts both ways. whatsmeow: send.go (SendMessage, sendDM,
// prepareMessageNode, encryptMessageForDevices, the ack it waits for),
// message.go (parseMessageSource, parseMessageInfo, decryptMessages,
// decryptDM, unpadMessage/padMessage), receipt.go (parseReceipt,
// sendMessageReceipt, MarkRead, sendAck) and connectionevents.go
// (handleIB offline).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mau.fi/libsignal/keys/prekey"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

func init() {
	stanzas["message"] = (*conn).handleMessage
	stanzas["receipt"] = (*conn).handleReceipt
	stanzas["ack"] = (*conn).handleAck
}

// Message is a message an account's phone received and decrypted.
type Message struct {
	// ID is the message id the sender chose.
	ID string
	// Sender is the sending device's phone-number JID (user:device);
	// SenderLID is the same device's LID.
	Sender, SenderLID types.JID
	// Chat is the conversation, in the addressing the message was sent
	// with: the other party or, for a message one of the account's own
	// devices sent (IsFromMe), its destination.
	Chat types.JID
	// IsFromMe marks a message one of the account's own companions sent
	// to someone else: the copy for its own devices, a DeviceSentMessage.
	IsFromMe bool
	// Category is the stanza's category ("peer" for a device's protocol
	// messages to its own phone), Type its type (text, media, reaction,
	// poll).
	Category, Type string
	// Edit is the stanza's edit attribute: "1" for an edit, "7" for the
	// sender's revoke (or a reaction taken back), "8" for an admin's;
	// empty for a plain message.
	Edit string
	// MediaType is its <enc>'s mediatype (image, video, audio, ptt,
	// document, sticker, url, vcard, ...), empty for none.
	MediaType string
	// Timestamp is the server's time for the message.
	Timestamp time.Time
	// EncType is the Signal message type it came in: pkmsg (the session
	// was set up by it) or msg.
	EncType string
	// Message is the decrypted message; for a DeviceSentMessage the
	// message inside it.
	Message *waE2E.Message
	// Plaintext is the decrypted protobuf with the padding stripped.
	Plaintext []byte
	// Err is why the phone could not decrypt or parse it (the fields
	// above the ciphertext are still set).
	Err error
}

// Text is the message's text, from either text message kind.
func (m Message) Text() string {
	if t := m.Message.GetConversation(); t != "" {
		return t
	}
	return m.Message.GetExtendedTextMessage().GetText()
}

// Receipt is a receipt an account's phone received for messages it sent.
type Receipt struct {
	// From is the device that sent it (phone-number JID).
	From types.JID
	// IDs are the messages it is for.
	IDs []string
	// Type is empty for delivered, else read, played, inactive (delivered
	// to a device that is not in the foreground), sender, retry, ...
	Type string
	// Timestamp is the receipt's time.
	Timestamp time.Time
}

// Sent is a message an account's phone sent.
type Sent struct {
	// ID is the message id, To the user it was sent to, Timestamp the
	// server's time for it.
	ID        string
	To        types.JID
	Timestamp time.Time
	// Enc is the Signal message type each device got it in (pkmsg
	// while the session is new, msg once the device has answered), by
	// the device's phone-number JID.
	Enc map[types.JID]string
}

// Ack is an <ack> a device sent the server for a stanza it received.
type Ack struct {
	// Class is the acknowledged stanza's tag (message, receipt,
	// notification, ...), ID its id and To its sender.
	Class, ID string
	To        types.JID
	// Type is the acknowledged receipt's type.
	Type string
	// Error is non-zero for a refusal (whatsmeow's Nack codes).
	Error int
}

// phone is an account's primary device in conversations: its Signal
// state and what it received.
type phone struct {
	// sendMu lets the phone send one message at a time, as whatsmeow's
	// messageSendLock does.
	sendMu sync.Mutex

	mu       sync.Mutex
	sig      *signalState
	received []Message
	receipts []Receipt
	sent     []Sent
	states   []ChatState   // chat states sent to the account (presence.go)
	changed  chan struct{} // closed when received, receipts or states grow
}

// outItem is a stanza the server holds for a device until the device
// acknowledges it (a receipt for a message, an ack for anything).
type outItem struct {
	node waBinary.Node
	from types.JID
	typ  string
}

// signalLocked returns the phone's Signal state, creating it on first
// use; a.ph.mu must be held.
func (a *Account) signalLocked() (*signalState, error) {
	if a.ph.sig == nil {
		st, err := newSignalState(*a.Identity.Pub, *a.Identity.Priv)
		if err != nil {
			return nil, err
		}
		a.ph.sig = st
	}
	return a.ph.sig, nil
}

func (p *phone) notifyLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

func (p *phone) waitLocked() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// Received returns the messages the account's phone has received, in
// order.
func (a *Account) Received() []Message {
	a.ph.mu.Lock()
	defer a.ph.mu.Unlock()
	return slices.Clone(a.ph.received)
}

// Receipts returns the receipts the account's phone has received, in
// order.
func (a *Account) Receipts() []Receipt {
	a.ph.mu.Lock()
	defer a.ph.mu.Unlock()
	return slices.Clone(a.ph.receipts)
}

// Sent returns the messages the account's phone has sent, in order.
func (a *Account) Sent() []Sent {
	a.ph.mu.Lock()
	defer a.ph.mu.Unlock()
	return slices.Clone(a.ph.sent)
}

// WaitMessage waits until the phone has received a message match
// accepts (any message when match is nil) and returns the first such.
func (a *Account) WaitMessage(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		a.ph.mu.Lock()
		for _, m := range a.ph.received {
			if match == nil || match(m) {
				a.ph.mu.Unlock()
				return m, nil
			}
		}
		ch := a.ph.waitLocked()
		a.ph.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("wafake: phone %s received no such message: %w", a.Phone, ctx.Err())
		}
	}
}

// WaitReceipt waits until the phone has received a receipt match
// accepts (any when match is nil) and returns the first such.
func (a *Account) WaitReceipt(ctx context.Context, match func(Receipt) bool) (Receipt, error) {
	for {
		a.ph.mu.Lock()
		for _, r := range a.ph.receipts {
			if match == nil || match(r) {
				a.ph.mu.Unlock()
				return r, nil
			}
		}
		ch := a.ph.waitLocked()
		a.ph.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Receipt{}, fmt.Errorf("wafake: phone %s received no such receipt: %w", a.Phone, ctx.Err())
		}
	}
}

func (a *Account) recordReceipt(r Receipt) {
	a.ph.mu.Lock()
	a.ph.receipts = append(a.ph.receipts, r)
	a.ph.notifyLocked()
	a.ph.mu.Unlock()
}

// Acks returns the acks device jid has sent the server, in order.
func (s *Server) Acks(jid types.JID) []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.companionLocked(jid); c != nil {
		return slices.Clone(c.acks)
	}
	return nil
}

// Queued counts the stanzas the server holds for device jid: sent while
// it was offline, or sent and not yet acknowledged.
func (s *Server) Queued(jid types.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.companionLocked(jid); c != nil {
		return len(c.outbox)
	}
	return 0
}

// newMessageID makes an id as a phone does: 16 random bytes in upper
// case hex.
func newMessageID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// stanzaType is a message stanza's type attribute for msg, as the apps
// (and whatsmeow's getTypeFromMessage) set it: reaction, poll, media
// for what mediaTypeOf names, and text for everything else, protocol
// messages (edits, revokes) included. Wrappers (view once, ephemeral,
// document with caption, lottie sticker) are looked through.
func stanzaType(msg *waE2E.Message) string {
	msg = unwrapMessage(msg)
	switch {
	case msg.GetReactionMessage() != nil, msg.GetEncReactionMessage() != nil:
		return "reaction"
	case msg.GetPollCreationMessage() != nil, msg.GetPollUpdateMessage() != nil:
		return "poll"
	case mediaTypeOf(msg) != "":
		return "media"
	}
	return "text"
}

// mediaTypeOf is the mediatype attribute of a 1:1 message's <enc> (what
// whatsmeow reads into MessageInfo.MediaType), as whatsmeow's
// getMediaTypeFromMessage sets it; empty for a message without one.
func mediaTypeOf(msg *waE2E.Message) string {
	msg = unwrapMessage(msg)
	switch {
	case msg.GetExtendedTextMessage() != nil && msg.GetExtendedTextMessage().Title != nil:
		return "url" // a link preview
	case msg.GetImageMessage() != nil:
		return "image"
	case msg.GetStickerMessage() != nil:
		return "sticker"
	case msg.GetDocumentMessage() != nil:
		return "document"
	case msg.GetAudioMessage() != nil:
		if msg.GetAudioMessage().GetPTT() {
			return "ptt"
		}
		return "audio"
	case msg.GetVideoMessage() != nil:
		if msg.GetVideoMessage().GetGifPlayback() {
			return "gif"
		}
		return "video"
	case msg.GetContactMessage() != nil:
		return "vcard"
	case msg.GetContactsArrayMessage() != nil:
		return "contact_array"
	case msg.GetListMessage() != nil:
		return "list"
	case msg.GetListResponseMessage() != nil:
		return "list_response"
	case msg.GetButtonsResponseMessage() != nil:
		return "buttons_response"
	case msg.GetOrderMessage() != nil:
		return "order"
	case msg.GetProductMessage() != nil:
		return "product"
	case msg.GetInteractiveResponseMessage() != nil:
		return "native_flow_response"
	}
	return ""
}

// The edit attribute of a message stanza (whatsmeow: types.EditAttribute
// and getEditAttribute): what the server and the receiving clients know
// a message replaces without decrypting it.
const (
	editMessage      = "1" // an edit of the sender's message
	editSenderRevoke = "7" // the sender deleting its message (or its reaction)
	editAdminRevoke  = "8" // a group admin deleting someone's message
)

// editAttr is the edit attribute for msg: 1 for an edit (a
// ProtocolMessage MESSAGE_EDIT, sent inside EditedMessage), 7 for a
// revoke of one's own message and for a reaction taken back (empty
// text), 8 for a revoke of another's; empty for anything else.
func editAttr(msg *waE2E.Message) string {
	if inner := msg.GetEditedMessage().GetMessage(); inner != nil {
		return editAttr(inner)
	}
	if pm := msg.GetProtocolMessage(); pm != nil && pm.GetKey() != nil {
		switch pm.GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			if pm.GetKey().GetFromMe() {
				return editSenderRevoke
			}
			return editAdminRevoke
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			if pm.GetEditedMessage() != nil {
				return editMessage
			}
		}
		return ""
	}
	if rm := msg.GetReactionMessage(); rm != nil && rm.GetText() == "" {
		return editSenderRevoke
	}
	if k := msg.GetKeepInChatMessage(); k != nil && k.GetKey().GetFromMe() && k.GetKeepType() == waE2E.KeepType_UNDO_KEEP_FOR_ALL {
		return editSenderRevoke
	}
	return ""
}

// encAttrs are the attributes of a 1:1 message's <enc> besides v and
// type: the media type, and decrypt-fail="hide" for what a client must
// not show a "waiting for this message" placeholder for when it cannot
// decrypt it (edits, revokes, reactions, poll votes).
func encAttrs(msg *waE2E.Message) waBinary.Attrs {
	attrs := waBinary.Attrs{}
	if mt := mediaTypeOf(msg); mt != "" {
		attrs["mediatype"] = mt
	}
	if editAttr(msg) != "" || stanzaType(msg) == "reaction" || msg.GetPollUpdateMessage() != nil {
		attrs["decrypt-fail"] = "hide"
	}
	return attrs
}

// altAttrs names the other addressing of jid's user for a stanza: with
// prefix "sender" the sender_lid (or sender_pn) of a 1:1 message, with
// "peer_recipient" the destination's for a copy to the sender's own
// devices.
func altAttrs(attrs waBinary.Attrs, prefix string, a *Account, lid bool) {
	if a == nil {
		return
	}
	if lid {
		attrs[prefix+"_pn"] = a.JID()
	} else {
		attrs[prefix+"_lid"] = a.LIDJID()
	}
}

// deliver hands device comp a stanza: sent at once when the device is
// connected and active, held otherwise, and kept until the device
// acknowledges it, so that a later login gets what was lost.
func (s *Server) deliver(comp *Companion, n waBinary.Node, from types.JID, typ string) {
	comp.sendMu.Lock()
	defer comp.sendMu.Unlock()
	s.mu.Lock()
	if comp.acct.companions[comp.JID.Device] != comp {
		s.mu.Unlock()
		return
	}
	comp.outbox = append(comp.outbox, outItem{node: n, from: from, typ: typ})
	live := comp.conn
	if comp.active != live {
		live = nil
	}
	s.mu.Unlock()
	if live != nil {
		live.send(n) //nolint:errcheck // kept in the outbox
	}
}

// setPassive answers a passive/active iq. Going active (whatsmeow does
// right after login) is when the server delivers what it held for the
// device, then <ib><offline count=N/></ib>; a passive device gets
// nothing until it goes active.
func (c *conn) setPassive(n *waBinary.Node) {
	if !hasChild(n, "active") {
		c.s.mu.Lock()
		if c.dev.active == c {
			c.dev.active = nil
		}
		c.s.mu.Unlock()
		c.result(n)
		return
	}
	comp := c.dev
	comp.sendMu.Lock()
	defer comp.sendMu.Unlock()
	c.s.mu.Lock()
	var held []waBinary.Node
	if comp.conn == c {
		comp.active = c
		for _, it := range comp.outbox {
			held = append(held, it.node)
		}
	}
	c.s.mu.Unlock()
	c.result(n)
	for _, h := range held {
		c.send(h) //nolint:errcheck // kept in the outbox
	}
	c.send(waBinary.Node{Tag: "ib", Content: []waBinary.Node{{Tag: "offline", Attrs: waBinary.Attrs{"count": len(held)}}}}) //nolint:errcheck
}

// forgetLocked drops the held stanzas a device acknowledged.
func (comp *Companion) forgetLocked(drop func(outItem) bool) {
	comp.outbox = slices.DeleteFunc(comp.outbox, drop)
}

// route is one <to jid=...><enc/></to> of a message: the device it is
// for, resolved.
type route struct {
	jid  types.JID
	acct *Account
	comp *Companion // nil for the phone
	enc  waBinary.Node
}

// handleMessage takes a message a device sends: the server acks it to
// the sender with its time and the hash of the device list it routed
// by, then hands each participant its <enc>: a phone decrypts it (and
// answers with a delivery receipt), a companion gets it relayed as a
// <message> from the sending device.
func (c *conn) handleMessage(n *waBinary.Node) {
	s := c.s
	ag := n.AttrGetter()
	id := ag.String("id")
	to := ag.JID("to")
	typ := ag.OptionalString("type")
	category := ag.OptionalString("category")
	edit := ag.OptionalString("edit")
	if !ag.OK() {
		s.logf("message without id or to: %v", ag.Error())
		return
	}
	now := time.Now()
	ack := waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "message", "id": id, "from": to, "t": now.Unix()}}
	if to.Server != types.DefaultUserServer && to.Server != types.HiddenUserServer {
		s.logf("no handler for message to %s", to)
		ack.Attrs["error"] = 501
		c.send(ack) //nolint:errcheck
		return
	}
	lid := to.Server == types.HiddenUserServer
	var encs []waBinary.Node
	var jids []types.JID
	parts, multi := n.GetOptionalChildByTag("participants")
	if multi {
		for _, p := range parts.GetChildren() {
			jid, ok := p.Attrs["jid"].(types.JID)
			if p.Tag != "to" || !ok {
				continue
			}
			for _, e := range p.GetChildren() {
				if e.Tag == "enc" {
					jids, encs = append(jids, jid), append(encs, e)
				}
			}
		}
	} else {
		// A peer message: one <enc> for the device in to.
		for _, e := range n.GetChildrenByTag("enc") {
			jids, encs = append(jids, to), append(encs, e)
		}
	}
	ident, hasIdent := n.GetOptionalChildByTag("device-identity")

	s.mu.Lock()
	sender, self := c.acct, c.dev
	dest := s.accountLocked(to)
	if multi && dest != nil {
		// whatsmeow hashes the devices of the recipient and of itself
		// (sendDM asks for both users' lists).
		ack.Attrs["phash"] = participantHash(append(dest.devicesLocked(lid), sender.devicesLocked(lid)...))
	}
	var routes []route
	for i, jid := range jids {
		a := s.accountLocked(jid)
		var comp *Companion
		if a != nil && jid.Device != 0 {
			comp = a.companions[jid.Device]
		}
		if a == nil || (jid.Device != 0 && comp == nil) || comp == self {
			s.logf("message %s: no device %s", id, jid)
			continue
		}
		routes = append(routes, route{jid: jid, acct: a, comp: comp, enc: encs[i]})
	}
	s.mu.Unlock()
	c.send(ack) //nolint:errcheck

	senderJID := sender.deviceJID(self.JID.Device, lid)
	for _, r := range routes {
		encType, _ := r.enc.Attrs["type"].(string)
		if r.comp == nil {
			content, _ := r.enc.Content.([]byte)
			mediaType, _ := r.enc.Attrs["mediatype"].(string)
			in := inbound{
				id: id, t: now, typ: typ, category: category, edit: edit, mediaType: mediaType, lid: lid,
				from: sender, dev: self.JID.Device, fromComp: self,
				chat: sender.userJID(lid), encType: encType, content: content,
			}
			if r.acct == sender {
				in.fromMe, in.chat = true, to
			}
			r.acct.receive(in)
			continue
		}
		attrs := waBinary.Attrs{"from": senderJID, "id": id, "t": now.Unix()}
		if typ != "" {
			attrs["type"] = typ
		}
		for _, k := range []string{"category", "edit"} {
			if v, ok := n.Attrs[k]; ok {
				attrs[k] = v
			}
		}
		if sender.PushName != "" {
			attrs["notify"] = sender.PushName
		}
		if r.acct == sender {
			if category != "peer" {
				attrs["recipient"] = to
				altAttrs(attrs, "peer_recipient", dest, lid)
			}
		} else {
			altAttrs(attrs, "sender", sender, lid)
		}
		enc := waBinary.Node{Tag: "enc", Attrs: waBinary.Attrs{}, Content: r.enc.Content}
		for k, v := range r.enc.Attrs {
			enc.Attrs[k] = v
		}
		content := []waBinary.Node{enc}
		if encType == "pkmsg" && hasIdent {
			content = append(content, ident)
		}
		s.deliver(r.comp, waBinary.Node{Tag: "message", Attrs: attrs, Content: content}, senderJID, "")
	}
}

// inbound is a message for a phone, as the server hands it over.
type inbound struct {
	id, typ, category string
	edit, mediaType   string
	t                 time.Time
	lid               bool       // the message's addressing
	from              *Account   // the sending account
	dev               uint16     // the sending device
	fromComp          *Companion // the sending companion; nil for a phone
	chat              types.JID
	fromMe            bool
	encType           string
	content           []byte
}

// receive is the phone getting a message: it decrypts it with its
// Signal state (checking, for a pkmsg, that the session is with the
// sending device's registered identity), strips the padding, parses the
// protobuf and records it, then sends the sending device a delivery
// receipt (type sender for its own devices' copies, as whatsmeow does).
func (a *Account) receive(in inbound) {
	s := a.s
	rec := Message{
		ID: in.id, Sender: in.from.deviceJID(in.dev, false), SenderLID: in.from.deviceJID(in.dev, true),
		Chat: in.chat, IsFromMe: in.fromMe, Category: in.category, Type: in.typ, Timestamp: time.Unix(in.t.Unix(), 0),
		Edit: in.edit, MediaType: in.mediaType, EncType: in.encType,
	}
	want := *in.from.Identity.Pub
	if in.fromComp != nil {
		want = in.fromComp.Identity
	}
	a.ph.mu.Lock()
	st, err := a.signalLocked()
	if err == nil {
		var ident *[32]byte
		rec.Plaintext, ident, err = st.decrypt(signalAddress(rec.SenderLID), in.encType, in.content)
		if err == nil && ident != nil && *ident != want {
			err = errors.New("the pkmsg's identity key is not the sending device's")
		}
	}
	if err == nil {
		msg := &waE2E.Message{}
		if err = proto.Unmarshal(rec.Plaintext, msg); err == nil {
			rec.Message = msg
			if dsm := msg.GetDeviceSentMessage(); in.fromMe && dsm != nil {
				rec.Message = dsm.GetMessage()
			}
		}
	}
	if err != nil {
		rec.Err = err
		s.logf("phone %s: message %s from %s: %v", a.Phone, in.id, rec.Sender, err)
	}
	a.ph.received = append(a.ph.received, rec)
	a.ph.notifyLocked()
	a.ph.mu.Unlock()
	if err != nil {
		return
	}

	from := a.userJID(in.lid)
	typ := ""
	attrs := waBinary.Attrs{"from": from, "id": in.id, "t": time.Now().Unix()}
	if in.fromMe {
		typ = "sender"
		if in.category == "peer" {
			typ = "peer_msg"
		}
		attrs["type"] = typ
		if in.category != "peer" {
			attrs["recipient"] = in.chat
		}
	}
	if in.fromComp != nil {
		s.deliver(in.fromComp, waBinary.Node{Tag: "receipt", Attrs: attrs}, from, typ)
		return
	}
	in.from.recordReceipt(Receipt{From: a.JID(), IDs: []string{in.id}, Type: typ, Timestamp: time.Unix(in.t.Unix(), 0)})
}

// handleReceipt takes a receipt a device sends. The server acks it,
// drops the messages it covers from what it holds for the device, and
// passes it on from the device: to a phone (recorded), to one companion
// when addressed to it, or, addressed to a user (device 0), to the
// phone and all that user's companions but the sender.
func (c *conn) handleReceipt(n *waBinary.Node) {
	s := c.s
	ag := n.AttrGetter()
	id := ag.String("id")
	to := ag.JID("to")
	typ := ag.OptionalString("type")
	t := ag.OptionalUnixTime("t")
	if !ag.OK() {
		s.logf("receipt without id or to: %v", ag.Error())
		return
	}
	if t.IsZero() {
		t = time.Now()
	}
	ids := []string{id}
	if list, ok := n.GetOptionalChildByTag("list"); ok {
		for _, it := range list.GetChildren() {
			if v, ok := it.Attrs["id"].(string); ok && it.Tag == "item" {
				ids = append(ids, v)
			}
		}
	}
	ack := waBinary.Attrs{"class": "receipt", "id": id, "from": to}
	if typ != "" {
		ack["type"] = typ
	}
	c.send(waBinary.Node{Tag: "ack", Attrs: ack}) //nolint:errcheck

	lid := to.Server == types.HiddenUserServer
	s.mu.Lock()
	self := c.dev
	self.forgetLocked(func(it outItem) bool {
		mid, _ := it.node.Attrs["id"].(string)
		return it.node.Tag == "message" && slices.Contains(ids, mid)
	})
	from := c.acct.deviceJID(self.JID.Device, lid)
	r := s.accountLocked(to)
	var targets []*Companion
	if r != nil {
		if to.Device == 0 {
			for _, comp := range r.companions {
				if comp != self {
					targets = append(targets, comp)
				}
			}
			sort.Slice(targets, func(i, j int) bool { return targets[i].JID.Device < targets[j].JID.Device })
		} else if comp := r.companions[to.Device]; comp != nil {
			targets = append(targets, comp)
		}
	}
	s.mu.Unlock()
	if typ == "read-self" {
		// Read with read receipts off (whatsmeow's MarkRead when the
		// account's readreceipts privacy is none): the other party is
		// not told. Passing it to the reader's own devices is not done.
		s.logf("read-self receipt %s to %s: not passed on", id, to)
		return
	}
	if r == nil {
		s.logf("receipt %s to unknown %s", id, to)
		return
	}
	attrs := waBinary.Attrs{"from": from, "id": id, "t": t.Unix()}
	for _, k := range []string{"type", "recipient", "participant"} {
		if v, ok := n.Attrs[k]; ok {
			attrs[k] = v
		}
	}
	fwd := waBinary.Node{Tag: "receipt", Attrs: attrs, Content: n.Content}
	if typ == "server-error" {
		// A media retry request (whatsmeow's SendMediaRetryReceipt, to
		// the device's own user) is for the server, which would have
		// the sender's phone upload again; it is only recorded.
		targets = nil
	}
	for _, comp := range targets {
		s.deliver(comp, fwd, from, typ)
	}
	if to.Device == 0 {
		r.recordReceipt(Receipt{From: self.JID, IDs: ids, Type: typ, Timestamp: time.Unix(t.Unix(), 0)})
	}
}

// handleAck records an ack a device sends and drops what it
// acknowledges from what the server holds for it.
func (c *conn) handleAck(n *waBinary.Node) {
	ag := n.AttrGetter()
	a := Ack{
		Class: ag.OptionalString("class"),
		ID:    ag.OptionalString("id"),
		To:    ag.OptionalJIDOrEmpty("to"),
		Type:  ag.OptionalString("type"),
		Error: ag.OptionalInt("error"),
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.dev.acks = append(c.dev.acks, a)
	c.dev.forgetLocked(func(it outItem) bool {
		id, _ := it.node.Attrs["id"].(string)
		return it.node.Tag == a.Class && id == a.ID && it.from == a.To && (a.Class != "receipt" || it.typ == a.Type)
	})
}

// SendText is the account's phone sending text to the user to (a
// phone-number or LID JID, which sets the message's addressing). See
// SendMessage.
func (a *Account) SendText(to types.JID, text string) (string, error) {
	sent, err := a.SendMessage(to, &waE2E.Message{Conversation: proto.String(text)})
	return sent.ID, err
}

// dest is a device a phone's message is encrypted for.
type dest struct {
	acct *Account
	comp *Companion // nil for the recipient's phone
	own  bool       // one of the sender's own companions: gets the DeviceSentMessage
	addr types.JID  // the device's LID JID, its Signal address
}

// SendMessage is the account's phone sending msg to the user to. As a
// phone does, it encrypts it for every device of the recipient (its
// phone and companions) and, wrapped in a DeviceSentMessage, for its own
// companions, building a Signal session from a prekey bundle the server
// hands out (consuming a one-time prekey) where it has none yet: a
// pkmsg until the other device answers, a msg after. The server delivers
// each copy: the recipient's phone decrypts and records it and sends a
// delivery receipt back; a companion gets a <message> from the phone
// (held while it is offline). The stanza carries the type and edit
// attributes and the <enc>s the mediatype and decrypt-fail a phone sets
// for msg. It returns what it sent.
func (a *Account) SendMessage(to types.JID, msg *waE2E.Message) (Sent, error) {
	s := a.s
	if to.Device != 0 || (to.Server != types.DefaultUserServer && to.Server != types.HiddenUserServer) {
		return Sent{}, fmt.Errorf("wafake: %s is not a user JID", to)
	}
	lid := to.Server == types.HiddenUserServer
	plaintext, err := proto.Marshal(msg)
	if err != nil {
		return Sent{}, err
	}
	dsm, err := proto.Marshal(&waE2E.Message{
		DeviceSentMessage:  &waE2E.DeviceSentMessage{DestinationJID: proto.String(to.String()), Message: msg},
		MessageContextInfo: msg.GetMessageContextInfo(),
	})
	if err != nil {
		return Sent{}, err
	}
	id := newMessageID()
	typ, edit, encExtra := stanzaType(msg), editAttr(msg), encAttrs(msg)

	a.ph.sendMu.Lock()
	defer a.ph.sendMu.Unlock()
	now := time.Now()
	s.mu.Lock()
	r := s.accountLocked(to)
	if r == nil {
		s.mu.Unlock()
		return Sent{}, fmt.Errorf("wafake: %s is not on WhatsApp", to)
	}
	var dests []dest
	if r != a {
		dests = append(dests, dest{acct: r, addr: r.deviceJID(0, true)})
	}
	for _, d := range r.devicesLocked(true)[1:] {
		dests = append(dests, dest{acct: r, comp: r.companions[d.Device], own: r == a, addr: d})
	}
	if r != a {
		for _, d := range a.devicesLocked(true)[1:] {
			dests = append(dests, dest{acct: a, comp: a.companions[d.Device], own: true, addr: d})
		}
	}
	s.mu.Unlock()

	// Devices without a session need a bundle from the server.
	a.ph.mu.Lock()
	st, err := a.signalLocked()
	var need []int
	if err == nil {
		for i, d := range dests {
			if !st.hasSession(signalAddress(d.addr)) {
				need = append(need, i)
			}
		}
	}
	a.ph.mu.Unlock()
	if err != nil {
		return Sent{}, err
	}
	bundles := map[int]*prekey.Bundle{}
	for _, i := range need {
		if bk, ok := s.takeBundle(dests[i].addr); ok {
			if b, err := bk.bundle(dests[i].addr.Device); err == nil {
				bundles[i] = b
			}
		}
	}
	type sealed struct {
		encType string
		ct      []byte
	}
	out := make([]*sealed, len(dests))
	sent := Sent{ID: id, To: to, Timestamp: time.Unix(now.Unix(), 0), Enc: map[types.JID]string{}}
	a.ph.mu.Lock()
	for i, d := range dests {
		pt := plaintext
		if d.own {
			pt = dsm
		}
		encType, ct, err := st.encrypt(signalAddress(d.addr), bundles[i], pt)
		if err != nil {
			s.logf("phone %s: message %s for %s: %v", a.Phone, id, d.addr, err)
			continue
		}
		out[i] = &sealed{encType, ct}
		sent.Enc[d.acct.deviceJID(d.addr.Device, false)] = encType
	}
	a.ph.sent = append(a.ph.sent, sent)
	a.ph.mu.Unlock()

	from := a.userJID(lid)
	for i, d := range dests {
		o := out[i]
		if o == nil {
			continue
		}
		if d.comp == nil {
			d.acct.receive(inbound{
				id: id, t: now, typ: typ, edit: edit, mediaType: mediaTypeOf(msg), lid: lid, from: a, chat: from,
				encType: o.encType, content: o.ct,
			})
			continue
		}
		attrs := waBinary.Attrs{"from": from, "id": id, "t": now.Unix(), "type": typ}
		if edit != "" {
			attrs["edit"] = edit
		}
		if a.PushName != "" {
			attrs["notify"] = a.PushName
		}
		if d.own {
			attrs["recipient"] = to
			altAttrs(attrs, "peer_recipient", r, lid)
		} else {
			altAttrs(attrs, "sender", a, lid)
		}
		enc := waBinary.Node{Tag: "enc", Attrs: waBinary.Attrs{"v": "2", "type": o.encType}, Content: o.ct}
		for k, v := range encExtra {
			enc.Attrs[k] = v
		}
		s.deliver(d.comp, waBinary.Node{Tag: "message", Attrs: attrs, Content: []waBinary.Node{enc}}, from, "")
	}
	return sent, nil
}

// MarkRead is the account's phone reading messages ids from the user
// sender (a phone-number or LID JID, which sets the addressing): a read
// receipt goes to every device of the sender's account, as the server
// fans a receipt to a user out.
func (a *Account) MarkRead(sender types.JID, ids ...string) error {
	if len(ids) == 0 {
		return errors.New("wafake: no message ids to mark read")
	}
	s := a.s
	sender = sender.ToNonAD()
	lid := sender.Server == types.HiddenUserServer
	s.mu.Lock()
	r := s.accountLocked(sender)
	var comps []*Companion
	if r != nil {
		for _, d := range r.devicesLocked(false)[1:] {
			comps = append(comps, r.companions[d.Device])
		}
	}
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("wafake: %s is not on WhatsApp", sender)
	}
	now := time.Now()
	from := a.userJID(lid)
	n := waBinary.Node{Tag: "receipt", Attrs: waBinary.Attrs{"from": from, "id": ids[0], "t": now.Unix(), "type": "read"}}
	if len(ids) > 1 {
		items := make([]waBinary.Node, len(ids)-1)
		for i, id := range ids[1:] {
			items[i] = waBinary.Node{Tag: "item", Attrs: waBinary.Attrs{"id": id}}
		}
		n.Content = []waBinary.Node{{Tag: "list", Content: items}}
	}
	for _, comp := range comps {
		s.deliver(comp, n, from, "read")
	}
	if r != a {
		r.recordReceipt(Receipt{From: a.JID(), IDs: slices.Clone(ids), Type: "read", Timestamp: time.Unix(now.Unix(), 0)})
	}
	return nil
}

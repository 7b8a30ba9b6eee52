package chromedp

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
)

// pageMsg is a message as the agent describes it (agent.js describe).
type pageMsg struct {
	ID        string     `json:"id"`
	Chat      string     `json:"chat"`
	Sender    string     `json:"sender"`
	T         float64    `json:"t"`
	FromMe    bool       `json:"fromMe"`
	Body      string     `json:"body"`
	Type      string     `json:"type"`
	Caption   string     `json:"caption"`
	Media     *pageMedia `json:"media"`
	Loc       *pageLoc   `json:"loc"`
	VCardName string     `json:"vcardName"`
	Quoted    string     `json:"quoted"`
	Mentions  []string   `json:"mentions"`
	Target    string     `json:"target"` // revokes: the revoked message
}

type pageMedia struct {
	Mime         string  `json:"mime"`
	Size         float64 `json:"size"`
	Filename     string  `json:"filename"`
	Duration     float64 `json:"duration"`
	Width        float64 `json:"width"`
	Height       float64 `json:"height"`
	Pages        float64 `json:"pages"`
	Filehash     string  `json:"filehash"`
	Animated     bool    `json:"animated"`
	GIF          bool    `json:"gif"`
	Downloadable bool    `json:"downloadable"`
}

type pageLoc struct {
	Lat  float64 `json:"lat"`
	Lng  float64 `json:"lng"`
	Desc string  `json:"desc"`
}

// pageReaction is a reaction record as the agent reports it.
type pageReaction struct {
	ID     string  `json:"id"`
	Target string  `json:"target"`
	Chat   string  `json:"chat"`
	Sender string  `json:"sender"`
	Emoji  string  `json:"emoji"`
	T      float64 `json:"t"`
	FromMe bool    `json:"fromMe"`
}

// mediaKind is wad's kind of a WhatsApp Web message type that carries a
// file, or "".
func mediaKind(typ string) string {
	switch typ {
	case "image", "video", "audio", "document", "sticker":
		return typ
	case "ptt":
		return ctl.MediaVoice
	}
	return ""
}

// messageType is wad's Message.Type of a WhatsApp Web message type.
func messageType(typ string) string {
	switch typ {
	case "chat", "":
		return ctl.TypeText
	case "vcard", "multi_vcard":
		return ctl.TypeContact
	case "location":
		return ctl.TypeLocation
	}
	if k := mediaKind(typ); k != "" {
		return k
	}
	return typ
}

func unixTime(t float64) time.Time {
	if t <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(t), 0).UTC()
}

// message turns a page message into the wire's Message.
func (m *pageMsg) message() *ctl.Message {
	msg := &ctl.Message{
		ID: m.ID, Chat: fromWebJID(m.Chat), Sender: fromWebJID(m.Sender), Timestamp: unixTime(m.T),
		FromMe: m.FromMe, Type: messageType(m.Type), Caption: m.Caption, ReplyTo: m.Quoted,
	}
	if m.Type == "chat" || m.Type == "" {
		msg.Text = m.Body
	}
	if k := mediaKind(m.Type); k != "" && m.Media != nil {
		md := m.Media
		msg.Media = &ctl.MediaInfo{
			Kind: k, Mime: md.Mime, Size: int64(md.Size), Filename: md.Filename,
			SHA256: b64ToHex(md.Filehash), Seconds: md.Duration,
			Width: int(md.Width), Height: int(md.Height), Pages: int(md.Pages),
			Animated: md.Animated, Downloadable: md.Downloadable,
		}
	}
	if m.Type == "location" && m.Loc != nil {
		name, addr, _ := strings.Cut(m.Loc.Desc, "\n")
		msg.Location = &ctl.Location{Lat: m.Loc.Lat, Lon: m.Loc.Lng, Name: name, Address: addr}
	}
	if m.Type == "vcard" {
		msg.Contact = parseVCard(m.Body, m.VCardName)
	}
	for _, j := range m.Mentions {
		msg.Mentions = append(msg.Mentions, fromWebJID(j))
	}
	return msg
}

// b64ToHex turns WhatsApp Web's base64 filehash into hex, or "".
func b64ToHex(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

// parseVCard reads the name and first phone number of a vCard (the
// WhatsApp Web message of a shared contact). The number is E.164 when
// the card carries a WhatsApp id (waid) or a number in international
// form, else as written.
func parseVCard(card, name string) *ctl.ContactCard {
	c := &ctl.ContactCard{Name: name}
	// Unfold continuation lines first (RFC 6350 3.2).
	card = strings.NewReplacer("\r\n ", "", "\r\n\t", "", "\n ", "", "\n\t", "").Replace(card)
	for _, line := range strings.Split(strings.ReplaceAll(card, "\r\n", "\n"), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		params := strings.Split(key, ";")
		prop := strings.ToUpper(params[0])
		if i := strings.LastIndexByte(prop, '.'); i >= 0 {
			prop = prop[i+1:] // item1.TEL
		}
		switch prop {
		case "FN":
			if c.Name == "" {
				c.Name = unescapeVCard(val)
			}
		case "TEL":
			if c.Phone != "" {
				continue
			}
			for _, p := range params[1:] {
				if waid, ok := strings.CutPrefix(strings.ToLower(p), "waid="); ok && waid != "" {
					c.Phone = "+" + waid
				}
			}
			if c.Phone == "" {
				c.Phone = strings.TrimSpace(val)
				if p, err := ctl.NormalizePhone(c.Phone); err == nil {
					c.Phone = p
				}
			}
		}
	}
	return c
}

func unescapeVCard(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\N`, "\n", `\,`, ",", `\;`, ";", `\\`, `\`).Replace(s)
}

// publishMessage reports a new message.
func (r *browserRun) publishMessage(m *pageMsg) {
	r.s.env.Publish(ctl.Event{Kind: ctl.KindMessage, Message: m.message()})
}

// publishReaction reports a reaction set (or removed, with no emoji).
func (r *browserRun) publishReaction(p *pageReaction) {
	ts := unixTime(p.T)
	if ts.IsZero() {
		ts = time.Now().UTC().Truncate(time.Second)
	}
	r.s.env.Publish(ctl.Event{Kind: ctl.KindReaction, Message: &ctl.Message{
		ID: p.ID, Chat: fromWebJID(p.Chat), Sender: fromWebJID(p.Sender), Timestamp: ts,
		FromMe: p.FromMe, Type: "reaction", TargetID: p.Target, Emoji: p.Emoji,
	}})
}

// publishEdit reports an edit of m: its new text (or caption). The
// event's ID is the edit's own when WhatsApp Web knows it
// (latestEditMsgKey), else the edited message's.
func (r *browserRun) publishEdit(m *pageMsg, text, editID string, editT float64) {
	msg := m.message()
	ts := unixTime(editT)
	if ts.IsZero() {
		ts = time.Now().UTC().Truncate(time.Second)
	}
	id := editID
	if id == "" {
		id = m.ID
	}
	r.s.env.Publish(ctl.Event{Kind: ctl.KindEdit, Message: &ctl.Message{
		ID: id, Chat: msg.Chat, Sender: msg.Sender, Timestamp: ts, FromMe: msg.FromMe,
		Type: msg.Type, Text: text, TargetID: m.ID,
	}})
}

// publishRevoke reports a message deleted for everyone. WhatsApp Web
// turns the message itself into a revoked one: the event's ID and
// TargetID are both the revoked message's.
func (r *browserRun) publishRevoke(m *pageMsg) {
	target := m.Target
	if target == "" {
		target = m.ID
	}
	r.s.env.Publish(ctl.Event{Kind: ctl.KindRevoke, Message: &ctl.Message{
		ID: target, Chat: fromWebJID(m.Chat), Sender: fromWebJID(m.Sender),
		Timestamp: time.Now().UTC().Truncate(time.Second), FromMe: m.FromMe, Type: "revoked", TargetID: target,
	}})
}

package wafake

// Profiles: the about text, the profile picture and a business
// account's verified name, as the owner sets them and as others read
// them (usync.go answers the status, picture and business protocols).
// whatsmeow: user.go (SetStatusMessage, GetProfilePictureInfo,
// parseVerifiedName), group.go (SetGroupPhoto, which sets one's own
// picture with no target, as WhatsApp Web does, or the own JID as
// target) and notification.go
// (handlePictureNotification).

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waVnameCert"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

func init() {
	loggedInIQs["status set status"] = (*conn).setAbout
	// The picture iqs are shared with groups (a group's picture has the
	// group as target): those go to the handler registered before, if
	// any.
	for _, key := range []string{"w:profile:picture get picture", "w:profile:picture set picture", "w:profile:picture set "} {
		prev := loggedInIQs[key]
		loggedInIQs[key] = func(c *conn, n *waBinary.Node) {
			if target, ok := n.Attrs["target"].(types.JID); ok && target.Server == types.GroupServer {
				if prev != nil {
					prev(c, n)
					return
				}
				c.iqError(n, 501, "feature-not-implemented")
				return
			}
			c.profilePicture(n)
		}
	}
}

// picture is a profile picture: its id and where the CDN serves it.
type picture struct {
	id              string
	url, directPath string
	data            []byte
}

// newPictureID returns a picture id shaped like WhatsApp's (decimal).
func newPictureID() string {
	var b [8]byte
	rand.Read(b[:])
	return strconv.FormatUint(1000000000+binary.BigEndian.Uint64(b[:])%8999999999, 10)
}

// verifiedName is the VerifiedNameCertificate of a business name, as
// the usync business protocol carries it (unsigned: whatsmeow does not
// check the signature).
func verifiedName(name string) []byte {
	details, err := proto.Marshal(&waVnameCert.VerifiedNameCertificate_Details{
		Serial: proto.Uint64(1), Issuer: proto.String("smb:wa"), VerifiedName: proto.String(name),
	})
	if err != nil {
		return nil
	}
	cert, err := proto.Marshal(&waVnameCert.VerifiedNameCertificate{Details: details})
	if err != nil {
		return nil
	}
	return cert
}

// setAbout takes a device's new about text (whatsmeow's
// SetStatusMessage: <status>text</status>) and answers an empty result.
func (c *conn) setAbout(n *waBinary.Node) {
	st := n.GetChildByTag("status")
	var text string
	switch v := st.Content.(type) {
	case []byte:
		text = string(v)
	case string:
		text = v
	}
	c.s.mu.Lock()
	c.acct.about, c.acct.aboutSet = text, time.Now()
	c.s.mu.Unlock()
	c.result(n)
}

// profilePicture answers the picture iqs for users: get (whatsmeow's
// GetProfilePictureInfo: <picture query="url" type="image|preview"
// [id]/>, target the user) answers <picture id url type direct_path/>,
// status 304 when the id asked is current, and 404 item-not-found when
// there is none; set with a <picture type="image"> (SetGroupPhoto with
// the own JID or no target) replaces the own picture with a JPEG (406
// not-acceptable for anything else) and answers its id; set without a
// child removes it. Contacts get a picture notification either way.
func (c *conn) profilePicture(n *waBinary.Node) {
	s := c.s
	typ, _ := n.Attrs["type"].(string)
	target, hasTarget := n.Attrs["target"].(types.JID)
	s.mu.Lock()
	a := c.acct
	if hasTarget {
		a = s.accountLocked(target.ToNonAD())
	}
	s.mu.Unlock()
	if typ == "get" {
		if a == nil {
			c.iqError(n, 404, "item-not-found")
			return
		}
		q := n.GetChildByTag("picture")
		s.mu.Lock()
		pic := a.picture
		s.mu.Unlock()
		if pic == nil {
			c.iqError(n, 404, "item-not-found")
			return
		}
		if id, _ := q.Attrs["id"].(string); id != "" && id == pic.id {
			c.result(n, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{"status": "304"}})
			return
		}
		kind, _ := q.Attrs["type"].(string)
		if kind == "" {
			kind = "image"
		}
		c.result(n, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{
			"id": pic.id, "url": pic.url, "type": kind, "direct_path": pic.directPath,
		}})
		return
	}
	if a != c.acct {
		c.iqError(n, 403, "forbidden")
		return
	}
	if !hasChild(n, "picture") {
		a.setPicture(nil, c.dev.JID)
		c.result(n)
		return
	}
	data, _ := n.GetChildByTag("picture").Content.([]byte)
	if !bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}) {
		c.iqError(n, 406, "not-acceptable")
		return
	}
	id := a.setPicture(data, c.dev.JID)
	c.result(n, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{"id": id}})
}

// setPicture replaces (data nil: removes) the account's picture, stored
// on the fake's CDN like media (WhatsApp's is pps.whatsapp.net), and
// tells the devices of every other account with a picture notification
// (the fake has no address books: everyone is everyone's contact). It
// returns the new id.
func (a *Account) setPicture(data []byte, by types.JID) string {
	s := a.s
	now := time.Now()
	var pic *picture
	if data != nil {
		up := s.store("image", by, bytes.Clone(data), nil, now)
		pic = &picture{id: newPictureID(), url: up.URL, directPath: up.DirectPath, data: bytes.Clone(data)}
	}
	s.mu.Lock()
	a.picture = pic
	var comps []*Companion
	for _, o := range s.accounts {
		if o == a {
			continue
		}
		for _, comp := range o.companions {
			comps = append(comps, comp)
		}
	}
	s.mu.Unlock()
	user := a.JID()
	child := waBinary.Node{Tag: "delete", Attrs: waBinary.Attrs{"jid": user, "author": user}}
	id := ""
	if pic != nil {
		id = pic.id
		child = waBinary.Node{Tag: "set", Attrs: waBinary.Attrs{"jid": user, "id": id, "author": user}}
	}
	for _, comp := range comps {
		n := waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
			"type": "picture", "from": user, "id": newMessageID(), "t": now.Unix(),
		}, Content: []waBinary.Node{child}}
		s.deliver(comp, n, user, "picture")
	}
	return id
}

// SetPicture is the account's phone setting its profile picture (JPEG
// bytes; nil removes it): devices of other accounts get a picture
// notification (whatsmeow: events.Picture). It returns the new id.
func (a *Account) SetPicture(jpeg []byte) string {
	return a.setPicture(jpeg, a.JID())
}

// Picture returns the account's profile picture and its id (nil and ""
// without one).
func (a *Account) Picture() ([]byte, string) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.picture == nil {
		return nil, ""
	}
	return bytes.Clone(a.picture.data), a.picture.id
}

// SetAbout is the account's phone setting its about text.
func (a *Account) SetAbout(text string) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.about, a.aboutSet = text, time.Now()
}

// About returns the account's about text.
func (a *Account) About() string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.about
}

// SetBusiness makes the account a business account with a verified
// name (empty: a personal account again), which usync's business
// protocol answers.
func (a *Account) SetBusiness(name string) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.business = name
}

package wafake

// Device lists and prekey bundles: what a device asks the server before
// it encrypts a message. whatsmeow: user.go (usync, GetUserDevices,
// GetUserInfo, IsOnWhatsApp, parseDeviceList) and prekeys.go
// (fetchPreKeys, nodeToPreKeyBundle).

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sort"
	"strings"

	"go.mau.fi/libsignal/ecc"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

func init() {
	loggedInIQs["usync get usync"] = (*conn).usync
	loggedInIQs["encrypt get key"] = (*conn).fetchKeys
}

// accountLocked returns the account a user or device JID (phone number
// or LID) belongs to.
func (s *Server) accountLocked(jid types.JID) *Account {
	switch jid.Server {
	case types.DefaultUserServer:
		return s.accounts[jid.User]
	case types.HiddenUserServer:
		return s.lids[jid.User]
	}
	return nil
}

// userJID is the account's user JID in the addressing a stanza uses:
// its LID when lid is set, else its phone number.
func (a *Account) userJID(lid bool) types.JID {
	if lid {
		return a.LIDJID()
	}
	return a.JID()
}

// deviceJID is the account's device dev in the given addressing.
func (a *Account) deviceJID(dev uint16, lid bool) types.JID {
	j := a.userJID(lid)
	j.Device = dev
	return j
}

// devicesLocked lists the account's devices as the server does in a
// device list: the phone (0), then the linked companions by number.
func (a *Account) devicesLocked(lid bool) []types.JID {
	out := []types.JID{a.deviceJID(0, lid)}
	var devs []int
	for d := range a.companions {
		devs = append(devs, int(d))
	}
	sort.Ints(devs)
	for _, d := range devs {
		out = append(out, a.deviceJID(uint16(d), lid))
	}
	return out
}

// participantHash is the hash of a device list that the server puts in
// a message ack's phash and whatsmeow compares with its own
// (participantListHashV2): "2:" and the base64 of the first 6 bytes of
// the SHA-256 of the sorted AD strings.
func participantHash(devices []types.JID) string {
	ss := make([]string, len(devices))
	for i, d := range devices {
		ss[i] = d.ADString()
	}
	sort.Strings(ss)
	sum := sha256.Sum256([]byte(strings.Join(ss, "")))
	return "2:" + base64.RawStdEncoding.EncodeToString(sum[:6])
}

// usync answers a user sync query: for each listed user, the protocols
// the query asks for. The fake knows devices (the device list with the
// companions' key indexes), lid (the user's LID), contact (whether a
// number is on WhatsApp), status (the about text and when it was set),
// picture (the profile picture's id) and business (a business
// account's verified name certificate); other protocols (bot) are left
// out of the user's node, which whatsmeow reads as not set. whatsmeow's
// IsOnWhatsApp asks contact and business, GetUserInfo business, status,
// picture, devices and lid.
func (c *conn) usync(n *waBinary.Node) {
	req := n.GetChildByTag("usync")
	var protocols []string
	query := req.GetChildByTag("query")
	for _, q := range query.GetChildren() {
		protocols = append(protocols, q.Tag)
	}
	var users []waBinary.Node
	c.s.mu.Lock()
	list := req.GetChildByTag("list")
	for _, u := range list.GetChildren() {
		if u.Tag != "user" {
			continue
		}
		users = append(users, c.s.usyncUserLocked(u, protocols))
	}
	c.s.mu.Unlock()
	attrs := waBinary.Attrs{"index": "0", "last": "true"}
	for _, k := range []string{"sid", "mode", "context"} {
		if v, ok := req.Attrs[k]; ok {
			attrs[k] = v
		}
	}
	c.result(n, waBinary.Node{Tag: "usync", Attrs: attrs, Content: []waBinary.Node{{Tag: "list", Content: users}}})
}

func (s *Server) usyncUserLocked(u waBinary.Node, protocols []string) waBinary.Node {
	jid, hasJID := u.Attrs["jid"].(types.JID)
	var query string
	if ct, ok := u.GetOptionalChildByTag("contact"); ok {
		switch v := ct.Content.(type) {
		case []byte:
			query = string(v)
		case string:
			query = v
		}
	}
	var a *Account
	if hasJID {
		jid = jid.ToNonAD()
		a = s.accountLocked(jid)
	} else if query != "" {
		num := strings.TrimPrefix(strings.TrimSuffix(query, "@"+types.LegacyUserServer), "+")
		a = s.accounts[num]
		jid = types.NewJID(num, types.DefaultUserServer)
	}
	var children []waBinary.Node
	for _, p := range protocols {
		switch p {
		case "devices":
			if a == nil {
				continue
			}
			var devs []waBinary.Node
			for _, d := range a.devicesLocked(jid.Server == types.HiddenUserServer) {
				attrs := waBinary.Attrs{"id": int(d.Device)}
				if comp := a.companions[d.Device]; comp != nil {
					attrs["key-index"] = int(comp.KeyIndex)
				}
				devs = append(devs, waBinary.Node{Tag: "device", Attrs: attrs})
			}
			children = append(children, waBinary.Node{Tag: "devices", Content: []waBinary.Node{{Tag: "device-list", Content: devs}}})
		case "lid":
			if a != nil && jid.Server == types.DefaultUserServer {
				children = append(children, waBinary.Node{Tag: "lid", Attrs: waBinary.Attrs{"val": a.LIDJID()}})
			}
		case "status":
			// The about text, with when it was set; an account that
			// never set one has none (whatsmeow reads the content).
			if a != nil {
				st := waBinary.Node{Tag: "status"}
				if a.about != "" {
					st.Attrs = waBinary.Attrs{"t": a.aboutSet.Unix()}
					st.Content = []byte(a.about)
				}
				children = append(children, st)
			}
		case "picture":
			if a != nil {
				pic := waBinary.Node{Tag: "picture"}
				if a.picture != nil {
					pic.Attrs = waBinary.Attrs{"id": a.picture.id}
				}
				children = append(children, pic)
			}
		case "business":
			if a != nil && a.business != "" {
				if cert := verifiedName(a.business); cert != nil {
					children = append(children, waBinary.Node{Tag: "business", Content: []waBinary.Node{{Tag: "verified_name", Content: cert}}})
				}
			}
		case "contact":
			typ := "out"
			if a != nil {
				typ = "in"
			}
			ct := waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": typ}}
			if query != "" {
				ct.Content = []byte(query)
			}
			children = append(children, ct)
		}
	}
	out := waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}}
	if len(children) > 0 {
		out.Content = children
	}
	return out
}

// fetchKeys answers a prekey fetch (<key> with a <user jid=device/> per
// device) with a bundle per device: registration id, key type, identity,
// signed prekey and one one-time prekey, which the fetch consumes as the
// real server does (a device without one-time prekeys left gets a bundle
// without <key>). A device the server does not know gets an error node.
func (c *conn) fetchKeys(n *waBinary.Node) {
	var users []waBinary.Node
	key := n.GetChildByTag("key")
	for _, u := range key.GetChildren() {
		jid, ok := u.Attrs["jid"].(types.JID)
		if u.Tag != "user" || !ok {
			continue
		}
		b, ok := c.s.takeBundle(jid)
		if !ok {
			users = append(users, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid},
				Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": 404, "text": "item-not-found"}}}})
			continue
		}
		users = append(users, b.node(jid))
	}
	c.result(n, waBinary.Node{Tag: "list", Content: users})
}

// takeBundle hands out the prekey bundle of device jid: the phone's
// from its Signal state, a companion's from what it uploaded.
func (s *Server) takeBundle(jid types.JID) (bundleKeys, bool) {
	s.mu.Lock()
	a := s.accountLocked(jid)
	if a == nil {
		s.mu.Unlock()
		return bundleKeys{}, false
	}
	if jid.Device != 0 {
		defer s.mu.Unlock()
		comp := a.companions[jid.Device]
		if comp == nil {
			return bundleKeys{}, false
		}
		b := bundleKeys{RegID: comp.RegistrationID, Identity: comp.Identity, Signed: comp.SignedPreKey}
		if len(comp.preKeys) > 0 {
			k := comp.preKeys[0]
			comp.preKeys = comp.preKeys[1:]
			b.OneTime = &k
		}
		return b, true
	}
	s.mu.Unlock()
	a.ph.mu.Lock()
	defer a.ph.mu.Unlock()
	st, err := a.signalLocked()
	if err != nil {
		s.logf("phone %s: %v", a.Phone, err)
		return bundleKeys{}, false
	}
	b, err := st.takeBundle()
	if err != nil {
		s.logf("phone %s: %v", a.Phone, err)
		return bundleKeys{}, false
	}
	return b, true
}

// node is the bundle as the server sends it for device jid.
func (b bundleKeys) node(jid types.JID) waBinary.Node {
	var reg [4]byte
	binary.BigEndian.PutUint32(reg[:], b.RegID)
	content := []waBinary.Node{
		{Tag: "registration", Content: reg[:]},
		{Tag: "type", Content: []byte{ecc.DjbType}},
		{Tag: "identity", Content: append([]byte(nil), b.Identity[:]...)},
		{Tag: "skey", Content: []waBinary.Node{
			{Tag: "id", Content: preKeyID(b.Signed.ID)},
			{Tag: "value", Content: append([]byte(nil), b.Signed.Pub[:]...)},
			{Tag: "signature", Content: append([]byte(nil), b.Signed.Signature...)},
		}},
	}
	if b.OneTime != nil {
		content = append(content, waBinary.Node{Tag: "key", Content: []waBinary.Node{
			{Tag: "id", Content: preKeyID(b.OneTime.ID)},
			{Tag: "value", Content: append([]byte(nil), b.OneTime.Pub[:]...)},
		}})
	}
	return waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: content}
}

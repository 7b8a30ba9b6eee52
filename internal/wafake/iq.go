package wafake

import (
	"encoding/binary"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleIQ answers the client's info queries. A query the fake does not
// know gets error 501, so a client waiting on it fails fast and the gap
// shows in the log instead of as a 75 s timeout.
func (c *conn) handleIQ(n *waBinary.Node) {
	ag := n.AttrGetter()
	xmlns, typ := ag.OptionalString("xmlns"), ag.OptionalString("type")
	if c.dev == nil {
		// Before login only pairing answers (handled as responses) and
		// keepalives are expected.
		if xmlns == "w:p" {
			c.result(n)
			return
		}
		if h := preLoginIQs[iqKey(n)]; h != nil {
			h(c, n)
			return
		}
		c.iqError(n, 401, "not-authorized")
		return
	}
	switch {
	case xmlns == "w:p":
		c.result(n)
	case xmlns == "passive":
		c.setPassive(n) // message.go: going active delivers what was held
	case xmlns == "encrypt" && typ == "get" && hasChild(n, "count"):
		c.s.mu.Lock()
		count := len(c.dev.preKeys)
		c.s.mu.Unlock()
		c.result(n, waBinary.Node{Tag: "count", Attrs: waBinary.Attrs{"value": count}})
	case xmlns == "encrypt" && typ == "set" && hasChild(n, "list"):
		c.uploadPreKeys(n)
	case xmlns == "md" && typ == "set" && hasChild(n, "remove-companion-device"):
		c.removeSelf(n)
	default:
		if h := loggedInIQs[iqKey(n)]; h != nil {
			h(c, n)
			return
		}
		c.s.logf("no handler for iq %s", n.XMLString())
		c.iqError(n, 501, "feature-not-implemented")
	}
}

func hasChild(n *waBinary.Node, tag string) bool {
	_, ok := n.GetOptionalChildByTag(tag)
	return ok
}

// uploadPreKeys stores the one-time prekeys and the signed prekey a
// device uploads (the registration id and identity must be the ones it
// paired with).
func (c *conn) uploadPreKeys(n *waBinary.Node) {
	ident, _ := n.GetChildByTag("identity").Content.([]byte)
	if len(ident) != 32 || [32]byte(ident) != c.dev.Identity {
		c.iqError(n, 406, "not-acceptable")
		return
	}
	var keys []PreKey
	list := n.GetChildByTag("list")
	for _, k := range list.GetChildren() {
		if pk, ok := parseKey(k); ok {
			keys = append(keys, pk)
		}
	}
	skey, hasSkey := parseKey(n.GetChildByTag("skey"))
	c.s.mu.Lock()
	c.dev.preKeys = append(c.dev.preKeys, keys...)
	if hasSkey {
		c.dev.SignedPreKey = skey
	}
	c.s.mu.Unlock()
	c.result(n)
}

// parseKey reads a <key> or <skey>: a 3-byte id, a 32-byte value and,
// for a signed prekey, a signature.
func parseKey(k waBinary.Node) (PreKey, bool) {
	id, _ := k.GetChildByTag("id").Content.([]byte)
	val, _ := k.GetChildByTag("value").Content.([]byte)
	if len(id) != 3 || len(val) != 32 {
		return PreKey{}, false
	}
	pk := PreKey{ID: binary.BigEndian.Uint32(pad4(id)), Pub: [32]byte(val)}
	if sig, ok := k.GetChildByTag("signature").Content.([]byte); ok {
		pk.Signature = append([]byte(nil), sig...)
	}
	return pk, true
}

// removeSelf is a device logging itself out: it is unlinked from the
// account (the phone's list loses it) and the answer is a result.
func (c *conn) removeSelf(n *waBinary.Node) {
	target, _ := n.GetChildByTag("remove-companion-device").Attrs["jid"].(types.JID)
	if target.User != c.dev.JID.User || target.Device != c.dev.JID.Device {
		c.iqError(n, 403, "forbidden")
		return
	}
	c.s.mu.Lock()
	if c.acct.companions[c.dev.JID.Device] == c.dev {
		delete(c.acct.companions, c.dev.JID.Device)
	}
	c.dev.conn = nil
	c.s.mu.Unlock()
	c.s.logf("device %s logged itself out", c.dev.JID)
	c.result(n)
}

// handleStanza handles what is not an iq.
func (c *conn) handleStanza(n *waBinary.Node) {
	if h := stanzas[n.Tag]; h != nil && c.dev != nil {
		h(c, n)
	}
}

// handler handles one node from a client.
type handler func(c *conn, n *waBinary.Node)

// The protocol areas beyond connecting, pairing by QR and prekeys
// (phone-code pairing, contacts and messages, and later media and
// groups) register their handlers in these tables from their own files.
var (
	// preLoginIQs answer iqs of a connection that has not logged in, by
	// iqKey.
	preLoginIQs = map[string]handler{}
	// loggedInIQs answer iqs of a logged-in device, by iqKey.
	loggedInIQs = map[string]handler{}
	// stanzas handle message, receipt, ack, presence, chatstate,
	// notification and call nodes of a logged-in device, by tag.
	stanzas = map[string]handler{}
)

// iqKey names an iq by namespace, type and first child's tag, e.g.
// "usync get usync" or "encrypt get key".
func iqKey(n *waBinary.Node) string {
	ag := n.AttrGetter()
	first := ""
	if ch := n.GetChildren(); len(ch) > 0 {
		first = ch[0].Tag
	}
	return ag.OptionalString("xmlns") + " " + ag.OptionalString("type") + " " + first
}

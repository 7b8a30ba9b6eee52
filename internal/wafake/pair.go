package wafake

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/libsignal/ecc"
	wa "go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// begin answers the client's payload: a device without an identity gets
// a pair-device offer (QR refs), a registered one is logged in.
func (c *conn) begin() error {
	if c.payload.GetUsername() == 0 {
		if c.payload.GetDevicePairingData() == nil {
			return errors.New("client payload has neither a username nor pairing data")
		}
		return c.offerPairing()
	}
	return c.login()
}

// offerPairing sends pair-device with fresh refs; the phone pairs by
// scanning a QR code built from one of them (Account.Scan).
func (c *conn) offerPairing() error {
	refs := make([]waBinary.Node, c.s.opts.Refs)
	c.s.mu.Lock()
	for i := range refs {
		b := make([]byte, 24)
		rand.Read(b)
		ref := "2@" + base64.StdEncoding.EncodeToString(b)
		c.s.pending[ref] = c
		refs[i] = waBinary.Node{Tag: "ref", Content: []byte(ref)}
	}
	c.s.mu.Unlock()
	return c.send(waBinary.Node{
		Tag:     "iq",
		Attrs:   waBinary.Attrs{"id": c.newID(), "type": "set", "from": types.ServerJID, "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-device", Content: refs}},
	})
}

// QR is what a wad QR code says, as whatsmeow builds it: the server's
// ref, then the device's Noise key, identity key and ADV secret.
type QR struct {
	Ref       string
	NoiseKey  [32]byte
	Identity  [32]byte
	ADVSecret []byte
}

// ParseQR parses the text of a pairing QR code.
func ParseQR(code string) (QR, error) {
	parts := strings.Split(code, ",")
	if len(parts) != 4 {
		return QR{}, fmt.Errorf("wafake: QR %q has %d parts, want 4", code, len(parts))
	}
	var q QR
	q.Ref = parts[0]
	for i, dst := range [][]byte{q.NoiseKey[:], q.Identity[:]} {
		b, err := base64.StdEncoding.DecodeString(parts[i+1])
		if err != nil || len(b) != 32 {
			return QR{}, fmt.Errorf("wafake: QR part %d is not a 32-byte key", i+2)
		}
		copy(dst, b)
	}
	adv, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(adv) != 32 {
		return QR{}, errors.New("wafake: QR has no 32-byte ADV secret")
	}
	q.ADVSecret = adv
	return q, nil
}

// Scan is the phone scanning a QR code: it links the device that showed
// it to the account, as WhatsApp does. It sends pair-success with a
// device identity signed by the phone's identity key and HMACed with the
// QR's ADV secret, checks the device's counter-signature in its
// pair-device-sign answer, registers the companion and ends the stream
// with code 515 so the device reconnects and logs in. It returns the new
// device's JID.
func (a *Account) Scan(code string) (types.JID, error) {
	q, err := ParseQR(code)
	if err != nil {
		return types.EmptyJID, err
	}
	a.s.mu.Lock()
	c := a.s.pending[q.Ref]
	a.s.mu.Unlock()
	if c == nil {
		return types.EmptyJID, fmt.Errorf("wafake: QR ref %q is not offered by any connection", q.Ref)
	}
	if c.noisePub != q.NoiseKey {
		return types.EmptyJID, errors.New("wafake: the QR's noise key is not the connection's")
	}
	pd := c.payload.GetDevicePairingData()
	if !bytes.Equal(pd.GetEIdent(), q.Identity[:]) {
		return types.EmptyJID, errors.New("wafake: the QR's identity key is not the registered one")
	}
	return a.link(c, q.Identity, q.ADVSecret, "android")
}

// ScanForged is a scan whose pair-success is HMACed with another secret
// than the QR's, as a corrupted or forged pairing would be: the device
// must refuse it (whatsmeow answers 401 hmac-mismatch). It returns the
// device's refusal as an error, or nil if the device accepted.
func (a *Account) ScanForged(code string) error {
	q, err := ParseQR(code)
	if err != nil {
		return err
	}
	a.s.mu.Lock()
	c := a.s.pending[q.Ref]
	a.s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("wafake: QR ref %q is not offered by any connection", q.Ref)
	}
	wrong := make([]byte, len(q.ADVSecret))
	rand.Read(wrong)
	_, err = a.link(c, q.Identity, wrong, "android")
	return err
}

// link pairs the unpaired connection c to the account: the exchange that
// follows a QR scan or an entered pairing code.
func (a *Account) link(c *conn, identity [32]byte, advSecret []byte, platform string) (types.JID, error) {
	s := a.s
	s.mu.Lock()
	for ref, pc := range s.pending {
		if pc == c {
			delete(s.pending, ref)
		}
	}
	dev := a.nextDevice
	a.nextDevice++
	a.keyIndex++
	keyIndex := a.keyIndex
	s.mu.Unlock()

	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID:     proto.Uint32(randUint32()),
		Timestamp: proto.Uint64(uint64(time.Now().Unix())),
		KeyIndex:  proto.Uint32(keyIndex),
	})
	if err != nil {
		return types.EmptyJID, err
	}
	accountSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*a.Identity.Priv),
		concat(wa.AdvAccountSignaturePrefix, details, identity[:]))
	signed, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentity{
		Details:             details,
		AccountSignatureKey: a.Identity.Pub[:],
		AccountSignature:    accountSig[:],
	})
	if err != nil {
		return types.EmptyJID, err
	}
	mac := hmac.New(sha256.New, advSecret)
	mac.Write(signed)
	container, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{Details: signed, HMAC: mac.Sum(nil)})
	if err != nil {
		return types.EmptyJID, err
	}
	jid := types.JID{User: a.Phone, Server: types.DefaultUserServer, Device: dev}
	lid := types.JID{User: a.LID, Server: types.HiddenUserServer, Device: dev}
	resp, err := c.request(waBinary.Node{
		Tag:   "iq",
		Attrs: waBinary.Attrs{"id": c.newID(), "type": "set", "from": types.ServerJID, "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-success", Content: []waBinary.Node{
			{Tag: "device-identity", Content: container},
			{Tag: "platform", Attrs: waBinary.Attrs{"name": platform}},
			{Tag: "device", Attrs: waBinary.Attrs{"jid": jid, "lid": lid}},
		}}},
	})
	if err != nil {
		return types.EmptyJID, err
	}
	if resp.AttrGetter().OptionalString("type") != "result" {
		return types.EmptyJID, fmt.Errorf("wafake: device refused pairing: %s", resp.XMLString())
	}
	di := resp.GetChildByTag("pair-device-sign", "device-identity")
	raw, _ := di.Content.([]byte)
	var self waAdv.ADVSignedDeviceIdentity
	if err := proto.Unmarshal(raw, &self); err != nil {
		return types.EmptyJID, fmt.Errorf("wafake: pair-device-sign: %w", err)
	}
	if !bytes.Equal(self.GetDetails(), details) || !bytes.Equal(self.GetAccountSignature(), accountSig[:]) {
		return types.EmptyJID, errors.New("wafake: pair-device-sign carries other details")
	}
	if len(self.GetDeviceSignature()) != 64 || !ecc.VerifySignature(ecc.NewDjbECPublicKey(identity),
		concat(wa.AdvDeviceSignaturePrefix, details, identity[:], a.Identity.Pub[:]), [64]byte(self.GetDeviceSignature())) {
		return types.EmptyJID, errors.New("wafake: the device's signature does not verify")
	}
	if ki := di.AttrGetter().OptionalInt("key-index"); uint32(ki) != keyIndex {
		return types.EmptyJID, fmt.Errorf("wafake: key-index %d, want %d", ki, keyIndex)
	}
	pd := c.payload.GetDevicePairingData()
	comp := &Companion{
		acct: a, JID: jid, LID: lid, NoiseKey: c.noisePub, Identity: identity,
		RegistrationID: binary.BigEndian.Uint32(pad4(pd.GetERegid())),
		SignedPreKey: PreKey{
			ID:        binary.BigEndian.Uint32(pad4(pd.GetESkeyID())),
			Signature: append([]byte(nil), pd.GetESkeySig()...),
		},
		KeyIndex: keyIndex,
	}
	copy(comp.SignedPreKey.Pub[:], pd.GetESkeyVal())
	s.mu.Lock()
	a.companions[dev] = comp
	s.mu.Unlock()
	s.logf("paired %s", jid)
	// The device reconnects with its new identity after this.
	c.streamError("515")
	return jid, nil
}

// login answers a registered device's payload with success, or with a
// failure when the device is not (or no longer) linked, its Noise key is
// not the one it paired with, or a Failure is set for the account.
func (c *conn) login() error {
	user := strconv.FormatUint(c.payload.GetUsername(), 10)
	jid := types.JID{User: user, Server: types.DefaultUserServer, Device: uint16(c.payload.GetDevice())}
	s := c.s
	s.mu.Lock()
	a := s.accounts[user]
	var comp *Companion
	if a != nil {
		comp = a.companions[jid.Device]
	}
	var fail *Failure
	var old *conn
	switch {
	case comp == nil || comp.NoiseKey != c.noisePub:
		fail = &Failure{Reason: 401}
	case a.failLogin != nil:
		fail = a.failLogin
		if fail.Once {
			a.failLogin = nil
		}
	default:
		old, comp.conn = comp.conn, c
		comp.logins++
		c.acct, c.dev = a, comp
	}
	s.mu.Unlock()
	if fail != nil {
		attrs := waBinary.Attrs{"reason": fail.Reason}
		if fail.Reason == 402 {
			attrs["code"] = fail.Code
			attrs["expire"] = int(fail.Expire / time.Second)
		}
		c.send(waBinary.Node{Tag: "failure", Attrs: attrs}) //nolint:errcheck
		c.closeSoon()
		return nil
	}
	if old != nil && old != c {
		old.streamError("", waBinary.Node{Tag: "conflict", Attrs: waBinary.Attrs{"type": "replaced"}})
	}
	s.logf("login %s", jid)
	return c.send(waBinary.Node{Tag: "success", Attrs: waBinary.Attrs{
		"t":        time.Now().Unix(),
		"lid":      comp.LID,
		"props":    "1",
		"abprops":  "1",
		"location": "fake",
	}})
}

// ended forgets c as its device's live connection.
func (c *conn) ended() {
	if c.dev == nil {
		return
	}
	c.s.mu.Lock()
	if c.dev.conn == c {
		c.dev.conn = nil
	}
	c.s.mu.Unlock()
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func pad4(b []byte) []byte {
	if len(b) >= 4 {
		return b[len(b)-4:]
	}
	return append(make([]byte, 4-len(b)), b...)
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// DropUnpaired closes every connection that is waiting to be paired
// without a word, as a network failure during the QR phase does.
// It returns how many it closed.
func (s *Server) DropUnpaired() int {
	s.mu.Lock()
	seen := map[*conn]bool{}
	for _, c := range s.pending {
		seen[c] = true
	}
	s.mu.Unlock()
	for c := range seen {
		c.closeNow()
	}
	return len(seen)
}

package wafake

// Phone-number pairing ("Link with phone number instead"), the server's
// and the phone's halves of what whatsmeow's pair-code.go (PairPhone,
// handleCodePairNotification) and notification.go (the notification
// type link_code_companion_reg) run:
//
//  1. companion_hello: the unpaired device sends an iq naming the phone
//     number's account, its ephemeral public key wrapped with the 8
//     character code it shows (salt 32 | iv 16 | AES-256-CTR ciphertext
//     32, the key PBKDF2-HMAC-SHA256 of the code, 2<<16 rounds, 32
//     bytes), its Noise key and how it presents itself. The server
//     answers with a pairing ref and keeps the request for the phone.
//  2. The phone's user types the code (Account.EnterCode): the phone
//     unwraps the companion's ephemeral key with it, wraps an ephemeral
//     key of its own the same way, and the server passes that on in a
//     notification (stage primary_hello) with the phone's identity key
//     and the ref.
//  3. companion_finish: the device sends a key bundle (its identity key,
//     the phone's identity key, 32 random bytes for the ADV secret)
//     sealed with AES-256-GCM under HKDF-SHA256(ephemeral shared secret,
//     salt, "link_code_pairing_key_bundle_encryption_key"), as salt 32 |
//     nonce 12 | ciphertext. The server passes it to the phone, which
//     opens it and derives the ADV secret: HKDF-SHA256(ephemeral shared
//     secret | identity shared secret | random, no salt, "adv_secret").
//  4. From there it is QR pairing's exchange (Account.link): pair-success
//     HMACed with that ADV secret, pair-device-sign, stream:error 515.
//
// AES-CTR has no integrity, so a wrong code is not noticed when the
// phone unwraps the companion's key: the phone ends up with a key no one
// holds, the two sides derive different shared secrets, and it is the
// key bundle's GCM tag that fails on the phone. That is the only place
// the protocol can tell, so the fake, like the phone, reports a wrong
// code there, after the device has answered the primary_hello; the
// phone then asks for a new code, so the request is dropped and the
// device stays unpaired (and on its QR codes).

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/curve25519"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

const (
	// codeAlphabet is the Crockford-like base32 alphabet of pairing
	// codes (whatsmeow's linkingBase32): no 0, I, O or U.
	codeAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
	// codeLen is the code's length without the dash whatsmeow shows.
	codeLen = 8
	// codeKeyRounds is the PBKDF2 iteration count for the code's key.
	codeKeyRounds = 2 << 16
	// wrappedKeyLen is a wrapped ephemeral key: salt, CTR iv, key.
	wrappedKeyLen = 32 + 16 + 32

	bundleKeyInfo = "link_code_pairing_key_bundle_encryption_key"
	advSecretInfo = "adv_secret"
)

// pairBrowsers are the browsers a companion_platform_display may name.
// whatsmeow's PairPhone says the server accepts only "Browser (OS)" with
// common browsers and OSes and answers 400 otherwise; the fake checks
// the shape and the browser (whatsmeow's PairClient* browsers) and takes
// any OS.
var (
	pairBrowsers = map[string]bool{"Chrome": true, "Edge": true, "Firefox": true, "IE": true, "Opera": true, "Safari": true}
	pairDisplay  = regexp.MustCompile(`^([A-Za-z]+) \(([^()]+)\)$`)
)

// codePairing is a device waiting for its phone to enter its code.
type codePairing struct {
	c       *conn
	acct    *Account
	ref     string
	jid     types.JID // the jid the device named
	wrapped []byte    // the companion's wrapped ephemeral key
	created time.Time

	// Guarded by s.mu. finish is made when the phone's user enters the
	// code (so at most once); the companion_finish stage arrives on it.
	finish chan waBinary.Node
}

func init() {
	preLoginIQs["md set link_code_companion_reg"] = (*conn).linkCodeCompanionReg
}

// linkCodeCompanionReg answers the device's stages of code pairing.
func (c *conn) linkCodeCompanionReg(n *waBinary.Node) {
	reg := n.GetChildByTag("link_code_companion_reg")
	switch reg.AttrGetter().OptionalString("stage") {
	case "companion_hello":
		c.companionHello(n, reg)
	case "companion_finish":
		c.companionFinish(n, reg)
	default:
		c.iqError(n, 400, "bad-request")
	}
}

// companionHello registers a device's request for a pairing code and
// answers with the ref it is known by. Anything malformed, a display
// name the server does not accept, and a number with no account get 400
// bad-request: the error the real server is known to give this iq
// (whatsmeow's PairPhone doc; PairPhone returns it as an *IQError). What
// the real server answers for a number without an account whatsmeow's
// code does not say; refusing it with the same 400 is the fake's choice.
func (c *conn) companionHello(n *waBinary.Node, reg waBinary.Node) {
	bad := func(why string) {
		c.s.logf("companion_hello refused: %s", why)
		c.iqError(n, 400, "bad-request")
	}
	if c.payload.GetDevicePairingData() == nil {
		bad("the connection is not a device registering")
		return
	}
	jid := reg.AttrGetter().OptionalJIDOrEmpty("jid")
	if jid.Server != types.DefaultUserServer || jid.Device != 0 || !isDigits(jid.User) {
		bad(fmt.Sprintf("jid %q is not a phone number's", jid))
		return
	}
	wrapped, _ := childBytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")
	if len(wrapped) != wrappedKeyLen {
		bad("no wrapped companion ephemeral key")
		return
	}
	if auth, _ := childBytes(reg, "companion_server_auth_key_pub"); len(auth) != 32 || [32]byte(auth) != c.noisePub {
		bad("companion_server_auth_key_pub is not the connection's Noise key")
		return
	}
	platform, _ := childBytes(reg, "companion_platform_id")
	if _, err := strconv.Atoi(string(platform)); err != nil {
		bad(fmt.Sprintf("companion_platform_id %q", platform))
		return
	}
	display, _ := childBytes(reg, "companion_platform_display")
	if m := pairDisplay.FindStringSubmatch(string(display)); m == nil || !pairBrowsers[m[1]] {
		bad(fmt.Sprintf("companion_platform_display %q is not \"Browser (OS)\"", display))
		return
	}
	if _, ok := childBytes(reg, "link_code_pairing_nonce"); !ok {
		bad("no link_code_pairing_nonce")
		return
	}
	// The ref is opaque to the device: whatsmeow keeps it as bytes and
	// only compares and echoes it.
	b := make([]byte, 24)
	rand.Read(b)
	ref := base64.StdEncoding.EncodeToString(b)

	s := c.s
	s.mu.Lock()
	a := s.accounts[jid.User]
	if a == nil {
		s.mu.Unlock()
		bad(fmt.Sprintf("no account %s", jid.User))
		return
	}
	// The device keeps only its newest request (whatsmeow overwrites its
	// linking cache), so its older ones are dead.
	for _, p := range s.codes {
		if p.c == c {
			s.dropCodeLocked(p)
		}
	}
	s.pruneCodesLocked()
	p := &codePairing{c: c, acct: a, ref: ref, jid: jid, wrapped: wrapped, created: time.Now()}
	s.codes[ref] = p
	s.phoneCodes[a.Phone] = p
	s.mu.Unlock()
	s.logf("pairing code requested for %s by %q (push notification %s)", a.Phone, display,
		reg.AttrGetter().OptionalString("should_show_push_notification"))
	c.result(n, waBinary.Node{Tag: "link_code_companion_reg", Content: []waBinary.Node{
		{Tag: "link_code_pairing_ref", Content: []byte(ref)},
	}})
}

// companionFinish takes the device's key bundle for the phone. The
// server cannot open it (only the phone can), so it checks the shape,
// answers the iq and passes the bundle on; whether the phone accepts it
// the device learns from pair-success or from nothing at all.
func (c *conn) companionFinish(n *waBinary.Node, reg waBinary.Node) {
	ref, _ := childBytes(reg, "link_code_pairing_ref")
	s := c.s
	s.mu.Lock()
	p := s.codes[string(ref)]
	var finish chan waBinary.Node
	if p != nil && p.c == c {
		finish = p.finish
	}
	s.mu.Unlock()
	if finish == nil {
		s.logf("companion_finish refused: ref %q has no primary_hello for this connection", ref)
		c.iqError(n, 400, "bad-request")
		return
	}
	bundle, _ := childBytes(reg, "link_code_pairing_wrapped_key_bundle")
	ident, _ := childBytes(reg, "companion_identity_public")
	if jid := reg.AttrGetter().OptionalJIDOrEmpty("jid"); jid != p.jid || len(ident) != 32 || len(bundle) < 32+12+16 {
		s.logf("companion_finish refused: malformed")
		c.iqError(n, 400, "bad-request")
		return
	}
	c.result(n)
	select {
	case finish <- reg:
	default: // a second finish for one hello: the phone already has one
	}
}

// EnterCode is the phone's user typing the code a device shows into
// "Link with phone number instead" (whatsmeow shows it as XXXX-XXXX;
// with or without the dash, any case). It runs the phone's half of code
// pairing for the account's newest pending request: the primary_hello
// to the device, the device's key bundle, and then the exchange that
// follows a QR scan. It returns the new device's JID once linked. A
// wrong code is an error and links nothing; as on the phone, the
// request is then used up and the device needs a new code.
func (a *Account) EnterCode(code string) (types.JID, error) {
	code, err := normalizeCode(code)
	if err != nil {
		return types.EmptyJID, err
	}
	s := a.s
	s.mu.Lock()
	s.pruneCodesLocked()
	p := s.phoneCodes[a.Phone]
	if p == nil {
		s.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("wafake: no device asked for a pairing code for %s", a.Phone)
	}
	if p.finish != nil {
		s.mu.Unlock()
		return types.EmptyJID, errors.New("wafake: a code was already entered for this request")
	}
	finish := make(chan waBinary.Node, 1)
	p.finish = finish
	s.mu.Unlock()
	fail := func(err error) (types.JID, error) {
		s.mu.Lock()
		s.dropCodeLocked(p)
		s.mu.Unlock()
		return types.EmptyJID, err
	}
	errWrong := errors.New("wafake: wrong pairing code: the device's key bundle does not open")

	companionEph, err := unwrapKey(code, p.wrapped)
	if err != nil {
		return fail(err)
	}
	eph := keys.NewKeyPair()
	wrapped, err := wrapKey(code, eph.Pub[:])
	if err != nil {
		return fail(err)
	}
	shared, err := curve25519.X25519(eph.Priv[:], companionEph)
	if err != nil {
		// A low-order point: only a wrong code unwraps to that.
		return fail(errWrong)
	}
	c := p.c
	err = c.send(waBinary.Node{
		Tag:   "notification",
		Attrs: waBinary.Attrs{"from": types.ServerJID, "id": c.newID(), "t": time.Now().Unix(), "type": "link_code_companion_reg"},
		Content: []waBinary.Node{{
			Tag: "link_code_companion_reg",
			// whatsmeow reads only the children; the stage names the step
			// as the device's own stages do.
			Attrs: waBinary.Attrs{"stage": "primary_hello"},
			Content: []waBinary.Node{
				{Tag: "link_code_pairing_wrapped_primary_ephemeral_pub", Content: wrapped},
				{Tag: "primary_identity_pub", Content: a.Identity.Pub[:]},
				{Tag: "link_code_pairing_ref", Content: []byte(p.ref)},
			},
		}},
	})
	if err != nil {
		return fail(err)
	}
	var fin waBinary.Node
	select {
	case fin = <-finish:
	case <-c.ctx.Done():
		select { // a finish read before the close still counts
		case fin = <-finish:
		default:
			return fail(errClosed)
		}
	case <-time.After(iqTimeout):
		return fail(errors.New("wafake: the device sent no companion_finish"))
	}

	bundle, _ := childBytes(fin, "link_code_pairing_wrapped_key_bundle")
	plain, err := openBundle(shared, bundle)
	if err != nil {
		s.logf("key bundle for %s does not open: wrong code", a.Phone)
		return fail(errWrong)
	}
	if len(plain) != 96 {
		return fail(fmt.Errorf("wafake: key bundle of %d bytes, want 96", len(plain)))
	}
	identity, primaryIdent, advRandom := [32]byte(plain[:32]), plain[32:64], plain[64:96]
	if [32]byte(primaryIdent) != *a.Identity.Pub {
		return fail(errors.New("wafake: the key bundle names another phone's identity"))
	}
	if sent, _ := childBytes(fin, "companion_identity_public"); string(sent) != string(identity[:]) {
		return fail(errors.New("wafake: the key bundle's identity is not the one the device sent"))
	}
	if string(c.payload.GetDevicePairingData().GetEIdent()) != string(identity[:]) {
		return fail(errors.New("wafake: the key bundle's identity is not the registered one"))
	}
	identShared, err := curve25519.X25519(a.Identity.Priv[:], identity[:])
	if err != nil {
		return fail(err)
	}
	advSecret, err := hkdf.Key(sha256.New, concat(shared, identShared, advRandom), nil, advSecretInfo, 32)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	s.dropCodeLocked(p)
	s.mu.Unlock()
	return a.link(c, identity, advSecret, "android")
}

// normalizeCode turns what the user typed into the 8 characters the key
// is derived from.
func normalizeCode(code string) (string, error) {
	c := strings.ToUpper(strings.ReplaceAll(code, "-", ""))
	if len(c) != codeLen || strings.Trim(c, codeAlphabet) != "" {
		return "", fmt.Errorf("wafake: %q is not a pairing code (8 of %s, optionally XXXX-XXXX)", code, codeAlphabet)
	}
	return c, nil
}

// codeCipher is AES-256-CTR keyed by PBKDF2 of the code with salt.
func codeCipher(code string, salt, iv []byte) (cipher.Stream, error) {
	key, err := pbkdf2.Key(sha256.New, code, salt, codeKeyRounds, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewCTR(b, iv), nil
}

// wrapKey wraps a public key with the code: salt | iv | ciphertext.
func wrapKey(code string, pub []byte) ([]byte, error) {
	out := make([]byte, wrappedKeyLen)
	rand.Read(out[:48])
	st, err := codeCipher(code, out[:32], out[32:48])
	if err != nil {
		return nil, err
	}
	st.XORKeyStream(out[48:], pub)
	return out, nil
}

// unwrapKey undoes wrapKey. With a wrong code it returns garbage, not an
// error: CTR does not authenticate.
func unwrapKey(code string, wrapped []byte) ([]byte, error) {
	st, err := codeCipher(code, wrapped[:32], wrapped[32:48])
	if err != nil {
		return nil, err
	}
	pub := make([]byte, 32)
	st.XORKeyStream(pub, wrapped[48:wrappedKeyLen])
	return pub, nil
}

// openBundle opens the device's key bundle: salt | nonce | AES-GCM
// ciphertext, keyed by HKDF of the ephemeral shared secret with salt.
func openBundle(shared, bundle []byte) ([]byte, error) {
	if len(bundle) < 32+12+16 {
		return nil, errors.New("wafake: key bundle too short")
	}
	key, err := hkdf.Key(sha256.New, shared, bundle[:32], bundleKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return gcm.Open(nil, bundle[32:44], bundle[44:], nil)
}

// childBytes is the content of n's child tag: bytes, or a string the
// binary encoding turned into a token or packed digits.
func childBytes(n waBinary.Node, tag string) ([]byte, bool) {
	ch, ok := n.GetOptionalChildByTag(tag)
	if !ok {
		return nil, false
	}
	switch v := ch.Content.(type) {
	case []byte:
		return v, true
	case string:
		return []byte(v), true
	}
	return nil, ch.Content == nil
}

// dropCodeLocked forgets a pending code pairing; the phone's newest
// request for the number is then the newest one left.
func (s *Server) dropCodeLocked(p *codePairing) {
	if s.codes[p.ref] != p {
		return
	}
	delete(s.codes, p.ref)
	if s.phoneCodes[p.acct.Phone] != p {
		return
	}
	delete(s.phoneCodes, p.acct.Phone)
	for _, q := range s.codes {
		if q.acct == p.acct && (s.phoneCodes[q.acct.Phone] == nil || q.created.After(s.phoneCodes[q.acct.Phone].created)) {
			s.phoneCodes[q.acct.Phone] = q
		}
	}
}

// pruneCodesLocked forgets the requests of closed connections: a code
// lives as long as the device's pairing connection (whatsmeow: at most
// the 160 s of its QR codes).
func (s *Server) pruneCodesLocked() {
	for _, p := range s.codes {
		if p.c.ctx.Err() != nil {
			s.dropCodeLocked(p)
		}
	}
}

package wafake

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/serialize"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/util/optional"
	"go.mau.fi/whatsmeow/types"
)

// signalSerializer encodes Signal messages and records as whatsmeow does
// (store.SignalProtobufSerializer is the same libsignal serializer).
var signalSerializer = serialize.NewProtoBufSerializer()

// phonePreKeyBatch is how many one-time prekeys the phone puts on the
// server at a time, as a phone refills its stock when it runs low.
const phonePreKeyBatch = 50

// signalState is the phone's Signal protocol state: its identity (the
// account's Identity, which whatsmeow stores as the main device's),
// registration id, signed and one-time prekeys, and the sessions and
// remote identities it has learnt. It implements libsignal's session,
// prekey, signed prekey and identity stores in memory; the phone's mutex
// guards it.
type signalState struct {
	identity      *identity.KeyPair
	regID         uint32
	signed        *record.SignedPreKey
	preKeys       map[uint32]*record.PreKey
	nextPreKey    uint32
	onServer      []uint32          // one-time prekey ids the server can still hand out
	sessions      map[string][]byte // serialized record.Session by address
	identities    map[string][32]byte
	signedHistory map[uint32]*record.SignedPreKey
}

func newSignalState(ident [32]byte, priv [32]byte) (*signalState, error) {
	st := &signalState{
		identity: identity.NewKeyPair(
			identity.NewKey(ecc.NewDjbECPublicKey(ident)),
			ecc.NewDjbECPrivateKey(priv),
		),
		regID:         1 + randUint32()%16380,
		preKeys:       map[uint32]*record.PreKey{},
		nextPreKey:    1,
		sessions:      map[string][]byte{},
		identities:    map[string][32]byte{},
		signedHistory: map[uint32]*record.SignedPreKey{},
	}
	kp, err := ecc.GenerateKeyPair()
	if err != nil {
		return nil, err
	}
	sig := ecc.CalculateSignature(st.identity.PrivateKey(), kp.PublicKey().Serialize())
	st.signed = record.NewSignedPreKey(1, time.Now().Unix(), kp, sig, signalSerializer.SignedPreKeyRecord)
	st.signedHistory[1] = st.signed
	if err := st.refill(); err != nil {
		return nil, err
	}
	return st, nil
}

// refill generates a batch of one-time prekeys and puts their public
// halves on the server.
func (st *signalState) refill() error {
	for range phonePreKeyBatch {
		kp, err := ecc.GenerateKeyPair()
		if err != nil {
			return err
		}
		id := st.nextPreKey
		st.nextPreKey++
		st.preKeys[id] = record.NewPreKey(id, kp, signalSerializer.PreKeyRecord)
		st.onServer = append(st.onServer, id)
	}
	return nil
}

// bundleKeys is what the server hands out for one device in answer to a
// prekey fetch: registration id, identity, signed prekey and (while any
// are left) one one-time prekey, which the fetch consumes.
type bundleKeys struct {
	RegID    uint32
	Identity [32]byte
	Signed   PreKey
	OneTime  *PreKey
}

// takeBundle consumes one of the phone's one-time prekeys on the server,
// refilling the stock first when it is empty.
func (st *signalState) takeBundle() (bundleKeys, error) {
	if len(st.onServer) == 0 {
		if err := st.refill(); err != nil {
			return bundleKeys{}, err
		}
	}
	id := st.onServer[0]
	st.onServer = st.onServer[1:]
	sig := st.signed.Signature()
	b := bundleKeys{
		RegID:    st.regID,
		Identity: st.identity.PublicKey().PublicKey().PublicKey(),
		Signed: PreKey{
			ID:        st.signed.ID(),
			Pub:       st.signed.KeyPair().PublicKey().PublicKey(),
			Signature: sig[:],
		},
		OneTime: &PreKey{ID: id, Pub: st.preKeys[id].KeyPair().PublicKey().PublicKey()},
	}
	return b, nil
}

func (b bundleKeys) bundle(device uint16) (*prekey.Bundle, error) {
	if len(b.Signed.Signature) != 64 {
		return nil, errors.New("signed prekey has no 64-byte signature")
	}
	ident := identity.NewKey(ecc.NewDjbECPublicKey(b.Identity))
	if b.OneTime == nil {
		return prekey.NewBundle(b.RegID, uint32(device), optional.NewEmptyUint32(), b.Signed.ID,
			nil, ecc.NewDjbECPublicKey(b.Signed.Pub), [64]byte(b.Signed.Signature), ident), nil
	}
	return prekey.NewBundle(b.RegID, uint32(device), optional.NewOptionalUint32(b.OneTime.ID), b.Signed.ID,
		ecc.NewDjbECPublicKey(b.OneTime.Pub), ecc.NewDjbECPublicKey(b.Signed.Pub), [64]byte(b.Signed.Signature), ident), nil
}

func (st *signalState) builder(addr *protocol.SignalAddress) *session.Builder {
	return session.NewBuilder(st, st, st, st, addr, signalSerializer)
}

// hasSession reports whether the phone has a session with addr.
func (st *signalState) hasSession(addr *protocol.SignalAddress) bool {
	_, ok := st.sessions[addr.String()]
	return ok
}

// encrypt pads plaintext and encrypts it for addr, first building a
// session from bundle when there is none. It returns the enc type
// ("pkmsg" until the other side has answered, then "msg") and the
// serialized ciphertext.
func (st *signalState) encrypt(addr *protocol.SignalAddress, bundle *prekey.Bundle, plaintext []byte) (string, []byte, error) {
	ctx := context.Background()
	b := st.builder(addr)
	if bundle != nil {
		if err := b.ProcessBundle(ctx, bundle); err != nil {
			return "", nil, fmt.Errorf("prekey bundle of %s: %w", addr, err)
		}
	} else if !st.hasSession(addr) {
		return "", nil, fmt.Errorf("no session with %s", addr)
	}
	ct, err := session.NewCipher(b, addr).Encrypt(ctx, padMessage(plaintext))
	if err != nil {
		return "", nil, err
	}
	if ct.Type() == protocol.PREKEY_TYPE {
		return "pkmsg", ct.Serialize(), nil
	}
	return "msg", ct.Serialize(), nil
}

// decrypt decrypts a pkmsg or msg from addr and strips its padding. For
// a pkmsg it also returns the sender's identity key.
func (st *signalState) decrypt(addr *protocol.SignalAddress, encType string, content []byte) ([]byte, *[32]byte, error) {
	ctx := context.Background()
	cipher := session.NewCipher(st.builder(addr), addr)
	var plain []byte
	var ident *[32]byte
	switch encType {
	case "pkmsg":
		m, err := protocol.NewPreKeySignalMessageFromBytes(content, signalSerializer.PreKeySignalMessage, signalSerializer.SignalMessage)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing pkmsg: %w", err)
		}
		k := m.IdentityKey().PublicKey().PublicKey()
		ident = &k
		if plain, err = cipher.DecryptMessage(ctx, m); err != nil {
			return nil, nil, err
		}
	case "msg":
		m, err := protocol.NewSignalMessageFromBytes(content, signalSerializer.SignalMessage)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing msg: %w", err)
		}
		if plain, err = cipher.Decrypt(ctx, m); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("enc type %q is not a 1:1 Signal message", encType)
	}
	plain, err := unpadMessage(plain)
	return plain, ident, err
}

// padMessage appends WhatsApp's random padding to a v2 plaintext: n
// bytes of value n, 1 <= n <= 15 (whatsmeow: padMessage).
func padMessage(plain []byte) []byte {
	n := byte(randUint32() & 0xf)
	if n == 0 {
		n = 0xf
	}
	out := append([]byte(nil), plain...)
	for range n {
		out = append(out, n)
	}
	return out
}

// unpadMessage strips and checks the padding padMessage adds
// (whatsmeow: unpadMessage).
func unpadMessage(plain []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, errors.New("plaintext is empty")
	}
	n := int(plain[len(plain)-1])
	if n == 0 || n > len(plain) {
		return nil, errors.New("plaintext has no valid padding")
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, errors.New("plaintext has no valid padding")
		}
	}
	return plain[:len(plain)-n], nil
}

// signalAddress is the Signal address the fake keys a device's sessions
// by: its hidden-user (LID) device JID, whichever way a stanza
// addressed it.
func signalAddress(lid types.JID) *protocol.SignalAddress { return lid.SignalAddress() }

// libsignal's IdentityKey store.

func (st *signalState) GetIdentityKeyPair() *identity.KeyPair { return st.identity }
func (st *signalState) GetLocalRegistrationID() uint32        { return st.regID }

func (st *signalState) SaveIdentity(_ context.Context, addr *protocol.SignalAddress, key *identity.Key) error {
	st.identities[addr.String()] = key.PublicKey().PublicKey()
	return nil
}

// IsTrustedIdentity trusts on first use, as whatsmeow's store does.
func (st *signalState) IsTrustedIdentity(_ context.Context, addr *protocol.SignalAddress, key *identity.Key) (bool, error) {
	known, ok := st.identities[addr.String()]
	return !ok || known == key.PublicKey().PublicKey(), nil
}

// libsignal's PreKey store.

func (st *signalState) LoadPreKey(_ context.Context, id uint32) (*record.PreKey, error) {
	return st.preKeys[id], nil
}

func (st *signalState) StorePreKey(_ context.Context, id uint32, r *record.PreKey) error {
	st.preKeys[id] = r
	return nil
}

func (st *signalState) ContainsPreKey(_ context.Context, id uint32) (bool, error) {
	_, ok := st.preKeys[id]
	return ok, nil
}

func (st *signalState) RemovePreKey(_ context.Context, id uint32) error {
	delete(st.preKeys, id)
	return nil
}

// libsignal's SignedPreKey store.

func (st *signalState) LoadSignedPreKey(_ context.Context, id uint32) (*record.SignedPreKey, error) {
	return st.signedHistory[id], nil
}

func (st *signalState) LoadSignedPreKeys(context.Context) ([]*record.SignedPreKey, error) {
	out := make([]*record.SignedPreKey, 0, len(st.signedHistory))
	for _, r := range st.signedHistory {
		out = append(out, r)
	}
	return out, nil
}

func (st *signalState) StoreSignedPreKey(_ context.Context, id uint32, r *record.SignedPreKey) error {
	st.signedHistory[id] = r
	return nil
}

func (st *signalState) ContainsSignedPreKey(_ context.Context, id uint32) (bool, error) {
	_, ok := st.signedHistory[id]
	return ok, nil
}

func (st *signalState) RemoveSignedPreKey(_ context.Context, id uint32) error {
	delete(st.signedHistory, id)
	return nil
}

// libsignal's Session store. Records are kept serialized, so a failed
// decryption that touched a loaded record leaves the stored one as it
// was.

func (st *signalState) LoadSession(_ context.Context, addr *protocol.SignalAddress) (*record.Session, error) {
	raw, ok := st.sessions[addr.String()]
	if !ok {
		return record.NewSession(signalSerializer.Session, signalSerializer.State), nil
	}
	return record.NewSessionFromBytes(raw, signalSerializer.Session, signalSerializer.State)
}

func (st *signalState) GetSubDeviceSessions(_ context.Context, name string) ([]uint32, error) {
	var out []uint32
	for dev := uint32(0); dev < 256; dev++ {
		if _, ok := st.sessions[protocol.NewSignalAddress(name, dev).String()]; ok {
			out = append(out, dev)
		}
	}
	return out, nil
}

func (st *signalState) StoreSession(_ context.Context, addr *protocol.SignalAddress, r *record.Session) error {
	st.sessions[addr.String()] = r.Serialize()
	return nil
}

func (st *signalState) ContainsSession(_ context.Context, addr *protocol.SignalAddress) (bool, error) {
	return st.hasSession(addr), nil
}

func (st *signalState) DeleteSession(_ context.Context, addr *protocol.SignalAddress) error {
	delete(st.sessions, addr.String())
	return nil
}

func (st *signalState) DeleteAllSessions(context.Context) error {
	st.sessions = map[string][]byte{}
	return nil
}

// preKeyID encodes a prekey id as the 3 bytes the protocol carries.
func preKeyID(id uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], id)
	return b[1:]
}

package wafake

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// Account is a WhatsApp account as the server knows it: its phone (the
// primary device, 0) with a Signal identity, and the companion devices
// linked to it (wad's sessions).
type Account struct {
	s *Server
	// appState is the account's app state (appstate.go), guarded by
	// appStates.mu.
	appState *appState
	// Phone is the account's number, the user part of its JID.
	Phone string
	// LID is the user part of its hidden-user JID (@lid).
	LID string
	// PushName is the name the account shows.
	PushName string
	// Identity is the phone's Signal identity key: it signs each
	// companion's device identity when pairing.
	Identity *keys.KeyPair

	// Guarded by s.mu.
	companions map[uint16]*Companion
	nextDevice uint16
	keyIndex   uint32
	failLogin  *Failure
	// What others see of the account (profile.go, usync.go): its about
	// text and when it was set, its profile picture, and its verified
	// business name (empty: a personal account).
	about    string
	aboutSet time.Time
	picture  *picture
	business string
	// Its presence (presence.go): whether the phone is online, when it
	// was last seen, and the devices subscribed to it, with the
	// connection that subscribed.
	online      bool
	lastSeen    time.Time
	subscribers map[*Companion]*conn
	// Calls it placed that are not over (call.go), by call id.
	calls map[string]*call
	// The refusals of its calls (CallRejects), and a channel closed
	// when one is added.
	rejects  []CallReject
	rejected chan struct{}

	// ph is the phone in conversations: its Signal state and what it
	// received (message.go); its own mutexes guard it.
	ph phone
}

// Companion is a device linked to an account: what it registered when
// pairing and what it uploaded since.
type Companion struct {
	acct *Account
	// JID is the device's phone-number JID (user:device@s.whatsapp.net).
	JID types.JID
	// LID is the device's hidden-user JID (user:device@lid).
	LID types.JID
	// NoiseKey is the static key the device must present at login.
	NoiseKey [32]byte
	// Identity is the device's Signal identity key.
	Identity [32]byte
	// RegistrationID is the device's Signal registration id.
	RegistrationID uint32
	// SignedPreKey is the device's signed prekey (id, public key,
	// signature by Identity).
	SignedPreKey PreKey
	// KeyIndex is the index the phone gave it in its ADV identity.
	KeyIndex uint32

	// Guarded by acct.s.mu.
	preKeys []PreKey // uploaded, unused one-time prekeys
	conn    *conn    // the logged-in connection, if any
	logins  int
	active  *conn     // conn, once it went active (message.go)
	outbox  []outItem // stanzas held until acknowledged (message.go)
	acks    []Ack     // acks the device sent (message.go)

	// sendMu keeps deliveries to the device in order (message.go).
	sendMu sync.Mutex
}

// PreKey is a Signal prekey as uploaded: id, public key and, for a signed
// prekey, the identity's signature.
type PreKey struct {
	ID        uint32
	Pub       [32]byte
	Signature []byte
}

// Failure is what the server answers a login with instead of success:
// a <failure reason=.../> node. Reasons whatsmeow knows: 401 logged out,
// 402 temporarily banned (Code and Expire say why and how long), 403
// main device gone (the phone's account logged out or deleted), 405
// client outdated, 406 unknown logout (WhatsApp Web: banned), 503
// service unavailable. 401, 403 and 406 make whatsmeow delete the
// device (events.LoggedOut with OnConnect).
type Failure struct {
	Reason int
	// Code is the ban reason code (reason 402).
	Code int
	// Expire is how long the ban lasts (reason 402).
	Expire time.Duration
	// Once makes the failure answer only the next login.
	Once bool
}

// AddAccount registers an account with the phone number phone (digits,
// country code first) and a push name, and returns it.
func (s *Server) AddAccount(phone, pushName string) (*Account, error) {
	if !isDigits(phone) {
		return nil, fmt.Errorf("wafake: phone %q is not digits", phone)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[phone]; a != nil {
		return nil, fmt.Errorf("wafake: account %s exists", phone)
	}
	var b [6]byte
	rand.Read(b[:])
	lid := strconv.FormatUint(100000000000000+binary.BigEndian.Uint64(append([]byte{0, 0}, b[:]...))%899999999999999, 10)
	a := &Account{
		s: s, Phone: phone, LID: lid, PushName: pushName, Identity: keys.NewKeyPair(),
		companions: map[uint16]*Companion{}, nextDevice: 1,
		subscribers: map[*Companion]*conn{}, calls: map[string]*call{},
	}
	s.accounts[phone] = a
	s.lids[lid] = a
	return a, nil
}

// Account returns the account with phone number phone, or nil.
func (s *Server) Account(phone string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[phone]
}

// JID is the account's phone-number JID.
func (a *Account) JID() types.JID { return types.NewJID(a.Phone, types.DefaultUserServer) }

// LIDJID is the account's hidden-user JID.
func (a *Account) LIDJID() types.JID { return types.NewJID(a.LID, types.HiddenUserServer) }

// Companions returns the devices linked to the account, by device number.
func (a *Account) Companions() []types.JID {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	var out []types.JID
	for _, c := range a.companions {
		out = append(out, c.JID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// Companion returns the linked device jid, or nil.
func (s *Server) Companion(jid types.JID) *Companion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.companionLocked(jid)
}

func (s *Server) companionLocked(jid types.JID) *Companion {
	var a *Account
	switch jid.Server {
	case types.DefaultUserServer:
		a = s.accounts[jid.User]
	case types.HiddenUserServer:
		a = s.lids[jid.User]
	}
	if a == nil {
		return nil
	}
	return a.companions[jid.Device]
}

// Linked counts the companion devices linked to any account: what every
// phone's "Linked devices" list shows in total.
func (s *Server) Linked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.accounts {
		n += len(a.companions)
	}
	return n
}

// Online reports whether the device jid has a logged-in connection.
func (s *Server) Online(jid types.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.companionLocked(jid)
	return c != nil && c.conn != nil
}

// Logins counts the successful logins of device jid so far.
func (s *Server) Logins(jid types.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.companionLocked(jid); c != nil {
		return c.logins
	}
	return 0
}

// PreKeyCount is how many one-time prekeys device jid has on the server.
func (s *Server) PreKeyCount(jid types.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.companionLocked(jid); c != nil {
		return len(c.preKeys)
	}
	return 0
}

// RemoveDevice unlinks jid as the phone's "Log out" under Linked devices
// does: the device is forgotten and its live connection gets
// stream:error 401 with conflict type device_removed (whatsmeow:
// events.LoggedOut). It reports whether the device was linked.
func (s *Server) RemoveDevice(jid types.JID) bool {
	s.mu.Lock()
	c := s.companionLocked(jid)
	var live *conn
	if c != nil {
		delete(c.acct.companions, c.JID.Device)
		live, c.conn = c.conn, nil
	}
	s.mu.Unlock()
	if live != nil {
		live.streamError("401", waBinary.Node{Tag: "conflict", Attrs: waBinary.Attrs{"type": "device_removed"}})
	}
	return c != nil
}

// Replace ends device jid's live connection with stream:error conflict
// type replaced, as when another client logs in with the same device
// (whatsmeow: events.StreamReplaced). It reports whether one was live.
func (s *Server) Replace(jid types.JID) bool {
	live := s.detach(jid)
	if live != nil {
		live.streamError("", waBinary.Node{Tag: "conflict", Attrs: waBinary.Attrs{"type": "replaced"}})
	}
	return live != nil
}

// Drop closes device jid's live connection without a word, as a network
// failure does; whatsmeow reconnects on its own. It reports whether one
// was live.
func (s *Server) Drop(jid types.JID) bool {
	live := s.detach(jid)
	if live != nil {
		live.closeNow()
	}
	return live != nil
}

func (s *Server) detach(jid types.JID) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.companionLocked(jid)
	if c == nil {
		return nil
	}
	live := c.conn
	c.conn = nil
	return live
}

// FailLogin makes the logins of device jid's account fail with f until
// cleared with a nil f (or, with f.Once, for the next login only).
func (s *Server) FailLogin(jid types.JID, f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[jid.User]
	if jid.Server == types.HiddenUserServer {
		a = s.lids[jid.User]
	}
	if a != nil {
		a.failLogin = f
	}
}

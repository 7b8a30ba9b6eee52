package wafake

// App state: the syncd collections (critical_block, critical_unblock_low,
// regular_high, regular, regular_low) that an account's devices keep in
// step through the server, as encrypted patches the server stores and
// hands out by version without reading them. The keys they are
// encrypted with are the phone's: it shares them with a companion in a
// peer ProtocolMessage APP_STATE_SYNC_KEY_SHARE. whatsmeow: appstate.go
// (fetchAppStatePatches, sendAppState and the 409 conflict it retries
// on), appstate/decode.go (ParsePatchList, DecodePatches),
// appstate/encode.go (EncodePatch, BuildSettingPushName),
// appstate/keys.go (expandAppStateKeys), appstate/hash.go
// (generateContentMAC) and message.go (handleProtocolMessage,
// handleAppStateSyncKeyShare).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mau.fi/libsignal/keys/prekey"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waServerSync"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/cbcutil"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"google.golang.org/protobuf/proto"
)

func init() {
	// Fetching patches and sending one are the same query: a <sync>
	// with a <collection> per name, a <patch> in it for a send.
	loggedInIQs["w:sync:app:state set sync"] = (*conn).appStateSync
}

// appStateCollections are the collections WhatsApp keeps
// (appstate.AllPatchNames).
var appStateCollections = []string{"critical_block", "critical_unblock_low", "regular_high", "regular", "regular_low"}

// appStateKey is an app state sync key as the phone makes and shares it.
type appStateKey struct {
	id, data    []byte
	fingerprint *waE2E.AppStateSyncKeyFingerprint
	timestamp   int64 // unix ms
}

// appState is an account's app state on the server (its collections'
// patches, each with its version: patches[i] is version i+1) and the
// phone's key, with the collections each companion fetched since the
// key was last shared with it (what ShareAppStateKeys waits for).
type appState struct {
	key         *appStateKey
	collections map[string][][]byte
	fetched     map[*Companion]map[string]bool
	changed     chan struct{}
}

// appStates guards the app state of every account (Account.appState).
var appStates struct{ mu sync.Mutex }

// appStateLocked returns a's app state, creating it; appStates.mu must
// be held.
func appStateLocked(a *Account) *appState {
	if a.appState == nil {
		a.appState = &appState{collections: map[string][][]byte{}, fetched: map[*Companion]map[string]bool{}}
	}
	return a.appState
}

func (st *appState) notifyLocked() {
	if st.changed != nil {
		close(st.changed)
		st.changed = nil
	}
}

// keyLocked returns the phone's app state sync key, making it on first
// use: a 6-byte id (WhatsApp's are a 2-byte device and a 4-byte
// counter), 32 random bytes, a fingerprint and its time.
func (st *appState) keyLocked() *appStateKey {
	if st.key == nil {
		id := make([]byte, 6)
		binary.BigEndian.PutUint32(id[2:], randUint32()%0x10000)
		data := make([]byte, 32)
		rand.Read(data)
		st.key = &appStateKey{
			id: id, data: data, timestamp: time.Now().UnixMilli(),
			fingerprint: &waE2E.AppStateSyncKeyFingerprint{
				RawID: proto.Uint32(randUint32()), CurrentIndex: proto.Uint32(0), DeviceIndexes: []uint32{0},
			},
		}
	}
	return st.key
}

// appStateSync answers w:sync:app:state: per <collection name version
// return_snapshot>, without a <patch> the patches stored since version
// (all of them for a snapshot request: the fake keeps no snapshots) in
// <patches>, with the collection's current version; with a <patch>
// (sendAppState), the patch stored as the next version when version is
// the current one, answered with the new version, else type="error"
// with <error code="409" text="conflict"/> and the patches the device
// lacks, which whatsmeow applies before it retries. A push name setting
// in a stored patch is read by the phone, which holds the key, and
// becomes the account's push name.
func (c *conn) appStateSync(n *waBinary.Node) {
	var out []waBinary.Node
	var stored [][]byte
	appStates.mu.Lock()
	st := appStateLocked(c.acct)
	syncNode := n.GetChildByTag("sync")
	for _, coll := range syncNode.GetChildren() {
		if coll.Tag != "collection" {
			continue
		}
		ag := coll.AttrGetter()
		name := ag.OptionalString("name")
		version := uint64(ag.OptionalInt("version"))
		snapshot := ag.OptionalBool("return_snapshot")
		known := false
		for _, k := range appStateCollections {
			known = known || k == name
		}
		if !known {
			out = append(out, waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": name, "type": "error"},
				Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": "400", "text": "bad-request"}}}})
			continue
		}
		patches := st.collections[name]
		current := uint64(len(patches))
		if snapshot {
			version = 0
		}
		if version > current {
			version = current
		}
		since := func() waBinary.Node {
			list := make([]waBinary.Node, 0, current-version)
			for _, p := range patches[version:] {
				list = append(list, waBinary.Node{Tag: "patch", Content: p})
			}
			return waBinary.Node{Tag: "patches", Content: list}
		}
		p, isSend := coll.GetOptionalChildByTag("patch")
		if !isSend {
			if f := st.fetched[c.dev]; f != nil {
				f[name] = true
			}
			out = append(out, waBinary.Node{Tag: "collection",
				Attrs:   waBinary.Attrs{"name": name, "version": current},
				Content: []waBinary.Node{since()}})
			continue
		}
		raw, _ := p.Content.([]byte)
		var patch waServerSync.SyncdPatch
		if err := proto.Unmarshal(raw, &patch); err != nil || len(patch.GetMutations()) == 0 {
			out = append(out, waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": name, "type": "error"},
				Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": "400", "text": "bad-request"}}}})
			continue
		}
		if ag.OptionalInt("version") != int(current) {
			out = append(out, waBinary.Node{Tag: "collection",
				Attrs: waBinary.Attrs{"name": name, "type": "error", "version": current},
				Content: []waBinary.Node{
					{Tag: "error", Attrs: waBinary.Attrs{"code": "409", "text": "conflict"}},
					since(),
				}})
			continue
		}
		patch.Version = &waServerSync.SyncdVersion{Version: proto.Uint64(current + 1)}
		b, err := proto.Marshal(&patch)
		if err != nil {
			appStates.mu.Unlock()
			c.iqError(n, 500, "internal-server-error")
			return
		}
		st.collections[name] = append(patches, b)
		stored = append(stored, b)
		out = append(out, waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": name, "version": current + 1}})
	}
	var key *appStateKey
	if st.key != nil {
		k := *st.key
		key = &k
	}
	st.notifyLocked()
	appStates.mu.Unlock()
	for _, b := range stored {
		if name, ok := key.pushName(b); ok {
			c.s.mu.Lock()
			c.acct.PushName = name
			c.s.mu.Unlock()
		}
	}
	c.result(n, waBinary.Node{Tag: "sync", Content: out})
}

// CurrentPushName returns the account's push name under the server's
// lock: what a device's push name setting changed it to, which is
// written while devices are connected (reading PushName then races).
func (a *Account) CurrentPushName() string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.PushName
}

// pushName is the phone reading a stored patch: the name of its last
// setting_pushName mutation whose value MAC verifies under the phone's
// key.
func (k *appStateKey) pushName(raw []byte) (string, bool) {
	if k == nil {
		return "", false
	}
	var patch waServerSync.SyncdPatch
	if proto.Unmarshal(raw, &patch) != nil {
		return "", false
	}
	exp := hkdfutil.SHA256(k.data, nil, []byte("WhatsApp Mutation Keys"), 160)
	valueEnc, valueMAC := exp[32:64], exp[64:96]
	name, found := "", false
	for _, m := range patch.GetMutations() {
		rec := m.GetRecord()
		if m.GetOperation() != waServerSync.SyncdMutation_SET || !hmac.Equal(rec.GetKeyID().GetID(), k.id) {
			continue
		}
		blob := rec.GetValue().GetBlob()
		if len(blob) < 16+16+32 {
			continue
		}
		content, mac := blob[:len(blob)-32], blob[len(blob)-32:]
		var keyLen [8]byte
		binary.BigEndian.PutUint64(keyLen[:], uint64(len(k.id)+1))
		h := hmac.New(sha512.New, valueMAC)
		h.Write([]byte{byte(waServerSync.SyncdMutation_SET) + 1})
		h.Write(k.id)
		h.Write(content)
		h.Write(keyLen[:])
		if !hmac.Equal(h.Sum(nil)[:32], mac) {
			continue
		}
		pt, err := cbcutil.Decrypt(valueEnc, content[:16], append([]byte(nil), content[16:]...))
		if err != nil {
			continue
		}
		var data waSyncAction.SyncActionData
		if proto.Unmarshal(pt, &data) != nil {
			continue
		}
		var index []string
		if json.Unmarshal(data.GetIndex(), &index) != nil || len(index) == 0 || index[0] != "setting_pushName" {
			continue
		}
		im := hmac.New(sha256.New, exp[0:32])
		im.Write(data.GetIndex())
		if !hmac.Equal(im.Sum(nil), rec.GetIndex().GetBlob()) {
			continue
		}
		if ps := data.GetValue().GetPushNameSetting(); ps != nil && ps.GetName() != "" {
			name, found = ps.GetName(), true
		}
	}
	return name, found
}

// ShareAppStateKeys is the account's phone sharing its app state sync
// key with its companion device (a phone-number or LID device JID), as
// the real phone does after linking a device; the fake's phone does it
// only when asked, so that what a linked device is sent stays as tests
// expect. It is a ProtocolMessage APP_STATE_SYNC_KEY_SHARE,
// Signal-encrypted for the device alone and sent as a peer message
// (category="peer", type="protocol") from the account, held until the
// device is active. whatsmeow stores the key, answers with a peer_msg
// receipt and fetches every collection it has not synced; this returns
// once the device has fetched all five after the share (as a newly
// linked device does; from then on it can send app state, such as a
// push name change), or with ctx's error.
func (a *Account) ShareAppStateKeys(ctx context.Context, device types.JID) error {
	s := a.s
	s.mu.Lock()
	var comp *Companion
	if device.User == a.Phone || device.User == a.LID {
		comp = a.companions[device.Device]
	}
	s.mu.Unlock()
	if device.Device == 0 || comp == nil {
		return fmt.Errorf("wafake: %s is not a companion of %s", device, a.Phone)
	}
	appStates.mu.Lock()
	st := appStateLocked(a)
	k := *st.keyLocked()
	fetched := map[string]bool{}
	st.fetched[comp] = fetched
	appStates.mu.Unlock()
	msg := &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE.Enum(),
		AppStateSyncKeyShare: &waE2E.AppStateSyncKeyShare{Keys: []*waE2E.AppStateSyncKey{{
			KeyID: &waE2E.AppStateSyncKeyId{KeyID: k.id},
			KeyData: &waE2E.AppStateSyncKeyData{
				KeyData: k.data, Fingerprint: k.fingerprint, Timestamp: proto.Int64(k.timestamp),
			},
		}}},
	}}
	if err := a.sendPeer(comp, msg); err != nil {
		return err
	}
	for {
		appStates.mu.Lock()
		if len(fetched) == len(appStateCollections) {
			appStates.mu.Unlock()
			return nil
		}
		if st.changed == nil {
			st.changed = make(chan struct{})
		}
		ch := st.changed
		appStates.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wafake: %s did not fetch app state after the key share: %w", comp.JID, ctx.Err())
		}
	}
}

// sendPeer is the phone sending a protocol message to one of its own
// companions: encrypted for the device alone (a session built from its
// prekey bundle when there is none), as <message from=account
// type="protocol" category="peer"><enc/></message>.
func (a *Account) sendPeer(comp *Companion, msg *waE2E.Message) error {
	s := a.s
	plaintext, err := proto.Marshal(msg)
	if err != nil {
		return err
	}
	a.ph.sendMu.Lock()
	defer a.ph.sendMu.Unlock()
	addr := comp.LID
	a.ph.mu.Lock()
	st, err := a.signalLocked()
	need := err == nil && !st.hasSession(signalAddress(addr))
	a.ph.mu.Unlock()
	if err != nil {
		return err
	}
	var bundle *prekey.Bundle
	if need {
		bk, ok := s.takeBundle(addr)
		if !ok {
			return fmt.Errorf("wafake: no prekey bundle for %s", addr)
		}
		if bundle, err = bk.bundle(addr.Device); err != nil {
			return err
		}
	}
	a.ph.mu.Lock()
	encType, ct, err := st.encrypt(signalAddress(addr), bundle, plaintext)
	a.ph.mu.Unlock()
	if err != nil {
		return err
	}
	if len(ct) == 0 {
		return errors.New("wafake: empty ciphertext")
	}
	from := a.JID()
	n := waBinary.Node{Tag: "message", Attrs: waBinary.Attrs{
		"from": from, "id": newMessageID(), "t": time.Now().Unix(), "type": "protocol", "category": "peer",
		"push_priority": "high_force",
	}, Content: []waBinary.Node{{Tag: "enc", Attrs: waBinary.Attrs{"v": "2", "type": encType}, Content: ct}}}
	s.deliver(comp, n, from, "")
	return nil
}

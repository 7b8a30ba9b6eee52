package whatsmeow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

func init() {
	for _, m := range []string{
		ctl.MethodCheck, ctl.MethodContacts, ctl.MethodContactInfo, ctl.MethodChats,
		ctl.MethodProfile, ctl.MethodProfileSet, ctl.MethodPresenceSubscribe, ctl.MethodCallReject,
	} {
		ops[m] = true
	}
}

// upstream wraps an error of WhatsApp or the network.
func upstream(what string, err error) error {
	var ce *ctl.Error
	if errors.As(err, &ce) {
		return err
	}
	return ctl.Errorf(ctl.CodeUpstream, "%s: %v", what, err)
}

// digits returns the digits of a phone number.
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// checkPhones asks WhatsApp which of op.Phones are on WhatsApp (one
// usync query; the daemon paces them). WhatsApp answers by phone number;
// the LID is added where the store knows it.
func (s *session) checkPhones(ctx context.Context, r *run, op sessions.CheckPhones) (ctl.CheckResult, error) {
	res := ctl.CheckResult{Results: make([]ctl.PhoneCheck, len(op.Phones))}
	for i, p := range op.Phones {
		res.Results[i] = ctl.PhoneCheck{Phone: p}
	}
	if len(op.Phones) == 0 {
		return res, nil
	}
	answers, err := r.cli.IsOnWhatsApp(ctx, op.Phones)
	if err != nil {
		return ctl.CheckResult{}, upstream("checking the numbers", err)
	}
	byDigits := map[string]types.IsOnWhatsAppResponse{}
	for _, a := range answers {
		byDigits[digits(a.Query)] = a
	}
	for i := range res.Results {
		pc := &res.Results[i]
		a, ok := byDigits[digits(pc.Phone)]
		if !ok || !a.IsIn {
			continue
		}
		pc.OnWhatsApp = true
		pc.JID = a.JID.ToNonAD().String()
		if a.VerifiedName != nil {
			pc.Business = true
			pc.BusinessName = a.VerifiedName.Details.GetVerifiedName()
		}
		if lid, err := r.cli.Store.LIDs.GetLIDForPN(ctx, a.JID.ToNonAD()); err == nil && !lid.IsEmpty() {
			pc.LID = lid.ToNonAD().String()
		}
	}
	return res, nil
}

// pnLID returns the phone-number and LID forms of user jid that the
// store knows (either may be empty).
func pnLID(ctx context.Context, cli *wa.Client, jid types.JID) (pn, lid types.JID) {
	jid = jid.ToNonAD()
	switch jid.Server {
	case types.HiddenUserServer:
		lid = jid
		if p, err := cli.Store.LIDs.GetPNForLID(ctx, jid); err == nil && !p.IsEmpty() {
			pn = p.ToNonAD()
		}
	case types.DefaultUserServer:
		pn = jid
		if l, err := cli.Store.LIDs.GetLIDForPN(ctx, jid); err == nil && !l.IsEmpty() {
			lid = l.ToNonAD()
		}
	}
	return pn, lid
}

// contactOf fills a Contact for a person known as pn and/or lid.
func contactOf(pn, lid types.JID, info types.ContactInfo) ctl.Contact {
	c := ctl.Contact{Name: info.FullName, FirstName: info.FirstName, PushName: info.PushName, BusinessName: info.BusinessName}
	if !pn.IsEmpty() {
		c.JID, c.Phone = pn.String(), "+"+pn.User
		if !lid.IsEmpty() {
			c.LID = lid.String()
		}
	} else {
		c.JID = lid.String()
	}
	return c
}

// merge fills the empty fields of a from b.
func mergeContact(a, b types.ContactInfo) types.ContactInfo {
	if a.FullName == "" {
		a.FullName = b.FullName
	}
	if a.FirstName == "" {
		a.FirstName = b.FirstName
	}
	if a.PushName == "" {
		a.PushName = b.PushName
	}
	if a.BusinessName == "" {
		a.BusinessName = b.BusinessName
	}
	a.Found = a.Found || b.Found
	return a
}

// listContacts returns the people the store knows: the address book
// synced from the phone (full and first names, through app state), and
// everyone whose push name or business name whatsmeow learnt from
// messages. An entry stored under a LID and one under its phone number
// are one contact.
func (s *session) listContacts(ctx context.Context, r *run) (ctl.ContactsResult, error) {
	all, err := r.cli.Store.Contacts.GetAllContacts(ctx)
	if err != nil {
		return ctl.ContactsResult{}, ctl.Errorf(ctl.CodeInternal, "reading the contact store: %v", err)
	}
	own := types.EmptyJID
	if r.cli.Store.ID != nil {
		own = r.cli.Store.ID.ToNonAD()
	}
	type entry struct {
		pn, lid types.JID
		info    types.ContactInfo
	}
	merged := map[string]*entry{}
	var order []string
	for jid, info := range all {
		if jid.Server != types.DefaultUserServer && jid.Server != types.HiddenUserServer {
			continue
		}
		pn, lid := pnLID(ctx, r.cli, jid)
		if pn == own || (!r.cli.Store.LID.IsEmpty() && lid == r.cli.Store.LID.ToNonAD()) {
			continue
		}
		key := lid.String()
		if !pn.IsEmpty() {
			key = pn.String()
		}
		e := merged[key]
		if e == nil {
			e = &entry{pn: pn, lid: lid}
			merged[key] = e
			order = append(order, key)
		}
		e.info = mergeContact(e.info, info)
		if e.lid.IsEmpty() {
			e.lid = lid
		}
	}
	sort.Strings(order)
	res := ctl.ContactsResult{Contacts: make([]ctl.Contact, 0, len(order))}
	for _, k := range order {
		e := merged[k]
		res.Contacts = append(res.Contacts, contactOf(e.pn, e.lid, e.info))
	}
	return res, nil
}

// contactInfo asks WhatsApp about one person (usync: about, picture id,
// devices, LID) and, with op.Picture, for the picture's URL. A LID is
// asked about under its phone number when the store knows it, which
// also tells the LID of a phone number.
func (s *session) contactInfo(ctx context.Context, r *run, op sessions.ContactInfo) (ctl.ContactInfo, error) {
	jid, err := parseJID("jid", op.JID)
	if err != nil {
		return ctl.ContactInfo{}, err
	}
	if jid.Server != types.DefaultUserServer && jid.Server != types.HiddenUserServer {
		return ctl.ContactInfo{}, ctl.Errorf(ctl.CodeInvalidParams, "jid %q is not a person", op.JID)
	}
	pn, lid := pnLID(ctx, r.cli, jid)
	ask := jid.ToNonAD()
	if !pn.IsEmpty() {
		ask = pn
	}
	infos, err := r.cli.GetUserInfo(ctx, []types.JID{ask})
	if err != nil {
		return ctl.ContactInfo{}, upstream("asking WhatsApp about "+ask.String(), err)
	}
	ui, ok := infos[ask]
	if !ok {
		return ctl.ContactInfo{}, ctl.Errorf(ctl.CodeUpstream, "%s is not on WhatsApp", ask)
	}
	if !ui.LID.IsEmpty() {
		lid = ui.LID.ToNonAD()
	}
	var stored types.ContactInfo
	for _, j := range []types.JID{pn, lid} {
		if !j.IsEmpty() {
			if c, err := r.cli.Store.Contacts.GetContact(ctx, j); err == nil {
				stored = mergeContact(stored, c)
			}
		}
	}
	if ui.VerifiedName != nil && stored.BusinessName == "" {
		stored.BusinessName = ui.VerifiedName.Details.GetVerifiedName()
	}
	out := ctl.ContactInfo{Contact: contactOf(pn, lid, stored), About: ui.Status, Devices: len(ui.Devices)}
	if op.Picture {
		pic, err := r.cli.GetProfilePictureInfo(ctx, ask, &wa.GetProfilePictureParams{})
		switch {
		case err == nil && pic != nil:
			out.PictureID, out.PictureURL = pic.ID, pic.URL
		case errors.Is(err, wa.ErrProfilePictureNotSet), errors.Is(err, wa.ErrProfilePictureUnauthorized):
		case err != nil:
			return ctl.ContactInfo{}, upstream("asking WhatsApp for the picture of "+ask.String(), err)
		}
	}
	return out, nil
}

// listChats returns the chats this session knows of. whatsmeow keeps no
// chat list, so it is put together from:
//   - the messages this session saw since it started (recent.go): last
//     message time and unread count (received and not marked read by
//     this session; what the phone read is not known), the last
//     recentPerSession messages only;
//   - the groups this account is in (asked of WhatsApp);
//   - the contacts whose chat has settings synced from the phone (app
//     state: muted, archived, pinned), which every chat gets from the
//     store as well.
//
// History sync, which would give the phone's whole list, is not kept.
func (s *session) listChats(ctx context.Context, r *run) (ctl.ChatsResult, error) {
	chats := map[types.JID]*ctl.Chat{}
	add := func(jid types.JID) *ctl.Chat {
		jid = jid.ToNonAD()
		if c := chats[jid]; c != nil {
			return c
		}
		c := &ctl.Chat{ID: jid.String(), Kind: chatKind(jid)}
		chats[jid] = c
		return c
	}
	for jid, last := range s.recent.chats() {
		c := add(jid)
		c.LastTime, c.Unread = last.at.UTC(), last.unread
	}
	groups, err := r.cli.GetJoinedGroups(ctx)
	if err != nil {
		return ctl.ChatsResult{}, upstream("listing the groups", err)
	}
	for _, g := range groups {
		c := add(g.JID)
		c.Name = g.Name
	}
	contacts, err := r.cli.Store.Contacts.GetAllContacts(ctx)
	if err != nil {
		return ctl.ChatsResult{}, ctl.Errorf(ctl.CodeInternal, "reading the contact store: %v", err)
	}
	for jid, info := range contacts {
		if jid.Server == types.HiddenUserServer {
			if pn, _ := pnLID(ctx, r.cli, jid); !pn.IsEmpty() {
				jid = pn
			}
		}
		_, found := chatSettings(ctx, r.cli, jid)
		if c := chats[jid.ToNonAD()]; c == nil && !found {
			continue
		}
		c := add(jid)
		if c.Name == "" {
			c.Name = firstNonEmpty(info.FullName, info.PushName, info.BusinessName)
		}
	}
	res := ctl.ChatsResult{Chats: make([]ctl.Chat, 0, len(chats))}
	for jid, c := range chats {
		if set, found := chatSettings(ctx, r.cli, jid); found {
			if set.MutedUntil.After(time.Now()) {
				c.MutedUntil = set.MutedUntil.UTC()
			}
			c.Archived, c.Pinned = set.Archived, set.Pinned
		}
		res.Chats = append(res.Chats, *c)
	}
	sort.Slice(res.Chats, func(i, j int) bool {
		a, b := res.Chats[i], res.Chats[j]
		if !a.LastTime.Equal(b.LastTime) {
			return a.LastTime.After(b.LastTime)
		}
		return a.ID < b.ID
	})
	return res, nil
}

// chatSettings returns the settings synced from the phone for the chat
// jid, merged from its phone-number and LID forms (the phone keys a
// person's chat by either); found is whether either has any.
func chatSettings(ctx context.Context, cli *wa.Client, jid types.JID) (set types.LocalChatSettings, found bool) {
	jids := []types.JID{jid.ToNonAD()}
	if jid.Server == types.DefaultUserServer || jid.Server == types.HiddenUserServer {
		pn, lid := pnLID(ctx, cli, jid)
		jids = nil
		for _, j := range []types.JID{pn, lid} {
			if !j.IsEmpty() {
				jids = append(jids, j)
			}
		}
	}
	for _, j := range jids {
		s, err := cli.Store.ChatSettings.GetChatSettings(ctx, j)
		if err != nil || !s.Found {
			continue
		}
		if !found {
			set, found = s, true
			continue
		}
		if s.MutedUntil.After(set.MutedUntil) {
			set.MutedUntil = s.MutedUntil
		}
		set.Archived = set.Archived || s.Archived
		set.Pinned = set.Pinned || s.Pinned
	}
	return set, found
}

func chatKind(jid types.JID) string {
	switch jid.Server {
	case types.GroupServer:
		return ctl.ChatGroup
	case types.BroadcastServer:
		return ctl.ChatBroadcast
	case types.NewsletterServer:
		return ctl.ChatNewsletter
	}
	return ctl.ChatUser
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// chatSummary is what recent knows of one chat.
type chatSummary struct {
	at     time.Time
	unread int
}

// chats sums up the remembered messages by chat.
func (c *recent) chats() map[types.JID]chatSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[types.JID]chatSummary{}
	for _, m := range c.byKey {
		jid := m.chat.ToNonAD()
		sum := out[jid]
		if m.at.After(sum.at) {
			sum.at = m.at
		}
		if !m.fromMe && !m.read {
			sum.unread++
		}
		out[jid] = sum
	}
	return out
}

// getProfile returns this account as others see it: its push name,
// and what WhatsApp answers about it (about, picture).
func (s *session) getProfile(ctx context.Context, r *run) (ctl.Profile, error) {
	if r.cli.Store.ID == nil {
		return ctl.Profile{}, ctl.Errorf(ctl.CodeSessionNotReady, "session %s has no device", s.env.Client)
	}
	own := r.cli.Store.ID.ToNonAD()
	p := ctl.Profile{JID: own.String(), Name: r.cli.Store.PushName}
	if p.Name == "" {
		p.Name = s.st.Get().PushName
	}
	if !r.cli.Store.LID.IsEmpty() {
		p.LID = r.cli.Store.LID.ToNonAD().String()
	}
	infos, err := r.cli.GetUserInfo(ctx, []types.JID{own})
	if err != nil {
		return ctl.Profile{}, upstream("asking WhatsApp for the profile", err)
	}
	if ui, ok := infos[own]; ok {
		p.About = ui.Status
		if p.LID == "" && !ui.LID.IsEmpty() {
			p.LID = ui.LID.ToNonAD().String()
		}
		if ui.PictureID != "" {
			pic, err := r.cli.GetProfilePictureInfo(ctx, own, &wa.GetProfilePictureParams{})
			switch {
			case err == nil && pic != nil:
				p.PictureID, p.PictureURL = pic.ID, pic.URL
			case errors.Is(err, wa.ErrProfilePictureNotSet):
			case err != nil:
				return ctl.Profile{}, upstream("asking WhatsApp for the profile picture", err)
			}
		}
	}
	return p, nil
}

// setProfile changes the push name, then the about text, then the
// picture; the first failure stops it. The push name goes through app
// state (the setting_pushName mutation the phone syncs), which needs the
// app state keys the phone shares after linking; whatsmeow has no other
// way to set it.
func (s *session) setProfile(ctx context.Context, r *run, op sessions.SetProfile) (ctl.ProfileSetResult, error) {
	var res ctl.ProfileSetResult
	if op.Name != nil {
		name := strings.TrimSpace(*op.Name)
		if name == "" {
			return res, ctl.Errorf(ctl.CodeInvalidParams, "name must not be empty")
		}
		if err := r.cli.SendAppState(ctx, appstate.BuildSettingPushName(name)); err != nil {
			return res, ctl.Errorf(ctl.CodeUpstream, "setting the push name failed (WhatsApp takes it only as app state, which needs the keys the phone shares after linking): %v", err)
		}
		// whatsmeow sets Store.PushName itself when the mutation comes
		// back (PushNameSetting); writing it here would race with it.
		// Messages carry the push name the server last saw in a presence.
		if err := r.cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
			s.log.Warn("announcing the new push name failed", "err", err)
		}
		s.st.Update(func(x *ctl.Session) { x.PushName = name })
	}
	if op.About != nil {
		if err := r.cli.SetStatusMessage(ctx, *op.About); err != nil {
			return res, upstream("setting the about text", err)
		}
	}
	// The own picture is set with no target, as WhatsApp Web does.
	switch {
	case op.Picture != nil:
		jpg, err := profileJPEG(op.Picture)
		if err != nil {
			return res, err
		}
		id, err := r.cli.SetGroupPhoto(ctx, types.EmptyJID, jpg)
		if err != nil {
			return res, upstream("setting the profile picture", err)
		}
		res.PictureID = id
	case op.RemovePicture:
		if _, err := r.cli.SetGroupPhoto(ctx, types.EmptyJID, nil); err != nil {
			return res, upstream("removing the profile picture", err)
		}
	}
	return res, nil
}

// ProfilePictureSize is the side of the square JPEG a profile picture
// is sent as, at most (WhatsApp's apps send 640x640).
const ProfilePictureSize = 640

// profileJPEG crops the image to a centred square, scales it to at most
// ProfilePictureSize and encodes it as JPEG.
func profileJPEG(f *media.File) ([]byte, error) {
	dec := map[string]func(io.Reader) (image.Image, error){
		"image/jpeg": jpeg.Decode, "image/png": png.Decode, "image/webp": webp.Decode, "image/gif": gif.Decode,
	}[f.Mime]
	if dec == nil {
		return nil, ctl.Errorf(ctl.CodeInvalidParams, "the picture must be a JPEG, PNG or WebP image, not %s", f.Mime)
	}
	img, err := dec(bufio.NewReader(f.Reader()))
	if err != nil {
		return nil, ctl.Errorf(ctl.CodeInvalidParams, "the picture cannot be decoded: %v", err)
	}
	b := img.Bounds()
	side := min(b.Dx(), b.Dy())
	if side <= 0 {
		return nil, ctl.Errorf(ctl.CodeInvalidParams, "the picture is empty")
	}
	lo := image.Pt(b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2)
	crop := image.Rectangle{Min: lo, Max: lo.Add(image.Pt(side, side))}
	out := min(side, ProfilePictureSize)
	dst := image.NewRGBA(image.Rect(0, 0, out, out))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, crop, draw.Over, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, ctl.Errorf(ctl.CodeInternal, "encoding the picture: %v", err)
	}
	return buf.Bytes(), nil
}

// subscribePresence asks WhatsApp for a person's presence. WhatsApp
// tells presence only to an account that is online, so the account is
// set online first (once per run).
func (s *session) subscribePresence(ctx context.Context, r *run, op sessions.SubscribePresence) (ctl.OK, error) {
	jid, err := parseJID("jid", op.JID)
	if err != nil {
		return ctl.OK{}, err
	}
	s.setAvailable(r)
	to := jid.ToNonAD()
	if to.Server == types.DefaultUserServer || to.Server == types.HiddenUserServer {
		to = presenceTarget(ctx, r.cli, to)
	}
	if err := r.cli.SubscribePresence(ctx, to); err != nil {
		return ctl.OK{}, upstream("subscribing to the presence of "+jid.String(), err)
	}
	return ctl.OK{OK: true}, nil
}

// presenceTarget is the form of person jid to subscribe to: whatsmeow
// looks the privacy token up by the exact JID, and WhatsApp stores it
// under the one the person wrote from, often the LID. So the form that
// has a token, else the LID when the store knows one, else jid.
func presenceTarget(ctx context.Context, cli *wa.Client, jid types.JID) types.JID {
	pn, lid := pnLID(ctx, cli, jid)
	for _, j := range []types.JID{lid, pn} {
		if j.IsEmpty() {
			continue
		}
		if tok, err := cli.Store.PrivacyTokens.GetPrivacyToken(ctx, j); err == nil && tok != nil {
			return j
		}
	}
	if !lid.IsEmpty() {
		return lid
	}
	return jid
}

// availableTimeout bounds setting the account online.
const availableTimeout = 20 * time.Second

// setAvailable sets the account online, once per run: WhatsApp shows
// typing, and tells presence, only to an account that is online. A
// failure is tried again at the next call. It runs on the run's context,
// not the caller's, so a caller giving up is not a failure of its own.
func (s *session) setAvailable(r *run) {
	r.availableMu.Lock()
	defer r.availableMu.Unlock()
	if r.available {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, availableTimeout)
	defer cancel()
	if err := r.cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		s.log.Warn("could not set the account online", "err", err)
		return
	}
	r.available = true
}

// callsRemembered is how many offered calls a session remembers the
// caller of.
const callsRemembered = 64

// callParty is who placed a call, as WhatsApp named them.
type callParty struct {
	creator, from types.JID
}

// callBook is the callers of a session's latest offered calls, for
// call.reject: WhatsApp wants the call's creator as it named it (often
// a LID), while events name callers by phone number.
type callBook struct {
	mu    sync.Mutex
	by    map[string]callParty
	order []string
}

func (s *session) callBook() *callBook {
	if b := s.calls.Load(); b != nil {
		return b
	}
	s.calls.CompareAndSwap(nil, &callBook{by: map[string]callParty{}})
	return s.calls.Load()
}

// rememberCall notes the caller of an offered call.
func (s *session) rememberCall(m types.BasicCallMeta) {
	if m.CallID == "" {
		return
	}
	b := s.callBook()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.by[m.CallID]; !ok {
		b.order = append(b.order, m.CallID)
	}
	b.by[m.CallID] = callParty{creator: m.CallCreator.ToNonAD(), from: m.From.ToNonAD()}
	for len(b.order) > callsRemembered {
		delete(b.by, b.order[0])
		b.order = b.order[1:]
	}
}

// caller returns who placed call id, if it is remembered.
func (s *session) caller(id string) (callParty, bool) {
	b := s.callBook()
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.by[id]
	return p, ok
}

// rejectCall refuses a call and, with op.Text, then messages the caller.
func (s *session) rejectCall(ctx context.Context, r *run, op sessions.RejectCall) (ctl.OK, error) {
	from, err := parseJID("from", op.From)
	if err != nil {
		return ctl.OK{}, err
	}
	if op.ID == "" {
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "id is required")
	}
	// WhatsApp wants the call's creator as it named it in the offer (a
	// LID, often), not the phone number events give.
	to := from.ToNonAD()
	if p, ok := s.caller(op.ID); ok {
		switch {
		case !p.creator.IsEmpty():
			to = p.creator
		case !p.from.IsEmpty():
			to = p.from
		}
	}
	if err := r.cli.RejectCall(ctx, to, op.ID); err != nil {
		return ctl.OK{}, upstream("rejecting the call", err)
	}
	s.env.Publish(ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: op.ID, From: from.ToNonAD().String(), State: ctl.CallRejected}, Time: time.Now().UTC()})
	if op.Text != "" {
		if _, err := s.send(ctx, r, sessions.Send{To: from.ToNonAD().String(), Text: op.Text}); err != nil {
			return ctl.OK{}, fmt.Errorf("the call was rejected, but sending the text failed: %w", err)
		}
	}
	return ctl.OK{OK: true}, nil
}

// contactEvent publishes a whatsmeow presence, chat state, call, contact
// or account event; it reports whether evt was one. Every event also
// starts, once per run, the watch of the phone's activity (watchPhone).
func (s *session) contactEvent(r *run, evt any) bool {
	s.watchPhone(r)
	now := time.Now().UTC()
	switch e := evt.(type) {
	case *events.Presence:
		p := &ctl.Presence{JID: s.personJID(r, e.From, types.EmptyJID), Available: !e.Unavailable}
		if !e.LastSeen.IsZero() {
			p.LastSeen = e.LastSeen.UTC()
		}
		s.env.Publish(ctl.Event{Kind: ctl.KindPresence, Presence: p, Time: now})
	case *events.ChatPresence:
		state := ctl.PresenceTyping
		switch {
		case e.State == types.ChatPresencePaused:
			state = ctl.PresencePaused
		case e.Media == types.ChatPresenceMediaAudio:
			state = ctl.PresenceRecording
		}
		chat := e.Chat.ToNonAD().String()
		if e.Chat.Server == types.HiddenUserServer && e.Chat.User == e.Sender.User {
			chat = s.personJID(r, e.Chat, types.EmptyJID)
		}
		s.env.Publish(ctl.Event{Kind: ctl.KindChatPresence, ChatPresence: &ctl.ChatPresence{
			Chat: chat, Sender: s.personJID(r, e.Sender, e.SenderAlt), State: state,
		}, Time: now})
	case *events.CallOffer:
		s.rememberCall(e.BasicCallMeta)
		c := s.callOf(r, e.BasicCallMeta, ctl.CallOffer)
		if e.Data != nil {
			_, c.Video = e.Data.GetOptionalChildByTag("video")
		}
		s.publishCall(c, now)
	case *events.CallOfferNotice:
		s.rememberCall(e.BasicCallMeta)
		c := s.callOf(r, e.BasicCallMeta, ctl.CallOffer)
		c.Video = e.Media == "video"
		s.publishCall(c, now)
	case *events.CallAccept:
		s.publishCall(s.callOf(r, e.BasicCallMeta, ctl.CallAcceptedElsewhere), now)
	case *events.CallReject:
		c := s.callOf(r, e.BasicCallMeta, ctl.CallRejected)
		c.Reason = "elsewhere"
		s.publishCall(c, now)
	case *events.CallTerminate:
		c := s.callOf(r, e.BasicCallMeta, ctl.CallTerminated)
		c.Reason = e.Reason
		s.publishCall(c, now)
	case *events.PushName:
		if e.JID.Server != types.DefaultUserServer && e.JID.Server != types.HiddenUserServer {
			return true
		}
		s.env.Publish(ctl.Event{Kind: ctl.KindContact, Contact: &ctl.ContactChange{
			JID: s.personJID(r, e.JID, e.JIDAlt), PushName: e.NewPushName,
		}, Time: now})
	case *events.Picture:
		if e.JID.Server != types.DefaultUserServer && e.JID.Server != types.HiddenUserServer {
			return false // a group's: the group events' business
		}
		s.env.Publish(ctl.Event{Kind: ctl.KindContact, Contact: &ctl.ContactChange{
			JID: s.personJID(r, e.JID, types.EmptyJID), Picture: true, PictureID: e.PictureID,
		}, Time: now})
	default:
		return false
	}
	return true
}

func (s *session) publishCall(c *ctl.Call, now time.Time) {
	s.env.Publish(ctl.Event{Kind: ctl.KindCall, Call: c, Time: now})
}

// callOf is the wire form of a call event: From is the caller (its
// phone-number JID when known), as call.reject wants it back.
func (s *session) callOf(r *run, m types.BasicCallMeta, state string) *ctl.Call {
	from := m.CallCreator
	if from.IsEmpty() {
		from = m.From
	}
	c := &ctl.Call{ID: m.CallID, From: s.personJID(r, from, m.CallCreatorAlt), State: state}
	if !m.GroupJID.IsEmpty() {
		c.Group = m.GroupJID.ToNonAD().String()
	}
	return c
}

// personJID is person for an event: the phone-number JID of j (alt, or
// the store's mapping) when known, else j.
func (s *session) personJID(r *run, j, alt types.JID) string {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return person(ctx, r, j, alt).String()
}

// Phone offline (ctl.ReasonPhoneOffline): whatsmeow has no such event,
// so, as mautrix-whatsapp does, the phone's last activity is tracked
// from what only the phone sends this device: messages and receipts
// from the account's own device 0, answers to media retries and history
// sync (not app state, which this device and other companions change
// too). A connected session whose phone has not been seen
// for Config.PhoneOfflineAfter gets the reason (state connected, with a
// message saying since when); the phone seen again clears it. The time
// is kept in memory per client and device, from the first connection of
// this daemon: a daemon restarted counts from its start.

// phoneWatch is one session's tracking of its phone.
type phoneWatch struct {
	mu     sync.Mutex
	device types.JID // the device whose phone it is
	seen   time.Time
	runs   map[*run]bool
}

// phoneWatch returns the session's phone watch for r's device; a new
// device (linked again) starts as seen now.
func (s *session) phoneWatch(r *run) *phoneWatch {
	s.phone.CompareAndSwap(nil, &phoneWatch{seen: time.Now(), runs: map[*run]bool{}})
	w := s.phone.Load()
	dev := types.EmptyJID
	if id := r.cli.Store.ID; id != nil {
		dev = *id
	}
	w.mu.Lock()
	if w.device != dev {
		w.device, w.seen = dev, time.Now()
	}
	w.mu.Unlock()
	return w
}

// watchPhone starts, once per run, the checks of the phone's last
// activity and a handler that sees the messages and receipts the
// session's own handler keeps for itself.
func (s *session) watchPhone(r *run) {
	after := s.b.cfg.phoneOfflineAfter()
	if after <= 0 {
		return
	}
	w := s.phoneWatch(r)
	w.mu.Lock()
	started := w.runs[r]
	w.runs[r] = true
	w.mu.Unlock()
	if started {
		return
	}
	go func() {
		// Not from the event handler: adding one takes the lock the
		// dispatcher holds.
		id := r.cli.AddEventHandler(func(evt any) {
			if s.current() == r {
				s.phoneActivity(r, evt)
			}
		})
		tick := time.NewTicker(min(max(after/10, 10*time.Millisecond), time.Hour))
		defer func() {
			tick.Stop()
			r.cli.RemoveEventHandler(id)
			w.mu.Lock()
			delete(w.runs, r)
			w.mu.Unlock()
		}()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-tick.C:
				if s.current() != r {
					return
				}
				w.mu.Lock()
				seen := w.seen
				w.mu.Unlock()
				if time.Since(seen) < after {
					continue
				}
				msg := fmt.Sprintf("the phone has not been online since %s; open WhatsApp on it, or WhatsApp unlinks this device after 14 days", seen.UTC().Format(time.RFC3339))
				s.st.Update(func(x *ctl.Session) {
					if x.State == ctl.StateConnected && (x.Reason == "" || x.Reason == ctl.ReasonPhoneOffline) {
						x.Reason, x.Message = ctl.ReasonPhoneOffline, msg
					}
				})
			}
		}
	}()
}

// phoneActivity notes the phone seen when evt comes from it.
func (s *session) phoneActivity(r *run, evt any) {
	seen := false
	switch e := evt.(type) {
	case *events.Message:
		seen = e.Info.IsFromMe && e.Info.Sender.Device == 0
	case *events.Receipt:
		seen = e.IsFromMe && e.Sender.Device == 0
	case *events.MediaRetry, *events.HistorySync:
		// Only the phone answers media retries and sends history. App
		// state (AppStateSyncComplete, PushNameSetting) is not counted:
		// this device's own changes and other companions cause it too.
		seen = true
	}
	if !seen {
		return
	}
	w := s.phoneWatch(r)
	w.mu.Lock()
	w.seen = time.Now()
	w.mu.Unlock()
	s.st.Update(func(x *ctl.Session) {
		if x.Reason == ctl.ReasonPhoneOffline {
			x.Reason, x.Message = "", ""
		}
	})
}

// forgetPhone drops the session's phone watch and call book (at logout).
func (s *session) forgetPhone() {
	s.phone.Store(nil)
	s.calls.Store(nil)
}

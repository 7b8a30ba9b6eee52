package whatsmeow_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// rpc makes a JSON-RPC call over the daemon's socket and fails the test
// on an error.
func rpc[T any](t *testing.T, d *daemontest.Daemon, method string, params any) T {
	t.Helper()
	var res T
	if err := d.Client.Call(waitCtx(t), method, params, &res); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}

// skipToEvent reads events until one of kind that match accepts.
func skipToEvent(t *testing.T, w *ctl.Watcher, kind string, match func(ctl.Event) bool) ctl.Event {
	t.Helper()
	for {
		if ev := skipToKind(t, w, kind); match(ev) {
			return ev
		}
	}
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestContactCheckInfoListAndChatsOverTheSocket(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340200", "Support")
	kundin := newAccount(t, srv, "4917612340201", "Kundin")
	shop := newAccount(t, srv, "4917612340202", "")
	kundin.SetAbout("Hallo aus Köln")
	pic := jpegBytes(t, 64, 64)
	picID := kundin.SetPicture(pic)
	shop.SetBusiness("Bäckerei Müller")
	linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")

	// A message teaches the session the contact's push name and LID.
	id, err := kundin.SendText(me.JID(), "Guten Tag")
	if err != nil {
		t.Fatal(err)
	}
	skipToEvent(t, w, ctl.KindMessage, func(ev ctl.Event) bool { return ev.Message.ID == id })

	chk := rpc[ctl.CheckResult](t, d, ctl.MethodCheck, ctl.CheckParams{Client: "support",
		Phones: []string{"+4917612340201", "+4917600000009", "+4917612340202"}})
	want := []ctl.PhoneCheck{
		{Phone: "+4917612340201", OnWhatsApp: true, JID: kundin.JID().String(), LID: kundin.LIDJID().String()},
		{Phone: "+4917600000009"},
		{Phone: "+4917612340202", OnWhatsApp: true, JID: shop.JID().String(), Business: true, BusinessName: "Bäckerei Müller"},
	}
	if !slices.Equal(chk.Results, want) {
		t.Fatalf("contact.check:\n got %+v\nwant %+v", chk.Results, want)
	}

	// contact.info by LID resolves to the phone number.
	info := rpc[ctl.ContactInfo](t, d, ctl.MethodContactInfo, ctl.ContactInfoParams{Client: "support", JID: kundin.LIDJID().String(), Picture: true})
	if info.JID != kundin.JID().String() || info.LID != kundin.LIDJID().String() || info.Phone != "+"+kundin.Phone ||
		info.PushName != "Kundin" || info.About != "Hallo aus Köln" || info.PictureID != picID || info.Devices != 1 {
		t.Fatalf("contact.info of the LID: %+v", info)
	}
	resp, err := srv.HTTPClient().Get(info.PictureURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, pic) {
		t.Fatalf("picture URL %s: %d, %d bytes", info.PictureURL, resp.StatusCode, len(got))
	}
	// By phone number WhatsApp tells the LID; a business its name.
	info = rpc[ctl.ContactInfo](t, d, ctl.MethodContactInfo, ctl.ContactInfoParams{Client: "support", JID: shop.JID().String(), Picture: true})
	if info.JID != shop.JID().String() || info.LID != shop.LIDJID().String() || info.BusinessName != "Bäckerei Müller" || info.PictureID != "" || info.About != "" {
		t.Fatalf("contact.info of the business: %+v", info)
	}

	list := rpc[ctl.ContactsResult](t, d, ctl.MethodContacts, ctl.ClientParams{Client: "support"})
	i := slices.IndexFunc(list.Contacts, func(c ctl.Contact) bool { return c.JID == kundin.JID().String() })
	if i < 0 || list.Contacts[i].PushName != "Kundin" || list.Contacts[i].LID != kundin.LIDJID().String() {
		t.Fatalf("contact.list: %+v", list.Contacts)
	}
	for _, c := range list.Contacts {
		if c.JID == me.JID().String() || c.JID == kundin.LIDJID().String() {
			t.Fatalf("contact.list lists %s: %+v", c.JID, list.Contacts)
		}
	}

	chats := rpc[ctl.ChatsResult](t, d, ctl.MethodChats, ctl.ClientParams{Client: "support"})
	if len(chats.Chats) == 0 || chats.Chats[0].ID != kundin.JID().String() || chats.Chats[0].Kind != ctl.ChatUser ||
		chats.Chats[0].Unread != 1 || chats.Chats[0].LastTime.IsZero() || chats.Chats[0].Name != "Kundin" {
		t.Fatalf("chat.list: %+v", chats.Chats)
	}
	if err := d.Client.Call(waitCtx(t), ctl.MethodRead, ctl.ReadParams{Client: "support", Chat: kundin.JID().String()}, nil); err != nil {
		t.Fatal(err)
	}
	chats = rpc[ctl.ChatsResult](t, d, ctl.MethodChats, ctl.ClientParams{Client: "support"})
	if chats.Chats[0].Unread != 0 {
		t.Fatalf("chat.list after chat.read: %+v", chats.Chats)
	}
}

func TestProfileGetAndSetOverTheSocket(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340210", "Support")
	other := newAccount(t, srv, "4917612340211", "Kundin")
	dev := linkOverSocket(t, d, me, "support")

	p := rpc[ctl.Profile](t, d, ctl.MethodProfile, ctl.ClientParams{Client: "support"})
	if p.JID != me.JID().String() || p.LID != me.LIDJID().String() || p.About != "" || p.PictureID != "" {
		t.Fatalf("profile.get: %+v", p)
	}
	about := "Im Büro"
	rpc[ctl.ProfileSetResult](t, d, ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "support", About: &about})
	if me.About() != about {
		t.Fatalf("about on the server: %q", me.About())
	}
	// A PNG of 800x600 goes as a centred 600x600 JPEG.
	res := rpc[ctl.ProfileSetResult](t, d, ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "support", Picture: &ctl.Media{Data: pngBytes(t, 800, 600)}})
	data, id := me.Picture()
	if res.PictureID == "" || id != res.PictureID {
		t.Fatalf("profile.set picture: id %q, the server has %q", res.PictureID, id)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != 600 || cfg.Height != 600 {
		t.Fatalf("the picture on the server: %+v, %v", cfg, err)
	}
	p = rpc[ctl.Profile](t, d, ctl.MethodProfile, ctl.ClientParams{Client: "support"})
	if p.About != about || p.PictureID != id || p.PictureURL == "" {
		t.Fatalf("profile.get after set: %+v", p)
	}
	rpc[ctl.ProfileSetResult](t, d, ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "support", RemovePicture: true})
	if _, id := me.Picture(); id != "" {
		t.Fatalf("the picture was not removed: %s", id)
	}
	// The push name goes only as app state: with the app state key the
	// phone shares after linking, the device sends the setting_pushName
	// patch, the server stores it, and the session, profile.get and the
	// account on the server have the new name.
	if err := me.ShareAppStateKeys(waitCtx(t), dev); err != nil {
		t.Fatal(err)
	}
	name := "Neuer Name"
	rpc[ctl.ProfileSetResult](t, d, ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "support", Name: &name, About: ptrTo("Unterwegs")})
	if got := status(t, d, "support").PushName; got != name {
		t.Fatalf("the session's push_name after profile.set name: %q", got)
	}
	if p := rpc[ctl.Profile](t, d, ctl.MethodProfile, ctl.ClientParams{Client: "support"}); p.Name != name || p.About != "Unterwegs" {
		t.Fatalf("profile.get after setting the name: %+v", p)
	}
	if me.CurrentPushName() != name || me.About() != "Unterwegs" {
		t.Fatalf("on the server: push name %q, about %q", me.CurrentPushName(), me.About())
	}
	_ = other
}

func ptrTo[T any](v T) *T { return &v }

func TestPresenceChatPresenceAndContactChangesAreEvents(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340220", "Support")
	kundin := newAccount(t, srv, "4917612340221", "Kundin")
	linkOverSocket(t, d, me, "support")
	// WhatsApp passes chat states only to devices that said they are
	// available, which takes a push name; it comes as app state, which
	// the fake's phone does not send.
	wm.RunningClient(b, "support").Store.PushName = "Support"
	w := watch(t, d, "support")

	kundin.SetPresence(true)
	rpc[ctl.OK](t, d, ctl.MethodPresenceSubscribe, ctl.JIDParams{Client: "support", JID: kundin.JID().String()})
	ev := skipToKind(t, w, ctl.KindPresence)
	if ev.Presence.JID != kundin.JID().String() || !ev.Presence.Available {
		t.Fatalf("presence after subscribing: %+v", ev.Presence)
	}
	kundin.SetPresence(false)
	ev = skipToKind(t, w, ctl.KindPresence)
	if ev.Presence.JID != kundin.JID().String() || ev.Presence.Available || ev.Presence.LastSeen.IsZero() {
		t.Fatalf("presence after going offline: %+v", ev.Presence)
	}

	if err := kundin.SendChatState(me.JID(), "composing", "audio"); err != nil {
		t.Fatal(err)
	}
	ev = skipToKind(t, w, ctl.KindChatPresence)
	if cp := ev.ChatPresence; cp.Chat != kundin.JID().String() || cp.Sender != kundin.JID().String() || cp.State != ctl.PresenceRecording {
		t.Fatalf("chat presence: %+v", cp)
	}

	// A new push name shows with the contact's next message.
	if _, err := kundin.SendText(me.JID(), "eins"); err != nil {
		t.Fatal(err)
	}
	skipToEvent(t, w, ctl.KindContact, func(ev ctl.Event) bool { return ev.Contact.PushName == "Kundin" })
	kundin.PushName = "Kundin Schmidt" // no message of kundin's is on its way
	if _, err := kundin.SendText(me.JID(), "zwei"); err != nil {
		t.Fatal(err)
	}
	ev = skipToEvent(t, w, ctl.KindContact, func(ev ctl.Event) bool { return ev.Contact.PushName != "Kundin" })
	if c := ev.Contact; c.JID != kundin.JID().String() || c.PushName != "Kundin Schmidt" {
		t.Fatalf("push name change: %+v", c)
	}
	id := kundin.SetPicture(jpegBytes(t, 32, 32))
	ev = skipToEvent(t, w, ctl.KindContact, func(ev ctl.Event) bool { return ev.Contact.Picture })
	if c := ev.Contact; c.JID != kundin.JID().String() || c.PictureID != id {
		t.Fatalf("picture change: %+v, want id %s", c, id)
	}
	kundin.SetPicture(nil)
	ev = skipToEvent(t, w, ctl.KindContact, func(ev ctl.Event) bool { return ev.Contact.Picture })
	if c := ev.Contact; c.JID != kundin.JID().String() || c.PictureID != "" {
		t.Fatalf("picture removal: %+v", c)
	}
}

func TestCallsAreEventsAndRejectedWithAText(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340230", "Support")
	kundin := newAccount(t, srv, "4917612340231", "Kundin")
	linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")
	ctx := waitCtx(t)
	from := kundin.JID().String()

	callID, err := kundin.Call(me.JID(), true)
	if err != nil {
		t.Fatal(err)
	}
	ev := skipToKind(t, w, ctl.KindCall)
	if c := ev.Call; c.ID != callID || c.From != from || c.State != ctl.CallOffer || !c.Video {
		t.Fatalf("offer: %+v", c)
	}
	rpc[ctl.OK](t, d, ctl.MethodCallReject, ctl.CallRejectParams{Client: "support", ID: ev.Call.ID, From: ev.Call.From, Text: "Bin im Meeting"})
	if _, err := kundin.WaitCallReject(ctx, callID); err != nil {
		t.Fatal(err)
	}
	if _, err := kundin.WaitMessage(ctx, func(m wafake.Message) bool { return m.Text() == "Bin im Meeting" }); err != nil {
		t.Fatal(err)
	}
	ev = skipToKind(t, w, ctl.KindCall)
	if c := ev.Call; c.ID != callID || c.State != ctl.CallRejected {
		t.Fatalf("after call.reject: %+v", c)
	}

	// Answered on the phone, then hung up.
	callID, err = kundin.Call(me.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if c := skipToKind(t, w, ctl.KindCall).Call; c.ID != callID || c.State != ctl.CallOffer || c.Video {
		t.Fatalf("second offer: %+v", c)
	}
	if err := me.Answer(callID); err != nil {
		t.Fatal(err)
	}
	if c := skipToKind(t, w, ctl.KindCall).Call; c.ID != callID || c.State != ctl.CallAcceptedElsewhere || c.From != from {
		t.Fatalf("answered elsewhere: %+v", c)
	}
	if err := kundin.Hangup(callID, ""); err != nil {
		t.Fatal(err)
	}
	if c := skipToKind(t, w, ctl.KindCall).Call; c.ID != callID || c.State != ctl.CallTerminated {
		t.Fatalf("hung up: %+v", c)
	}

	// Declined on the phone; unanswered until it timed out.
	callID, _ = kundin.Call(me.JID(), false)
	skipToKind(t, w, ctl.KindCall)
	if err := me.Decline(callID); err != nil {
		t.Fatal(err)
	}
	if c := skipToKind(t, w, ctl.KindCall).Call; c.ID != callID || c.State != ctl.CallRejected || c.Reason != "elsewhere" {
		t.Fatalf("declined elsewhere: %+v", c)
	}
	callID, _ = kundin.Call(me.JID(), false)
	skipToKind(t, w, ctl.KindCall)
	if err := kundin.Hangup(callID, "timeout"); err != nil {
		t.Fatal(err)
	}
	if c := skipToKind(t, w, ctl.KindCall).Call; c.ID != callID || c.State != ctl.CallTerminated || c.Reason != "timeout" {
		t.Fatalf("timed out: %+v", c)
	}
}

func TestRejectCallsRefusesEveryOffer(t *testing.T) {
	dir := t.TempDir()
	srv := newFake(t, wafake.Options{})
	b := newBackend(t, dir, srv, nil)
	d := daemontest.Start(t, daemontest.Options{
		Backends: []sessions.Backend{b}, StateDir: dir, DefaultBackend: wm.Name, StartTimeout: 60 * time.Second,
		Config: func(c *daemon.Config) { c.Sessions.RejectCalls, c.Sessions.RejectCallsText = true, "Bitte schreiben" },
	})
	me := newAccount(t, srv, "4915112340240", "Support")
	kundin := newAccount(t, srv, "4917612340241", "Kundin")
	linkOverSocket(t, d, me, "support")
	ctx := waitCtx(t)
	callID, err := kundin.Call(me.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kundin.WaitCallReject(ctx, callID); err != nil {
		t.Fatal(err)
	}
	if _, err := kundin.WaitMessage(ctx, func(m wafake.Message) bool { return m.Text() == "Bitte schreiben" }); err != nil {
		t.Fatal(err)
	}
}

func TestMainDeviceGoneIsItsOwnReason(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340250", "Support")
	dev := linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")
	// The phone's account logged out: the server drops the device and
	// refuses its logins with 403.
	srv.FailLogin(dev, &wafake.Failure{Reason: 403})
	srv.Drop(dev)
	ev := skipToState(t, w, ctl.StateLoggedOut, ctl.ReasonMainDeviceGone)
	if ev.Session.Message == "" {
		t.Fatalf("no message: %+v", ev.Session)
	}
}

func TestPhoneOfflineShowsOnAConnectedSessionUntilThePhoneIsSeen(t *testing.T) {
	dir := t.TempDir()
	srv := newFake(t, wafake.Options{})
	log := slog.New(slog.DiscardHandler)
	b, err := wm.New(context.Background(), wm.Config{DeviceName: "wad-test", PhoneOfflineAfter: 500 * time.Millisecond},
		dir, log, wm.WithHTTPClient(srv.HTTPClient()), wm.WithTracking())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	d := startDaemon(t, b, dir, nil)
	me := newAccount(t, srv, "4915112340260", "Support")
	kundin := newAccount(t, srv, "4917612340261", "Kundin")
	linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")

	ev := skipToEvent(t, w, ctl.KindState, func(ev ctl.Event) bool { return ev.Session.Reason == ctl.ReasonPhoneOffline })
	if ev.Session.State != ctl.StateConnected || ev.Session.Message == "" {
		t.Fatalf("phone offline: %+v", ev.Session)
	}
	// The phone writes: it is online again.
	if _, err := me.SendText(kundin.JID(), "vom Handy"); err != nil {
		t.Fatal(err)
	}
	ev = skipToEvent(t, w, ctl.KindState, func(ev ctl.Event) bool { return ev.Session.Reason != ctl.ReasonPhoneOffline })
	if ev.Session.State != ctl.StateConnected || ev.Session.Reason != "" {
		t.Fatalf("phone seen again: %+v", ev.Session)
	}
}

func TestPhoneOfflineAfterMustNotBeNegative(t *testing.T) {
	if err := (wm.Config{PhoneOfflineAfter: -time.Second}).Validate(); err == nil {
		t.Fatal("a negative phone_offline_after was accepted")
	}
	if err := (wm.Config{PhoneOfflineAfter: time.Hour}).Validate(); err != nil {
		t.Fatal(err)
	}
}

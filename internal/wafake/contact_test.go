package wafake_test

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/internal/wafake"
)

func smallJPEG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestUsyncAndProfilesAnswerWhatWhatsmeowAsks(t *testing.T) {
	s, g := newMessagingServer(t)
	me := addAccount(t, s, "4915110000301", "Support")
	kundin := addAccount(t, s, "4917610000302", "Kundin")
	shop := addAccount(t, s, "4917610000303", "")
	kundin.SetAbout("Hallo")
	picID := kundin.SetPicture(smallJPEG(t))
	shop.SetBusiness("Bäckerei")
	cli, evs := pairByQR(t, s, me, newContainer(t))
	ctx := ctxFor(t)

	on, err := cli.IsOnWhatsApp(ctx, []string{"+4917610000302", "+4917610000399", "+4917610000303"})
	if err != nil || len(on) != 3 {
		t.Fatalf("IsOnWhatsApp: %+v, %v", on, err)
	}
	if !on[0].IsIn || on[0].JID != kundin.JID() || on[0].Query != "+4917610000302" || on[0].VerifiedName != nil {
		t.Fatalf("a number on WhatsApp: %+v", on[0])
	}
	if on[1].IsIn {
		t.Fatalf("a number not on WhatsApp: %+v", on[1])
	}
	if !on[2].IsIn || on[2].VerifiedName == nil || on[2].VerifiedName.Details.GetVerifiedName() != "Bäckerei" {
		t.Fatalf("a business: %+v", on[2])
	}

	infos, err := cli.GetUserInfo(ctx, []types.JID{kundin.JID(), shop.LIDJID()})
	if err != nil {
		t.Fatal(err)
	}
	ki := infos[kundin.JID()]
	if ki.Status != "Hallo" || ki.PictureID != picID || ki.LID != kundin.LIDJID() || len(ki.Devices) != 1 {
		t.Fatalf("user info: %+v", ki)
	}
	if pn, _ := cli.Store.LIDs.GetPNForLID(ctx, kundin.LIDJID()); pn != kundin.JID() {
		t.Fatalf("the LID mapping was not learnt: %v", pn)
	}
	if si := infos[shop.LIDJID()]; si.Status != "" || si.PictureID != "" || !si.LID.IsEmpty() {
		t.Fatalf("user info by LID: %+v", si)
	}

	pic, err := cli.GetProfilePictureInfo(ctx, kundin.JID(), nil)
	if err != nil || pic.ID != picID || pic.URL == "" || pic.DirectPath == "" {
		t.Fatalf("picture: %+v, %v", pic, err)
	}
	if pic, err := cli.GetProfilePictureInfo(ctx, kundin.JID(), &wa.GetProfilePictureParams{ExistingID: picID}); err != nil || pic != nil {
		t.Fatalf("picture unchanged: %+v, %v", pic, err)
	}
	if _, err := cli.GetProfilePictureInfo(ctx, shop.JID(), nil); !errors.Is(err, wa.ErrProfilePictureNotSet) {
		t.Fatalf("no picture: %v", err)
	}

	// Own profile.
	if err := cli.SetStatusMessage(ctx, "Im Büro"); err != nil || me.About() != "Im Büro" {
		t.Fatalf("SetStatusMessage: %v, about %q", err, me.About())
	}
	if _, err := cli.SetGroupPhoto(ctx, me.JID(), []byte("not a jpeg")); !errors.Is(err, wa.ErrInvalidImageFormat) {
		t.Fatalf("a PNG as picture: %v", err)
	}
	id, err := cli.SetGroupPhoto(ctx, me.JID(), smallJPEG(t))
	if _, got := me.Picture(); err != nil || id == "" || got != id {
		t.Fatalf("SetGroupPhoto: %q, %v; the server has %q", id, err, got)
	}
	if _, err := cli.SetGroupPhoto(ctx, types.EmptyJID, nil); err != nil {
		t.Fatal(err)
	}
	if _, got := me.Picture(); got != "" {
		t.Fatalf("picture not removed: %s", got)
	}

	// A contact's picture changes arrive as notifications.
	id = kundin.SetPicture(smallJPEG(t))
	p := waitFor[*events.Picture](t, evs)
	if p.JID != kundin.JID() || p.PictureID != id || p.Remove {
		t.Fatalf("picture event: %+v", p)
	}
	kundin.SetPicture(nil)
	if p := waitFor[*events.Picture](t, evs); !p.Remove || p.JID != kundin.JID() {
		t.Fatalf("picture removal event: %+v", p)
	}
	g.check(t)
}

func TestPresenceSubscriptionsAndCalls(t *testing.T) {
	s, g := newMessagingServer(t)
	me := addAccount(t, s, "4915110000311", "Support")
	kundin := addAccount(t, s, "4917610000312", "Kundin")
	cli, evs := pairByQR(t, s, me, newContainer(t))
	ctx := ctxFor(t)

	if err := cli.SubscribePresence(ctx, kundin.JID()); err != nil {
		t.Fatal(err)
	}
	if p := waitFor[*events.Presence](t, evs); p.From != kundin.JID() || !p.Unavailable || !p.LastSeen.IsZero() {
		t.Fatalf("presence at subscribing: %+v", p)
	}
	waitUntil(t, "the subscription", func() bool { return kundin.Subscribed(*cli.Store.ID) })
	kundin.SetPresence(true)
	if p := waitFor[*events.Presence](t, evs); p.Unavailable {
		t.Fatalf("online: %+v", p)
	}
	kundin.SetPresence(false)
	if p := waitFor[*events.Presence](t, evs); !p.Unavailable || p.LastSeen.IsZero() {
		t.Fatalf("offline: %+v", p)
	}

	id, err := kundin.Call(me.JID(), true)
	if err != nil {
		t.Fatal(err)
	}
	offer := waitFor[*events.CallOffer](t, evs)
	if offer.CallID != id || offer.From != kundin.JID() || offer.CallCreator.User != kundin.Phone {
		t.Fatalf("offer: %+v", offer.BasicCallMeta)
	}
	if _, ok := offer.Data.GetOptionalChildByTag("video"); !ok {
		t.Fatal("a video call's offer has no <video>")
	}
	if err := cli.RejectCall(ctx, offer.From, offer.CallID); err != nil {
		t.Fatal(err)
	}
	if r, err := kundin.WaitCallReject(ctx, id); err != nil || r.By != *cli.Store.ID {
		t.Fatalf("reject: %+v, %v", r, err)
	}

	id, _ = kundin.Call(me.JID(), false)
	waitFor[*events.CallOffer](t, evs)
	if err := me.Answer(id); err != nil {
		t.Fatal(err)
	}
	if a := waitFor[*events.CallAccept](t, evs); a.CallID != id {
		t.Fatalf("accept: %+v", a.BasicCallMeta)
	}
	if err := kundin.Hangup(id, "timeout"); err != nil {
		t.Fatal(err)
	}
	if tm := waitFor[*events.CallTerminate](t, evs); tm.CallID != id || tm.Reason != "timeout" {
		t.Fatalf("terminate: %+v", tm)
	}
	id, _ = kundin.Call(me.JID(), false)
	waitFor[*events.CallOffer](t, evs)
	if err := me.Decline(id); err != nil {
		t.Fatal(err)
	}
	if rj := waitFor[*events.CallReject](t, evs); rj.CallID != id {
		t.Fatalf("rejected elsewhere: %+v", rj.BasicCallMeta)
	}
	waitDrained(t, s, *cli.Store.ID)
	g.check(t)
}

func TestMainDeviceGoneLogsOutOnConnect(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, _ := s.AddAccount("4915110000321", "Ops")
	cli, evs := pairByQR(t, s, acct, newContainer(t))
	s.FailLogin(*cli.Store.ID, &wafake.Failure{Reason: 403})
	s.Drop(*cli.Store.ID)
	lo := waitFor[*events.LoggedOut](t, evs)
	if !lo.OnConnect || lo.Reason != events.ConnectFailureMainDeviceGone {
		t.Fatalf("logged out: %+v", lo)
	}
}

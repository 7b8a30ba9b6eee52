package chromedp_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Prevents: the chromedp backend working in-process but not through the
// daemon: concurrent session.login calls over the real socket must share
// one browser, and message.send must reach the right chat.
func TestOverTheSocket(t *testing.T) {
	t.Parallel()
	f := chromedp.NewFakeWA(t)
	dir := t.TempDir()
	b, err := chromedp.New(chromedp.Config{WebURL: f.URL("")}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, DefaultBackend: chromedp.Name, StateDir: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	res := make([]*ctl.Session, 10)
	errs := make([]error, 10)
	for i := range res {
		c := d.Client
		if i%2 == 1 {
			c = d.Dial()
		}
		wg.Go(func() { res[i], errs[i] = c.Login(ctx, ctl.LoginParams{Client: "sock"}) })
	}
	wg.Wait()
	pid := 0
	for i := range res {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		if res[i].State != ctl.StateQR || res[i].QR == "" || res[i].Backend != chromedp.Name {
			t.Fatalf("login %d: %+v, want a chromedp qr", i, res[i])
		}
		if pid == 0 {
			pid = res[i].PID
		}
		if res[i].PID != pid {
			t.Errorf("login %d saw browser pid %d, others %d", i, res[i].PID, pid)
		}
	}
	if n := len(chromedp.ProfileProcesses(chromedp.ProfileDir(dir, "sock"))); n == 0 {
		t.Fatal("no browser on the profile")
	}
	dev := chromedp.DeviceOf(t, res[0].QR)
	f.Scan(dev)
	for {
		st, err := d.Client.Session(ctx, "sock")
		if err != nil {
			t.Fatal(err)
		}
		if st.State == ctl.StateConnected {
			if st.PID == 0 || st.RSSBytes == 0 {
				t.Errorf("session.status lacks pid/rss: %+v", st)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never connected: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sent, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sock", To: "+4915112345678", Text: "over the socket"})
	if err != nil {
		t.Fatal(err)
	}
	got := f.SentBy(dev)
	if len(got) != 1 || got[0].To != "4915112345678@c.us" || got[0].Body != "over the socket" || got[0].ID != sent.ID {
		t.Errorf("fake recorded %+v, want the message (id %s) to 4915112345678@c.us", got, sent.ID)
	}
	d.Stop()
	for i := 0; i < 100 && len(chromedp.ProfileProcesses(chromedp.ProfileDir(dir, "sock"))) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if left := chromedp.ProfileProcesses(chromedp.ProfileDir(dir, "sock")); len(left) > 0 {
		t.Errorf("browser processes left after daemon shutdown: %v", left)
	}
	// In reaper mode reset (the default) the shutdown logged the session
	// out: the phone lists no device of it.
	if got := f.LinkedDevices(); len(got) != 0 {
		t.Errorf("linked devices after a shutdown in reset mode: %q, want none", got)
	}
}

// Prevents: messaging beyond text working in-process but not through
// the daemon: media passed as a descriptor or as base64, replies,
// reactions, edits, revokes, read, presence and downloads to a passed
// descriptor must all reach WhatsApp Web (the fake) intact over the
// socket.
func TestMessagingOverTheSocket(t *testing.T) {
	t.Parallel()
	f := chromedp.NewFakeWA(t)
	const client = "sockmsg"
	ctx, c, dev, waitFor := linkOverSocket(t, f, client, nil)
	var err error
	isMsg := func(id string) func(ctl.Event) bool {
		return func(ev ctl.Event) bool { return ev.Kind == ctl.KindMessage && ev.Message != nil && ev.Message.ID == id }
	}
	const peer, peerWeb = "+4917700000001", "4917700000001@c.us"
	f.DeliverText(dev, peerWeb, "SOCKIN1", "hello")
	waitFor("incoming text", isMsg("SOCKIN1"))

	// An image passed as a descriptor, quoting the incoming text.
	img := chromedp.PNGFixture(t, 120, 90)
	path := filepath.Join(t.TempDir(), "pic.png")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zero := 0
	var sent ctl.SendResult
	err = c.CallFiles(ctx, ctl.MethodSend, ctl.SendParams{Wait: true, Client: client, To: peer, ReplyTo: "SOCKIN1",
		Media: &ctl.Media{Kind: ctl.MediaImage, FD: &zero, Caption: "from a descriptor"}}, &sent, fh)
	if err != nil {
		t.Fatalf("sending an image by fd: %v", err)
	}
	got := f.LastSent(t, dev, "msg")
	if got.ID != sent.ID || got.Type != "image" || got.Quoted != "SOCKIN1" || got.Caption != "from a descriptor" || !bytes.Equal(f.Uploaded(got.DirectPath), img) {
		t.Errorf("fake recorded %+v, want the image (its bytes uploaded) quoting SOCKIN1", got)
	}

	// A document as base64.
	doc := chromedp.RandomBytes(300<<10, 21)
	err = c.Call(ctx, ctl.MethodSend, ctl.SendParams{Wait: true, Client: client, To: peer,
		Media: &ctl.Media{Kind: ctl.MediaDocument, Data: doc, Filename: "blob.bin"}}, &sent)
	if err != nil {
		t.Fatalf("sending a document as data: %v", err)
	}
	got = f.LastSent(t, dev, "msg")
	if got.ID != sent.ID || got.Type != "document" || got.Filename != "blob.bin" || !bytes.Equal(f.Uploaded(got.DirectPath), doc) {
		t.Errorf("fake recorded %+v, want the document (its bytes uploaded)", got)
	}

	// React, edit, revoke, read, presence.
	var r ctl.SendResult
	if err := c.Call(ctx, ctl.MethodReact, ctl.ReactParams{Wait: true, Client: client, Chat: peer, ID: "SOCKIN1", Emoji: "🎉"}, &r); err != nil {
		t.Fatalf("react: %v", err)
	}
	if got := f.LastSent(t, dev, "reaction"); got.Target != "SOCKIN1" || got.Emoji != "🎉" {
		t.Errorf("fake recorded %+v, want 🎉 on SOCKIN1", got)
	}
	text, err := c.Send(ctx, ctl.SendParams{Wait: true, Client: client, To: peer, Text: "draft"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, ctl.MethodEdit, ctl.EditParams{Wait: true, Client: client, Chat: peer, ID: text.ID, Text: "final"}, &r); err != nil {
		t.Fatalf("edit: %v", err)
	}
	if got := f.LastSent(t, dev, "edit"); got.Target != text.ID || got.Body != "final" {
		t.Errorf("fake recorded %+v, want the edit", got)
	}
	if err := c.Call(ctx, ctl.MethodRevoke, ctl.MessageRef{Wait: true, Client: client, Chat: peer, ID: text.ID}, &r); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got := f.LastSent(t, dev, "revoke"); got.Target != text.ID {
		t.Errorf("fake recorded %+v, want the revoke", got)
	}
	var read ctl.ReadResult
	if err := c.Call(ctx, ctl.MethodRead, ctl.ReadParams{Client: client, Chat: peer}, &read); err != nil || len(read.IDs) != 1 || read.IDs[0] != "SOCKIN1" {
		t.Errorf("read: %v %+v, want SOCKIN1", err, read)
	}
	var ok ctl.OK
	if err := c.Call(ctx, ctl.MethodPresence, ctl.PresenceParams{Client: client, Chat: peer, State: ctl.PresenceTyping}, &ok); err != nil || !ok.OK {
		t.Errorf("presence: %v %+v", err, ok)
	}
	if got := f.LastSent(t, dev, "chatstate"); got.State != "composing" {
		t.Errorf("fake recorded %+v, want composing", got)
	}

	// A received document, downloaded to a descriptor and as data.
	recv := chromedp.RandomBytes(1<<20+7, 22)
	id := f.DeliverMedia(dev, peerWeb, "document", "application/octet-stream", "in.bin", "", recv)
	ev := waitFor("incoming document", isMsg(id))
	if ev.Message.Media == nil || !ev.Message.Media.Downloadable || ev.Message.Media.Size != int64(len(recv)) {
		t.Fatalf("incoming document event %+v, want downloadable media of %d bytes", ev.Message, len(recv))
	}
	out, err := os.OpenFile(filepath.Join(t.TempDir(), "out.bin"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var dr ctl.DownloadResult
	if err := c.CallFiles(ctx, ctl.MethodDownload, ctl.DownloadParams{Client: client, Chat: peer, ID: id, FD: &zero}, &dr, out); err != nil {
		t.Fatalf("download to a descriptor: %v", err)
	}
	written, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, recv) || dr.Data != nil || dr.Size != int64(len(recv)) || dr.SHA256 != ev.Message.Media.SHA256 {
		t.Errorf("downloaded %d bytes to the descriptor (result %+v), want the %d received", len(written), dr, len(recv))
	}
	dr = ctl.DownloadResult{}
	if err := c.Call(ctx, ctl.MethodDownload, ctl.DownloadParams{Client: client, Chat: peer, ID: id}, &dr); err != nil || !bytes.Equal(dr.Data, recv) {
		t.Errorf("download as data: %v (%d bytes), want the %d received", err, len(dr.Data), len(recv))
	}
}

// Prevents: contacts, groups, profile, presence and calls working
// in-process but not through the daemon: a check, a group create with
// one participant refused by privacy, a participant added by someone
// else, a presence subscription and its events, a profile picture passed
// as base64, and a call that reject_calls refuses with a text must all
// cross the real socket between wactl's client and WhatsApp Web.
func TestSocialOverTheSocket(t *testing.T) {
	t.Parallel()
	f := chromedp.NewFakeWA(t)
	f.SetDirectory(chromedp.FakeDirectory{Users: map[string]chromedp.FakeUser{
		"4917711111111": {LID: "201@lid", Contact: true, Name: "Anna Alpha", Push: "Anna", About: "Hi"},
		"4917722222222": {LID: "202@lid", Privacy: true},
	}})
	const client = "socksocial"
	ctx, c, dev, waitFor := linkOverSocket(t, f, client, func(c *daemon.Config) {
		c.Sessions.RejectCalls = true
		c.Sessions.RejectCallsText = "No calls, please write"
	})
	const anna, annaWeb, bert = "4917711111111@s.whatsapp.net", "4917711111111@c.us", "4917722222222@s.whatsapp.net"

	var check ctl.CheckResult
	if err := c.Call(ctx, ctl.MethodCheck, ctl.CheckParams{Client: client, Phones: []string{"+4917711111111", "+4917799999999"}}, &check); err != nil {
		t.Fatalf("contact.check: %v", err)
	}
	if len(check.Results) != 2 || check.Results[0] != (ctl.PhoneCheck{Phone: "+4917711111111", OnWhatsApp: true, JID: anna, LID: "201@lid"}) ||
		check.Results[1] != (ctl.PhoneCheck{Phone: "+4917799999999"}) {
		t.Errorf("contact.check: %+v", check.Results)
	}
	waitFor("check progress", func(ev ctl.Event) bool { return ev.Kind == ctl.KindCheckProgress && ev.Check.Done == 2 })

	var info ctl.ContactInfo
	if err := c.Call(ctx, ctl.MethodContactInfo, ctl.ContactInfoParams{Client: client, JID: "+4917711111111"}, &info); err != nil || info.JID != anna || info.About != "Hi" || info.Name != "Anna Alpha" {
		t.Errorf("contact.info: %v %+v", err, info)
	}

	var created ctl.GroupCreateResult
	if err := c.Call(ctx, ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: client, Name: "Socket team", Participants: []string{"+4917711111111", bert}}, &created); err != nil {
		t.Fatalf("group.create: %v", err)
	}
	p := created.Participants
	if len(p) != 2 || !p[0].OK || p[0].JID != anna || p[1].OK || p[1].Code != 403 || p[1].InviteCode == "" {
		t.Errorf("group.create participants %+v, want Anna added and Bert refused with 403 and an invite code", p)
	}
	group := created.Group.ID
	f.DeliverItem(dev, map[string]any{"kind": "gp2", "group": group, "subtype": "add", "author": annaWeb, "recipients": []string{"4917733333333@c.us"}})
	ev := waitFor("participant added", func(ev ctl.Event) bool {
		return ev.Kind == ctl.KindGroup && ev.Group.Group == group && ev.Group.Type == ctl.GroupAdd
	})
	if ev.Group.Author != anna || len(ev.Group.Participants) != 1 || ev.Group.Participants[0] != "4917733333333@s.whatsapp.net" {
		t.Errorf("group event %+v", ev.Group)
	}
	var g ctl.Group
	if err := c.Call(ctx, ctl.MethodGroupInfo, ctl.GroupParams{Client: client, Group: group}, &g); err != nil || g.Size != 3 {
		t.Errorf("group.info: %v %+v, want 3 participants", err, g)
	}

	var ok ctl.OK
	if err := c.Call(ctx, ctl.MethodPresenceSubscribe, ctl.JIDParams{Client: client, JID: anna}, &ok); err != nil || !ok.OK {
		t.Fatalf("presence.subscribe: %v", err)
	}
	f.DeliverItem(dev, map[string]any{"kind": "presence", "from": annaWeb, "type": "available"})
	if ev := waitFor("presence", func(ev ctl.Event) bool { return ev.Kind == ctl.KindPresence }); *ev.Presence != (ctl.Presence{JID: anna, Available: true}) {
		t.Errorf("presence event %+v", ev.Presence)
	}

	var ps ctl.ProfileSetResult
	name := "Socket bot"
	if err := c.Call(ctx, ctl.MethodProfileSet, ctl.ProfileSetParams{Client: client, Name: &name,
		Picture: &ctl.Media{Kind: ctl.MediaImage, Data: chromedp.PNGFixture(t, 64, 80)}}, &ps); err != nil || ps.PictureID == "" {
		t.Fatalf("profile.set: %v %+v", err, ps)
	}
	if got := f.LastSent(t, dev, "picture"); got.Width != 64 || got.Height != 64 || got.ID != ps.PictureID {
		t.Errorf("fake recorded picture %+v, want a 64×64 square", got)
	}
	var prof ctl.Profile
	if err := c.Call(ctx, ctl.MethodProfile, ctl.ClientParams{Client: client}, &prof); err != nil || prof.Name != name || prof.PictureID != ps.PictureID {
		t.Errorf("profile.get: %v %+v", err, prof)
	}

	// reject_calls refuses the call with its text.
	f.DeliverItem(dev, map[string]any{"kind": "call", "id": "SOCKCALL1", "from": annaWeb})
	waitFor("call offer", func(ev ctl.Event) bool {
		return ev.Kind == ctl.KindCall && ev.Call.ID == "SOCKCALL1" && ev.Call.State == ctl.CallOffer
	})
	waitFor("call rejected", func(ev ctl.Event) bool {
		return ev.Kind == ctl.KindCall && ev.Call.ID == "SOCKCALL1" && ev.Call.State == ctl.CallRejected
	})
	if got := f.LastSent(t, dev, "call_reject"); got.ID != "SOCKCALL1" || got.To != annaWeb {
		t.Errorf("fake recorded %+v, want SOCKCALL1 rejected", got)
	}
	if got := f.LastSent(t, dev, "msg"); got.To != annaWeb || got.Body != "No calls, please write" {
		t.Errorf("fake recorded %+v, want reject_calls_text to the caller", got)
	}
	if err := c.Call(ctx, ctl.MethodCallReject, ctl.CallRejectParams{Client: client, ID: "SOCKCALL2", From: anna}, &ok); err != nil || !ok.OK {
		t.Errorf("call.reject: %v", err)
	}
	if got := f.LastSent(t, dev, "call_reject"); got.ID != "SOCKCALL2" {
		t.Errorf("fake recorded %+v, want SOCKCALL2 rejected", got)
	}
}

// linkOverSocket starts a daemon (with conf applied to its config) whose
// chromedp backend uses f, logs client in over the socket and links it
// with f's phone. It returns a context bounding the test, the client,
// the fake device, and a function that waits for the first event of
// client that ok accepts.
func linkOverSocket(t *testing.T, f *chromedp.FakeWA, client string, conf func(*daemon.Config)) (context.Context, *ctl.Client, string, func(string, func(ctl.Event) bool) ctl.Event) {
	t.Helper()
	dir := t.TempDir()
	b, err := chromedp.New(chromedp.Config{WebURL: f.URL("")}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, DefaultBackend: chromedp.Name, StateDir: dir, Config: conf})
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	t.Cleanup(cancel)
	c := d.Client
	w, err := c.Watch(ctx, ctl.SubscribeParams{Clients: []string{client}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	st, err := c.Login(ctx, ctl.LoginParams{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	dev := chromedp.DeviceOf(t, st.QR)
	f.Scan(dev)
	waitFor := func(what string, ok func(ctl.Event) bool) ctl.Event {
		t.Helper()
		for {
			select {
			case ev, open := <-w.C:
				if !open {
					t.Fatalf("watch closed before %s", what)
				}
				if ok(ev) {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", what)
			}
		}
	}
	waitFor("connected", func(ev ctl.Event) bool {
		return ev.Kind == ctl.KindState && ev.Session != nil && ev.Session.State == ctl.StateConnected
	})
	return ctx, c, dev, waitFor
}

package whatsmeow_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/wafake"
)

// These tests send and receive media, replies, reactions, edits and
// revokes between a wad session and a contact on the fake WhatsApp, over
// the socket: the contact's phone decrypts what wad uploaded and checks
// it against the original bytes, and wad downloads and decrypts what the
// contact uploaded.

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// jpegBytes is a w×h JPEG photo.
func jpegBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 3), uint8(x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ffmpegMade runs ffmpeg (installed by `make deps`) to make a test file.
func ffmpegMade(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is missing: run `make deps` (%v)", err)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(bin, append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func voiceNote(t testing.TB) []byte {
	return ffmpegMade(t, "voice.ogg", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libopus", "-b:a", "24k")
}

func stickerWebP(t testing.TB) []byte {
	return ffmpegMade(t, "sticker.webp", "-f", "lavfi", "-i", "color=c=orange:s=512x512", "-frames:v", "1", "-c:v", "libwebp")
}

func videoMP4(t testing.TB) []byte {
	return ffmpegMade(t, "clip.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264")
}

// fileOf writes data to a file and opens it for reading.
func fileOf(t testing.TB, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sendMedia sends m from client to the contact, by data or (with
// viaFD) by a passed descriptor.
func sendMedia(t *testing.T, d *daemontest.Daemon, client string, to *wafake.Account, m ctl.Media, data []byte, viaFD bool) ctl.SendResult {
	t.Helper()
	ctx := waitCtx(t)
	p := ctl.SendParams{Wait: true, Client: client, To: "+" + to.Phone, Media: &m}
	var res ctl.SendResult
	var err error
	if viaFD {
		fd := 0
		m.FD = &fd
		err = d.Client.CallFiles(ctx, ctl.MethodSend, p, &res, fileOf(t, data))
	} else {
		m.Data = data
		err = d.Client.Call(ctx, ctl.MethodSend, p, &res)
	}
	if err != nil {
		t.Fatalf("message.send %s: %v", m.Kind, err)
	}
	return res
}

func TestSentMediaArrivesWholeAtTheContact(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340110", "Sales")
	contact := newAccount(t, srv, "4917612340111", "Kunde")
	linkOverSocket(t, d, me, "sales")
	ctx := waitCtx(t)

	photo := jpegBytes(t, 640, 480)
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("invoice line\n"), 5000)...)
	cases := []struct {
		media ctl.Media
		data  []byte
		viaFD bool
		check func(*waE2E.Message) string
	}{
		{ctl.Media{Kind: ctl.MediaImage, Caption: "the shelf"}, photo, false, func(m *waE2E.Message) string {
			x := m.GetImageMessage()
			if x == nil || x.GetCaption() != "the shelf" || x.GetMimetype() != "image/jpeg" || x.GetWidth() != 640 || x.GetHeight() != 480 || len(x.GetJPEGThumbnail()) == 0 {
				return "image message " + m.String()
			}
			return ""
		}},
		{ctl.Media{Kind: ctl.MediaDocument, Filename: "rechnung.pdf", Caption: "Rechnung"}, pdf, true, func(m *waE2E.Message) string {
			x := m.GetDocumentMessage()
			if x == nil || x.GetFileName() != "rechnung.pdf" || x.GetMimetype() != "application/pdf" || x.GetCaption() != "Rechnung" {
				return "document message " + m.String()
			}
			return ""
		}},
		{ctl.Media{Kind: ctl.MediaVoice}, voiceNote(t), true, func(m *waE2E.Message) string {
			x := m.GetAudioMessage()
			if x == nil || !x.GetPTT() || !strings.HasPrefix(x.GetMimetype(), "audio/ogg") || x.GetSeconds() != 2 {
				return "voice message " + m.String()
			}
			return ""
		}},
		{ctl.Media{Kind: ctl.MediaSticker}, stickerWebP(t), false, func(m *waE2E.Message) string {
			x := m.GetStickerMessage()
			if x == nil || x.GetMimetype() != "image/webp" || x.GetWidth() != 512 {
				return "sticker message " + m.String()
			}
			return ""
		}},
		{ctl.Media{Kind: ctl.MediaVideo, Caption: "clip"}, videoMP4(t), true, func(m *waE2E.Message) string {
			x := m.GetVideoMessage()
			if x == nil || x.GetMimetype() != "video/mp4" || x.GetCaption() != "clip" || x.GetWidth() != 320 || len(x.GetJPEGThumbnail()) == 0 {
				return "video message " + m.String()
			}
			return ""
		}},
	}
	for _, c := range cases {
		res := sendMedia(t, d, "sales", contact, c.media, c.data, c.viaFD)
		got, err := contact.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == res.ID && !m.IsFromMe })
		if err != nil || got.Err != nil {
			t.Fatalf("%s: the contact never decrypted %s: %v %v", c.media.Kind, res.ID, err, got.Err)
		}
		if bad := c.check(got.Message); bad != "" {
			t.Fatalf("%s: %s", c.media.Kind, bad)
		}
		data, err := contact.DownloadMedia(got)
		if err != nil {
			t.Fatalf("%s: the contact could not download and decrypt it: %v", c.media.Kind, err)
		}
		if sum(data) != sum(c.data) {
			t.Fatalf("%s: the contact got %d bytes (sha256 %s), sent %d (%s)", c.media.Kind, len(data), sum(data), len(c.data), sum(c.data))
		}
	}

	// The same photo again: sent, but not uploaded again.
	n := len(srv.Uploads())
	res := sendMedia(t, d, "sales", contact, ctl.Media{Kind: ctl.MediaImage, Caption: "again"}, photo, true)
	got, err := contact.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == res.ID && !m.IsFromMe })
	if err != nil {
		t.Fatal(err)
	}
	if data, err := contact.DownloadMedia(got); err != nil || sum(data) != sum(photo) {
		t.Fatalf("the resent photo: %v", err)
	}
	if m := len(srv.Uploads()); m != n {
		t.Fatalf("sending the same photo again uploaded it again (%d uploads, were %d)", m, n)
	}
}

func TestRepliesReactionsEditsAndRevokesReachTheContact(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340120", "Sales")
	contact := newAccount(t, srv, "4917612340121", "Kunde")
	linkOverSocket(t, d, me, "sales")
	w := watch(t, d, "sales")
	ctx := waitCtx(t)
	chat := "+" + contact.Phone
	fromWad := func(id string) wafake.Message {
		t.Helper()
		m, err := contact.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == id && !m.IsFromMe })
		if err != nil || m.Err != nil {
			t.Fatalf("the contact never got %s: %v %v", id, err, m.Err)
		}
		return m
	}

	question, err := contact.SendText(me.JID(), "Ist das Paket unterwegs?")
	if err != nil {
		t.Fatal(err)
	}
	if m := skipToKind(t, w, ctl.KindMessage).Message; m.ID != question {
		t.Fatalf("event for %s, want %s", m.ID, question)
	}

	// A reply quotes the question, with its text and sender.
	res, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sales", To: chat, Text: "Ja, seit heute früh", ReplyTo: question,
		Mentions: []string{chat}})
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	ci := fromWad(res.ID).Message.GetExtendedTextMessage().GetContextInfo()
	if ci.GetStanzaID() != question || ci.GetQuotedMessage().GetConversation() != "Ist das Paket unterwegs?" ||
		ci.GetParticipant() != contact.JID().String() || !slices.Equal(ci.GetMentionedJID(), []string{contact.JID().String()}) {
		t.Fatalf("the reply's context %v, want a quote of %s from %s and a mention", ci, question, contact.JID())
	}

	// A reaction to the contact's message, then its removal.
	for _, emoji := range []string{"👍", ""} {
		var rr ctl.SendResult
		if err := d.Client.Call(ctx, ctl.MethodReact, ctl.ReactParams{Wait: true, Client: "sales", Chat: chat, ID: question, Emoji: emoji}, &rr); err != nil {
			t.Fatalf("react %q: %v", emoji, err)
		}
		rm := fromWad(rr.ID).Message.GetReactionMessage()
		if rm.GetKey().GetID() != question || rm.GetKey().GetFromMe() || rm.GetText() != emoji {
			t.Fatalf("reaction %v, want %q on the contact's %s", rm, emoji, question)
		}
	}

	// An edit of wad's own reply.
	var er ctl.SendResult
	if err := d.Client.Call(ctx, ctl.MethodEdit, ctl.EditParams{Wait: true, Client: "sales", Chat: chat, ID: res.ID, Text: "Ja, seit gestern"}, &er); err != nil {
		t.Fatalf("edit: %v", err)
	}
	pm := fromWad(er.ID).Message.GetEditedMessage().GetMessage().GetProtocolMessage()
	if pm.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT || pm.GetKey().GetID() != res.ID || pm.GetEditedMessage().GetConversation() != "Ja, seit gestern" {
		t.Fatalf("edit %v", pm)
	}

	// A revoke of it.
	var rv ctl.SendResult
	if err := d.Client.Call(ctx, ctl.MethodRevoke, ctl.MessageRef{Wait: true, Client: "sales", Chat: chat, ID: res.ID}, &rv); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	pm = fromWad(rv.ID).Message.GetProtocolMessage()
	if pm.GetType() != waE2E.ProtocolMessage_REVOKE || pm.GetKey().GetID() != res.ID || !pm.GetKey().GetFromMe() {
		t.Fatalf("revoke %v", pm)
	}

	// What cannot be done is refused with nothing sent.
	before := len(contact.Received())
	for name, call := range map[string]func() error{
		"reply to an unknown message": func() error {
			_, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sales", To: chat, Text: "x", ReplyTo: "3EB0000000000000DEAD"})
			return err
		},
		"edit of the contact's message": func() error {
			return d.Client.Call(ctx, ctl.MethodEdit, ctl.EditParams{Wait: true, Client: "sales", Chat: chat, ID: question, Text: "x"}, nil)
		},
		"revoke of the contact's message": func() error {
			return d.Client.Call(ctx, ctl.MethodRevoke, ctl.MessageRef{Wait: true, Client: "sales", Chat: chat, ID: question}, nil)
		},
		"download of a text": func() error {
			return d.Client.Call(ctx, ctl.MethodDownload, ctl.DownloadParams{Client: "sales", Chat: chat, ID: question}, nil)
		},
		"two-word emoji": func() error {
			return d.Client.Call(ctx, ctl.MethodReact, ctl.ReactParams{Wait: true, Client: "sales", Chat: chat, ID: question, Emoji: "👍 👍"}, nil)
		},
	} {
		if err := call(); !errors.Is(err, ctl.ErrInvalidParams) {
			t.Errorf("%s: %v, want invalid params", name, err)
		}
	}
	if after := len(contact.Received()); after != before {
		t.Fatalf("refused calls still sent %d messages", after-before)
	}
}

func TestReceivedMediaDownloadsAndContactActionsAreEvents(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340130", "Support")
	contact := newAccount(t, srv, "4917612340131", "Kundin")
	linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")
	ctx := waitCtx(t)
	chat := contact.JID().String()

	photo := jpegBytes(t, 320, 240)
	doc := bytes.Repeat([]byte("Lieferschein\n"), 20000)
	voice := voiceNote(t)
	items := []struct {
		kind, mime, filename string
		data                 []byte
	}{
		{ctl.MediaImage, "image/jpeg", "", photo},
		{ctl.MediaDocument, "text/plain", "lieferschein.txt", doc},
		{ctl.MediaVoice, "audio/ogg; codecs=opus", "", voice},
	}
	for _, it := range items {
		sent, err := contact.SendMedia(me.JID(), it.kind, it.data, it.mime, it.filename, "")
		if err != nil {
			t.Fatalf("the contact sending %s: %v", it.kind, err)
		}
		m := skipToKind(t, w, ctl.KindMessage).Message
		if m.ID != sent.ID || m.Type != it.kind || m.Media == nil || m.Media.Kind != it.kind || m.Media.Mime != it.mime ||
			m.Media.Size != int64(len(it.data)) || m.Media.SHA256 != sum(it.data) || !m.Media.Downloadable || m.Media.Filename != it.filename {
			t.Fatalf("event %+v media %+v, want %s of %d bytes", m, m.Media, it.kind, len(it.data))
		}
		// As data in the reply...
		var res ctl.DownloadResult
		if err := d.Client.Call(ctx, ctl.MethodDownload, ctl.DownloadParams{Client: "support", Chat: chat, ID: sent.ID}, &res); err != nil {
			t.Fatalf("download %s: %v", it.kind, err)
		}
		if sum(res.Data) != sum(it.data) || res.SHA256 != sum(it.data) || res.Size != int64(len(it.data)) || res.Kind != it.kind || res.Mime != it.mime {
			t.Fatalf("download %s: %d bytes %s, %+v", it.kind, len(res.Data), sum(res.Data), res)
		}
		// ...and written to a passed descriptor.
		out := filepath.Join(t.TempDir(), "out")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		fd := 0
		res = ctl.DownloadResult{}
		err = d.Client.CallFiles(ctx, ctl.MethodDownload, ctl.DownloadParams{Client: "support", Chat: chat, ID: sent.ID, FD: &fd}, &res, f)
		f.Close()
		if err != nil {
			t.Fatalf("download %s to an fd: %v", it.kind, err)
		}
		if b, _ := os.ReadFile(out); sum(b) != sum(it.data) || res.Data != nil || res.SHA256 != sum(it.data) {
			t.Fatalf("download %s to an fd wrote %d bytes (%s), result %+v", it.kind, len(b), sum(b), res)
		}
	}

	// The contact reacts to, edits and revokes its own message.
	textID, err := contact.SendText(me.JID(), "Bitte bis Freitag")
	if err != nil {
		t.Fatal(err)
	}
	skipToKind(t, w, ctl.KindMessage)
	if _, err := contact.Edit(me.JID(), textID, "Bitte bis Montag"); err != nil {
		t.Fatal(err)
	}
	if m := skipToKind(t, w, ctl.KindEdit).Message; m.TargetID != textID || m.Text != "Bitte bis Montag" || m.Sender != chat {
		t.Fatalf("edit event %+v", m)
	}
	res, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "support", To: chat, Text: "Geht klar"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := contact.React(me.JID(), res.ID, false, "❤️"); err != nil {
		t.Fatal(err)
	}
	if m := skipToKind(t, w, ctl.KindReaction).Message; m.TargetID != res.ID || m.Emoji != "❤️" || m.Sender != chat {
		t.Fatalf("reaction event %+v", m)
	}
	if _, err := contact.Revoke(me.JID(), textID); err != nil {
		t.Fatal(err)
	}
	if m := skipToKind(t, w, ctl.KindRevoke).Message; m.TargetID != textID {
		t.Fatalf("revoke event %+v", m)
	}

	// Media WhatsApp no longer has: an upstream error, not a hang.
	sent, err := contact.SendMedia(me.JID(), ctl.MediaImage, photo, "image/jpeg", "", "")
	if err != nil {
		t.Fatal(err)
	}
	skipToKind(t, w, ctl.KindMessage)
	srv.ExpireMedia()
	err = d.Client.Call(ctx, ctl.MethodDownload, ctl.DownloadParams{Client: "support", Chat: chat, ID: sent.ID}, nil)
	if !errors.Is(err, ctl.ErrUpstream) || !strings.Contains(err.Error(), "no longer") {
		t.Fatalf("download of expired media: %v", err)
	}
}

func TestReadMarksAndTypingReachTheContact(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340140", "Support")
	contact := newAccount(t, srv, "4917612340141", "Kundin")
	linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")
	ctx := waitCtx(t)
	chat := contact.JID().String()

	var ids []string
	for _, text := range []string{"eins", "zwei"} {
		id, err := contact.SendText(me.JID(), text)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		skipToKind(t, w, ctl.KindMessage)
	}
	var rr ctl.ReadResult
	if err := d.Client.Call(ctx, ctl.MethodRead, ctl.ReadParams{Client: "support", Chat: chat}, &rr); err != nil {
		t.Fatalf("chat.read: %v", err)
	}
	if !slices.Equal(rr.IDs, ids) {
		t.Fatalf("chat.read marked %v, want %v", rr.IDs, ids)
	}
	for _, id := range ids {
		if _, err := contact.WaitReceipt(ctx, func(r wafake.Receipt) bool { return r.Type == "read" && slices.Contains(r.IDs, id) }); err != nil {
			t.Fatalf("no read receipt for %s: %v; got %+v", id, err, contact.Receipts())
		}
	}
	// Nothing is left unread.
	if err := d.Client.Call(ctx, ctl.MethodRead, ctl.ReadParams{Client: "support", Chat: chat}, &rr); err != nil || len(rr.IDs) != 0 {
		t.Fatalf("second chat.read: %v %v", rr.IDs, err)
	}

	for _, c := range []struct{ state, want, media string }{
		{ctl.PresenceTyping, "composing", ""},
		{ctl.PresenceRecording, "composing", "audio"},
		{ctl.PresencePaused, "paused", ""},
	} {
		if err := d.Client.Call(ctx, ctl.MethodPresence, ctl.PresenceParams{Client: "support", Chat: chat, State: c.state}, nil); err != nil {
			t.Fatalf("chat.presence %s: %v", c.state, err)
		}
		if _, err := contact.WaitChatState(ctx, func(s wafake.ChatState) bool {
			return s.State == c.want && s.Media == c.media && s.From.User == me.Phone
		}); err != nil {
			t.Fatalf("chat state %s never reached the contact: %v", c.state, err)
		}
	}
}

var _ = types.EmptyJID
var _ = proto.String
var _ = context.Background

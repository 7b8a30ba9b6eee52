package chromedp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// Test files that pass media.Preparer.

// testPNG is a w×h PNG with some structure (it decodes; its thumbnail
// is not empty).
func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 255), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// oggChecksum is Ogg's page checksum (CRC-32, polynomial 0x04c11db7,
// not reflected), of a page whose checksum field is zero.
func oggChecksum(page []byte) uint32 {
	var crc uint32
	for _, b := range page {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// oggPage makes one Ogg page holding one packet.
func oggPage(flags byte, granule int64, serial, seq uint32, packet []byte) []byte {
	var lacing []byte
	n := len(packet)
	for n >= 255 {
		lacing = append(lacing, 255)
		n -= 255
	}
	lacing = append(lacing, byte(n))
	h := make([]byte, 27)
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], seq)
	h[26] = byte(len(lacing))
	page := append(append(h, lacing...), packet...)
	binary.LittleEndian.PutUint32(page[22:], oggChecksum(page))
	return page
}

// testOggOpus is a short Ogg/Opus stream: the identification and
// comment headers and a few pages of (not decodable) audio packets.
func testOggOpus(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	const serial = 0x5eed
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, 312)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0)
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, 3)
	tags = append(tags, "wad"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	out := oggPage(0x02, 0, serial, 0, head)
	out = append(out, oggPage(0, 0, serial, 1, tags)...)
	for i := range 20 {
		pkt := make([]byte, 100+r.IntN(60))
		for j := range pkt {
			pkt[j] = byte(r.Uint32())
		}
		flags := byte(0)
		if i == 19 {
			flags = 0x04
		}
		out = append(out, oggPage(flags, int64(i+1)*960*5, serial, uint32(i+2), pkt)...)
	}
	return out
}

// testWebP is a lossless (VP8L) WebP sticker header of 512×512 and
// filler: enough for media.Preparer, which reads the first chunk.
func testWebP(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	payload := []byte{0x2f}
	payload = binary.LittleEndian.AppendUint32(payload, uint32(511)|uint32(511)<<14|1<<28)
	for range 3000 {
		payload = append(payload, byte(r.Uint32()))
	}
	if len(payload)%2 == 1 {
		payload = append(payload, 0)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(payload)))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(payload)))
	return append(out, payload...)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// prepare makes a media.File as the daemon does.
func prepare(t testing.TB, in media.Input, data []byte) *media.File {
	t.Helper()
	in.R, in.Size = bytes.NewReader(data), int64(len(data))
	f, err := (&media.Preparer{TempDir: t.TempDir()}).Prepare(context.Background(), in)
	if err != nil {
		t.Fatalf("preparing the %s: %v", in.Kind, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func b64sha(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func hexsha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitEvent returns the next event of sub that want accepts.
func waitEvent(t testing.TB, sub *sessions.Subscription, what string, want func(ctl.Event) bool) ctl.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("no %s event: %v", what, err)
		}
		if want(ev) {
			return ev
		}
	}
}

// lastSent returns the last record of kind the fake got from device.
func (f *fakeWA) lastSent(t testing.TB, device, kind string) sentMsg {
	t.Helper()
	sent := f.sentBy(device)
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].Kind == kind {
			return sent[i]
		}
	}
	t.Fatalf("the fake got no %s from %s: %+v", kind, device, sent)
	return sentMsg{}
}

func (f *fakeWA) countSent(device, kind string) int {
	n := 0
	for _, m := range f.sentBy(device) {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

// deliverMedia puts data on the fake's media servers and has the phone
// side send it to device's page as a message of type typ; it returns the
// message id.
func (f *fakeWA) deliverMedia(device, from, typ, mime, filename, caption string, data []byte, filehash string) string {
	path, key := f.store(&storedMedia{Device: "phone", Type: typ, Mime: mime, Data: data})
	id := fmt.Sprintf("IN%X", sha256.Sum256([]byte(path)))[:20]
	if filehash == "" {
		filehash = b64sha(data)
	}
	f.deliverItem(device, map[string]any{
		"kind": "msg", "id": id, "from": from, "type": typ, "caption": caption,
		"media": map[string]any{
			"directPath": path, "mediaKey": key, "filehash": filehash, "encFilehash": filehash,
			"mimetype": mime, "size": len(data), "filename": filename,
		},
	})
	return id
}

// deliverText has the phone side send a text with a known id.
func (f *fakeWA) deliverText(device, from, id, body string) {
	f.deliverItem(device, map[string]any{"kind": "msg", "id": id, "from": from, "body": body, "type": "chat"})
}

// evalPage runs JavaScript in the session's WhatsApp Web tab.
func evalPage(t testing.TB, s *Session, expr string) {
	t.Helper()
	r := s.current()
	if r == nil {
		t.Fatal("no browser")
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](expr)); err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
}

func isMsgFrom(chat, id string) func(ctl.Event) bool {
	return func(ev ctl.Event) bool {
		return ev.Kind == ctl.KindMessage && ev.Message != nil && ev.Message.Chat == chat && ev.Message.ID == id
	}
}

// Prevents: messaging beyond text that does not reach WhatsApp Web the
// way whatsapp-web.js drives it: media whose bytes arrive altered (or
// not at all), replies quoting the wrong message, mentions, locations
// and contact cards of the wrong shape, reactions, edits, revokes, seen
// and chat states that never reach the page, events that lack what a
// received message carries, and downloads that return other bytes than
// the sender's.
func TestMessagingThroughWhatsAppWeb(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	const client = "msg"
	sub := e.reg.Bus().Subscribe([]string{client}, nil)
	_, dev := e.connect(f, client)
	ctx := context.Background()

	do := func(op sessions.Op) (any, error) {
		octx, cancel := context.WithTimeout(ctx, 120*time.Second)
		defer cancel()
		return e.reg.Do(octx, client, op)
	}
	mustSend := func(t *testing.T, op sessions.Send) ctl.SendResult {
		t.Helper()
		res, err := do(op)
		if err != nil {
			t.Fatalf("send %+v: %v", op, err)
		}
		sr := res.(ctl.SendResult)
		if sr.ID == "" || sr.Timestamp.IsZero() {
			t.Fatalf("send result %+v lacks id or timestamp", sr)
		}
		return sr
	}

	for _, m := range []string{ctl.MethodSend, ctl.MethodReact, ctl.MethodEdit, ctl.MethodRevoke, ctl.MethodRead, ctl.MethodPresence, ctl.MethodDownload} {
		if !e.b.Supports(m) {
			t.Errorf("Supports(%s) = false", m)
		}
	}

	const peer, peerWeb = "4917700000001@s.whatsapp.net", "4917700000001@c.us"
	f.deliverText(dev, peerWeb, "PEERMSG1", "hello @4900000000000")
	in := waitEvent(t, sub, "incoming text", isMsgFrom(peer, "PEERMSG1")).Message
	if in.Text != "hello @4900000000000" || in.Type != ctl.TypeText || in.FromMe || in.Sender != peer {
		t.Errorf("incoming text event %+v", in)
	}

	t.Run("reply with mentions", func(t *testing.T) {
		res := mustSend(t, sessions.Send{To: peer, Text: "hi @4917700000002", ReplyTo: "PEERMSG1", Mentions: []string{"4917700000002@s.whatsapp.net"}})
		got := f.lastSent(t, dev, "msg")
		if got.ID != res.ID || got.Type != "chat" || got.Body != "hi @4917700000002" || got.Quoted != "PEERMSG1" ||
			!slices.Equal(got.Mentions, []string{"4917700000002@c.us"}) || got.To != peerWeb {
			t.Errorf("fake recorded %+v, want a chat message quoting PEERMSG1 and mentioning 4917700000002@c.us", got)
		}
		ev := waitEvent(t, sub, "own reply", isMsgFrom(peer, res.ID)).Message
		if !ev.FromMe || ev.ReplyTo != "PEERMSG1" || !slices.Equal(ev.Mentions, []string{"4917700000002@s.whatsapp.net"}) {
			t.Errorf("own reply event %+v lacks reply_to or mentions", ev)
		}
		if _, err := do(sessions.Send{To: peer, Text: "x", ReplyTo: "NOSUCHMESSAGE"}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("reply to an unknown message: %v, want invalid params", err)
		}
	})

	t.Run("media", func(t *testing.T) {
		doc := randomBytes(2*chunkSize+12345, 7) // three pieces
		cases := []struct {
			in       media.Input
			data     []byte
			wantType string
		}{
			{media.Input{Kind: ctl.MediaImage, Caption: "a picture"}, testPNG(t, 320, 240), "image"},
			{media.Input{Kind: ctl.MediaDocument, Filename: "report.bin", Caption: "the report"}, doc, "document"},
			{media.Input{Kind: ctl.MediaVoice}, testOggOpus(1), "ptt"},
			{media.Input{Kind: ctl.MediaAudio}, testOggOpus(2), "audio"},
			{media.Input{Kind: ctl.MediaSticker}, testWebP(3), "sticker"},
		}
		for _, c := range cases {
			t.Run(c.in.Kind, func(t *testing.T) {
				file := prepare(t, c.in, c.data)
				res := mustSend(t, sessions.Send{To: peer, Media: file})
				got := f.lastSent(t, dev, "msg")
				if got.ID != res.ID || got.Type != c.wantType {
					t.Fatalf("fake recorded %+v, want a %s message with id %s", got, c.wantType, res.ID)
				}
				up := f.upload(got.DirectPath)
				if up == nil {
					t.Fatalf("the message's direct path %q names no upload", got.DirectPath)
				}
				if hexsha(up.Data) != hexsha(c.data) || len(up.Data) != len(c.data) {
					t.Errorf("uploaded %d bytes (sha256 %s), want the file's %d (sha256 %s)", len(up.Data), hexsha(up.Data), len(c.data), hexsha(c.data))
				}
				if got.Filehash != b64sha(c.data) {
					t.Errorf("the page's filehash %s, want %s", got.Filehash, b64sha(c.data))
				}
				if got.Mimetype != file.Mime || up.Mime != file.Mime {
					t.Errorf("mimetype %q (upload %q), want %q", got.Mimetype, up.Mime, file.Mime)
				}
				if got.Caption != c.in.Caption {
					t.Errorf("caption %q, want %q", got.Caption, c.in.Caption)
				}
				if c.in.Filename != "" && got.Filename != c.in.Filename {
					t.Errorf("filename %q, want %q", got.Filename, c.in.Filename)
				}
				ev := waitEvent(t, sub, "own media message", isMsgFrom(peer, res.ID)).Message
				if ev.Media == nil || ev.Media.SHA256 != hexsha(c.data) || ev.Media.Size != int64(len(c.data)) {
					t.Errorf("own media event %+v (media %+v), want its sha256 and size", ev, ev.Media)
				}
			})
		}
	})

	t.Run("location and contact", func(t *testing.T) {
		res := mustSend(t, sessions.Send{To: peer, Location: &ctl.Location{Lat: 52.52, Lon: 13.405, Name: "Fernsehturm", Address: "Panoramastr. 1a, Berlin"}})
		got := f.lastSent(t, dev, "msg")
		if got.ID != res.ID || got.Type != "location" || got.Lat != 52.52 || got.Lng != 13.405 || got.Loc != "Fernsehturm\nPanoramastr. 1a, Berlin" {
			t.Errorf("fake recorded %+v, want the location", got)
		}
		ev := waitEvent(t, sub, "own location", isMsgFrom(peer, res.ID)).Message
		if ev.Type != ctl.TypeLocation || ev.Location == nil || ev.Location.Name != "Fernsehturm" || ev.Location.Lon != 13.405 {
			t.Errorf("location event %+v (%+v)", ev, ev.Location)
		}

		res = mustSend(t, sessions.Send{To: peer, Contact: &ctl.ContactCard{Name: "Erika Mustermann", Phone: "+4915112345678"}})
		got = f.lastSent(t, dev, "msg")
		if got.ID != res.ID || got.Type != "vcard" || got.VCardName != "Erika Mustermann" ||
			!strings.Contains(got.Body, "BEGIN:VCARD") || !strings.Contains(got.Body, "waid=4915112345678") {
			t.Errorf("fake recorded %+v, want a vcard of Erika Mustermann", got)
		}
		ev = waitEvent(t, sub, "own contact", isMsgFrom(peer, res.ID)).Message
		if ev.Type != ctl.TypeContact || ev.Contact == nil || *ev.Contact != (ctl.ContactCard{Name: "Erika Mustermann", Phone: "+4915112345678"}) {
			t.Errorf("contact event %+v (%+v)", ev, ev.Contact)
		}
	})

	t.Run("react edit revoke", func(t *testing.T) {
		res, err := do(sessions.React{Chat: peer, ID: "PEERMSG1", Emoji: "👍"})
		if err != nil {
			t.Fatalf("react: %v", err)
		}
		rr := res.(ctl.SendResult)
		got := f.lastSent(t, dev, "reaction")
		if got.Target != "PEERMSG1" || got.Emoji != "👍" || got.To != peerWeb || rr.ID == "" || got.ID != rr.ID {
			t.Errorf("fake recorded %+v (result %+v), want 👍 on PEERMSG1 with the result's id", got, rr)
		}
		ev := waitEvent(t, sub, "own reaction", func(ev ctl.Event) bool { return ev.Kind == ctl.KindReaction && ev.Message.FromMe }).Message
		if ev.TargetID != "PEERMSG1" || ev.Emoji != "👍" || ev.Chat != peer {
			t.Errorf("own reaction event %+v", ev)
		}
		if _, err := do(sessions.React{Chat: peer, ID: "PEERMSG1", Emoji: ""}); err != nil {
			t.Fatalf("removing the reaction: %v", err)
		}
		if got := f.lastSent(t, dev, "reaction"); got.Emoji != "" || got.Target != "PEERMSG1" {
			t.Errorf("removing the reaction: fake recorded %+v", got)
		}

		sent := mustSend(t, sessions.Send{To: peer, Text: "typo"})
		res, err = do(sessions.Edit{Chat: peer, ID: sent.ID, Text: "fixed"})
		if err != nil {
			t.Fatalf("edit: %v", err)
		}
		if got := f.lastSent(t, dev, "edit"); got.Target != sent.ID || got.Body != "fixed" || got.ID != res.(ctl.SendResult).ID {
			t.Errorf("fake recorded %+v (result %+v), want the edit of %s", got, res, sent.ID)
		}
		ev = waitEvent(t, sub, "own edit", func(ev ctl.Event) bool { return ev.Kind == ctl.KindEdit && ev.Message.TargetID == sent.ID }).Message
		if ev.Text != "fixed" || !ev.FromMe {
			t.Errorf("own edit event %+v", ev)
		}
		if _, err := do(sessions.Edit{Chat: peer, ID: "PEERMSG1", Text: "not mine"}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("editing a received message: %v, want invalid params", err)
		}

		if _, err := do(sessions.Revoke{Chat: peer, ID: sent.ID}); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if got := f.lastSent(t, dev, "revoke"); got.Target != sent.ID || got.To != peerWeb {
			t.Errorf("fake recorded %+v, want the revoke of %s", got, sent.ID)
		}
		ev = waitEvent(t, sub, "own revoke", func(ev ctl.Event) bool { return ev.Kind == ctl.KindRevoke && ev.Message.TargetID == sent.ID }).Message
		if !ev.FromMe || ev.Chat != peer {
			t.Errorf("own revoke event %+v", ev)
		}
		if _, err := do(sessions.Revoke{Chat: peer, ID: "PEERMSG1"}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("revoking a received message: %v, want invalid params (not a delete for this device)", err)
		}
		for _, op := range []sessions.Op{sessions.React{Chat: peer, ID: "NOSUCH", Emoji: "x"}, sessions.Edit{Chat: peer, ID: "NOSUCH", Text: "x"}, sessions.Revoke{Chat: peer, ID: "NOSUCH"}} {
			if _, err := do(op); codeOf(err) != ctl.CodeInvalidParams {
				t.Errorf("%s of an unknown message: %v, want invalid params", op.Method(), err)
			}
		}
	})

	t.Run("events from the other side", func(t *testing.T) {
		const other, otherWeb = "4917700000003@s.whatsapp.net", "4917700000003@c.us"
		mine := mustSend(t, sessions.Send{To: other, Text: "react to this"})
		f.deliverText(dev, otherWeb, "OTHERMSG1", "frist")
		waitEvent(t, sub, "incoming", isMsgFrom(other, "OTHERMSG1"))
		f.deliverItem(dev, map[string]any{"kind": "reaction", "id": "REACT1", "from": otherWeb, "target": mine.ID, "emoji": "❤️"})
		ev := waitEvent(t, sub, "reaction", func(ev ctl.Event) bool { return ev.Kind == ctl.KindReaction && !ev.Message.FromMe }).Message
		if ev.ID != "REACT1" || ev.TargetID != mine.ID || ev.Emoji != "❤️" || ev.Sender != other || ev.Chat != other {
			t.Errorf("reaction event %+v", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "edit", "id": "EDIT1", "from": otherWeb, "target": "OTHERMSG1", "body": "first"})
		ev = waitEvent(t, sub, "edit", func(ev ctl.Event) bool { return ev.Kind == ctl.KindEdit && ev.Message.TargetID == "OTHERMSG1" }).Message
		if ev.ID != "EDIT1" || ev.Text != "first" || ev.FromMe || ev.Sender != other {
			t.Errorf("edit event %+v", ev)
		}
		f.deliverItem(dev, map[string]any{"kind": "revoke", "from": otherWeb, "target": "OTHERMSG1"})
		ev = waitEvent(t, sub, "revoke", func(ev ctl.Event) bool { return ev.Kind == ctl.KindRevoke && ev.Message.TargetID == "OTHERMSG1" }).Message
		if ev.FromMe || ev.Chat != other {
			t.Errorf("revoke event %+v", ev)
		}
	})

	t.Run("read and presence", func(t *testing.T) {
		const reader, readerWeb = "4917700000004@s.whatsapp.net", "4917700000004@c.us"
		for _, id := range []string{"R1", "R2", "R3"} {
			f.deliverText(dev, readerWeb, id, "unread "+id)
			waitEvent(t, sub, "incoming "+id, isMsgFrom(reader, id))
		}
		if _, err := do(sessions.MarkRead{Chat: reader, IDs: []string{"R2"}}); codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), Name) {
			t.Errorf("reading one of three unread: %v, want backend unavailable naming %s (WhatsApp Web reads whole chats)", err, Name)
		}
		if n := f.countSent(dev, "seen"); n != 0 {
			t.Errorf("a refused read still sent %d seen", n)
		}
		res, err := do(sessions.MarkRead{Chat: reader})
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if ids := res.(ctl.ReadResult).IDs; !slices.Equal(ids, []string{"R1", "R2", "R3"}) {
			t.Errorf("read ids %q, want R1 R2 R3", ids)
		}
		if got := f.lastSent(t, dev, "seen"); got.To != readerWeb {
			t.Errorf("seen to %q, want %s", got.To, readerWeb)
		}
		f.deliverText(dev, readerWeb, "R4", "one more")
		waitEvent(t, sub, "incoming R4", isMsgFrom(reader, "R4"))
		res, err = do(sessions.MarkRead{Chat: reader, IDs: []string{"R4"}})
		if err != nil || !slices.Equal(res.(ctl.ReadResult).IDs, []string{"R4"}) {
			t.Errorf("reading the one unread message: %v %+v", err, res)
		}
		res, err = do(sessions.MarkRead{Chat: reader})
		if err != nil || res.(ctl.ReadResult).IDs == nil || len(res.(ctl.ReadResult).IDs) != 0 {
			t.Errorf("reading a read chat: %v %+v, want no ids (an empty list)", err, res)
		}

		for _, c := range []struct{ state, want string }{{ctl.PresenceTyping, "composing"}, {ctl.PresenceRecording, "recording"}, {ctl.PresencePaused, "paused"}} {
			res, err := do(sessions.ChatPresence{Chat: reader, State: c.state})
			if err != nil || res != (ctl.OK{OK: true}) {
				t.Fatalf("presence %s: %v %+v", c.state, err, res)
			}
			if got := f.lastSent(t, dev, "chatstate"); got.State != c.want || got.To != readerWeb {
				t.Errorf("presence %s: fake recorded %+v, want %s to %s", c.state, got, c.want, readerWeb)
			}
		}
	})

	t.Run("download", func(t *testing.T) {
		const sender, senderWeb = "4917700000005@s.whatsapp.net", "4917700000005@c.us"
		img := testPNG(t, 200, 100)
		doc := randomBytes(chunkSize+999, 11)
		voice := testOggOpus(12)
		cases := []struct {
			typ, kind, mime, filename, caption string
			data                               []byte
		}{
			{"image", ctl.MediaImage, "image/png", "", "look", img},
			{"document", ctl.MediaDocument, "application/pdf", "paper.pdf", "", doc},
			{"ptt", ctl.MediaVoice, media.VoiceMime, "", "", voice},
		}
		for _, c := range cases {
			t.Run(c.kind, func(t *testing.T) {
				id := f.deliverMedia(dev, senderWeb, c.typ, c.mime, c.filename, c.caption, c.data, "")
				ev := waitEvent(t, sub, "incoming "+c.kind, isMsgFrom(sender, id)).Message
				want := ctl.MediaInfo{Kind: c.kind, Mime: c.mime, Size: int64(len(c.data)), Filename: c.filename, SHA256: hexsha(c.data), Downloadable: true}
				if ev.Type != c.kind || ev.Media == nil || *ev.Media != want || ev.Caption != c.caption || ev.Text != "" {
					t.Errorf("event %+v with media %+v, want type %s, media %+v, caption %q", ev, ev.Media, c.kind, want, c.caption)
				}

				var buf bytes.Buffer
				res, err := do(sessions.Download{Chat: sender, ID: id, To: &buf, MaxData: 1})
				if err != nil {
					t.Fatalf("download to a writer: %v", err)
				}
				dr := res.(ctl.DownloadResult)
				if !bytes.Equal(buf.Bytes(), c.data) || dr.Data != nil {
					t.Errorf("downloaded %d bytes (sha256 %s) and %d of data, want the %d sent (%s) to the writer", buf.Len(), hexsha(buf.Bytes()), len(dr.Data), len(c.data), hexsha(c.data))
				}
				wantRes := ctl.DownloadResult{Kind: c.kind, Mime: c.mime, Filename: c.filename, Size: int64(len(c.data)), SHA256: hexsha(c.data)}
				if dr.Data = nil; fmt.Sprint(dr) != fmt.Sprint(wantRes) {
					t.Errorf("download result %+v, want %+v", dr, wantRes)
				}

				res, err = do(sessions.Download{Chat: sender, ID: id, MaxData: int64(len(c.data))})
				if err != nil || !bytes.Equal(res.(ctl.DownloadResult).Data, c.data) {
					t.Errorf("download as data: %v, want the bytes", err)
				}
				_, err = do(sessions.Download{Chat: sender, ID: id, MaxData: int64(len(c.data)) - 1})
				if codeOf(err) != ctl.CodeInvalidParams || !strings.Contains(err.Error(), "fd") {
					t.Errorf("download of more than MaxData: %v, want invalid params naming the fd way", err)
				}
			})
		}

		// A file that is not what its sender declared is refused.
		bad := randomBytes(5000, 13)
		id := f.deliverMedia(dev, senderWeb, "document", "application/octet-stream", "x.bin", "", bad, b64sha([]byte("something else")))
		waitEvent(t, sub, "incoming tampered document", isMsgFrom(sender, id))
		if _, err := do(sessions.Download{Chat: sender, ID: id, MaxData: 1 << 20}); codeOf(err) != ctl.CodeUpstream || !strings.Contains(err.Error(), "SHA-256") {
			t.Errorf("download of a file that does not match its filehash: %v, want an upstream error about the SHA-256", err)
		}
		if _, err := do(sessions.Download{Chat: sender, ID: "PEERMSG1", MaxData: 1 << 20}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("download of a message of another chat: %v, want invalid params", err)
		}
		if _, err := do(sessions.Download{Chat: peer, ID: "PEERMSG1", MaxData: 1 << 20}); codeOf(err) != ctl.CodeInvalidParams {
			t.Errorf("download of a text: %v, want invalid params", err)
		}
	})

	t.Run("unsupported", func(t *testing.T) {
		if _, err := e.session(client).Do(ctx, otherOp{}); !errors.Is(err, sessions.ErrUnsupported) {
			t.Errorf("an unknown op: %v, want ErrUnsupported", err)
		}
		if _, err := do(sessions.Send{To: "120363000000000001@newsletter", Text: "x"}); codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), Name) {
			t.Errorf("send to a channel: %v, want backend unavailable naming %s", err, Name)
		}
	})

	t.Run("not connected", func(t *testing.T) {
		// The socket drops: the session is disconnected, and every op
		// is refused as not ready, by the registry and by the session.
		s := e.session(client)
		evalPage(t, s, `window.require('WAWebSocketModel').Socket.set('state', 'TIMEOUT')`)
		e.waitState(client, 30*time.Second, inState(ctl.StateDisconnected))
		file := prepare(t, media.Input{Kind: ctl.MediaImage}, testPNG(t, 10, 10))
		all := []sessions.Op{
			sessions.Send{To: peer, Text: "x"}, sessions.Send{To: peer, Media: file},
			sessions.React{Chat: peer, ID: "PEERMSG1", Emoji: "x"}, sessions.Edit{Chat: peer, ID: "PEERMSG1", Text: "x"},
			sessions.Revoke{Chat: peer, ID: "PEERMSG1"}, sessions.MarkRead{Chat: peer},
			sessions.ChatPresence{Chat: peer, State: ctl.PresenceTyping}, sessions.Download{Chat: peer, ID: "PEERMSG1"},
		}
		for _, op := range all {
			if _, err := do(op); codeOf(err) != ctl.CodeSessionNotReady {
				t.Errorf("%s through the registry while disconnected: %v, want not ready", op.Method(), err)
			}
			if _, err := s.Do(ctx, op); codeOf(err) != ctl.CodeSessionNotReady {
				t.Errorf("%s on the session while disconnected: %v, want not ready", op.Method(), err)
			}
		}
		evalPage(t, s, `window.require('WAWebSocketModel').Socket.set('state', 'CONNECTED')`)
		e.waitState(client, 30*time.Second, inState(ctl.StateConnected))
		mustSend(t, sessions.Send{To: peer, Text: "back"})

		if _, err := e.reg.Stop(ctx, client); err != nil {
			t.Fatal(err)
		}
		for _, op := range all {
			if _, err := s.Do(ctx, op); codeOf(err) != ctl.CodeSessionNotReady {
				t.Errorf("%s on a stopped session: %v, want not ready", op.Method(), err)
			}
		}
	})
}

// otherOp is an operation no backend knows.
type otherOp struct{}

func (otherOp) Method() string { return "message.other" }

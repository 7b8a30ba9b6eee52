package wafake_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/internal/wafake"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// directPathShape is what WhatsApp's direct paths look like.
var directPathShape = regexp.MustCompile(`^/v/t62\.[0-9]+-24/[0-9]+_[0-9]+_[0-9]+_n\.enc\?ccb=11-4&oh=01_[A-Za-z0-9_-]+&oe=[0-9A-F]{8}&_nc_sid=[0-9a-f]+$`)

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if sha256.Sum256(got) != sha256.Sum256(want) || len(got) != len(want) {
		t.Fatalf("%s: got %d bytes (sha256 %x), want %d (sha256 %x)", what, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

func TestMediaFromWadReachesTheContactsPhone(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000201", "Sales")
	b := addAccount(t, s, "4915110000202", "Bob")
	cli, _ := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	ctx := ctxFor(t)

	// An image: Upload encrypts it, the fake stores the blob and
	// answers with WhatsApp-shaped url and direct_path.
	img := randomBytes(t, 70001)
	up, err := cli.Upload(ctx, img, wa.MediaImage)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if !directPathShape.MatchString(up.DirectPath) || !strings.HasPrefix(up.DirectPath, "/v/t62.7118-24/") {
		t.Fatalf("direct path %q", up.DirectPath)
	}
	if up.URL != "https://"+wafake.Host+up.DirectPath+"&mms3=true" {
		t.Fatalf("url %q for direct path %q", up.URL, up.DirectPath)
	}
	ups := s.Uploads()
	if len(ups) != 1 || ups[0].By != self || ups[0].MMSType != "image" || ups[0].DirectPath != up.DirectPath ||
		!bytes.Equal(ups[0].FileEncSHA256, up.FileEncSHA256) || ups[0].Size != int64(len(img)/16*16+16+10) {
		t.Fatalf("uploads %+v", ups)
	}
	resp, err := cli.SendMessage(ctx, b.JID(), &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		Caption: proto.String("the plan"), Mimetype: proto.String("image/jpeg"),
		URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
	}})
	if err != nil {
		t.Fatalf("send image: %v", err)
	}
	m, err := b.WaitMessage(ctx, byID(resp.ID))
	if err != nil {
		t.Fatal(err)
	}
	if m.Err != nil || m.Type != "media" || m.MediaType != "image" || m.Message.GetImageMessage().GetCaption() != "the plan" {
		t.Fatalf("B's phone got %+v", m)
	}
	got, err := b.DownloadMedia(m)
	if err != nil {
		t.Fatalf("B's phone downloading: %v", err)
	}
	sameBytes(t, "image at B's phone", got, img)

	// A document through UploadReader (whatsmeow's streaming
	// encryption), sent with a caption inside DocumentWithCaption.
	doc := randomBytes(t, 4096) // whole blocks: a full block of padding
	up2, err := cli.UploadReader(ctx, bytes.NewReader(doc), nil, wa.MediaDocument)
	if err != nil {
		t.Fatalf("upload reader: %v", err)
	}
	resp2, err := cli.SendMessage(ctx, b.JID(), &waE2E.Message{DocumentWithCaptionMessage: &waE2E.FutureProofMessage{
		Message: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			FileName: proto.String("report.pdf"), Caption: proto.String("Q3"), Mimetype: proto.String("application/pdf"),
			URL: proto.String(up2.URL), DirectPath: proto.String(up2.DirectPath), MediaKey: up2.MediaKey,
			FileEncSHA256: up2.FileEncSHA256, FileSHA256: up2.FileSHA256, FileLength: proto.Uint64(up2.FileLength),
		}},
	}})
	if err != nil {
		t.Fatalf("send document: %v", err)
	}
	m2, err := b.WaitMessage(ctx, byID(resp2.ID))
	if err != nil {
		t.Fatal(err)
	}
	if m2.MediaType != "document" || m2.Type != "media" {
		t.Fatalf("B's phone got %+v", m2)
	}
	got2, err := b.DownloadMedia(m2)
	if err != nil {
		t.Fatalf("B's phone downloading the document: %v", err)
	}
	sameBytes(t, "document at B's phone", got2, doc)
	if n := len(s.Uploads()); n != 2 {
		t.Fatalf("%d uploads, want 2", n)
	}

	// Expired: the phone's download fails with the server's 404.
	if n := s.ExpireMedia(up.DirectPath); n != 1 {
		t.Fatalf("expired %d blobs", n)
	}
	if _, err := b.DownloadMedia(m); !errors.Is(err, wafake.ErrMediaGone) {
		t.Fatalf("download after expiry: %v, want ErrMediaGone", err)
	}
	if _, err := b.DownloadMedia(m2); err != nil {
		t.Fatalf("the other blob: %v", err)
	}
	waitDrained(t, s, self)
	g.check(t)
}

func TestMediaFromTheContactsPhoneReachesWad(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000211", "Sales")
	b := addAccount(t, s, "4915110000212", "Carol")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	ctx := ctxFor(t)

	type sent struct {
		kind, mime, filename, caption string
		data                          []byte
		mediaType                     string
	}
	cases := []sent{
		{wafake.MediaImage, "image/png", "", "a picture", randomBytes(t, 33333), "image"},
		{wafake.MediaDocument, "application/pdf", "contract.pdf", "", randomBytes(t, 100000), "document"},
		{wafake.MediaDocument, "text/plain", "notes.txt", "read this", []byte("plain notes\n"), "document"},
		{wafake.MediaVoice, "", "", "", randomBytes(t, 5000), "ptt"},
		{wafake.MediaAudio, "audio/mpeg", "", "", randomBytes(t, 2048), "audio"},
		{wafake.MediaVideo, "video/mp4", "", "clip", randomBytes(t, 50000), "video"},
		{wafake.MediaSticker, "", "", "", randomBytes(t, 1500), "sticker"},
	}
	var downloaded []wa.DownloadableMessage
	var infos []types.MessageInfo
	for i, c := range cases {
		out, err := b.SendMedia(a.JID(), c.kind, c.data, c.mime, c.filename, c.caption, wafake.WithSeconds(7), wafake.WithDimensions(64, 48))
		if err != nil {
			t.Fatalf("send %s: %v", c.kind, err)
		}
		in := waitEvent(t, evs, c.kind+" from B", func(m *events.Message) bool { return m.Info.ID == out.ID })
		if in.Info.Type != "media" || in.Info.MediaType != c.mediaType || in.Info.Sender != b.JID() {
			t.Fatalf("%d: wad got %+v", i, in.Info)
		}
		var dm wa.DownloadableMessage
		switch c.kind {
		case wafake.MediaImage:
			dm = in.Message.GetImageMessage()
			if in.Message.GetImageMessage().GetCaption() != c.caption || in.Message.GetImageMessage().GetMimetype() != c.mime {
				t.Fatalf("image %+v", in.Message.GetImageMessage())
			}
		case wafake.MediaDocument:
			d := in.Message.GetDocumentMessage()
			dm = d
			if d.GetFileName() != c.filename || d.GetCaption() != c.caption || in.IsDocumentWithCaption != (c.caption != "") {
				t.Fatalf("document %+v (with caption %v)", d, in.IsDocumentWithCaption)
			}
		case wafake.MediaVoice, wafake.MediaAudio:
			au := in.Message.GetAudioMessage()
			dm = au
			if au.GetPTT() != (c.kind == wafake.MediaVoice) || au.GetSeconds() != 7 {
				t.Fatalf("audio %+v", au)
			}
			if c.kind == wafake.MediaVoice && au.GetMimetype() != "audio/ogg; codecs=opus" {
				t.Fatalf("voice mime %q", au.GetMimetype())
			}
		case wafake.MediaVideo:
			dm = in.Message.GetVideoMessage()
		case wafake.MediaSticker:
			dm = in.Message.GetStickerMessage()
			if in.Message.GetStickerMessage().GetMimetype() != "image/webp" {
				t.Fatalf("sticker %+v", in.Message.GetStickerMessage())
			}
		}
		if dm == nil || len(dm.GetMediaKey()) != 32 {
			t.Fatalf("%s: no media in %v", c.kind, in.Message)
		}
		got, err := cli.Download(ctx, dm)
		if err != nil {
			t.Fatalf("wad downloading the %s: %v", c.kind, err)
		}
		sameBytes(t, c.kind, got, c.data)
		downloaded = append(downloaded, dm)
		infos = append(infos, in.Info)
	}
	ups := s.Uploads()
	if len(ups) != len(cases) {
		t.Fatalf("%d uploads, want %d", len(ups), len(cases))
	}
	for _, u := range ups {
		if u.By != b.JID() {
			t.Fatalf("upload %+v not by B's phone", u)
		}
	}

	// By direct path instead of URL, and into a file.
	voice := downloaded[3]
	got, err := cli.DownloadMediaWithPath(ctx, voice.GetDirectPath(), voice.GetFileEncSHA256(), voice.GetFileSHA256(),
		voice.GetMediaKey(), len(cases[3].data), wa.MediaAudio, "")
	if err != nil {
		t.Fatalf("download by direct path: %v", err)
	}
	sameBytes(t, "voice by direct path", got, cases[3].data)
	f, err := os.Create(filepath.Join(t.TempDir(), "doc"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := cli.DownloadToFile(ctx, downloaded[1], f); err != nil {
		t.Fatalf("download to file: %v", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	fromFile, _ := io.ReadAll(f)
	sameBytes(t, "document in a file", fromFile, cases[1].data)

	// No longer on the server: whatsmeow's 404, by URL and by path.
	if n := s.ExpireMedia(); n != len(cases) {
		t.Fatalf("expired %d blobs, want all %d", n, len(cases))
	}
	if _, err := cli.Download(ctx, downloaded[0]); !errors.Is(err, wa.ErrMediaDownloadFailedWith404) {
		t.Fatalf("download after expiry: %v, want 404", err)
	}
	_, err = cli.DownloadMediaWithPath(ctx, voice.GetDirectPath(), voice.GetFileEncSHA256(), voice.GetFileSHA256(),
		voice.GetMediaKey(), -1, wa.MediaAudio, "")
	if !errors.Is(err, wa.ErrMediaDownloadFailedWith404) {
		t.Fatalf("download by path after expiry: %v, want 404", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := cli.DownloadToFile(ctx, downloaded[1], f); !errors.Is(err, wa.ErrMediaDownloadFailedWith404) {
		t.Fatalf("download to file after expiry: %v, want 404", err)
	}
	// Asking for it again is a server-error receipt to wad's own user:
	// recorded at its phone, answered by nobody.
	if err := cli.SendMediaRetryReceipt(ctx, &infos[0], downloaded[0].GetMediaKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitReceipt(ctx, func(r wafake.Receipt) bool {
		return r.Type == "server-error" && r.From == self && len(r.IDs) == 1 && r.IDs[0] == infos[0].ID
	}); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, s, self)
	g.check(t)
}

// TestUploadEndpointRefusesWhatWhatsAppRefuses talks HTTP to the upload
// endpoint and the CDN directly, with the media auth whatsmeow got.
func TestUploadEndpointRefusesWhatWhatsAppRefuses(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000221", "Sales")
	cli, _ := pairByQR(t, s, a, newContainer(t))
	ctx := ctxFor(t)
	mc, err := cli.DangerousInternals().RefreshMediaConn(ctx, false)
	if err != nil {
		t.Fatalf("media conn: %v", err)
	}
	if len(mc.Hosts) != 1 || mc.Hosts[0].Hostname != wafake.Host || mc.Auth == "" || mc.TTL <= 0 || mc.AuthTTL <= 0 || mc.MaxBuckets <= 0 {
		t.Fatalf("media conn %+v", mc)
	}
	hc := s.HTTPClient()
	body := randomBytes(t, 64)
	sum := sha256.Sum256(body)
	token := base64.URLEncoding.EncodeToString(sum[:])
	post := func(mms, pathToken, queryToken, auth string, data []byte) *http.Response {
		t.Helper()
		u := url.URL{Scheme: "https", Host: wafake.Host, Path: "/mms/" + mms + "/" + pathToken,
			RawQuery: url.Values{"auth": {auth}, "token": {queryToken}}.Encode()}
		resp, err := hc.Post(u.String(), "application/octet-stream", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, c := range []struct {
		what                   string
		mms, pathTok, queryTok string
		auth                   string
		data                   []byte
		want                   int
	}{
		{"bad auth", "image", token, token, "not-an-auth", body, http.StatusUnauthorized},
		{"unknown type", "nonsense", token, token, mc.Auth, body, http.StatusBadRequest},
		{"token not the body's", "image", token, token, mc.Auth, append([]byte{1}, body...), http.StatusBadRequest},
		{"query token differs", "image", token, "x" + token, mc.Auth, body, http.StatusBadRequest},
		{"token not base64", "image", "!!", "!!", mc.Auth, body, http.StatusBadRequest},
	} {
		if resp := post(c.mms, c.pathTok, c.queryTok, c.auth, c.data); resp.StatusCode != c.want {
			t.Fatalf("%s: status %d, want %d", c.what, resp.StatusCode, c.want)
		}
	}
	if n := len(s.Uploads()); n != 0 {
		t.Fatalf("%d uploads stored from refused requests", n)
	}
	resp := post("document", token, token, mc.Auth, body)
	var res struct {
		URL        string `json:"url"`
		DirectPath string `json:"direct_path"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("good upload: status %d, %v", resp.StatusCode, err)
	}
	if !directPathShape.MatchString(res.DirectPath) || !strings.HasPrefix(res.DirectPath, "/v/t62.7119-24/") || res.URL != "https://"+wafake.Host+res.DirectPath+"&mms3=true" {
		t.Fatalf("answer %+v", res)
	}
	if ups := s.Uploads(); len(ups) != 1 || ups[0].By != *cli.Store.ID || ups[0].Size != int64(len(body)) || ups[0].MMSType != "document" {
		t.Fatalf("uploads %+v", ups)
	}

	// The CDN serves by path with the URL's signature, else 403 or 404.
	get := func(target string) (int, []byte) {
		t.Helper()
		resp, err := hc.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	if code, data := get(res.URL); code != http.StatusOK || !bytes.Equal(data, body) {
		t.Fatalf("get url: %d, %d bytes", code, len(data))
	}
	path, _, _ := strings.Cut(res.DirectPath, "?")
	if code, _ := get("https://" + wafake.Host + path); code != http.StatusForbidden {
		t.Fatalf("get without signature: %d", code)
	}
	if code, _ := get("https://" + wafake.Host + "/v/t62.7118-24/1_2_3_n.enc?oh=x"); code != http.StatusNotFound {
		t.Fatalf("get unknown: %d", code)
	}
	if code, _ := get("https://" + wafake.Host + "/mms/image/" + token); code != http.StatusMethodNotAllowed {
		t.Fatalf("get on the upload endpoint: %d", code)
	}

	// A phone's upload is by the phone.
	b := addAccount(t, s, "4915110000222", "Dora")
	mu, err := b.UploadMedia(wafake.MediaVoice, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if ups := s.Uploads(); len(ups) != 2 || ups[1].By != b.JID() || ups[1].MMSType != "audio" || ups[1].DirectPath != mu.DirectPath ||
		mu.FileLength != 1 || len(mu.MediaKey) != 32 || mu.MediaKeyTimestamp == 0 || ups[1].Size != 16+10 {
		t.Fatalf("uploads %+v, phone's %+v", ups, mu)
	}
	if _, err := b.UploadMedia("hologram", []byte("x")); err == nil {
		t.Fatal("uploaded an unknown kind")
	}
	g.check(t)
}

func TestReactionsEditsAndRevokesBothWays(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000231", "Sales")
	b := addAccount(t, s, "4915110000232", "Erin")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	ctx := ctxFor(t)

	// wad writes, B's phone reacts, then takes the reaction back.
	mine := send(t, cli, b.JID(), "lunch at noon?")
	if _, err := b.WaitMessage(ctx, byID(mine.ID)); err != nil {
		t.Fatal(err)
	}
	r1, err := b.React(a.JID(), mine.ID, false, "👍")
	if err != nil {
		t.Fatal(err)
	}
	in := waitEvent(t, evs, "reaction from B", func(m *events.Message) bool { return m.Info.ID == r1.ID })
	rm := in.Message.GetReactionMessage()
	if in.Info.Type != "reaction" || in.Info.Edit != "" || rm.GetText() != "👍" || rm.GetKey().GetID() != mine.ID ||
		rm.GetKey().GetFromMe() || rm.GetKey().GetRemoteJID() != a.JID().String() || rm.GetSenderTimestampMS() == 0 {
		t.Fatalf("wad got %+v: %v", in.Info, rm)
	}
	r2, err := b.React(a.JID(), mine.ID, false, "")
	if err != nil {
		t.Fatal(err)
	}
	in = waitEvent(t, evs, "reaction removal from B", func(m *events.Message) bool { return m.Info.ID == r2.ID })
	if in.Info.Type != "reaction" || in.Info.Edit != types.EditAttributeSenderRevoke ||
		in.Message.GetReactionMessage().GetText() != "" || in.Message.GetReactionMessage().GetKey().GetID() != mine.ID {
		t.Fatalf("wad got %+v: %v", in.Info, in.Message)
	}

	// B's phone writes, edits and deletes its message.
	theirs, err := b.SendText(a.JID(), "see you at 1")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evs, "message from B", func(m *events.Message) bool { return m.Info.ID == theirs })
	ed, err := b.Edit(a.JID(), theirs, "see you at 2")
	if err != nil {
		t.Fatal(err)
	}
	in = waitEvent(t, evs, "edit from B", func(m *events.Message) bool { return m.Info.ID == ed.ID })
	pm := in.Message.GetProtocolMessage()
	if in.Info.Edit != types.EditAttributeMessageEdit || !in.IsEdit || in.Info.Type != "text" ||
		pm.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT || pm.GetKey().GetID() != theirs || !pm.GetKey().GetFromMe() ||
		pm.GetEditedMessage().GetConversation() != "see you at 2" || pm.GetTimestampMS() == 0 {
		t.Fatalf("wad got %+v (edit %v): %v", in.Info, in.IsEdit, in.Message)
	}
	rv, err := b.Revoke(a.JID(), theirs)
	if err != nil {
		t.Fatal(err)
	}
	in = waitEvent(t, evs, "revoke from B", func(m *events.Message) bool { return m.Info.ID == rv.ID })
	pm = in.Message.GetProtocolMessage()
	if in.Info.Edit != types.EditAttributeSenderRevoke || pm.GetType() != waE2E.ProtocolMessage_REVOKE || pm.GetKey().GetID() != theirs {
		t.Fatalf("wad got %+v: %v", in.Info, in.Message)
	}

	// wad reacts to B's message, edits and deletes its own: B's phone
	// records each with the stanza's type and edit attributes.
	check := func(what string, resp wa.SendResponse, typ, edit string) *waE2E.Message {
		t.Helper()
		m, err := b.WaitMessage(ctx, byID(resp.ID))
		if err != nil {
			t.Fatal(err)
		}
		if m.Err != nil || m.Type != typ || m.Edit != edit || m.Sender != self {
			t.Fatalf("%s at B's phone: %+v", what, m)
		}
		return m.Message
	}
	resp, err := cli.SendMessage(ctx, b.JID(), cli.BuildReaction(b.JID(), b.JID(), theirs, "❤️"))
	if err != nil {
		t.Fatal(err)
	}
	got := check("reaction", resp, "reaction", "").GetReactionMessage()
	if got.GetText() != "❤️" || got.GetKey().GetID() != theirs || got.GetKey().GetFromMe() {
		t.Fatalf("reaction %v", got)
	}
	resp, err = cli.SendMessage(ctx, b.JID(), cli.BuildReaction(b.JID(), b.JID(), theirs, ""))
	if err != nil {
		t.Fatal(err)
	}
	check("reaction removal", resp, "reaction", "7")
	resp, err = cli.SendMessage(ctx, b.JID(), cli.BuildEdit(b.JID(), mine.ID, &waE2E.Message{Conversation: proto.String("lunch at one?")}))
	if err != nil {
		t.Fatal(err)
	}
	epm := check("edit", resp, "text", "1").GetEditedMessage().GetMessage().GetProtocolMessage()
	if epm.GetKey().GetID() != mine.ID || epm.GetEditedMessage().GetConversation() != "lunch at one?" {
		t.Fatalf("edit %v", epm)
	}
	resp, err = cli.SendMessage(ctx, b.JID(), cli.BuildRevoke(b.JID(), types.EmptyJID, mine.ID))
	if err != nil {
		t.Fatal(err)
	}
	rpm := check("revoke", resp, "text", "7").GetProtocolMessage()
	if rpm.GetType() != waE2E.ProtocolMessage_REVOKE || rpm.GetKey().GetID() != mine.ID || !rpm.GetKey().GetFromMe() {
		t.Fatalf("revoke %v", rpm)
	}
	// wad's own phone got each as a DeviceSentMessage copy.
	if m, err := a.WaitMessage(ctx, byID(resp.ID)); err != nil || !m.IsFromMe || m.Edit != "7" {
		t.Fatalf("A's phone: %+v %v", m, err)
	}
	waitDrained(t, s, self)
	g.check(t)
}

func TestChatStatePresenceAndReadReceipts(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000241", "Sales")
	b := addAccount(t, s, "4915110000242", "Finn")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	ctx := ctxFor(t)

	// wad types, records, pauses: B's phone records each.
	for _, st := range []struct {
		state types.ChatPresence
		media types.ChatPresenceMedia
	}{
		{types.ChatPresenceComposing, types.ChatPresenceMediaText},
		{types.ChatPresenceComposing, types.ChatPresenceMediaAudio},
		{types.ChatPresencePaused, types.ChatPresenceMediaText},
	} {
		if err := cli.SendChatPresence(ctx, b.JID(), st.state, st.media); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.WaitChatState(ctx, func(cs wafake.ChatState) bool { return cs.State == "paused" }); err != nil {
		t.Fatal(err)
	}
	states := b.ChatStates()
	if len(states) != 3 || states[0] != (wafake.ChatState{From: self, State: "composing", Time: states[0].Time}) ||
		states[1].State != "composing" || states[1].Media != "audio" || states[2].State != "paused" || states[2].Media != "" {
		t.Fatalf("chat states at B: %+v", states)
	}

	// B types to wad: not passed on while wad is not available.
	if err := b.SendChatState(a.JID(), "composing", ""); err != nil {
		t.Fatal(err)
	}
	if s.Available(self) {
		t.Fatal("available before any presence")
	}
	cli.Store.PushName = "Sales" // whatsmeow learns it from app state, which the fake does not sync
	if err := cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "wad available", func() bool { return s.Available(self) })
	if err := b.SendChatState(a.JID(), "composing", "audio"); err != nil {
		t.Fatal(err)
	}
	cp := waitEvent(t, evs, "chat presence", func(*events.ChatPresence) bool { return true })
	if cp.State != types.ChatPresenceComposing || cp.Media != types.ChatPresenceMediaAudio || cp.Chat != b.JID() || cp.Sender != b.JID() {
		t.Fatalf("chat presence %+v, want recording from B (and not the typing sent while unavailable)", cp)
	}
	if err := cli.SendPresence(ctx, types.PresenceUnavailable); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "wad unavailable", func() bool { return !s.Available(self) })

	// wad reads two of B's messages: one read receipt, both ids.
	id1, err := b.SendText(a.JID(), "one")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := b.SendText(a.JID(), "two")
	if err != nil {
		t.Fatal(err)
	}
	in := waitEvent(t, evs, "second message", func(m *events.Message) bool { return m.Info.ID == id2 })
	if err := cli.MarkRead(ctx, []types.MessageID{id2, id1}, in.Info.Timestamp, b.JID(), b.JID()); err != nil {
		t.Fatal(err)
	}
	r, err := b.WaitReceipt(ctx, func(r wafake.Receipt) bool { return r.Type == "read" })
	if err != nil {
		t.Fatal(err)
	}
	if r.From != self || len(r.IDs) != 2 || r.IDs[0] != id2 || r.IDs[1] != id1 || !r.Timestamp.Equal(in.Info.Timestamp) {
		t.Fatalf("read receipt at B %+v", r)
	}
	waitDrained(t, s, self)
	g.check(t)
}

// waitUntil polls cond until it holds, generously.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

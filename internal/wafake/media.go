package wafake

// Media: the media_conn query that tells a device where to upload and
// download and with which auth, the upload endpoint that stores the
// encrypted blobs, the CDN that serves them by direct path, and the
// phone's half of media encryption (media keys expanded with HKDF into
// an AES-256-CBC key, iv and HMAC key; the blob is the ciphertext and
// 10 bytes of HMAC). whatsmeow: mediaconn.go (queryMediaConn),
// upload.go (Upload, UploadReader, rawUpload), download.go (Download,
// DownloadMediaWithPath, downloadAndDecrypt, getMediaKeys, the 403/404/
// 410 errors), download-to-file.go, util/cbcutil and util/hkdfutil.
// mediaretry.go (a device asking for expired media to be uploaded
// again) is not answered: its server-error receipt is only recorded
// (message.go).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/hkdf"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

func init() {
	loggedInIQs["w:m set media_conn"] = (*conn).mediaConn
}

// What a media_conn answer carries: the host list is good for
// mediaConnTTL seconds (whatsmeow asks again after it), the auth for
// mediaAuthTTL.
const (
	mediaConnTTL    = 300
	mediaAuthTTL    = 21600
	mediaMaxBuckets = 12
)

// mediaLifetime is how long an upload's URL is signed for (its oe).
const mediaLifetime = 30 * 24 * time.Hour

// maxUpload bounds one upload's body; a larger one is refused with 413.
const maxUpload = 128 << 20

// mediaHMACLength is how much of the HMAC-SHA256 of iv and ciphertext
// is appended to an encrypted blob.
const mediaHMACLength = 10

// ncSID is the _nc_sid parameter of WhatsApp's media URLs.
const ncSID = "5e03e0"

// Media kinds a phone sends (Account.UploadMedia, SendMedia).
const (
	MediaImage    = "image"
	MediaVideo    = "video"
	MediaAudio    = "audio"
	MediaVoice    = "voice" // a push-to-talk note (AudioMessage.PTT)
	MediaDocument = "document"
	MediaSticker  = "sticker"
)

// mediaKind is how a kind of media is encrypted and uploaded: the HKDF
// info its keys are expanded with and the mms type of its upload URL
// (as whatsmeow does, voice notes go up as audio and stickers as
// images).
type mediaKind struct {
	info, mms string
}

var mediaKinds = map[string]mediaKind{
	MediaImage:    {"WhatsApp Image Keys", "image"},
	MediaVideo:    {"WhatsApp Video Keys", "video"},
	MediaAudio:    {"WhatsApp Audio Keys", "audio"},
	MediaVoice:    {"WhatsApp Audio Keys", "audio"},
	MediaDocument: {"WhatsApp Document Keys", "document"},
	MediaSticker:  {"WhatsApp Image Keys", "image"},
}

// mmsPrefixes are the first component of a direct path after /v/, by
// mms type, as WhatsApp's CDN names its buckets.
var mmsPrefixes = map[string]string{
	"image":          "t62.7118-24",
	"sticker":        "t62.15575-24",
	"video":          "t62.7161-24",
	"gif":            "t62.7161-24",
	"audio":          "t62.7117-24",
	"ptt":            "t62.7117-24",
	"document":       "t62.7119-24",
	"md-msg-hist":    "t62.36145-24",
	"md-app-state":   "t62.36145-24",
	"sticker-pack":   "t62.15575-24",
	"thumbnail-link": "t62.36144-24",
}

// Upload is one blob stored by the upload endpoint.
type Upload struct {
	// MMSType is the upload URL's media type (image, video, audio,
	// document, ...).
	MMSType string
	// By is the device whose media auth the upload used (a phone's is
	// its account's JID, device 0).
	By types.JID
	// Size is the length of the encrypted blob; FileEncSHA256 its hash.
	Size          int64
	FileEncSHA256 []byte
	// DirectPath and URL are what the upload was answered with.
	DirectPath, URL string
	// Time is when it was stored.
	Time time.Time
}

// ErrMediaGone is what Account.DownloadMedia returns (wrapped) for a
// blob the server no longer has: 404 or 410.
var ErrMediaGone = errors.New("wafake: media is no longer on the server")

// mediaStore is the server's media: the auths it handed out and the
// blobs uploaded with them, by direct path (its path part).
type mediaStore struct {
	mu      sync.Mutex
	auths   map[string]mediaAuth
	blobs   map[string]*blob
	uploads []Upload
}

type mediaAuth struct {
	by    types.JID
	until time.Time
}

// blob is an uploaded file; only gone changes (under mediaStore.mu).
type blob struct {
	data []byte
	oh   string    // the URL signature
	oe   time.Time // when the signed URL expires
	gone bool
}

// issueAuth returns a media auth for device by: the one it has while
// that is good for more than half its TTL, else a new one.
func (s *Server) issueAuth(by types.JID) string {
	m := &s.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.auths == nil {
		m.auths = map[string]mediaAuth{}
	}
	now := time.Now()
	for k, v := range m.auths {
		switch {
		case now.After(v.until):
			delete(m.auths, k)
		case v.by == by && v.until.Sub(now) > mediaAuthTTL*time.Second/2:
			return k
		}
	}
	b := make([]byte, 48)
	rand.Read(b)
	auth := base64.StdEncoding.EncodeToString(b)
	m.auths[auth] = mediaAuth{by: by, until: now.Add(mediaAuthTTL * time.Second)}
	return auth
}

// mediaConn answers whatsmeow's media_conn query: an auth for the
// device, how long it and the host list hold, and the one host (the
// fake's, so that nothing but Host:443 is ever dialled).
func (c *conn) mediaConn(n *waBinary.Node) {
	auth := c.s.issueAuth(c.dev.JID)
	c.result(n, waBinary.Node{
		Tag: "media_conn",
		Attrs: waBinary.Attrs{
			"auth": auth, "ttl": mediaConnTTL, "auth_ttl": mediaAuthTTL, "max_buckets": mediaMaxBuckets,
		},
		Content: []waBinary.Node{{Tag: "host", Attrs: waBinary.Attrs{"hostname": Host}}},
	})
}

// routeMedia puts the upload endpoint and the CDN on the fake's mux.
func (s *Server) routeMedia(mux *http.ServeMux) {
	mux.HandleFunc("POST /mms/{type}/{token}", s.serveUpload)
	mux.HandleFunc("GET /v/", s.serveMedia)
}

// serveUpload takes an upload as whatsmeow's rawUpload sends it: POST
// /mms/<mms type>/<token>?auth=<auth>&token=<token>, the token being
// the base64url SHA-256 of the body. A bad or expired auth is 401, a
// token that does not match the body (or the query) 400, a body longer
// than maxUpload 413. The answer is JSON with the blob's url and
// direct_path.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	mmsType, token := r.PathValue("type"), r.PathValue("token")
	q := r.URL.Query()
	s.media.mu.Lock()
	auth, ok := s.media.auths[q.Get("auth")]
	s.media.mu.Unlock()
	now := time.Now()
	if !ok || now.After(auth.until) {
		http.Error(w, "bad auth", http.StatusUnauthorized)
		return
	}
	if _, known := mmsPrefixes[mmsType]; !known {
		http.Error(w, "unknown media type", http.StatusBadRequest)
		return
	}
	want, err := base64.URLEncoding.DecodeString(token)
	if err != nil || len(want) != sha256.Size || q.Get("token") != token {
		http.Error(w, "bad token", http.StatusBadRequest)
		return
	}
	if r.ContentLength < 0 {
		http.Error(w, "length required", http.StatusLengthRequired)
		return
	}
	if r.ContentLength > maxUpload {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUpload+1))
	if err != nil || int64(len(body)) != r.ContentLength {
		http.Error(w, "incomplete body", http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	if !hmac.Equal(sum[:], want) {
		http.Error(w, "token does not match the body", http.StatusBadRequest)
		return
	}
	up := s.store(mmsType, auth.by, body, sum[:], now)
	s.logf("upload %s by %s: %d bytes at %s", mmsType, auth.by, len(body), up.DirectPath)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"url": up.URL, "direct_path": up.DirectPath}) //nolint:errcheck
}

// store keeps a blob under a fresh direct path, shaped like WhatsApp's:
// /v/<bucket>/<ids>_n.enc?ccb=11-4&oh=<signature>&oe=<expiry, hex>&_nc_sid=...
func (s *Server) store(mmsType string, by types.JID, data, encSHA256 []byte, now time.Time) Upload {
	ids := make([]byte, 24)
	rand.Read(ids)
	file := fmt.Sprintf("%d_%d_%d_n.enc",
		100000000+binary.BigEndian.Uint32(ids[0:4])%900000000,
		1000000000000000+binary.BigEndian.Uint64(ids[4:12])%9000000000000000,
		1000000000000000000+binary.BigEndian.Uint64(ids[12:20])%8000000000000000000)
	sig := make([]byte, 30)
	rand.Read(sig)
	b := &blob{
		data: data,
		oh:   "01_" + base64.RawURLEncoding.EncodeToString(sig),
		oe:   time.Unix(now.Add(mediaLifetime).Unix(), 0),
	}
	path := "/v/" + mmsPrefixes[mmsType] + "/" + file
	direct := fmt.Sprintf("%s?ccb=11-4&oh=%s&oe=%s&_nc_sid=%s", path, b.oh, strings.ToUpper(strconv.FormatInt(b.oe.Unix(), 16)), ncSID)
	up := Upload{
		MMSType: mmsType, By: by, Size: int64(len(data)), FileEncSHA256: slices.Clone(encSHA256),
		DirectPath: direct, URL: "https://" + Host + direct + "&mms3=true", Time: now,
	}
	m := &s.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blobs == nil {
		m.blobs = map[string]*blob{}
	}
	m.blobs[path] = b
	m.uploads = append(m.uploads, up)
	return up
}

// serveMedia is the CDN: a GET of a blob by its path, whatever query
// whatsmeow adds (the URL's &mms3=true, or DownloadMediaWithPath's
// &hash=...&mms-type=...&__wa-mms=). The URL's signature (oh) must be
// the one the upload was answered with and unexpired (oe), else 403; a
// blob never stored or expired (ExpireMedia) is 404.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	s.media.mu.Lock()
	b := s.media.blobs[r.URL.Path]
	gone := b == nil || b.gone
	s.media.mu.Unlock()
	if gone {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("oh") != b.oh {
		http.Error(w, "URL signature mismatch", http.StatusForbidden)
		return
	}
	if time.Now().After(b.oe) {
		http.Error(w, "URL signature expired", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b.data))
}

// Uploads lists what was uploaded to the fake, in order.
func (s *Server) Uploads() []Upload {
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	return slices.Clone(s.media.uploads)
}

// ExpireMedia makes the blobs at the direct paths (or URLs) given, or
// with none given every blob, no longer downloadable: the CDN answers
// 404 (whatsmeow: ErrMediaDownloadFailedWith404), as for media the
// server has dropped. It returns how many blobs it expired.
func (s *Server) ExpireMedia(paths ...string) int {
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	n := 0
	expire := func(b *blob) {
		if b != nil && !b.gone {
			b.gone = true
			n++
		}
	}
	if len(paths) == 0 {
		for _, b := range s.media.blobs {
			expire(b)
		}
		return n
	}
	for _, p := range paths {
		if u, err := url.Parse(p); err == nil {
			expire(s.media.blobs[u.Path])
		}
	}
	return n
}

// mediaClient is the HTTP client the phones use for the CDN: it reaches
// only the fake.
func (s *Server) mediaClient() *http.Client {
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	if s.mediaHC == nil {
		s.mediaHC = s.HTTPClient()
	}
	return s.mediaHC
}

// mediaKeys expands a media key as every client does: HKDF-SHA256 with
// the kind's info to 112 bytes, of which the iv, the AES key and the
// HMAC key are the first 80.
func mediaKeys(mediaKey []byte, info string) (iv, cipherKey, macKey []byte, err error) {
	out := make([]byte, 112)
	if _, err := io.ReadFull(hkdf.New(sha256.New, mediaKey, nil, []byte(info)), out); err != nil {
		return nil, nil, nil, err
	}
	return out[:16], out[16:48], out[48:80], nil
}

// encryptMedia encrypts plaintext for upload: AES-256-CBC with PKCS#7
// padding, then the first 10 bytes of HMAC-SHA256(iv || ciphertext).
func encryptMedia(mediaKey []byte, info string, plaintext []byte) ([]byte, error) {
	iv, cipherKey, macKey, err := mediaKeys(mediaKey, info)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cipherKey)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	ct := make([]byte, len(plaintext)+pad)
	copy(ct, plaintext)
	for i := len(plaintext); i < len(ct); i++ {
		ct[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	mac := hmac.New(sha256.New, macKey)
	mac.Write(iv)
	mac.Write(ct)
	return append(ct, mac.Sum(nil)[:mediaHMACLength]...), nil
}

// decryptMedia checks a downloaded blob's HMAC and decrypts it.
func decryptMedia(mediaKey []byte, info string, data []byte) ([]byte, error) {
	if len(mediaKey) != 32 {
		return nil, fmt.Errorf("wafake: media key of %d bytes", len(mediaKey))
	}
	iv, cipherKey, macKey, err := mediaKeys(mediaKey, info)
	if err != nil {
		return nil, err
	}
	if len(data) <= mediaHMACLength {
		return nil, errors.New("wafake: media blob too short")
	}
	ct, got := data[:len(data)-mediaHMACLength], data[len(data)-mediaHMACLength:]
	mac := hmac.New(sha256.New, macKey)
	mac.Write(iv)
	mac.Write(ct)
	if !hmac.Equal(mac.Sum(nil)[:mediaHMACLength], got) {
		return nil, errors.New("wafake: media HMAC does not match")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, errors.New("wafake: media ciphertext is not whole blocks")
	}
	block, err := aes.NewCipher(cipherKey)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(pt[len(pt)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("wafake: media padding is invalid")
	}
	return pt[:len(pt)-pad], nil
}

// MediaUpload is a file a phone encrypted and uploaded: what goes into
// the media message that points at it.
type MediaUpload struct {
	// Kind is the media kind it was encrypted for (MediaImage, ...),
	// MMSType the upload's media type.
	Kind, MMSType string
	// URL and DirectPath are where the blob is, as the upload was
	// answered.
	URL, DirectPath string
	// MediaKey is the random key the file's keys are expanded from.
	MediaKey []byte
	// FileSHA256 and FileLength are the plaintext's, FileEncSHA256 the
	// uploaded blob's.
	FileSHA256, FileEncSHA256 []byte
	FileLength                uint64
	// MediaKeyTimestamp is when the key was made (Unix seconds).
	MediaKeyTimestamp int64
}

// UploadMedia is the account's phone uploading a file of kind (MediaImage,
// MediaVideo, MediaAudio, MediaVoice, MediaDocument or MediaSticker) as
// a client does: a random 32-byte media key, expanded with the kind's
// HKDF info, encrypts it, and the blob goes to the upload endpoint over
// HTTPS with an auth of the phone's.
func (a *Account) UploadMedia(kind string, plaintext []byte) (MediaUpload, error) {
	mk, ok := mediaKinds[kind]
	if !ok {
		return MediaUpload{}, fmt.Errorf("wafake: unknown media kind %q", kind)
	}
	key := make([]byte, 32)
	rand.Read(key)
	now := time.Now()
	blob, err := encryptMedia(key, mk.info, plaintext)
	if err != nil {
		return MediaUpload{}, err
	}
	sum, encSum := sha256.Sum256(plaintext), sha256.Sum256(blob)
	token := base64.URLEncoding.EncodeToString(encSum[:])
	q := url.Values{"auth": {a.s.issueAuth(a.JID())}, "token": {token}}
	u := url.URL{Scheme: "https", Host: Host, Path: "/mms/" + mk.mms + "/" + token, RawQuery: q.Encode()}
	resp, err := a.s.mediaClient().Post(u.String(), "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		return MediaUpload{}, fmt.Errorf("wafake: upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return MediaUpload{}, fmt.Errorf("wafake: upload: status %d", resp.StatusCode)
	}
	var res struct {
		URL        string `json:"url"`
		DirectPath string `json:"direct_path"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return MediaUpload{}, fmt.Errorf("wafake: upload answer: %w", err)
	}
	return MediaUpload{
		Kind: kind, MMSType: mk.mms, URL: res.URL, DirectPath: res.DirectPath,
		MediaKey: key, FileSHA256: sum[:], FileEncSHA256: encSum[:], FileLength: uint64(len(plaintext)),
		MediaKeyTimestamp: now.Unix(),
	}, nil
}

// MediaOption adds to the media message SendMedia builds.
type MediaOption func(*mediaMeta)

type mediaMeta struct {
	seconds       uint32
	width, height uint32
	thumbnail     []byte
	animated      bool
	context       *waE2E.ContextInfo
}

// WithSeconds sets the duration of audio, voice and video.
func WithSeconds(s uint32) MediaOption { return func(m *mediaMeta) { m.seconds = s } }

// WithDimensions sets the width and height of an image, video or
// sticker.
func WithDimensions(w, h uint32) MediaOption {
	return func(m *mediaMeta) { m.width, m.height = w, h }
}

// WithThumbnail sets the JPEG preview of an image, video or document.
func WithThumbnail(jpeg []byte) MediaOption { return func(m *mediaMeta) { m.thumbnail = jpeg } }

// WithAnimated marks a sticker animated.
func WithAnimated() MediaOption { return func(m *mediaMeta) { m.animated = true } }

// WithContextInfo sets the message's context info: a quoted message
// (StanzaID, Participant, QuotedMessage) for a reply, mentions, ...
func WithContextInfo(ci *waE2E.ContextInfo) MediaOption {
	return func(m *mediaMeta) { m.context = ci }
}

// defaultMimes are the mime types SendMedia uses when given none.
var defaultMimes = map[string]string{
	MediaImage:    "image/jpeg",
	MediaVideo:    "video/mp4",
	MediaAudio:    "audio/mpeg",
	MediaVoice:    "audio/ogg; codecs=opus",
	MediaDocument: "application/octet-stream",
	MediaSticker:  "image/webp",
}

// SendMedia is the account's phone sending a file to the user to: it
// uploads data (UploadMedia) and sends the message a phone builds for
// the kind: an ImageMessage, VideoMessage, AudioMessage (PTT for
// MediaVoice), DocumentMessage with the file name (inside a
// DocumentWithCaptionMessage when it has a caption, as the apps send
// one) or StickerMessage. An empty mime is the kind's usual one;
// filename is used for documents only, caption for images, videos and
// documents.
func (a *Account) SendMedia(to types.JID, kind string, data []byte, mime, filename, caption string, opts ...MediaOption) (Sent, error) {
	var meta mediaMeta
	for _, o := range opts {
		o(&meta)
	}
	if mime == "" {
		mime = defaultMimes[kind]
	}
	up, err := a.UploadMedia(kind, data)
	if err != nil {
		return Sent{}, err
	}
	opt32 := func(v uint32) *uint32 {
		if v == 0 {
			return nil
		}
		return proto.Uint32(v)
	}
	optStr := func(v string) *string {
		if v == "" {
			return nil
		}
		return proto.String(v)
	}
	msg := &waE2E.Message{}
	switch kind {
	case MediaImage:
		msg.ImageMessage = &waE2E.ImageMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			Mimetype: proto.String(mime), FileSHA256: up.FileSHA256, FileEncSHA256: up.FileEncSHA256,
			FileLength: proto.Uint64(up.FileLength), MediaKeyTimestamp: proto.Int64(up.MediaKeyTimestamp),
			Caption: optStr(caption), Width: opt32(meta.width), Height: opt32(meta.height),
			JPEGThumbnail: meta.thumbnail, ContextInfo: meta.context,
		}
	case MediaVideo:
		msg.VideoMessage = &waE2E.VideoMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			Mimetype: proto.String(mime), FileSHA256: up.FileSHA256, FileEncSHA256: up.FileEncSHA256,
			FileLength: proto.Uint64(up.FileLength), MediaKeyTimestamp: proto.Int64(up.MediaKeyTimestamp),
			Caption: optStr(caption), Seconds: opt32(meta.seconds), Width: opt32(meta.width), Height: opt32(meta.height),
			JPEGThumbnail: meta.thumbnail, ContextInfo: meta.context,
		}
	case MediaAudio, MediaVoice:
		msg.AudioMessage = &waE2E.AudioMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			Mimetype: proto.String(mime), FileSHA256: up.FileSHA256, FileEncSHA256: up.FileEncSHA256,
			FileLength: proto.Uint64(up.FileLength), MediaKeyTimestamp: proto.Int64(up.MediaKeyTimestamp),
			Seconds: opt32(meta.seconds), PTT: proto.Bool(kind == MediaVoice), ContextInfo: meta.context,
		}
	case MediaDocument:
		doc := &waE2E.DocumentMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			Mimetype: proto.String(mime), FileSHA256: up.FileSHA256, FileEncSHA256: up.FileEncSHA256,
			FileLength: proto.Uint64(up.FileLength), MediaKeyTimestamp: proto.Int64(up.MediaKeyTimestamp),
			FileName: optStr(filename), Title: optStr(filename), Caption: optStr(caption),
			JPEGThumbnail: meta.thumbnail, ContextInfo: meta.context,
		}
		if caption != "" {
			msg.DocumentWithCaptionMessage = &waE2E.FutureProofMessage{Message: &waE2E.Message{DocumentMessage: doc}}
		} else {
			msg.DocumentMessage = doc
		}
	case MediaSticker:
		msg.StickerMessage = &waE2E.StickerMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			Mimetype: proto.String(mime), FileSHA256: up.FileSHA256, FileEncSHA256: up.FileEncSHA256,
			FileLength: proto.Uint64(up.FileLength), MediaKeyTimestamp: proto.Int64(up.MediaKeyTimestamp),
			Width: opt32(meta.width), Height: opt32(meta.height), IsAnimated: proto.Bool(meta.animated),
			ContextInfo: meta.context,
		}
	}
	return a.SendMessage(to, msg)
}

// downloadable is what a media message says about its file.
type downloadable interface {
	GetURL() string
	GetDirectPath() string
	GetMediaKey() []byte
	GetFileSHA256() []byte
	GetFileEncSHA256() []byte
	GetFileLength() uint64
}

// unwrapMessage returns the message inside the wrappers a media or text
// message may come in (document with caption, ephemeral, view once,
// lottie sticker).
func unwrapMessage(msg *waE2E.Message) *waE2E.Message {
	for msg != nil {
		var inner *waE2E.Message
		switch {
		case msg.GetDocumentWithCaptionMessage().GetMessage() != nil:
			inner = msg.GetDocumentWithCaptionMessage().GetMessage()
		case msg.GetEphemeralMessage().GetMessage() != nil:
			inner = msg.GetEphemeralMessage().GetMessage()
		case msg.GetViewOnceMessage().GetMessage() != nil:
			inner = msg.GetViewOnceMessage().GetMessage()
		case msg.GetViewOnceMessageV2().GetMessage() != nil:
			inner = msg.GetViewOnceMessageV2().GetMessage()
		case msg.GetViewOnceMessageV2Extension().GetMessage() != nil:
			inner = msg.GetViewOnceMessageV2Extension().GetMessage()
		case msg.GetLottieStickerMessage().GetMessage() != nil:
			inner = msg.GetLottieStickerMessage().GetMessage()
		}
		if inner == nil {
			return msg
		}
		msg = inner
	}
	return nil
}

// mediaOf finds the file of a media message and the HKDF info its keys
// are expanded with (stickers use the image keys).
func mediaOf(msg *waE2E.Message) (downloadable, string, string) {
	msg = unwrapMessage(msg)
	switch {
	case msg.GetImageMessage() != nil:
		return msg.GetImageMessage(), mediaKinds[MediaImage].info, "image"
	case msg.GetVideoMessage() != nil:
		return msg.GetVideoMessage(), mediaKinds[MediaVideo].info, "video"
	case msg.GetAudioMessage() != nil:
		return msg.GetAudioMessage(), mediaKinds[MediaAudio].info, "audio"
	case msg.GetDocumentMessage() != nil:
		return msg.GetDocumentMessage(), mediaKinds[MediaDocument].info, "document"
	case msg.GetStickerMessage() != nil:
		return msg.GetStickerMessage(), mediaKinds[MediaSticker].info, "image"
	}
	return nil, "", ""
}

// DownloadMedia is the account's phone opening the file of a media
// message it received (image, video, audio, document or sticker, also
// inside a document-with-caption, ephemeral or view-once wrapper): it
// fetches the blob from the fake's CDN by direct path (by URL when the
// message has none), checks its FileEncSHA256 and HMAC, decrypts it and
// checks FileSHA256 and FileLength. A blob the server no longer has is
// an error wrapping ErrMediaGone.
func (a *Account) DownloadMedia(m Message) ([]byte, error) {
	dm, info, mms := mediaOf(m.Message)
	if dm == nil {
		return nil, fmt.Errorf("wafake: message %s has no media", m.ID)
	}
	var target string
	switch {
	case strings.HasPrefix(dm.GetDirectPath(), "/"):
		target = fmt.Sprintf("https://%s%s&hash=%s&mms-type=%s&__wa-mms=", Host, dm.GetDirectPath(),
			base64.URLEncoding.EncodeToString(dm.GetFileEncSHA256()), mms)
	case dm.GetURL() != "":
		target = dm.GetURL()
	default:
		return nil, fmt.Errorf("wafake: message %s has no media URL", m.ID)
	}
	resp, err := a.s.mediaClient().Get(target)
	if err != nil {
		return nil, fmt.Errorf("wafake: media download: %w", err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: status %d", ErrMediaGone, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("wafake: media download: status %d", resp.StatusCode)
	case err != nil:
		return nil, fmt.Errorf("wafake: media download: %w", err)
	}
	if want := dm.GetFileEncSHA256(); len(want) > 0 {
		if sum := sha256.Sum256(data); !hmac.Equal(sum[:], want) {
			return nil, errors.New("wafake: the media blob's SHA-256 is not FileEncSHA256")
		}
	}
	pt, err := decryptMedia(dm.GetMediaKey(), info, data)
	if err != nil {
		return nil, err
	}
	if want := dm.GetFileSHA256(); len(want) > 0 {
		if sum := sha256.Sum256(pt); !hmac.Equal(sum[:], want) {
			return nil, errors.New("wafake: the media's SHA-256 is not FileSHA256")
		}
	}
	if n := dm.GetFileLength(); n != 0 && n != uint64(len(pt)) {
		return nil, fmt.Errorf("wafake: media of %d bytes, FileLength says %d", len(pt), n)
	}
	return pt, nil
}

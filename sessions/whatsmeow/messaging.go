package whatsmeow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// ops are the operations whatsmeow sessions perform.
var ops = map[string]bool{
	ctl.MethodSend: true, ctl.MethodReact: true, ctl.MethodEdit: true, ctl.MethodRevoke: true,
	ctl.MethodRead: true, ctl.MethodPresence: true, ctl.MethodDownload: true,
}

// Do performs op; whatsmeow sessions perform every Op in ops.
func (s *session) Do(ctx context.Context, op sessions.Op) (any, error) {
	r, err := s.connected()
	if err != nil {
		return nil, err
	}
	switch op := op.(type) {
	case sessions.Send:
		return s.send(ctx, r, op)
	case sessions.React:
		return s.react(ctx, r, op)
	case sessions.Edit:
		return s.edit(ctx, r, op)
	case sessions.Revoke:
		return s.revoke(ctx, r, op)
	case sessions.MarkRead:
		return s.markRead(ctx, r, op)
	case sessions.ChatPresence:
		return s.chatPresence(ctx, r, op)
	case sessions.Download:
		return s.download(ctx, r, op)
	case sessions.ListGroups:
		return s.listGroups(ctx, r)
	case sessions.GroupInfo:
		return s.groupInfo(ctx, r, op)
	case sessions.CreateGroup:
		return s.createGroup(ctx, r, op)
	case sessions.UpdateParticipants:
		return s.updateParticipants(ctx, r, op)
	case sessions.InviteLink:
		return s.inviteLink(ctx, r, op)
	case sessions.JoinGroup:
		return s.joinGroup(ctx, r, op)
	case sessions.LeaveGroup:
		return s.leaveGroup(ctx, r, op)
	case sessions.SetGroup:
		return s.setGroup(ctx, r, op)
	case sessions.CheckPhones:
		return s.checkPhones(ctx, r, op)
	case sessions.ListContacts:
		return s.listContacts(ctx, r)
	case sessions.ContactInfo:
		return s.contactInfo(ctx, r, op)
	case sessions.ListChats:
		return s.listChats(ctx, r)
	case sessions.GetProfile:
		return s.getProfile(ctx, r)
	case sessions.SetProfile:
		return s.setProfile(ctx, r, op)
	case sessions.SubscribePresence:
		return s.subscribePresence(ctx, r, op)
	case sessions.RejectCall:
		return s.rejectCall(ctx, r, op)
	}
	return nil, sessions.ErrUnsupported
}

// connected returns the current run if the session is connected, else a
// not-ready error.
func (s *session) connected() (*run, error) {
	r := s.current()
	if st := s.st.Get(); r == nil || st.State != ctl.StateConnected {
		msg := fmt.Sprintf("session %s is %s, not connected", s.env.Client, st.State)
		if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
		return nil, ctl.Errorf(ctl.CodeSessionNotReady, "%s", msg)
	}
	return r, nil
}

// parseJID parses a JID the daemon already normalised.
func parseJID(what, s string) (types.JID, error) {
	j, err := types.ParseJID(s)
	if err != nil || j.User == "" {
		return types.JID{}, ctl.Errorf(ctl.CodeInvalidParams, "invalid %s %q", what, s)
	}
	return j, nil
}

// send builds the message of op, uploading its media first, and sends
// it. The message is remembered for later replies, edits and revokes.
func (s *session) send(ctx context.Context, r *run, op sessions.Send) (ctl.SendResult, error) {
	to, err := parseJID("recipient", op.To)
	if err != nil {
		return ctl.SendResult{}, err
	}
	var ci *waE2E.ContextInfo
	if op.ReplyTo != "" || len(op.Mentions) > 0 {
		ci = &waE2E.ContextInfo{MentionedJID: op.Mentions}
		if op.ReplyTo != "" {
			q := s.recent.get(to, op.ReplyTo)
			if q == nil {
				return ctl.SendResult{}, notRemembered("reply_to", to, op.ReplyTo)
			}
			ci.StanzaID = proto.String(op.ReplyTo)
			ci.Participant = proto.String(s.participant(r, q).String())
			ci.QuotedMessage = q.msg
			if to.Server == types.GroupServer {
				ci.RemoteJID = proto.String(to.String())
			}
		}
	}
	var msg *waE2E.Message
	switch {
	case op.Media != nil:
		msg, err = s.mediaMessage(ctx, r, op.Media, ci)
		if err != nil {
			return ctl.SendResult{}, err
		}
	case op.Location != nil:
		l := op.Location
		msg = &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(l.Lat), DegreesLongitude: proto.Float64(l.Lon),
			Name: optString(l.Name), Address: optString(l.Address), ContextInfo: ci,
		}}
	case op.Contact != nil:
		msg = &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String(op.Contact.Name), Vcard: proto.String(media.VCard(op.Contact.Name, op.Contact.Phone)), ContextInfo: ci,
		}}
	case ci != nil:
		msg = &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(op.Text), ContextInfo: ci}}
	default:
		msg = &waE2E.Message{Conversation: proto.String(op.Text)}
	}
	return s.sendBuilt(ctx, r, to, msg, op.NewID)
}

// sendBuilt sends msg to chat under id (whatsmeow makes one when it is
// empty) and remembers it.
func (s *session) sendBuilt(ctx context.Context, r *run, chat types.JID, msg *waE2E.Message, id string) (ctl.SendResult, error) {
	resp, err := r.cli.SendMessage(ctx, chat, msg, wa.SendRequestExtra{ID: types.MessageID(id)})
	if err != nil {
		return ctl.SendResult{}, sendError(s.env.Client, err)
	}
	if msg.GetProtocolMessage() == nil && msg.GetReactionMessage() == nil && msg.GetEditedMessage() == nil {
		s.recent.add(resp.ID, &recentMsg{chat: chat, sender: ownUser(r), fromMe: true, at: resp.Timestamp, msg: msg})
	}
	return ctl.SendResult{ID: resp.ID, Timestamp: resp.Timestamp.UTC()}, nil
}

// ownUser is this device's account as a user JID (no device), or empty.
func ownUser(r *run) types.JID {
	if id := r.cli.Store.ID; id != nil {
		return id.ToNonAD()
	}
	return types.EmptyJID
}

// participant is who sent a remembered message, as a quote names them.
func (s *session) participant(r *run, m *recentMsg) types.JID {
	if m.fromMe || m.sender.IsEmpty() {
		return ownUser(r)
	}
	return m.sender
}

func notRemembered(what string, chat types.JID, id string) error {
	return ctl.Errorf(ctl.CodeInvalidParams, "%s: message %s of chat %s is not among the last %d messages this session sent or received since it started", what, id, chat, recentPerSession)
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return proto.String(s)
}

// mediaType is whatsmeow's key-derivation type for a kind.
func mediaType(kind string) wa.MediaType {
	switch kind {
	case ctl.MediaImage, ctl.MediaSticker:
		return wa.MediaImage
	case ctl.MediaVideo:
		return wa.MediaVideo
	case ctl.MediaAudio, ctl.MediaVoice:
		return wa.MediaAudio
	}
	return wa.MediaDocument
}

// mediaMessage uploads f (or reuses this session's earlier upload of the
// same bytes) and builds its message.
func (s *session) mediaMessage(ctx context.Context, r *run, f *media.File, ci *waE2E.ContextInfo) (*waE2E.Message, error) {
	up, err := s.upload(ctx, r, f)
	if err != nil {
		return nil, err
	}
	now := proto.Int64(time.Now().Unix())
	caption := optString(f.Caption)
	u32 := func(n int) *uint32 {
		if n <= 0 {
			return nil
		}
		return proto.Uint32(uint32(n))
	}
	secs := u32(int(f.Seconds + 0.5))
	switch f.Kind {
	case ctl.MediaImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, MediaKeyTimestamp: now,
			Mimetype: proto.String(f.Mime), Caption: caption, Width: u32(f.Width), Height: u32(f.Height),
			JPEGThumbnail: f.Thumbnail, ContextInfo: ci,
		}}, nil
	case ctl.MediaVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, MediaKeyTimestamp: now,
			Mimetype: proto.String(f.Mime), Caption: caption, Width: u32(f.Width), Height: u32(f.Height),
			Seconds: secs, JPEGThumbnail: f.Thumbnail, ContextInfo: ci,
		}}, nil
	case ctl.MediaAudio, ctl.MediaVoice:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, MediaKeyTimestamp: now,
			Mimetype: proto.String(f.Mime), Seconds: secs, PTT: proto.Bool(f.Kind == ctl.MediaVoice), ContextInfo: ci,
		}}, nil
	case ctl.MediaSticker:
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, MediaKeyTimestamp: now,
			Mimetype: proto.String(f.Mime), Width: u32(f.Width), Height: u32(f.Height),
			IsAnimated: proto.Bool(f.Animated), ContextInfo: ci,
		}}, nil
	}
	name := f.Filename
	if name == "" {
		name = "file"
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
		FileSHA256: up.FileSHA256, FileLength: &up.FileLength, MediaKeyTimestamp: now,
		Mimetype: proto.String(f.Mime), FileName: proto.String(name), Title: proto.String(name),
		Caption: caption, ContextInfo: ci,
	}}, nil
}

// uploads remembers a session's uploads so that sending the same bytes
// again reuses them while WhatsApp still serves them.
type uploads struct {
	mu sync.Mutex
	m  map[uploadKey]uploadEntry
}

type uploadKey struct {
	typ    wa.MediaType
	sha256 [32]byte
}

type uploadEntry struct {
	resp    wa.UploadResponse
	expires time.Time
}

// uploadReuse is how long an upload is reused when its URL does not say
// when it expires; uploadMargin is kept before an expiry it states.
const (
	uploadReuse  = 24 * time.Hour
	uploadMargin = time.Hour
	maxUploads   = 256
)

func (u *uploads) get(k uploadKey, now time.Time) (wa.UploadResponse, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.m[k]
	if !ok || now.After(e.expires) {
		delete(u.m, k)
		return wa.UploadResponse{}, false
	}
	return e.resp, true
}

func (u *uploads) put(k uploadKey, resp wa.UploadResponse, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[uploadKey]uploadEntry)
	}
	if len(u.m) >= maxUploads {
		for k2, e := range u.m {
			if now.After(e.expires) || len(u.m) >= maxUploads {
				delete(u.m, k2)
			}
		}
	}
	u.m[k] = uploadEntry{resp: resp, expires: uploadExpiry(resp.URL, now)}
}

// uploadExpiry is when to stop reusing an upload: WhatsApp's media URLs
// carry their expiry as hex Unix seconds in "oe".
func uploadExpiry(rawURL string, now time.Time) time.Time {
	if u, err := url.Parse(rawURL); err == nil {
		if oe, err := strconv.ParseInt(u.Query().Get("oe"), 16, 64); err == nil && oe > 0 {
			return time.Unix(oe, 0).Add(-uploadMargin)
		}
	}
	return now.Add(uploadReuse)
}

// upload encrypts and uploads f through a private temporary file, so
// memory stays at whatsmeow's copy buffers whatever the file's size.
func (s *session) upload(ctx context.Context, r *run, f *media.File) (wa.UploadResponse, error) {
	typ := mediaType(f.Kind)
	var k uploadKey
	k.typ = typ
	copy(k.sha256[:], f.SHA256)
	if resp, ok := s.uploads.get(k, time.Now()); ok {
		s.log.Debug("reusing an earlier upload of the same file", "kind", f.Kind, "size", f.Size)
		return resp, nil
	}
	tmp, err := os.CreateTemp("", "wad-upload-*")
	if err != nil {
		return wa.UploadResponse{}, ctl.Errorf(ctl.CodeInternal, "cannot make a temporary file for the upload: %v", err)
	}
	os.Remove(tmp.Name())
	defer tmp.Close()
	resp, err := r.cli.UploadReader(ctx, f.Reader(), tmp, typ)
	if err != nil {
		return wa.UploadResponse{}, uploadError(s.env.Client, err)
	}
	s.uploads.put(k, resp, time.Now())
	return resp, nil
}

func uploadError(client string, err error) error {
	switch {
	case errors.Is(err, wa.ErrNotConnected), errors.Is(err, wa.ErrNotLoggedIn):
		return ctl.Errorf(ctl.CodeSessionNotReady, "session %s is not connected to WhatsApp right now: %v", client, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ctl.Errorf(ctl.CodeTimeout, "uploading from %s: %v", client, err)
	}
	return ctl.Errorf(ctl.CodeUpstream, "WhatsApp did not accept the upload: %v", err)
}

// target returns the remembered message id of chat and who sent it.
// When it is not remembered, a message of a one-to-one chat is taken to
// be the other party's (for a reaction or read mark), and of a group it
// is an error: its sender cannot be known.
func (s *session) target(r *run, what string, chat types.JID, id string) (sender types.JID, m *recentMsg, err error) {
	if m = s.recent.get(chat, id); m != nil {
		return s.participant(r, m), m, nil
	}
	if chat.Server == types.DefaultUserServer || chat.Server == types.HiddenUserServer {
		return chat, nil, nil
	}
	return types.JID{}, nil, notRemembered(what, chat, id)
}

func (s *session) react(ctx context.Context, r *run, op sessions.React) (ctl.SendResult, error) {
	chat, err := parseJID("chat", op.Chat)
	if err != nil {
		return ctl.SendResult{}, err
	}
	sender, _, err := s.target(r, "id", chat, op.ID)
	if err != nil {
		return ctl.SendResult{}, err
	}
	return s.sendBuilt(ctx, r, chat, r.cli.BuildReaction(chat, sender, op.ID, op.Emoji), op.NewID)
}

func (s *session) edit(ctx context.Context, r *run, op sessions.Edit) (ctl.SendResult, error) {
	chat, err := parseJID("chat", op.Chat)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if m := s.recent.get(chat, op.ID); m != nil {
		if !m.fromMe {
			return ctl.SendResult{}, ctl.Errorf(ctl.CodeInvalidParams, "message %s was not sent by this account: only your own messages can be edited", op.ID)
		}
		if time.Since(m.at) > wa.EditWindow {
			return ctl.SendResult{}, ctl.Errorf(ctl.CodeInvalidParams, "message %s was sent %s ago: WhatsApp allows edits for %s", op.ID, time.Since(m.at).Round(time.Second), wa.EditWindow)
		}
	}
	res, err := s.sendBuilt(ctx, r, chat, r.cli.BuildEdit(chat, op.ID, &waE2E.Message{Conversation: proto.String(op.Text)}), op.NewID)
	if err == nil {
		s.recent.update(chat, op.ID, func(m *recentMsg) { m.msg = &waE2E.Message{Conversation: proto.String(op.Text)} })
	}
	return res, err
}

func (s *session) revoke(ctx context.Context, r *run, op sessions.Revoke) (ctl.SendResult, error) {
	chat, err := parseJID("chat", op.Chat)
	if err != nil {
		return ctl.SendResult{}, err
	}
	// Without a remembered message, the one to revoke is this account's
	// own (revoking others' is for group admins, who name a message
	// wad saw).
	sender := types.EmptyJID
	if m := s.recent.get(chat, op.ID); m != nil && !m.fromMe {
		if chat.Server != types.GroupServer {
			return ctl.SendResult{}, ctl.Errorf(ctl.CodeInvalidParams, "message %s was sent by %s: in a one-to-one chat only your own messages can be deleted for everyone", op.ID, m.sender)
		}
		sender = m.sender
	}
	return s.sendBuilt(ctx, r, chat, r.cli.BuildRevoke(chat, sender, op.ID), op.NewID)
}

func (s *session) markRead(ctx context.Context, r *run, op sessions.MarkRead) (ctl.ReadResult, error) {
	chat, err := parseJID("chat", op.Chat)
	if err != nil {
		return ctl.ReadResult{}, err
	}
	ids := op.IDs
	var senders []types.JID
	if len(ids) == 0 {
		ids, senders = s.recent.unread(chat)
		if len(ids) == 0 {
			return ctl.ReadResult{IDs: []string{}}, nil
		}
	} else {
		for _, id := range ids {
			sender, _, err := s.target(r, "ids", chat, id)
			if err != nil {
				return ctl.ReadResult{}, err
			}
			senders = append(senders, sender)
		}
	}
	// One receipt per sender (in a group each sender gets their own).
	bySender := map[types.JID][]string{}
	var order []types.JID
	for i, id := range ids {
		snd := senders[i]
		if _, ok := bySender[snd]; !ok {
			order = append(order, snd)
		}
		bySender[snd] = append(bySender[snd], id)
	}
	now := time.Now()
	for _, snd := range order {
		if err := r.cli.MarkRead(ctx, bySender[snd], now, chat, readSender(chat, snd)); err != nil {
			return ctl.ReadResult{}, sendError(s.env.Client, err)
		}
	}
	for _, id := range ids {
		s.recent.update(chat, id, func(m *recentMsg) { m.read = true })
	}
	return ctl.ReadResult{IDs: ids}, nil
}

// readSender is MarkRead's sender: the participant in groups, none in
// one-to-one chats.
func readSender(chat, sender types.JID) types.JID {
	if chat.Server == types.GroupServer {
		return sender
	}
	return types.EmptyJID
}

func (s *session) chatPresence(ctx context.Context, r *run, op sessions.ChatPresence) (ctl.OK, error) {
	chat, err := parseJID("chat", op.Chat)
	if err != nil {
		return ctl.OK{}, err
	}
	// WhatsApp shows typing only from an account that is online.
	s.setAvailable(r)
	state, med := types.ChatPresenceComposing, types.ChatPresenceMediaText
	switch op.State {
	case ctl.PresenceRecording:
		med = types.ChatPresenceMediaAudio
	case ctl.PresencePaused:
		state = types.ChatPresencePaused
	}
	if err := r.cli.SendChatPresence(ctx, chat, state, med); err != nil {
		return ctl.OK{}, sendError(s.env.Client, err)
	}
	return ctl.OK{OK: true}, nil
}

// downloadable is the media of a message, with its kind.
func downloadable(msg *waE2E.Message) (wa.DownloadableMessage, ctl.MediaInfo, bool) {
	info := mediaInfo(msg)
	if info == nil {
		return nil, ctl.MediaInfo{}, false
	}
	switch {
	case msg.GetImageMessage() != nil:
		return msg.GetImageMessage(), *info, true
	case msg.GetVideoMessage() != nil:
		return msg.GetVideoMessage(), *info, true
	case msg.GetAudioMessage() != nil:
		return msg.GetAudioMessage(), *info, true
	case msg.GetDocumentMessage() != nil:
		return msg.GetDocumentMessage(), *info, true
	case msg.GetStickerMessage() != nil:
		return msg.GetStickerMessage(), *info, true
	}
	return nil, ctl.MediaInfo{}, false
}

func (s *session) download(ctx context.Context, r *run, op sessions.Download) (ctl.DownloadResult, error) {
	chat, err := parseJID("chat", op.Chat)
	if err != nil {
		return ctl.DownloadResult{}, err
	}
	m := s.recent.get(chat, op.ID)
	if m == nil {
		return ctl.DownloadResult{}, notRemembered("id", chat, op.ID)
	}
	dm, info, ok := downloadable(m.msg)
	if !ok {
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "message %s has no media to download", op.ID)
	}
	res := ctl.DownloadResult{Kind: info.Kind, Mime: info.Mime, Filename: info.Filename}
	if op.To == nil {
		if info.Size > op.MaxData {
			return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "the file is %d bytes, over the %d bytes a reply carries as data: pass a descriptor (fd) to write it to", info.Size, op.MaxData)
		}
		data, err := r.cli.Download(ctx, dm)
		if err != nil {
			return ctl.DownloadResult{}, downloadError(err)
		}
		sum := sha256.Sum256(data)
		res.Size, res.SHA256, res.Data = int64(len(data)), hex.EncodeToString(sum[:]), data
		return res, nil
	}
	// Through a private temporary file, which whatsmeow checks against
	// the hashes before it returns, then to the peer's descriptor.
	tmp, err := os.CreateTemp("", "wad-download-*")
	if err != nil {
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInternal, "cannot make a temporary file for the download: %v", err)
	}
	os.Remove(tmp.Name())
	defer tmp.Close()
	if err := r.cli.DownloadToFile(ctx, dm, tmp); err != nil {
		return ctl.DownloadResult{}, downloadError(err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInternal, "reading the download back: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(op.To, h), tmp)
	if err != nil {
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "writing to the passed descriptor failed after %d bytes: %v", n, err)
	}
	res.Size, res.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	return res, nil
}

func downloadError(err error) error {
	switch {
	case errors.Is(err, wa.ErrMediaDownloadFailedWith404), errors.Is(err, wa.ErrMediaDownloadFailedWith410):
		return ctl.Errorf(ctl.CodeUpstream, "WhatsApp no longer has this file (its upload expired): %v", err)
	case errors.Is(err, wa.ErrFileLengthMismatch), errors.Is(err, wa.ErrInvalidMediaSHA256), errors.Is(err, wa.ErrInvalidMediaEncSHA256), errors.Is(err, wa.ErrInvalidMediaHMAC):
		return ctl.Errorf(ctl.CodeUpstream, "the downloaded file does not match what the sender declared: %v", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ctl.Errorf(ctl.CodeTimeout, "downloading: %v", err)
	}
	return ctl.Errorf(ctl.CodeUpstream, "downloading from WhatsApp failed: %v", err)
}

package chromedp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// ops are the operations chromedp sessions perform (sessions.Op methods):
// messaging here, contacts, chats, groups, profile, presence and calls
// in social.go.
var ops = map[string]bool{
	ctl.MethodSend:     true,
	ctl.MethodReact:    true,
	ctl.MethodEdit:     true,
	ctl.MethodRevoke:   true,
	ctl.MethodRead:     true,
	ctl.MethodPresence: true,
	ctl.MethodDownload: true,

	ctl.MethodCheck:             true,
	ctl.MethodContacts:          true,
	ctl.MethodContactInfo:       true,
	ctl.MethodChats:             true,
	ctl.MethodGroups:            true,
	ctl.MethodGroupInfo:         true,
	ctl.MethodGroupCreate:       true,
	ctl.MethodGroupParticipants: true,
	ctl.MethodGroupInvite:       true,
	ctl.MethodGroupJoin:         true,
	ctl.MethodGroupLeave:        true,
	ctl.MethodGroupSet:          true,
	ctl.MethodProfile:           true,
	ctl.MethodProfileSet:        true,
	ctl.MethodPresenceSubscribe: true,
	ctl.MethodCallReject:        true,
}

// Supports reports whether chromedp sessions perform the operation.
func (b *Backend) Supports(method string) bool { return ops[method] }

// Timeouts of operations in the page. A media send also gets
// mediaRateTimeout per MiB of its file for the upload WhatsApp Web does.
const (
	opTimeout        = 30 * time.Second // react, edit, revoke, read, presence, download lookup
	chunkTimeout     = 30 * time.Second // moving one piece of a file in or out of the page
	mediaRateTimeout = 2 * time.Second  // per MiB of a media send
)

// Do performs op in WhatsApp Web, the way whatsapp-web.js does it (see
// agent.js). A session that is not connected returns ctl.ErrNotReady;
// what the caller named wrongly (an unknown message, one that cannot be
// edited or revoked) is ctl.CodeInvalidParams; what whatsapp-web.js's
// way through WhatsApp Web cannot do, or a module WhatsApp Web lacks,
// is ctl.CodeBackendUnavailable naming the backend; a failure inside the
// page is ctl.CodeUpstream; an operation that does not finish in time is
// ctl.CodeTimeout.
//
// A Send goes under its NewID. WhatsApp Web makes the ids of reactions,
// edits and revokes itself (sendReactionToMsg, sendMessageEdit and
// sendRevokeMsgs take none), so their NewID is not used: the result
// says the id WhatsApp Web chose.
func (s *Session) Do(ctx context.Context, op sessions.Op) (any, error) {
	switch op.(type) {
	case sessions.Send, sessions.React, sessions.Edit, sessions.Revoke,
		sessions.MarkRead, sessions.ChatPresence, sessions.Download,
		sessions.CheckPhones, sessions.ListContacts, sessions.ContactInfo, sessions.ListChats,
		sessions.ListGroups, sessions.GroupInfo, sessions.CreateGroup, sessions.UpdateParticipants,
		sessions.InviteLink, sessions.JoinGroup, sessions.LeaveGroup, sessions.SetGroup,
		sessions.GetProfile, sessions.SetProfile, sessions.SubscribePresence, sessions.RejectCall:
	default:
		return nil, sessions.ErrUnsupported
	}
	st := s.st.Get()
	r := s.current()
	if st.State != ctl.StateConnected || r == nil || r.isTorn() {
		return nil, ctl.Errorf(ctl.CodeSessionNotReady, "session %s is %s, not connected", s.env.Client, st.State)
	}
	switch op := op.(type) {
	case sessions.Send:
		return r.send(ctx, op)
	case sessions.React:
		return r.sendResult(ctx, opTimeout, "react to the message", "react", toWebJID(op.Chat), op.ID, op.Emoji)
	case sessions.Edit:
		return r.sendResult(ctx, opTimeout, "edit the message", "edit", toWebJID(op.Chat), op.ID, op.Text)
	case sessions.Revoke:
		return r.sendResult(ctx, opTimeout, "delete the message for everyone", "revoke", toWebJID(op.Chat), op.ID)
	case sessions.MarkRead:
		return r.markRead(ctx, op)
	case sessions.ChatPresence:
		if _, err := r.call(ctx, opTimeout, "send the chat state", "chatState", toWebJID(op.Chat), op.State); err != nil {
			return nil, err
		}
		return ctl.OK{OK: true}, nil
	case sessions.Download:
		return r.download(ctx, op)
	}
	return r.social(ctx, op)
}

// pageReply is what the agent's wad.call resolves with.
type pageReply struct {
	OK  json.RawMessage `json:"ok"`
	Err *struct {
		Kind string `json:"kind"`
		Msg  string `json:"msg"`
	} `json:"err"`
}

// call runs the agent's operation name with args in the page, bounded by
// ctx and d, and returns its result. what says what the operation does,
// for errors ("send the message").
func (r *browserRun) call(ctx context.Context, d time.Duration, what, name string, args ...any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	payload, err := json.Marshal(map[string]any{"n": name, "a": args})
	if err != nil {
		return nil, ctl.Errorf(ctl.CodeInternal, "encoding %s: %v", name, err)
	}
	expr := fmt.Sprintf(`(function(c){ if (!window.__wad || !window.__wad.call) throw new Error("wad agent not loaded"); return window.__wad.call(c.n, c.a); })(%s)`, payload)
	res, err := evalIn[pageReply](ctx, r, d, what, expr)
	if err != nil {
		return nil, err
	}
	if e := res.Err; e != nil {
		switch e.Kind {
		case "invalid":
			return nil, ctl.Errorf(ctl.CodeInvalidParams, "%s", e.Msg)
		case "unsupported":
			return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "the %s backend cannot %s: %s", Name, what, e.Msg)
		case "missing":
			return nil, ctl.Errorf(ctl.CodeBackendUnavailable, "the %s backend cannot %s: %s (this version of WhatsApp Web is not supported)", Name, what, e.Msg)
		case "notready":
			return nil, ctl.Errorf(ctl.CodeSessionNotReady, "cannot %s: %s", what, e.Msg)
		}
		return nil, ctl.Errorf(ctl.CodeUpstream, "WhatsApp Web did not %s: %s", what, e.Msg)
	}
	return res.OK, nil
}

// evalIn evaluates expr in the page (awaiting a promise), bounded by ctx
// and d, and maps failures to wire errors.
func evalIn[T any](ctx context.Context, r *browserRun, d time.Duration, what, expr string) (T, error) {
	ectx, cancel := r.opContext(ctx, d)
	defer cancel()
	res, err := chromedp.Run(ectx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err == nil {
		return res, nil
	}
	var zero T
	var ee *chromedp.ExceptionError
	switch {
	case errors.As(err, &ee):
		return zero, ctl.Errorf(ctl.CodeUpstream, "WhatsApp Web did not %s: %v", what, err)
	case r.ctx.Err() != nil:
		return zero, ctl.Errorf(ctl.CodeSessionNotReady, "the browser went away while trying to %s: %v", what, err)
	case cancelled(ctx):
		return zero, ctl.Errorf(ctl.CodeTimeout, "the caller gave up before WhatsApp Web could %s", what)
	case errors.Is(err, context.DeadlineExceeded) || ectx.Err() != nil:
		return zero, ctl.Errorf(ctl.CodeTimeout, "WhatsApp Web did not %s in time: %v", what, err)
	}
	return zero, ctl.Errorf(ctl.CodeUpstream, "WhatsApp Web did not %s: %v", what, err)
}

// pageSent is the result of the agent's send, react, edit and revoke.
type pageSent struct {
	ID string  `json:"id"`
	T  float64 `json:"t"`
}

func (p pageSent) result() ctl.SendResult {
	ts := time.Now().UTC().Truncate(time.Second)
	if p.T > 0 {
		ts = time.Unix(int64(p.T), 0).UTC()
	}
	return ctl.SendResult{ID: p.ID, Timestamp: ts}
}

// sendResult runs an operation that results in a ctl.SendResult. React
// gives the reaction's own id as WhatsApp Web's reaction table records
// it, Edit the id of the edit (the message's latestEditMsgKey), Revoke
// the id of the revoke (which WhatsApp Web gives the revoked message);
// empty when WhatsApp Web did not show it in time.
func (r *browserRun) sendResult(ctx context.Context, d time.Duration, what, name string, args ...any) (ctl.SendResult, error) {
	raw, err := r.call(ctx, d, what, name, args...)
	if err != nil {
		return ctl.SendResult{}, err
	}
	var p pageSent
	if err := json.Unmarshal(raw, &p); err != nil {
		return ctl.SendResult{}, ctl.Errorf(ctl.CodeInternal, "the agent's %s returned %s: %v", name, raw, err)
	}
	return p.result(), nil
}

// sendKinds are the media kinds the chromedp backend sends, each the
// whatsapp-web.js way: image, video and audio as they are, voice as
// sendAudioAsVoice (a ptt), document as sendMediaAsDocument, sticker as
// sendMediaAsSticker (WebP).
var sendKinds = map[string]bool{
	ctl.MediaImage: true, ctl.MediaVideo: true, ctl.MediaAudio: true,
	ctl.MediaVoice: true, ctl.MediaDocument: true, ctl.MediaSticker: true,
}

// send sends one message: text, media, location or contact card, with
// an optional quote and mentions.
func (r *browserRun) send(ctx context.Context, op sessions.Send) (ctl.SendResult, error) {
	spec := map[string]any{}
	d := sendTimeout
	switch {
	case op.Media != nil:
		f := op.Media
		if !sendKinds[f.Kind] {
			return ctl.SendResult{}, ctl.Errorf(ctl.CodeBackendUnavailable, "the %s backend cannot send media of kind %q", Name, f.Kind)
		}
		h, err := r.upload(ctx, f)
		if err != nil {
			return ctl.SendResult{}, err
		}
		// The page takes the blob when it sends; after a failure this
		// drops what is left.
		defer r.dropBlob(h)
		spec["media"] = map[string]any{
			"handle": h, "kind": f.Kind, "mime": f.Mime,
			"filename": filename(f.Filename, f.Kind, f.Mime), "caption": f.Caption,
		}
		d += time.Duration(f.Size>>20+1) * mediaRateTimeout
	case op.Location != nil:
		l := op.Location
		spec["location"] = map[string]any{"lat": l.Lat, "lng": l.Lon, "name": l.Name, "address": l.Address}
	case op.Contact != nil:
		spec["vcard"] = media.VCard(op.Contact.Name, op.Contact.Phone)
		spec["name"] = op.Contact.Name
	case op.Text != "":
		spec["text"] = op.Text
	default:
		return ctl.SendResult{}, ctl.Errorf(ctl.CodeInvalidParams, "nothing to send: give text, media, location or contact")
	}
	if op.NewID != "" {
		spec["id"] = op.NewID
	}
	if op.ReplyTo != "" {
		spec["replyTo"] = op.ReplyTo
	}
	if len(op.Mentions) > 0 {
		m := make([]string, len(op.Mentions))
		for i, j := range op.Mentions {
			m[i] = toWebJID(j)
		}
		spec["mentions"] = m
	}
	return r.sendResult(ctx, d, "send the message", "send", toWebJID(op.To), spec)
}

// filename is the name a file is sent under: the caller's, or one made
// of its kind and mime type (WhatsApp shows a document's name).
func filename(name, kind, mimeType string) string {
	if name != "" {
		return name
	}
	base, _, _ := strings.Cut(mimeType, ";")
	if exts, _ := mime.ExtensionsByType(strings.TrimSpace(base)); len(exts) > 0 {
		return kind + exts[0]
	}
	return kind
}

// markRead marks a chat read. WhatsApp Web reads whole chats
// (sendSeen): given ids, the agent refuses when that would also read
// other messages this session received and has not marked read.
func (r *browserRun) markRead(ctx context.Context, op sessions.MarkRead) (ctl.ReadResult, error) {
	ids := op.IDs
	if ids == nil {
		ids = []string{}
	}
	raw, err := r.call(ctx, opTimeout, "mark the chat read", "seen", toWebJID(op.Chat), ids)
	if err != nil {
		return ctl.ReadResult{}, err
	}
	var got []string
	if err := json.Unmarshal(raw, &got); err != nil {
		return ctl.ReadResult{}, ctl.Errorf(ctl.CodeInternal, "the agent's seen returned %s: %v", raw, err)
	}
	if got == nil {
		got = []string{}
	}
	return ctl.ReadResult{IDs: got}, nil
}

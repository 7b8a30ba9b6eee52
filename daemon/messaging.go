package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
	"github.com/wad-project/wad/sessions/outbox"
)

// The messaging methods: they validate params, check the session can do
// the operation, read media from the request (base64 or a passed
// descriptor, never a path), and hand one sessions.Op to the registry,
// or, for the methods that send a message, to the outbound queue.
// Everything a peer can get wrong is refused before anything is uploaded.

// maxMentions bounds the mentions of one message.
const maxMentions = 1024

func (d *Daemon) send(ctx context.Context, c *call, a ctl.SendParams) (ctl.SendResult, error) {
	files := takeFiles(ctx)
	defer files.Close()
	if err := c.client(a.Client); err != nil {
		return ctl.SendResult{}, err
	}
	op, err := sendOp(a)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if err := d.out.Check(a.Client, op); err != nil {
		return ctl.SendResult{}, err
	}
	if a.Media != nil {
		f, err := d.prepareMedia(ctx, a.Media, files)
		if err != nil {
			return ctl.SendResult{}, err
		}
		op.Media = f // the queue's from here
	}
	return d.queue(ctx, a.Client, op, a.Wait)
}

// queue puts op in the client's outbound queue and returns its id as
// queued or, with wait, once it is sent (or an error for a failed one).
func (d *Daemon) queue(ctx context.Context, client string, op sessions.Op, wait bool) (ctl.SendResult, error) {
	st, err := d.out.Enqueue(ctx, client, op)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if wait {
		if st, err = d.out.Wait(ctx, client, st.ID); err != nil {
			return ctl.SendResult{}, err
		}
		if st.State == ctl.OutFailed {
			code := st.Code
			if code == 0 {
				code = ctl.CodeUpstream
			}
			return ctl.SendResult{}, ctl.Errorf(code, "message %s failed (%s): %s", st.ID, st.Reason, st.Error)
		}
	}
	return ctl.SendResult{ID: st.ID, State: st.State, Timestamp: st.Timestamp}, nil
}

// messageStatus returns what the outbound queue knows of a message.
func (d *Daemon) messageStatus(ctx context.Context, c *call, a ctl.MessageStatusParams) (ctl.MessageStatus, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.MessageStatus{}, err
	}
	if err := ctl.ValidateMessageID("id", a.ID); err != nil {
		return ctl.MessageStatus{}, err
	}
	st, err := d.out.Status(ctx, a.Client, a.ID)
	if errors.Is(err, outbox.ErrNotFound) {
		return st, ctl.Errorf(ctl.CodeInvalidParams, "client %s queued no message %s (or it is older than outbox.keep)", a.Client, a.ID)
	}
	if err != nil {
		return st, ctl.Errorf(ctl.CodeInternal, "reading message %s: %v", a.ID, err)
	}
	return st, nil
}

// sendOp validates message.send's params but for the media bytes.
func sendOp(a ctl.SendParams) (sessions.Send, error) {
	var op sessions.Send
	to, err := ctl.ParseRecipient(a.To)
	if err != nil {
		return op, err
	}
	op.To = to
	n := 0
	for _, set := range []bool{a.Text != "", a.Media != nil, a.Location != nil, a.Contact != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		if n == 0 {
			return op, ctl.Errorf(ctl.CodeInvalidParams, "nothing to send: give text, media, location or contact")
		}
		return op, ctl.Errorf(ctl.CodeInvalidParams, "give exactly one of text, media, location and contact (a media message's text is media.caption)")
	}
	switch {
	case a.Text != "":
		if err := ctl.ValidateText(a.Text); err != nil {
			return op, err
		}
		op.Text = a.Text
	case a.Media != nil:
		if err := validateMediaParams(a.Media); err != nil {
			return op, err
		}
	case a.Location != nil:
		if err := media.ValidateLocation(a.Location.Lat, a.Location.Lon); err != nil {
			return op, err
		}
		if len(a.Location.Name)+len(a.Location.Address) > ctl.MaxTextLen {
			return op, ctl.Errorf(ctl.CodeInvalidParams, "location name and address are too long (limit %d bytes)", ctl.MaxTextLen)
		}
		l := *a.Location
		op.Location = &l
	case a.Contact != nil:
		if a.Contact.Name == "" || len(a.Contact.Name) > 256 {
			return op, ctl.Errorf(ctl.CodeInvalidParams, "contact.name is required (at most 256 bytes)")
		}
		p, err := ctl.NormalizePhone(a.Contact.Phone)
		if err != nil {
			return op, ctl.Errorf(ctl.CodeInvalidParams, "contact.phone: %v", err)
		}
		op.Contact = &ctl.ContactCard{Name: a.Contact.Name, Phone: p}
	}
	if a.ReplyTo != "" {
		if err := ctl.ValidateMessageID("reply_to", a.ReplyTo); err != nil {
			return op, err
		}
		op.ReplyTo = a.ReplyTo
	}
	if len(a.Mentions) > 0 {
		if a.Text == "" && (a.Media == nil || a.Media.Caption == "") {
			return op, ctl.Errorf(ctl.CodeInvalidParams, "mentions need a text or a media caption to tag them in")
		}
		if len(a.Mentions) > maxMentions {
			return op, ctl.Errorf(ctl.CodeInvalidParams, "%d mentions; the limit is %d", len(a.Mentions), maxMentions)
		}
		for _, m := range a.Mentions {
			jid, err := ctl.ParseUserJID("mentions", m)
			if err != nil {
				return op, err
			}
			op.Mentions = append(op.Mentions, jid)
		}
	}
	return op, nil
}

// validateMediaParams checks what can be checked of media without its
// bytes.
func validateMediaParams(m *ctl.Media) error {
	if m.Kind == "" {
		return ctl.Errorf(ctl.CodeInvalidParams, "media.kind is required: one of %v", ctl.MediaKinds)
	}
	if (m.Data != nil) == (m.FD != nil) {
		return ctl.Errorf(ctl.CodeInvalidParams, "media needs exactly one of data (base64) and fd (a descriptor passed with the request)")
	}
	if m.Caption != "" {
		if len(m.Caption) > ctl.MaxTextLen {
			return ctl.Errorf(ctl.CodeInvalidParams, "media.caption is %d bytes; the limit is %d", len(m.Caption), ctl.MaxTextLen)
		}
		if m.Kind == ctl.MediaVoice || m.Kind == ctl.MediaSticker || m.Kind == ctl.MediaAudio {
			return ctl.Errorf(ctl.CodeInvalidParams, "a %s has no caption on WhatsApp", m.Kind)
		}
	}
	if len(m.Filename) > 255 || bytes.ContainsAny([]byte(m.Filename), "/\x00") {
		return ctl.Errorf(ctl.CodeInvalidParams, "media.filename must be a plain file name of at most 255 bytes, without '/'")
	}
	return nil
}

// prepareMedia reads and checks the file of a message.send.
func (d *Daemon) prepareMedia(ctx context.Context, m *ctl.Media, files *passed) (*media.File, error) {
	in := media.Input{Kind: m.Kind, Mime: m.Mime, Filename: m.Filename, Caption: m.Caption}
	if m.FD != nil {
		f, err := files.get(*m.FD, "media.fd")
		if err != nil {
			return nil, err
		}
		in.R, in.Size, in.Closer, err = d.media.FromFD(f, m.Kind)
		if err != nil {
			return nil, err
		}
	} else {
		in.R, in.Size = bytes.NewReader(m.Data), int64(len(m.Data))
	}
	f, err := d.media.Prepare(ctx, in)
	if err != nil {
		if in.Closer != nil {
			in.Closer.Close()
		}
		return nil, err
	}
	return f, nil
}

// target validates the client, chat and message id that react, edit,
// revoke and download name, and returns the chat as a JID.
func target(c *call, client, chat, id string) (string, error) {
	if err := c.client(client); err != nil {
		return "", err
	}
	jid, err := parseChat(chat)
	if err != nil {
		return "", err
	}
	return jid, ctl.ValidateMessageID("id", id)
}

func (d *Daemon) react(ctx context.Context, c *call, a ctl.ReactParams) (ctl.SendResult, error) {
	chat, err := target(c, a.Client, a.Chat, a.ID)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if err := ctl.ValidateEmoji(a.Emoji); err != nil {
		return ctl.SendResult{}, err
	}
	op := sessions.React{Chat: chat, ID: a.ID, Emoji: a.Emoji}
	if err := d.out.Check(a.Client, op); err != nil {
		return ctl.SendResult{}, err
	}
	return d.queue(ctx, a.Client, op, a.Wait)
}

func (d *Daemon) edit(ctx context.Context, c *call, a ctl.EditParams) (ctl.SendResult, error) {
	chat, err := target(c, a.Client, a.Chat, a.ID)
	if err != nil {
		return ctl.SendResult{}, err
	}
	if err := ctl.ValidateText(a.Text); err != nil {
		return ctl.SendResult{}, err
	}
	op := sessions.Edit{Chat: chat, ID: a.ID, Text: a.Text}
	if err := d.out.Check(a.Client, op); err != nil {
		return ctl.SendResult{}, err
	}
	return d.queue(ctx, a.Client, op, a.Wait)
}

func (d *Daemon) revoke(ctx context.Context, c *call, a ctl.MessageRef) (ctl.SendResult, error) {
	chat, err := target(c, a.Client, a.Chat, a.ID)
	if err != nil {
		return ctl.SendResult{}, err
	}
	op := sessions.Revoke{Chat: chat, ID: a.ID}
	if err := d.out.Check(a.Client, op); err != nil {
		return ctl.SendResult{}, err
	}
	return d.queue(ctx, a.Client, op, a.Wait)
}

// maxReadIDs bounds the ids of one chat.read.
const maxReadIDs = 1000

func (d *Daemon) read(ctx context.Context, c *call, a ctl.ReadParams) (ctl.ReadResult, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.ReadResult{}, err
	}
	chat, err := parseChat(a.Chat)
	if err != nil {
		return ctl.ReadResult{}, err
	}
	if len(a.IDs) > maxReadIDs {
		return ctl.ReadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "%d ids; the limit is %d per call", len(a.IDs), maxReadIDs)
	}
	for _, id := range a.IDs {
		if err := ctl.ValidateMessageID("ids", id); err != nil {
			return ctl.ReadResult{}, err
		}
	}
	return doAs[ctl.ReadResult](ctx, d, a.Client, sessions.MarkRead{Chat: chat, IDs: a.IDs})
}

func (d *Daemon) presence(ctx context.Context, c *call, a ctl.PresenceParams) (ctl.OK, error) {
	if err := c.client(a.Client); err != nil {
		return ctl.OK{}, err
	}
	chat, err := parseChat(a.Chat)
	if err != nil {
		return ctl.OK{}, err
	}
	switch a.State {
	case ctl.PresenceTyping, ctl.PresenceRecording, ctl.PresencePaused:
	default:
		return ctl.OK{}, ctl.Errorf(ctl.CodeInvalidParams, "invalid state %q: want %s, %s or %s", a.State, ctl.PresenceTyping, ctl.PresenceRecording, ctl.PresencePaused)
	}
	return doAs[ctl.OK](ctx, d, a.Client, sessions.ChatPresence{Chat: chat, State: a.State})
}

func (d *Daemon) download(ctx context.Context, c *call, a ctl.DownloadParams) (ctl.DownloadResult, error) {
	files := takeFiles(ctx)
	defer files.Close()
	chat, err := target(c, a.Client, a.Chat, a.ID)
	if err != nil {
		return ctl.DownloadResult{}, err
	}
	op := sessions.Download{Chat: chat, ID: a.ID, MaxData: int64(d.config().MaxMediaRequestBytes) / 4 * 3}
	if err := d.reg.Check(a.Client, op); err != nil {
		return ctl.DownloadResult{}, err
	}
	if a.FD != nil {
		f, err := files.get(*a.FD, "fd")
		if err != nil {
			return ctl.DownloadResult{}, err
		}
		if err := writable(f); err != nil {
			return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "fd %d is not writable: %v", *a.FD, err)
		}
		op.To = f
	}
	return doAs[ctl.DownloadResult](ctx, d, a.Client, op)
}

// writable reports whether f was opened for writing (its status flags),
// so that a download fails before it fetches anything.
func writable(f *os.File) error {
	fl, err := fcntlFlags(f)
	if err != nil {
		return err
	}
	if fl&(os.O_WRONLY|os.O_RDWR) == 0 {
		return fmt.Errorf("opened read-only")
	}
	return nil
}

// parseChat turns a chat param into a JID.
func parseChat(chat string) (string, error) {
	jid, err := ctl.ParseRecipient(chat)
	if err != nil {
		return "", ctl.Errorf(ctl.CodeInvalidParams, "chat: %s", ctl.AsError(err).Message)
	}
	return jid, nil
}

// doAs runs op and checks the type of its result.
func doAs[R any](ctx context.Context, d *Daemon, client string, op sessions.Op) (R, error) {
	var zero R
	res, err := d.reg.Do(ctx, client, op)
	if err != nil {
		return zero, err
	}
	r, ok := res.(R)
	if !ok {
		return zero, ctl.Errorf(ctl.CodeInternal, "backend returned %T for %s", res, op.Method())
	}
	return r, nil
}

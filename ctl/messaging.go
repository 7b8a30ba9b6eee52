package ctl

import "time"

// Messaging beyond text: the params and results of the media, reply,
// reaction, edit, revoke, read, presence and download methods, and the
// fields their events carry. docs/wire.md is the reference.

// Media kinds: the `kind` of SendParams.Media and of MediaInfo.
const (
	MediaImage    = "image"
	MediaVideo    = "video"
	MediaAudio    = "audio"
	MediaVoice    = "voice" // a push-to-talk note: Ogg/Opus
	MediaDocument = "document"
	MediaSticker  = "sticker" // WebP
)

// MediaKinds lists the media kinds, in the order the documentation gives.
var MediaKinds = []string{MediaImage, MediaVideo, MediaAudio, MediaVoice, MediaDocument, MediaSticker}

// Message types beyond the media kinds (Message.Type).
const (
	TypeText     = "text"
	TypeLocation = "location"
	TypeContact  = "contact"
)

// Media is a file to send. Exactly one of Data and FD gives its bytes:
// Data is base64 in JSON; FD is the index, among the file descriptors
// passed with the request line over the Unix socket (SCM_RIGHTS), of
// the one to read (0 for the first). The daemon never opens a path.
type Media struct {
	Kind string `json:"kind"`
	Data []byte `json:"data,omitempty"`
	FD   *int   `json:"fd,omitempty"`
	// Mime is checked against the content; empty means detect it.
	Mime string `json:"mime,omitempty"`
	// Filename is shown for documents; for other kinds it is kept as
	// metadata only.
	Filename string `json:"filename,omitempty"`
	Caption  string `json:"caption,omitempty"`
}

// Location is a pin on a map.
type Location struct {
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Name    string  `json:"name,omitempty"`
	Address string  `json:"address,omitempty"`
}

// ContactCard is a contact shared as a card (a vCard on the wire).
type ContactCard struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// ReactParams are the params of message.react. An empty Emoji removes
// this account's reaction.
type ReactParams struct {
	Client string `json:"client"`
	Chat   string `json:"chat"`
	ID     string `json:"id"`
	Emoji  string `json:"emoji"`
	Wait   bool   `json:"wait,omitempty"`
}

// EditParams are the params of message.edit: new text for a message this
// account sent.
type EditParams struct {
	Client string `json:"client"`
	Chat   string `json:"chat"`
	ID     string `json:"id"`
	Text   string `json:"text"`
	Wait   bool   `json:"wait,omitempty"`
}

// MessageRef names one message of a chat: the params of message.revoke.
type MessageRef struct {
	Client string `json:"client"`
	Chat   string `json:"chat"`
	ID     string `json:"id"`
	Wait   bool   `json:"wait,omitempty"`
}

// KindMessageStatus: a message this daemon queued (message.send, .react,
// .edit, .revoke) changed state; Status says how.
const KindMessageStatus = "message_status"

// States of an outgoing message (MessageStatus.State), in the order they
// are reached; failed ends it anywhere before sent.
const (
	OutQueued    = "queued"    // in the session's outbound queue
	OutSent      = "sent"      // WhatsApp's server took it
	OutDelivered = "delivered" // a device of the recipient got it
	OutRead      = "read"      // the recipient read it
	OutPlayed    = "played"    // the recipient played the voice note or video
	OutFailed    = "failed"    // given up on; Reason says why
)

// Why an outgoing message failed (MessageStatus.Reason).
const (
	// FailReset: the daemon restarted in reaper mode reset, which
	// clears the queue.
	FailReset = "reset"
	// FailLoggedOut: the session was logged out (or its login deleted)
	// before the message went.
	FailLoggedOut = "logged_out"
	// FailRejected: WhatsApp or the backend refused it (Error says
	// what); sending it again would fail the same way.
	FailRejected = "rejected"
	// FailUpstream: every attempt failed on the way to WhatsApp
	// (network, timeouts); Error is the last one's.
	FailUpstream = "upstream"
)

// MessageStatus is an outgoing message's place in the outbound queue and
// after: the result of message.status and the payload of message_status
// events. Timestamp is WhatsApp's server time of a sent message.
type MessageStatus struct {
	ID     string `json:"id"`
	Client string `json:"client"`
	Chat   string `json:"chat"`
	Method string `json:"method"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// Code is the error code (ctl.Code*) of a failed message's Error.
	Code      int       `json:"code,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	Queued    time.Time `json:"queued"`
	Sent      time.Time `json:"sent,omitzero"`
	Delivered time.Time `json:"delivered,omitzero"`
	Read      time.Time `json:"read,omitzero"`
	Timestamp time.Time `json:"timestamp,omitzero"`
}

// MessageStatusParams are the params of message.status.
type MessageStatusParams struct {
	Client string `json:"client"`
	ID     string `json:"id"`
}

// ReadParams are the params of chat.read. Without IDs, every message
// received in the chat that this session has not yet marked read is.
type ReadParams struct {
	Client string   `json:"client"`
	Chat   string   `json:"chat"`
	IDs    []string `json:"ids,omitempty"`
}

// ReadResult is the result of chat.read: the ids marked read.
type ReadResult struct {
	IDs []string `json:"ids"`
}

// Chat presence states (PresenceParams.State).
const (
	PresenceTyping    = "typing"
	PresenceRecording = "recording"
	PresencePaused    = "paused"
)

// PresenceParams are the params of chat.presence.
type PresenceParams struct {
	Client string `json:"client"`
	Chat   string `json:"chat"`
	State  string `json:"state"`
}

// DownloadParams are the params of message.download. With FD (an index
// into the descriptors passed with the request, as for Media.FD) the
// bytes are written to that descriptor and the result carries no Data.
type DownloadParams struct {
	Client string `json:"client"`
	Chat   string `json:"chat"`
	ID     string `json:"id"`
	FD     *int   `json:"fd,omitempty"`
}

// DownloadResult is the result of message.download.
type DownloadResult struct {
	Kind     string `json:"kind"`
	Mime     string `json:"mime,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the decrypted bytes.
	SHA256 string `json:"sha256"`
	// Data is the bytes, base64 in JSON, unless they went to an fd.
	Data []byte `json:"data,omitempty"`
}

// MediaInfo describes the media of a message in an event.
type MediaInfo struct {
	Kind     string `json:"kind"`
	Mime     string `json:"mime,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Filename string `json:"filename,omitempty"`
	// SHA256 is the hex SHA-256 of the decrypted bytes, as the sender
	// declared it; message.download checks it.
	SHA256   string  `json:"sha256,omitempty"`
	Seconds  float64 `json:"duration_seconds,omitempty"`
	Width    int     `json:"width,omitempty"`
	Height   int     `json:"height,omitempty"`
	Pages    int     `json:"pages,omitempty"`
	Animated bool    `json:"animated,omitempty"`
	// Downloadable says whether message.download can still fetch it:
	// this session holds its keys and the sender's upload has not
	// expired.
	Downloadable bool `json:"downloadable"`
}

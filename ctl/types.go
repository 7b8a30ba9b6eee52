package ctl

import "time"

// State is where a session is in its life. The zero value is not a state.
type State string

const (
	// StateStarting: the backend is being brought up (store opened,
	// browser launched, websocket dialled).
	StateStarting State = "starting"
	// StateQR: waiting for the phone to scan the QR code in Session.QR.
	StateQR State = "qr"
	// StatePairing: waiting for the user to type Session.PairCode on the
	// phone.
	StatePairing State = "pairing"
	// StateConnected: logged in and ready to send.
	StateConnected State = "connected"
	// StateDisconnected: logged in, but the connection dropped; the
	// backend reconnects on its own.
	StateDisconnected State = "disconnected"
	// StateLoggedOut: the device was unlinked (from the phone or by
	// session.logout); a new login shows a new QR.
	StateLoggedOut State = "logged_out"
	// StateStopped: stopped by session.stop or daemon shutdown; the login
	// is kept and session.login resumes it.
	StateStopped State = "stopped"
	// StateFailed: the backend gave up; Reason and Message say why.
	// session.login starts it again.
	StateFailed State = "failed"
)

// States lists every state, in lifecycle order.
var States = []State{StateStarting, StateQR, StatePairing, StateConnected,
	StateDisconnected, StateLoggedOut, StateStopped, StateFailed}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Active reports whether a session in state s holds backend resources
// (a connection, a browser) and counts against max_sessions. Stopped,
// failed and logged-out sessions are inactive: session.login starts them
// again.
func (s State) Active() bool {
	switch s {
	case StateStopped, StateFailed, StateLoggedOut, "":
		return false
	}
	return true
}

// Reason codes for failed, disconnected and logged-out sessions. A user can
// act on each: they are part of the contract and are never renamed.
const (
	ReasonQRTimeout         = "qr_timeout"          // nobody scanned the QR in time
	ReasonNetwork           = "network"             // could not reach WhatsApp
	ReasonStreamReplaced    = "stream_replaced"     // the same device connected elsewhere
	ReasonClientOutdated    = "client_outdated"     // WhatsApp refuses this client version
	ReasonLoggedOut         = "logged_out"          // unlinked from the phone
	ReasonStartTimeout      = "start_timeout"       // the backend did not come up within start_timeout
	ReasonBrowserExited     = "browser_exited"      // chromedp: the browser process died
	ReasonPageCrashed       = "page_crashed"        // chromedp: the renderer crashed
	ReasonBackendError      = "backend_error"       // anything else the backend reported
	ReasonShutdown          = "shutdown"            // the daemon is stopping
	ReasonStopped           = "stopped"             // session.stop
	ReasonProfileLocked     = "profile_locked"      // chromedp: another browser holds the profile
	ReasonMissingModule     = "missing_module"      // chromedp: WhatsApp Web lacks a module we need
	ReasonBackendNotBuilt   = "backend_unavailable" // the backend is not available in this build or host
	ReasonConnectionLost    = "connection_lost"     // transient disconnect, reconnecting
	ReasonLogoutRequested   = "logout"              // session.logout
	ReasonPairingRejected   = "pairing_rejected"    // the phone refused the pairing
	ReasonStoreError        = "store_error"         // the device store failed
	ReasonTemporarilyBanned = "temporarily_banned"  // WhatsApp banned the account for a while
	// ReasonMainDeviceGone: logged out because the phone's own account
	// is gone (WhatsApp reinstalled, number moved, account deleted), as
	// opposed to this device unlinked (logged_out).
	ReasonMainDeviceGone = "main_device_gone"
	// ReasonPhoneOffline: still connected, but the phone has not been
	// online for long (phone_offline_after): messages sent from this
	// device still go out, but the phone may soon unlink its companions.
	ReasonPhoneOffline = "phone_offline"
	// ReasonMemoryLimit: chromedp: the kernel's OOM killer struck in the
	// session's own cgroup ([chromedp] memory_max): the browser used more
	// memory than it may. The daemon and the other sessions run on.
	ReasonMemoryLimit = "memory_limit"
)

// Session is the state of one client's session as reported on the wire.
// Empty fields are omitted; more fields may be added, none renamed.
type Session struct {
	Client   string `json:"client"`
	Backend  string `json:"backend,omitempty"`
	State    State  `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	QR       string `json:"qr,omitempty"`
	PairCode string `json:"pair_code,omitempty"`
	JID      string `json:"jid,omitempty"`
	PushName string `json:"push_name,omitempty"`
	PID      int    `json:"pid,omitempty"`
	RSSBytes int64  `json:"rss_bytes,omitempty"`
	// MemoryBytes, MemoryMax, CPUSeconds and Procs come from the
	// session's own cgroup (a chromedp session while the daemon runs
	// with a delegated cgroup subtree): the memory the kernel charges to
	// the browser and all its children (exact, shared pages once), the
	// limit (memory_max), the CPU time used since the browser started,
	// and how many processes it runs. Absent without a cgroup.
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	MemoryMax   int64   `json:"memory_max,omitempty"`
	CPUSeconds  float64 `json:"cpu_seconds,omitempty"`
	Procs       int     `json:"procs,omitempty"`
	// Since is when the session entered State.
	Since time.Time `json:"since,omitzero"`
}

// Message is an incoming or outgoing message as carried in events.
type Message struct {
	ID        string    `json:"id"`
	Chat      string    `json:"chat,omitempty"`
	Sender    string    `json:"sender,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
	FromMe    bool      `json:"from_me,omitempty"`
	Text      string    `json:"text,omitempty"`
	// Type is "text", a media kind ("image", "video", "audio", "voice",
	// "document", "sticker"), "location", "contact", or what else
	// WhatsApp sent ("poll", "unknown", ...).
	Type    string `json:"type,omitempty"`
	Caption string `json:"caption,omitempty"`
	// Media describes the file of a media message.
	Media    *MediaInfo   `json:"media,omitempty"`
	Location *Location    `json:"location,omitempty"`
	Contact  *ContactCard `json:"contact,omitempty"`
	// ReplyTo is the id of the message this one quotes.
	ReplyTo string `json:"reply_to,omitempty"`
	// Mentions are the JIDs the message tags.
	Mentions []string `json:"mentions,omitempty"`
	// TargetID, in reaction, edit and revoke events, is the id of the
	// message reacted to, edited or revoked.
	TargetID string `json:"target_id,omitempty"`
	// Emoji is a reaction event's emoji; empty means the reaction was
	// removed.
	Emoji string `json:"emoji,omitempty"`
}

// Receipt reports delivery or read of messages this account sent (or read
// elsewhere).
type Receipt struct {
	IDs       []string  `json:"ids"`
	Chat      string    `json:"chat,omitempty"`
	Sender    string    `json:"sender,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Type is "delivered", "read", "played", "sender", ... as WhatsApp names it.
	Type string `json:"type,omitempty"`
}

// Event kinds.
const (
	KindState   = "state"
	KindQR      = "qr"
	KindMessage = "message"
	KindReceipt = "receipt"
	// KindReaction: someone (this account on another device included)
	// reacted to a message; Message.TargetID and Message.Emoji.
	KindReaction = "reaction"
	// KindEdit: a message was edited; Message.TargetID and the new
	// Message.Text.
	KindEdit = "edit"
	// KindRevoke: a message was deleted for everyone; Message.TargetID.
	KindRevoke = "revoke"
)

// KindEventsDropped is the one loss a subscription can see: events it
// had not read yet were pruned from the event log (retention) before it
// read them. EventsDropped names their range of sequence numbers.
const KindEventsDropped = "events_dropped"

// Kinds lists every event kind.
var Kinds = []string{KindState, KindQR, KindMessage, KindReceipt, KindReaction, KindEdit, KindRevoke,
	KindCheckProgress, KindGroup, KindPresence, KindChatPresence, KindCall, KindContact, KindMessageStatus, KindEventsDropped}

// SeqRange is an inclusive range of event sequence numbers.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Event is the params object of an "event" notification.
type Event struct {
	Subscription string `json:"subscription,omitempty"`
	// Seq is the event's place in the daemon's event log: it increases
	// by one per logged event and is never reused, reset mode included.
	// Zero for the kinds that are not logged (qr, check_progress): they
	// are live only.
	Seq     uint64   `json:"seq,omitempty"`
	Client  string   `json:"client"`
	Kind    string   `json:"kind"`
	Session *Session `json:"session,omitempty"`
	QR      string   `json:"qr,omitempty"`
	Message *Message `json:"message,omitempty"`
	Receipt *Receipt `json:"receipt,omitempty"`
	// One of these, by Kind: check_progress, group, presence,
	// chat_presence, call, contact.
	Check        *CheckProgress `json:"check,omitempty"`
	Group        *GroupChange   `json:"group,omitempty"`
	Presence     *Presence      `json:"presence,omitempty"`
	ChatPresence *ChatPresence  `json:"chat_presence,omitempty"`
	Call         *Call          `json:"call,omitempty"`
	Contact      *ContactChange `json:"contact,omitempty"`
	// Status is a message_status event's message.
	Status *MessageStatus `json:"status,omitempty"`
	// EventsDropped is the range an events_dropped event reports lost.
	EventsDropped *SeqRange `json:"events_dropped,omitempty"`
	// Dropped counts the events this subscription lost before this one
	// because the subscriber read too slowly.
	Dropped uint64    `json:"dropped,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

// Empty is the params of methods that take none.
type Empty struct{}

// VersionResult is the result of wad.version.
type VersionResult struct {
	Version   string   `json:"version"`
	GoVersion string   `json:"go_version,omitempty"`
	Backends  []string `json:"backends,omitempty"`
}

// StatusResult is the result of wad.status.
type StatusResult struct {
	Version       string        `json:"version"`
	PID           int           `json:"pid"`
	Started       time.Time     `json:"started"`
	Uptime        float64       `json:"uptime_seconds"`
	StateDir      string        `json:"state_dir,omitempty"`
	Socket        string        `json:"socket,omitempty"`
	Sessions      int           `json:"sessions"`
	States        map[State]int `json:"states,omitempty"`
	MaxSessions   int           `json:"max_sessions,omitempty"`
	Backends      []string      `json:"backends,omitempty"`
	Default       string        `json:"default_backend,omitempty"`
	Subscriptions int           `json:"subscriptions,omitempty"`
	// EventLog is the durable event log; Webhooks the configured
	// webhooks' delivery state.
	EventLog *EventLogStatus `json:"event_log,omitempty"`
	Webhooks []WebhookStatus `json:"webhooks,omitempty"`
	// Queued counts the messages waiting in each client's outbound
	// queue (clients with none omitted).
	Queued map[string]int `json:"queued,omitempty"`
	// Peer is the caller as the daemon sees it.
	Peer *Peer `json:"peer,omitempty"`
}

// Peer is the identity of the process on the other end of the socket, as
// the kernel reported it (SO_PEERCRED).
type Peer struct {
	PID int `json:"pid"`
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// ListResult is the result of session.list.
type ListResult struct {
	Sessions []Session `json:"sessions"`
}

// ClientParams names one client; the params of session.status,
// session.logout and session.stop.
type ClientParams struct {
	Client string `json:"client"`
}

// LoginParams are the params of session.login. Backend defaults to the
// daemon's default_backend. Phone, an E.164 number, asks for a pairing
// code instead of a QR code.
type LoginParams struct {
	Client  string `json:"client"`
	Backend string `json:"backend,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// SendParams are the params of message.send. To is an E.164 number
// ("+4915112345678") or a WhatsApp JID ("4915112345678@s.whatsapp.net",
// "120363...@g.us").
// Exactly one of Text, Media, Location and Contact is the message; a
// media message's text is its Media.Caption. ReplyTo quotes an earlier
// message of the same chat; Mentions (E.164 numbers or JIDs) are tagged
// in a text or caption.
type SendParams struct {
	// Wait makes the call return once the message is sent or failed
	// instead of once it is queued.
	Wait     bool         `json:"wait,omitempty"`
	Client   string       `json:"client"`
	To       string       `json:"to"`
	Text     string       `json:"text,omitempty"`
	Media    *Media       `json:"media,omitempty"`
	Location *Location    `json:"location,omitempty"`
	Contact  *ContactCard `json:"contact,omitempty"`
	ReplyTo  string       `json:"reply_to,omitempty"`
	Mentions []string     `json:"mentions,omitempty"`
}

// SendResult is the result of message.send, .react, .edit and .revoke:
// the message's id and its State, queued; with wait, sent (and the
// server's Timestamp), or an error for a failed message.
type SendResult struct {
	ID        string    `json:"id"`
	State     string    `json:"state,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
}

// SubscribeParams are the params of events.subscribe. Empty Clients or
// Kinds mean all.
//
// Without Since or Consumer the subscription starts live. Since replays
// the logged events after that sequence number (0: the whole log), then
// continues live with no gap and no duplicate at the seam. Consumer names
// a durable reader: it starts after the consumer's acknowledged position
// (events.ack), or live when the consumer is new; Since, when given too,
// wins. Delivery is at least once: events after the last ack come again.
type SubscribeParams struct {
	Clients  []string `json:"clients,omitempty"`
	Kinds    []string `json:"kinds,omitempty"`
	Since    *uint64  `json:"since,omitempty"`
	Consumer string   `json:"consumer,omitempty"`
}

// SubscribeResult is the result of events.subscribe. Head is the seq of
// the newest logged event when the subscription was made; Since is where
// its replay starts (it delivers what follows), absent when it started
// live.
type SubscribeResult struct {
	Subscription string  `json:"subscription"`
	Head         uint64  `json:"head"`
	Since        *uint64 `json:"since,omitempty"`
}

// AckParams are the params of events.ack: Consumer has processed every
// event up to and including Seq. A consumer's position only moves
// forward; an ack below it changes nothing.
type AckParams struct {
	Consumer string `json:"consumer"`
	Seq      uint64 `json:"seq"`
}

// AckResult is the result of events.ack: the consumer's position.
type AckResult struct {
	Consumer string `json:"consumer"`
	Seq      uint64 `json:"seq"`
}

// EventLogStatus describes the event log in wad.status. Oldest is the
// seq of the oldest event kept (Head+1 when none is), Bytes the size of
// the events kept.
type EventLogStatus struct {
	Head      uint64 `json:"head"`
	Oldest    uint64 `json:"oldest"`
	Events    int64  `json:"events"`
	Bytes     int64  `json:"bytes"`
	Consumers int    `json:"consumers"`
}

// UnsubscribeParams are the params of events.unsubscribe.
type UnsubscribeParams struct {
	Subscription string `json:"subscription"`
}

// OK is the result of methods that have nothing else to say.
type OK struct {
	OK bool `json:"ok"`
}

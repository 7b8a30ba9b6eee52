package ctl

// Method names on the wire. Every method takes named parameters (a JSON
// object, possibly empty) and returns a JSON object.
const (
	MethodVersion   = "wad.version"
	MethodStatus    = "wad.status"
	MethodList      = "session.list"
	MethodSession   = "session.status"
	MethodLogin     = "session.login"
	MethodLogout    = "session.logout"
	MethodStop      = "session.stop"
	MethodSend      = "message.send"
	MethodReact     = "message.react"
	MethodEdit      = "message.edit"
	MethodRevoke    = "message.revoke"
	MethodDownload  = "message.download"
	MethodMsgStatus = "message.status"
	MethodRead      = "chat.read"
	MethodPresence  = "chat.presence"
	MethodSubscribe = "events.subscribe"

	MethodCheck             = "contact.check"
	MethodContacts          = "contact.list"
	MethodContactInfo       = "contact.info"
	MethodChats             = "chat.list"
	MethodGroups            = "group.list"
	MethodGroupInfo         = "group.info"
	MethodGroupCreate       = "group.create"
	MethodGroupParticipants = "group.participants"
	MethodGroupInvite       = "group.invite_link"
	MethodGroupJoin         = "group.join"
	MethodGroupLeave        = "group.leave"
	MethodGroupSet          = "group.set"
	MethodProfile           = "profile.get"
	MethodProfileSet        = "profile.set"
	MethodPresenceSubscribe = "presence.subscribe"
	MethodCallReject        = "call.reject"

	MethodUnsubscribe = "events.unsubscribe"
	MethodAck         = "events.ack"

	MethodWebhooks     = "webhooks.list"
	MethodWebhookRetry = "webhooks.retry"

	// MethodDoctor runs the daemon's health checks (wactl doctor).
	MethodDoctor = "wad.doctor"
	// MethodDiscover returns the OpenRPC document of this API.
	MethodDiscover = "rpc.discover"

	// NotifyEvent is the method name of the notifications the daemon pushes
	// to a connection that subscribed to events. Its params are an Event.
	NotifyEvent = "event"
)

// Access is the class of a method: whether it only reads state or
// changes it. The daemon's [[access]] rules grant the two separately
// (write includes read).
type Access int

const (
	Read Access = iota
	Write
)

// String returns "read" or "write".
func (a Access) String() string {
	if a == Write {
		return "write"
	}
	return "read"
}

// Method is one entry of the method table.
type Method struct {
	Name   string
	Access Access
	// Params and Result are zero values of the Go types the method
	// decodes its params into and returns (Empty for no params): the
	// daemon checks them against its implementations, and the OpenRPC
	// document (rpc.discover) is generated from them.
	Params, Result any
	// Summary says in one line what the method does (for rpc.discover).
	Summary string
}

// Methods is the method table, in the order the documentation presents
// the methods. The daemon serves exactly these (any other name is
// "method not found") and checks every call against the access class
// given here before it runs.
var Methods = []Method{
	{Name: MethodVersion, Access: Read, Params: Empty{}, Result: VersionResult{},
		Summary: "The daemon's version, Go version and backends."},
	{Name: MethodStatus, Access: Read, Params: Empty{}, Result: StatusResult{},
		Summary: "The daemon's state: uptime, sessions by state, event log, webhooks, outbound queues, the caller's identity."},
	{Name: MethodList, Access: Read, Params: Empty{}, Result: ListResult{},
		Summary: "Every session the caller may read."},
	{Name: MethodSession, Access: Read, Params: ClientParams{}, Result: Session{},
		Summary: "One client's session."},
	{Name: MethodLogin, Access: Write, Params: LoginParams{}, Result: Session{},
		Summary: "Start or resume a client's session; returns once it shows a QR or pairing code, is connected, or has failed."},
	{Name: MethodLogout, Access: Write, Params: ClientParams{}, Result: Session{},
		Summary: "Unlink a client's device and remove its session."},
	{Name: MethodStop, Access: Write, Params: ClientParams{}, Result: Session{},
		Summary: "Stop a client's session, keeping its login."},
	{Name: MethodSend, Access: Write, Params: SendParams{}, Result: SendResult{},
		Summary: "Queue a text, media, location or contact message; with wait, return once it is sent."},
	{Name: MethodReact, Access: Write, Params: ReactParams{}, Result: SendResult{},
		Summary: "React to a message with an emoji (empty: remove the reaction)."},
	{Name: MethodEdit, Access: Write, Params: EditParams{}, Result: SendResult{},
		Summary: "Replace the text of a message this account sent."},
	{Name: MethodRevoke, Access: Write, Params: MessageRef{}, Result: SendResult{},
		Summary: "Delete a message for everyone."},
	{Name: MethodDownload, Access: Read, Params: DownloadParams{}, Result: DownloadResult{},
		Summary: "The decrypted file of a received media message, as data or written to a passed descriptor."},
	{Name: MethodMsgStatus, Access: Read, Params: MessageStatusParams{}, Result: MessageStatus{},
		Summary: "Where a queued message is: queued, sent, delivered, read, played, or failed and why."},
	{Name: MethodRead, Access: Write, Params: ReadParams{}, Result: ReadResult{},
		Summary: "Mark messages of a chat read (without ids: every unread one)."},
	{Name: MethodPresence, Access: Write, Params: PresenceParams{}, Result: OK{},
		Summary: "Show this account typing, recording or paused in a chat."},
	{Name: MethodCheck, Access: Read, Params: CheckParams{}, Result: CheckResult{},
		Summary: "Which phone numbers are on WhatsApp; paced, each batch reported by a check_progress event."},
	{Name: MethodContacts, Access: Read, Params: ClientParams{}, Result: ContactsResult{},
		Summary: "The address book this account syncs."},
	{Name: MethodContactInfo, Access: Read, Params: ContactInfoParams{}, Result: ContactInfo{},
		Summary: "A person's contact entry, about text, devices and, when asked, profile picture."},
	{Name: MethodChats, Access: Read, Params: ClientParams{}, Result: ChatsResult{},
		Summary: "The chats, the most recent first."},
	{Name: MethodGroups, Access: Read, Params: ClientParams{}, Result: GroupsResult{},
		Summary: "The groups this account is in."},
	{Name: MethodGroupInfo, Access: Read, Params: GroupParams{}, Result: Group{},
		Summary: "A group and its participants."},
	{Name: MethodGroupCreate, Access: Write, Params: GroupCreateParams{}, Result: GroupCreateResult{},
		Summary: "Create a group; says what became of each participant."},
	{Name: MethodGroupParticipants, Access: Write, Params: ParticipantsParams{}, Result: ParticipantsResult{},
		Summary: "Add, remove, promote or demote a group's participants; says what became of each."},
	{Name: MethodGroupInvite, Access: Write, Params: InviteLinkParams{}, Result: InviteLinkResult{}, // a link lets anyone in
		Summary: "A group's invite link (reset: revoke it and make a new one)."},
	{Name: MethodGroupJoin, Access: Write, Params: JoinParams{}, Result: JoinResult{},
		Summary: "Join a group by invite link or code."},
	{Name: MethodGroupLeave, Access: Write, Params: GroupParams{}, Result: OK{},
		Summary: "Leave a group."},
	{Name: MethodGroupSet, Access: Write, Params: GroupSetParams{}, Result: OK{},
		Summary: "Change a group's name, topic, announce or locked setting."},
	{Name: MethodProfile, Access: Read, Params: ClientParams{}, Result: Profile{},
		Summary: "This account as others see it."},
	{Name: MethodProfileSet, Access: Write, Params: ProfileSetParams{}, Result: ProfileSetResult{},
		Summary: "Change this account's push name, about text or profile picture."},
	{Name: MethodPresenceSubscribe, Access: Read, Params: JIDParams{}, Result: OK{},
		Summary: "Ask WhatsApp for a person's presence events."},
	{Name: MethodCallReject, Access: Write, Params: CallRejectParams{}, Result: OK{},
		Summary: "Refuse an incoming call and, with text, message the caller."},
	{Name: MethodSubscribe, Access: Read, Params: SubscribeParams{}, Result: SubscribeResult{},
		Summary: "Subscribe this connection to event notifications: live, replayed after a seq, or as a durable consumer."},
	{Name: MethodUnsubscribe, Access: Read, Params: UnsubscribeParams{}, Result: OK{},
		Summary: "End a subscription of this connection."},
	{Name: MethodAck, Access: Read, Params: AckParams{}, Result: AckResult{},
		Summary: "Record that a consumer has processed every event up to seq."},
	{Name: MethodWebhooks, Access: Read, Params: WebhooksParams{}, Result: WebhooksResult{},
		Summary: "The webhooks' delivery state and, when asked, their dead letters."},
	{Name: MethodWebhookRetry, Access: Write, Params: WebhookRetryParams{}, Result: WebhookRetryResult{},
		Summary: "Deliver a webhook's dead letters again, ahead of new events."},
	{Name: MethodDoctor, Access: Read, Params: Empty{}, Result: DoctorResult{},
		Summary: "Run the daemon's health checks: each problem with its fix."},
	{Name: MethodDiscover, Access: Read, Params: Empty{}, Result: OpenRPC{},
		Summary: "This document: the OpenRPC description of every method, error and event."},
}

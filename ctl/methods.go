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
}

// Methods is the method table, in the order the documentation presents
// the methods. The daemon serves exactly these (any other name is
// "method not found") and checks every call against the access class
// given here before it runs.
var Methods = []Method{
	{MethodVersion, Read},
	{MethodStatus, Read},
	{MethodList, Read},
	{MethodSession, Read},
	{MethodLogin, Write},
	{MethodLogout, Write},
	{MethodStop, Write},
	{MethodSend, Write},
	{MethodReact, Write},
	{MethodEdit, Write},
	{MethodRevoke, Write},
	{MethodDownload, Read},
	{MethodMsgStatus, Read},
	{MethodRead, Write},
	{MethodPresence, Write},
	{MethodCheck, Read},
	{MethodContacts, Read},
	{MethodContactInfo, Read},
	{MethodChats, Read},
	{MethodGroups, Read},
	{MethodGroupInfo, Read},
	{MethodGroupCreate, Write},
	{MethodGroupParticipants, Write},
	{MethodGroupInvite, Write}, // a link lets anyone in
	{MethodGroupJoin, Write},
	{MethodGroupLeave, Write},
	{MethodGroupSet, Write},
	{MethodProfile, Read},
	{MethodProfileSet, Write},
	{MethodPresenceSubscribe, Read},
	{MethodCallReject, Write},
	{MethodSubscribe, Read},
	{MethodUnsubscribe, Read},
	{MethodAck, Read},
	{MethodWebhooks, Read},
	{MethodWebhookRetry, Write},
	{MethodDoctor, Read},
	{MethodDiscover, Read},
}

package ctl

// Method names on the wire. Every method takes named parameters (a JSON
// object, possibly empty) and returns a JSON object.
const (
	MethodVersion     = "wad.version"
	MethodStatus      = "wad.status"
	MethodList        = "session.list"
	MethodSession     = "session.status"
	MethodLogin       = "session.login"
	MethodLogout      = "session.logout"
	MethodStop        = "session.stop"
	MethodSend        = "message.send"
	MethodSubscribe   = "events.subscribe"
	MethodUnsubscribe = "events.unsubscribe"

	// NotifyEvent is the method name of the notifications the daemon pushes
	// to a connection that subscribed to events. Its params are an Event.
	NotifyEvent = "event"
)

// Access says whether a method only reads state or changes it. The daemon's
// access rules grant the two separately.
type Access int

const (
	Read Access = iota
	Write
)

// Methods lists every method with its access class, in the order the
// documentation presents them.
var Methods = []struct {
	Name   string
	Access Access
}{
	{MethodVersion, Read},
	{MethodStatus, Read},
	{MethodList, Read},
	{MethodSession, Read},
	{MethodLogin, Write},
	{MethodLogout, Write},
	{MethodStop, Write},
	{MethodSend, Write},
	{MethodSubscribe, Read},
	{MethodUnsubscribe, Read},
}

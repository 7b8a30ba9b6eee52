// Package wafake is an in-process fake of WhatsApp's multi-device server
// for tests: the unmodified whatsmeow client connects to it over a real
// TLS websocket on loopback and runs its real protocol against it. It
// owns what the server side of that protocol does, as far as wad's tests
// need it: the Noise XX handshake with a certificate chain under a test
// root key (InstallRoot pins it in whatsmeow), the binary XML node
// stream, QR pairing (pair-device refs, the phone's signed and HMACed
// pair-success, the device's pair-device-sign, stream:error 515) and
// login (success or failure), keepalive pings, prekey count and upload,
// passive/active, a device unlinking itself (remove-companion-device),
// and the server-side events a session must survive: the device removed
// from the phone, a stream replaced by another login, a dropped
// connection, refused logins (401, 402 temporary ban, 405 client
// outdated). Accounts (Server.AddAccount) stand for the phones: each has
// a Signal identity that signs its companions, and the fake counts the
// companions linked to it, as the phone's "Linked devices" list does.
//
// Nothing in it reaches the network: Server.Dial and Server.HTTPClient
// connect only to the fake's own listener and refuse (and record) every
// other address.
//
// Extending it: a new protocol area (phone-code pairing, messages,
// media, groups) goes in a file of its own that registers handlers in
// the tables in iq.go (preLoginIQs, loggedInIQs by "xmlns type
// first-child", stanzas by tag) and adds methods on Account for what the
// phone or a contact does. Write what the real server does, from
// whatsmeow's client code (the files named in each handler), never what
// is convenient for a test.
//
// When whatsmeow is bumped (go.mod pins it; the fake follows the version
// there), re-check: socket/constants.go (Noise pattern, header, dict
// version) and handshake.go (the hello/finish messages and
// verifyServerCert's chain rules); pair.go (pair-device, pair-success
// children and attributes, ADV prefixes and HMAC); connectionevents.go
// (stream:error codes, failure reasons, what follows success); prekeys.go
// (count and upload nodes); keepalive.go; client.go Logout
// (remove-companion-device); and for the other areas the files their own
// doc comments name. Run the wafake and sessions/whatsmeow tests.
package wafake

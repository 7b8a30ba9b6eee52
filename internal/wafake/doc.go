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
// Phone-code pairing (whatsmeow's PairPhone, paircode.go) runs as well:
// an unpaired device asks for a code for an account's number
// (link_code_companion_reg, stage companion_hello; a number without an
// account gets 400 bad-request), Account.EnterCode is the phone's user
// typing that code, and the fake runs the phone's half: the code-wrapped
// ephemeral keys (PBKDF2, AES-CTR), the primary_hello notification, the
// device's AES-GCM key bundle in companion_finish and the ADV secret
// derived from it, then the same pair-success exchange as a QR scan. A
// wrong code shows only when the bundle fails to open; it links nothing
// and uses the request up.
//
// The fake also holds the other side of 1:1 conversations (message.go,
// signal.go, usync.go). Each account's phone is a full Signal device in
// memory (libsignal stores; the account's Identity is its identity key,
// with a registration id, a signed prekey and one-time prekeys the
// server hands out). The server answers what a device asks before it
// sends: usync device lists (the phone and the linked companions with
// their key indexes; lid and contact too) and prekey bundles (the
// phone's, or what a companion uploaded, consuming a one-time prekey).
// A <message> a device sends is acked to it (id, t, phash of the device
// lists) and each <to>'s <enc> goes where it is addressed: a phone
// decrypts it (pkmsg or msg), strips WhatsApp's padding, parses the
// protobuf and records it (Account.Received, WaitMessage; the sender's
// own phone records the DeviceSentMessage copy), then sends the sender a
// delivery receipt; another companion gets it relayed as a <message>
// from the sending device, with sender_lid or sender_pn (recipient for
// the sender's own devices) and the device-identity of a pkmsg.
// Account.SendText and SendMessage are the phone writing: it encrypts
// for the recipient's phone and companions and, as a DeviceSentMessage,
// for its own companions (pkmsg until a device has answered, msg after;
// Account.Sent shows which). Account.MarkRead sends read receipts.
// Receipts a device sends are acked and passed on (to a user: its phone
// and all its companions); the phone records those for it
// (Account.Receipts, WaitReceipt), and Server.Acks lists a device's
// acks. What the server sends a device it holds until the device
// acknowledges it: an offline device gets it when it next goes active,
// followed by <ib><offline count=N/></ib> (Server.Queued). The stanza
// says what a message is without decrypting it, both ways: type (text,
// media, reaction, poll), edit (1 an edit, 7 the sender's revoke or a
// reaction taken back, 8 an admin's revoke) and the <enc>'s mediatype
// and decrypt-fail; the phone records them (Message.Type, Edit,
// MediaType) and sets them on what it sends. Account.React, Edit and
// Revoke are the contact's phone reacting to, editing and deleting
// messages as the apps do (a ReactionMessage with the target's key; a
// ProtocolMessage MESSAGE_EDIT inside EditedMessage; a ProtocolMessage
// REVOKE).
//
// Media (media.go) runs as on WhatsApp: the w:m media_conn query
// answers an auth, its TTLs and one host, the fake's Host, so uploads
// and downloads reach the fake's listener like the websocket does. The
// upload endpoint takes whatsmeow's POST
// /mms/<type>/<token>?auth=...&token=... (the token the base64url
// SHA-256 of the encrypted body), refuses a bad auth (401), a token
// that does not match (400) or too large a body (413), stores the blob
// and answers url and direct_path shaped like WhatsApp's
// (/v/t62.<bucket>/<ids>_n.enc?ccb=11-4&oh=...&oe=<hex expiry>&_nc_sid=...,
// the url that on https://Host with &mms3=true); Server.Uploads lists
// them. The CDN serves a blob by its path whatever query a client adds,
// checking the URL's signature (oh) and expiry (oe), 403 if wrong;
// Server.ExpireMedia makes blobs answer 404, as media the server has
// dropped. Account.UploadMedia and SendMedia are the phone encrypting
// (a random media key, HKDF-SHA256 to iv, AES-256-CBC key and HMAC key
// with the kind's info, 10 bytes of HMAC appended) and sending a file;
// Account.DownloadMedia is the phone fetching, checking and decrypting
// one it was sent.
//
// Presence and chat state (presence.go): a device's <presence
// type=available|unavailable> sets whether it gets typing
// notifications; a <chatstate> (composing, with media=audio when
// recording, or paused) is recorded at the user's phone
// (Account.ChatStates, WaitChatState) and passed to that user's
// available devices only, never held; Account.SendChatState is the
// phone typing. The privacy query is answered with a new account's
// defaults (read receipts on, so MarkRead sends read receipts).
//
// Contacts, profiles, presence and calls (usync.go, profile.go,
// presence.go, call.go): usync also answers status (the about text
// with its time), picture (the id) and business (a verified name
// certificate, Account.SetBusiness), so IsOnWhatsApp and GetUserInfo
// see what the real server tells. A device sets its about (status set)
// and its own picture (w:profile:picture set with its JID or no target:
// a JPEG or 406, no child to remove); the picture get answers id, url
// (served by the fake's CDN) and direct_path, status 304 for the
// current id, 404 for none. Account.SetAbout and SetPicture are the
// phone doing the same; a picture change reaches every other account's
// devices as <notification type="picture"> with <set> or <delete>. A
// presence subscribe is answered at once with the user's presence and
// then with each change (Account.SetPresence: online, or unavailable
// with last). Account.Call is a phone calling: each linked device of
// the callee gets <call><offer call-id call-creator> with the media
// offered, held and acked like other stanzas; the callee's phone
// answers (Answer: <accept>) or declines (Decline: <reject>) elsewhere,
// the caller hangs up (Hangup: <terminate reason>), and a device's
// <call><reject/></call> is acked, recorded at the caller's phone
// (CallRejects, WaitCallReject) and passed to the callee's other
// devices. A push name change reaches others as the notify of the
// account's next message. Failure 403 (FailLogin) is the main device
// gone.
//
// App state (appstate.go): Account.ShareAppStateKeys is the phone
// sharing its app state sync key with a linked device, as the real
// phone does after linking (the fake's only when asked): a peer
// ProtocolMessage APP_STATE_SYNC_KEY_SHARE, Signal-encrypted for the
// device and held until it is active; it returns once the device has
// synced every collection with it. The w:sync:app:state set <sync><collection name
// version return_snapshot> is answered as the server does: without a
// <patch>, the patches stored for the account and collection since
// version (all for a snapshot request: the fake keeps no snapshots) in
// <patches>, with the current version; with one, the patch stored as
// the next version and <collection name version/>, or, from a device
// behind, type="error" with <error code="409"/> and the patches it
// lacks. The server does not read patches; the phone, which holds the
// key, reads a setting_pushName and makes it the account's push name
// (Account.CurrentPushName), which others see as the notify of its
// next message.
//
// Groups (group.go) are kept as the server keeps them: an id
// ("120363" and 12 digits, the JID's user part), creator, creation
// time, subject with who set it when, description with its id, the
// announcement and locked settings, members with admin and superadmin,
// an invite code, a picture id, and an addressing mode (phone numbers
// by default; Server.LIDGroups makes new groups LID-addressed, with
// each participant's other JID in phone_number or lid). The w:g2
// queries whatsmeow sends are answered: create (per-participant error
// 403 with an <add_request code expiration/> when the account's privacy
// refuses adds, Account.RefuseGroupAdds; 404 for a number not on
// WhatsApp; 409 for a member), get info (<query request=interactive>;
// 404 no group, 403 not a member), participating, add, remove, promote
// and demote (admins only, else 401; a result per participant in the
// action's tag), invite (one key for four queries: to the group, get
// the link or, with set, reset it, admins only; to @g.us with a code,
// what the link leads to or, with set, joining; 406 unknown code, 410 a
// reset one), leave, subject, description (the topic with id, prev and
// delete, 409 for a stale prev, or a bare description), announcement,
// not_announcement, locked and unlocked (admins; subject and
// description admins only while locked), and the group's picture (the
// w:profile:picture set iqs with the group as target, which profile.go
// passes on: a JPEG or 406, or none to remove). Every change is sent,
// after the answer, to every member device as WhatsApp does and held
// until acked: <notification type="w:gp2" from=group participant=actor
// [participant_pn] notify> with one <create type="new" key> (the new
// group's members, the creator's devices included) or <create
// reason="invite"> (notify="invite", to whoever joined by link), or one
// <add [reason=invite]>, <remove>, <promote>, <demote>, <subject>,
// <description> (<body> or <delete/>), <announcement v_id>,
// <not_announcement v_id>, <locked>, <unlocked> or <invite code>; a
// picture change is a <notification type="picture"> with <set jid id
// author/> or <delete jid author/>. Account.CreateGroup, UpdateGroup,
// SetGroupSubject, SetGroupTopic, SetGroupAnnounce, SetGroupLocked,
// SetGroupPicture, GroupInviteCode, JoinGroup and LeaveGroup are a
// phone doing the same; Server.Group shows a group's state. Unverified
// and chosen here: what an account added by an admin gets (an <add>
// naming it, as the other members get), the add_request's lifetime (3
// days), errors of a leave (404, 403), of a join by a member (none) and
// of a change by a non-admin (401).
//
// Not done yet: group and broadcast messages (sender keys; a message to
// a group is acked with error 501), answering retry receipts (the
// phone records them, and a message it cannot decrypt, with
// Message.Err, but sends none and re-sends nothing), read-self receipts
// to the reader's own companions (one is acked and passed to no one),
// media retry receipts (a device asking for expired media to be
// uploaded again: recorded at its own phone as a receipt of type
// server-error, passed to no device, not answered), chat states to
// groups, and the signed key-index-list in device lists, which whatsmeow
// does not read.
//
// Nothing in it reaches the network: Server.Dial and Server.HTTPClient
// (and HTTPClientFor, for a fake in another process) connect only to the
// fake's own loopback listener and refuse (and record) every other
// address; media uses the same listener.
//
// For benchmarks the fake can run in a child process (remote.go:
// ServeRemote, StartRemote), so that its memory is not counted as the
// measured daemon's; the two processes share the Noise root key
// (RootKey, UseRoot) and talk a small line protocol.
//
// Extending it: a new protocol area (app state, group messages) goes in
// a file of its own that registers handlers in
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
// (remove-companion-device); pair-code.go (the companion_hello and
// companion_finish nodes, the code alphabet, PBKDF2 rounds, salt/iv/nonce
// layouts, HKDF info strings, the key bundle's field order, the ADV
// secret's inputs) and notification.go (the link_code_companion_reg
// notification's type and what is read from it); for conversations
// send.go (SendMessage and the ack it reads, sendDM, prepareMessageNode,
// encryptMessageForDevices, marshalMessage's DeviceSentMessage,
// getTypeFromMessage), user.go (usync, GetUserDevices, parseDeviceList,
// GetUserInfo, IsOnWhatsApp), prekeys.go (fetchPreKeys,
// nodeToPreKeyBundle), message.go (parseMessageSource, parseMessageInfo,
// decryptMessages' choice of the sender's Signal address,
// padMessage/unpadMessage), receipt.go (parseReceipt,
// sendMessageReceipt, MarkRead, sendAck), retry.go (what a retry
// receipt carries), connectionevents.go handleIB and
// store/signal.go's serializer; for reactions, edits and revokes
// send.go (BuildMessageKey, BuildReaction, BuildEdit, BuildRevoke,
// getTypeFromMessage, getMediaTypeFromMessage, getEditAttribute,
// prepareMessageNode's edit, mediatype and decrypt-fail), message.go
// parseMessageInfo and types/events Message.UnwrapRaw; for media
// mediaconn.go (queryMediaConn's attributes), upload.go (rawUpload's
// URL, query and headers, the JSON it decodes), download.go
// (Download's choice of URL or direct path, DownloadMediaWithPath's
// URL, getMediaKeys, the media types' HKDF info and mms types, the
// 403/404/410 errors, the retry rule), download-to-file.go,
// mediaretry.go, util/cbcutil and util/hkdfutil; for presence
// presence.go (SendPresence, SendChatPresence, handleChatState) and
// privacysettings.go; for groups group.go (sendGroupIQ and every
// query's request and the response it reads, parseGroupNode,
// parseParticipant with its error and add_request, parseGroupCreate,
// parseGroupChange's children and required attributes,
// parseParticipantList, cacheGroupInfo's LID pairs), errors.go (the
// group sentinels and the 401/403/404/406/410 mapping) and
// notification.go (the w:gp2 and picture cases, handlePictureNotification);
// and for the other areas the files their own doc
// comments name. Run the wafake and sessions/whatsmeow tests.
package wafake

// Package chromedp is the session backend that drives WhatsApp Web in
// headless Chromium, one browser per client, for parity with
// whatsapp-web.js deployments. It owns the client's Chrome profile
// (<state>/.wwebjs_auth/session-<client>, the whatsapp-web.js LocalAuth
// layout) and guards it with an OS file lock so that no two browsers ever
// share one profile; it launches Chromium bound to the daemon (own process
// group, killed with the daemon), injects a small agent into WhatsApp Web
// that follows the page protocol whatsapp-web.js uses (auth state from
// WAWebSocketModel, QR codes from WAWebConnModel), and turns crashes of
// the browser or the page into a failed session within two seconds.
// Given a cgroup tree (WithCgroups: the subtree systemd delegated to the
// daemon), each browser runs in a cgroup of its own with the [chromedp]
// limits (memory_max, memory_high, cpu_max, per-client overrides):
// cloned into it on cgroup v2 where clone3 is allowed, otherwise
// joining it through /bin/sh right before Chromium is exec'd (launch.go:
// cgroupStart), so that nothing it allocates is charged outside it. An
// OOM kill in that group fails the session with reason
// memory_limit and stops its browser; session.status reports the
// group's memory, CPU time and processes (cgroups.go).
// Logging out, of a running session or of a login a crash left behind
// (UnlinkLeftovers), is WhatsApp Web's own in-page logout, which unlinks
// the device.
//
// Operations (Session.Do) take whatsapp-web.js's paths through WhatsApp
// Web's modules (agent.js has the details): messages through
// WAWebSendMsgChatAction.addAndSendMsgToChat, with media prepared and
// uploaded as its processMediaData does (WAWebMediaOpaqueData,
// WAWebPrepRawMedia, WAWebMediaStorage, WAWebMediaMmsV4Upload; voice
// notes as ptt, documents asDocument) and stickers as its
// processStickerData (WAWebUploadManager.encryptAndUpload), replies
// through the quoted message's msgContextInfo, mentions as
// mentionedJidList, locations and vCards in its message shapes;
// reactions through WAWebSendReactionMsgAction, edits through
// WAWebSendMessageEditAction, revokes through Cmd.sendRevokeMsgs, read
// through WAWebUpdateUnreadChatAction.sendSeen, chat states through
// WAWebChatStateBridge, downloads through WAWebDownloadManager's
// downloadAndMaybeDecrypt. File bytes cross between wad and the page in
// 1 MiB base64 pieces, never as one message; downloads are checked
// against the SHA-256 the sender declared. Events follow whatsapp-web.js's
// listeners: Msg add (messages), change:body / change:caption (edits),
// change:type to revoked (revokes), and the reaction table's bulkUpsert
// (reactions).
//
// Contacts, chats, groups, profile, presence and calls (social.go) take
// whatsapp-web.js 1.34's paths too: numbers through
// WAWebQueryExistsJob.queryWidExists (which teaches WhatsApp Web the
// LID), contacts and chats from their collections as WhatsApp Web holds
// them, about and pictures through WAWebContactStatusBridge and
// WAWebContactProfilePicThumbBridge, groups through WAWebGroupCreateJob,
// WASmaxGroupsAddParticipantsRPC (one participant at a time, each with
// WhatsApp's own status, 403 with the invite code),
// WAWebModifyParticipantsGroupAction, WAWebGroupInviteJob,
// WAWebMexFetchGroupInviteCodeJob, WAWebGroupModifyInfoJob,
// WAWebSetPropertyGroupAction and WAWebExitGroupAction; the push name
// through WAWebSetPushnameConnAction, the picture cropped to a square in
// the page as whatsapp-web.js does; presence through
// WAWebContactPresenceBridge.subscribePresence (renewed after a
// reconnect); calls rejected through the VoIP stack when active, else
// with whatsapp-web.js's reject stanza. Their events: gp2 messages
// (group changes, never reported as messages), the presence collection
// (online, last seen, typing and recording, which end as paused), the
// call collection (hooked on add, setActiveCall, processIncomingCall and
// activeCall, for WhatsApp Web's legacy and native VoIP stacks), push
// name and picture changes of contacts. People are named by phone-number
// JID where WhatsApp Web knows it, by LID otherwise.
//
// What that way cannot do is refused, never dropped: marking single
// messages read when the chat holds other unread ones (WhatsApp Web reads
// whole chats), channels and status updates, and revoking or editing
// what WhatsApp Web's own capability checks forbid.
package chromedp

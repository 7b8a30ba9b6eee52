// A fake WhatsApp Web for wad's chromedp tests. It implements the modules
// wad's agent uses, under the names the real page gives them, with the
// argument and return shapes whatsapp-web.js relies on (it throws for
// arguments of the wrong shape, so a drifting agent fails the tests), and
// talks to the test's HTTP server on the same (loopback) origin, which
// plays WhatsApp's servers and the phone:
//   GET  /api/poll?device=D  -> {scanned, unlinked, incoming:[item]}
//        item: {from, body} a text; {kind:"msg", id, from, author, type,
//        body, caption, media:{directPath, mediaKey, filehash, mimetype,
//        size, filename, width, height, duration}, quoted, mentions}; or
//        {kind:"reaction"|"edit"|"revoke", id, from, target, emoji, body};
//        {kind:"chat", id, title, unread, archive, pin, mute, t} (a chat's
//        state, as a sync would set it); {kind:"gp2", group, subtype,
//        author, recipients, body, value, tag, info:{subject, owner,
//        participants:[{id, admin, superAdmin}]}} (a group notification,
//        applied to the metadata first); {kind:"presence", from, type
//        (available, unavailable, typing, recording_audio), t, deny,
//        participant (in a group)}; {kind:"call", id, from, video, group,
//        native (only setActiveCall, as WhatsApp Web's native VoIP stack
//        does), end}; {kind:"pushname", from, pushname}; {kind:"picture",
//        from, tag, load (a thumbnail loaded, not a change)}
//   GET  /api/directory?device=D -> {users: {<digits>: {lid, contact, name,
//        push, biz, bizName, about, pic, privacy}}, invites: {<code>:
//        {group, subject, participants}}}: who is on WhatsApp, asked
//        wherever WhatsApp Web would query the server (usync, about,
//        pictures, group adds, invites)
//   POST /api/paired         <- {device}  the phone's scan completed: linked
//   POST /api/logout         <- {device}  Socket.logout: unlinked upstream
//   POST /api/sent           <- {device, kind, to, id, ...} what the page
//        sent: a message (kind "msg", with its type, body, caption, media
//        fields, quoted id, mentions, location, vCard name), a reaction,
//        an edit, a revoke, a seen (sendSeen) or a chat state; group_create
//        (body: subject, participants added), group_add (one per
//        participant, with its code), group_remove / group_promote /
//        group_demote, group_set (prop, body or value), group_invite_reset,
//        group_join, group_leave, pushname, about, picture (type set with
//        size, width, height and id = the new tag, or delete),
//        presence_subscribe, call_reject (id, to, type voip or stanza)
//   POST /api/upload?device=D&type=T&mime=M  <- the bytes of an upload
//        -> {directPath, mediaKey}
//   GET  /api/media?path=P&key=K -> the bytes (404 unknown, 403 wrong key)
//   POST /api/event          <- {device, event}
//
// What of WhatsApp Web it reproduces, and what to re-check when WhatsApp
// Web or whatsapp-web.js move (module: what wad relies on):
//   WAWebSocketModel Socket (state, hasSynced, logout), WAWebConnModel
//     Conn (ref, pushname), WAWebCmd Cmd (refreshQR, logout events,
//     sendRevokeMsgs(chat, {list, type:"message"}, {clearMedia}) for
//     versions >= 2.3000, which sends the revoke under an id of its own
//     and re-keys the revoked message with it, its own id going to
//     protocolMessageKey), the QR registration modules.
//   WAWebCollections Chat (get) and Msg (get, getMessagesById -> {messages},
//     getModelsArray, events add / change:body / change:caption /
//     change:type re-triggered from the models, as Backbone collections do).
//   Message models: id (MsgKey: fromMe, remote, id, _serialized
//     "<fromMe>_<remote>_<id>"), type (chat, image, video, audio, ptt,
//     document, sticker, location, vcard, revoked), body (a media message's
//     body is its thumbnail), caption, mimetype, filename, size, filehash
//     (base64 SHA-256 of the plain bytes), directPath, mediaKey,
//     mediaData.mediaStage, quotedStanzaID, mentionedJidList,
//     latestEditMsgKey, unsafe(), msgContextInfo(chat), downloadMedia().
//   WAWebFindChatAction.findOrCreateLatestChat(wid) -> {chat}; WAWebMsgKey
//     (new MsgKey({from, to, id, participant, selfDir}), newId());
//     WAWebSendMsgChatAction.addAndSendMsgToChat(chat, msg) -> [added,
//     sent -> {messageSendResult}].
//   Media, as whatsapp-web.js's processMediaData uses it:
//     WAWebMediaOpaqueData (the class; createFromData(blob, mime), url,
//     autorelease, formData), WAWebPrepRawMedia.prepRawMedia(opaque,
//     {asSticker, asGif, isPtt, asDocument}) -> {waitForPrep() -> media
//     data model: type, filehash, mimetype, mediaBlob, preview, set,
//     toJSON}, WAWebMediaStorage.getOrCreateMediaObject(filehash)
//     (contentInfo, consolidate), WAWebMmsMediaTypes (msgToMediaType,
//     castToV4), WAWebMediaDataUtils.shouldUseMediaCache,
//     WAWebMediaInMemoryBlobCache.InMemoryMediaBlobCache.put,
//     WAWebMediaMmsV4Upload.uploadMedia({mimetype, mediaObject,
//     mediaType}) -> {mediaEntry: {mmsUrl, directPath, mediaKey,
//     encFilehash, uploadHash, ...}}; stickers as processStickerData:
//     WAWebUploadManager.encryptAndUpload({blob, type, signal, mediaKey,
//     uploadQpl}) with WAWebStartMediaUploadQpl.startMediaUploadQpl.
//   WAWebMsgReply.canReplyMsg; WAWebSendReactionMsgAction.sendReactionToMsg
//     (msg, text), which writes the reaction through
//     WAWebAddonReactionTableMode.reactionTableMode.bulkUpsert([{id,
//     reactionParentKey, reactionText, reactionTimestamp (ms), from,
//     author}]) like received reactions; WAWebMsgActionCapability
//     (canEditText, canEditCaption, canSenderRevokeMsg, canAdminRevokeMsg);
//     WAWebSendMessageEditAction.sendMessageEdit(msg, text, options);
//     WAWebUpdateUnreadChatAction.sendSeen({chat, threadId}) between
//     WAWebStreamModel Stream.markAvailable / markUnavailable;
//     WAWebChatStateBridge.sendChatState{Composing,Recording,Paused}(wid);
//     WAWebDownloadManager.downloadManager.downloadAndMaybeDecrypt({
//     directPath, encFilehash, filehash, mediaKey, mediaKeyTimestamp,
//     type, signal, downloadQpl}) -> ArrayBuffer (an error with status 404
//     when the media is gone).
//   Contacts, chats, groups, profile, presence and calls, as
//   whatsapp-web.js 1.34 uses them (and WhatsApp Web's own callers where
//   it has no API):
//   WAWebQueryExistsJob.queryWidExists(wid) -> null or {wid, biz}, which
//     teaches WAWebApiContact (getCurrentLid, getPhoneNumber,
//     getAlternateUserWid) and WAWebLidMigrationUtils (toPn, toUserLid)
//     the LID; WAWebContactCollection.ContactCollection (= WAWebCollections
//     .Contact: get, find, gadd; models id, name, shortName, pushname,
//     isBusiness, verifiedName; change:pushname); WAWebChatCollection
//     .ChatCollection (= Chat; models formattedTitle, t, unreadCount,
//     archive, pin, mute.expiration, muteExpiration, groupMetadata,
//     getTcToken, iAmAdmin); WAWebContactStatusBridge (getStatus({token,
//     wid}) -> {status}, setMyStatus(text) -> {status: 200});
//     WAWebContactProfilePicThumbBridge (requestProfilePicFromServer(chat
//     or contact model) -> {eurl, tag}, ServerStatusCodeError 404 when
//     there is no picture; sendSetPicture(wid,
//     thumbDataURL, fullDataURL) -> {status, tag, eurl};
//     requestDeletePicture(wid)); WAWebCollections.ProfilePicThumb (find;
//     models canSet, canDelete, tag; change:tag); Conn.canSetMyPushname,
//     WAWebSetPushnameConnAction.setPushname.
//   Groups: WAWebCollections.WAWebGroupMetadataCollection (models owner,
//     creation, subject, desc, descId, announce, restrict, participants: a
//     collection of {id, isAdmin, isSuperAdmin} with iAmAdmin, canRemove);
//     WAWebGroupCreateJob.createGroup(opts, [{phoneNumber}]) -> {wid,
//     subject, creator, ts, participants: [{wid, error, type, invite_code,
//     invite_code_exp}]}; WASmaxGroupsAddParticipantsRPC
//     .sendAddParticipantsRPC({participantArgs, iqTo}) with its nested
//     AddParticipantsResponseSuccess / ...ClientError answers;
//     WAWebWidToJid; WAWebModifyParticipantsGroupAction.{remove,promote,
//     demote}Participants(chat, participant models), which throw an
//     ActionError when not allowed; WAWebGroupQueryJob
//     .queryAndUpdateGroupMetadataById({id}), .queryGroupInvite(code);
//     WAWebGroupInviteJob.joinGroupViaInvite(code) -> {gid},
//     .resetGroupInviteCode(wid) -> {code}; WAWebMexFetchGroupInviteCodeJob
//     .fetchMexGroupInviteCode(id) -> {code}; WAWebGroupModifyInfoJob
//     .setGroupSubject(wid, s), .setGroupDescription(wid, d, newId, oldId);
//     WAWebSetPropertyGroupAction.setGroupProperty(chat, announcement |
//     restrict | member_add_mode, 0 | 1); WAWebExitGroupAction
//     .sendExitGroup(chat). Server refusals throw ServerStatusCodeError
//     with a status; group changes arrive as gp2 messages (subtype,
//     author, recipients).
//   Presence: WAWebPresenceCollection.PresenceCollection (gadd; models
//     isOnline, chatstate {type, t, deny} whose type change bubbles as
//     change:chatstate.type, chatstates per participant of a group);
//     WAWebContactPresenceBridge.subscribePresence(wid, tcToken); the
//     server pushes presence only to subscribers (chat states always).
//   Calls: WAWebCallCollection, the module's value being the collection
//     (models in its internal Map; add, remove, activeCall,
//     change:activeCall, setActiveCall, processIncomingCall; models id,
//     peerJid, isVideo, isGroup, outgoing); WAWebVoipStackInterface
//     .getVoipStackInterface() -> {rejectCall()} for the active call;
//     WAWap.wap / generateId / USER_JID and WADeprecatedSendIq
//     .deprecatedCastStanza for the reject stanza whatsapp-web.js casts
//     (its jids USER_JID objects of @s.whatsapp.net or @lid jids).
//     queryWidExists refuses LIDs (wad must not ask about them).
// It does not encrypt: uploads and downloads carry plain bytes, and the
// media key only has to match.
//
// As in WhatsApp Web, the login lives in the profile (localStorage) and a
// device stays in the phone's "Linked devices" until the page logs out
// (Socket.logout, what whatsapp-web.js's logout calls) or the phone
// unlinks it; a profile that is simply deleted stays linked.
// Variants (?variant=...): hang (never boots), reload (reloads once while
// the agent injects), missing-<Module> (that module is absent), slow
// (boots after 1.5 s), cold (the Store functions exist but throw when
// called until 3 s after the connection, as a page still warming up may).
(function () {
	'use strict';
	const params = new URLSearchParams(location.search);
	const variant = params.get('variant') || '';

	// A Backbone-like event emitter, the shape WhatsApp Web's models have.
	class Emitter {
		constructor() { Object.defineProperty(this, '_h', { value: {}, writable: true }); }
		on(names, fn) {
			for (const n of names.split(' ')) { (this._h[n] = this._h[n] || []).push(fn); }
			return this;
		}
		off(name, fn) { this._h[name] = (this._h[name] || []).filter((f) => f !== fn); return this; }
		once(name, fn) {
			const w = (...a) => { this.off(name, w); fn(...a); };
			return this.on(name, w);
		}
		trigger(name, ...args) { for (const f of (this._h[name] || []).slice()) { f(...args); } }
		set(attr, value) {
			if (typeof attr === 'object') {
				for (const k of Object.keys(attr)) { this.set(k, attr[k]); }
				return;
			}
			if (this[attr] === value) { return; }
			this[attr] = value;
			this.trigger('change:' + attr, this, value);
			this.trigger('change', this);
		}
	}

	let device = localStorage.getItem('fakeDevice');
	if (!device) {
		device = Math.random().toString(36).slice(2, 10);
		localStorage.setItem('fakeDevice', device);
	}
	const post = (path, body) => fetch(path, {
		method: 'POST', headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify(Object.assign({ device: device }, body)),
	});
	const report = (event) => post('/api/event', { event: event }).catch(() => {});
	// sent tells the server what the page sent; a refusal is an error.
	const sent = async (rec) => {
		const res = await post('/api/sent', rec);
		if (!res.ok) {
			throw new Error('server refused ' + rec.kind + ': ' + res.status);
		}
		return res;
	};
	const shape = (ok, what) => {
		if (!ok) {
			throw new TypeError('fake WhatsApp Web: bad arguments: ' + what);
		}
	};

	class Wid {
		constructor(s) {
			const i = s.indexOf('@');
			this.user = i < 0 ? s : s.slice(0, i);
			this.server = i < 0 ? 'c.us' : s.slice(i + 1);
			this._serialized = this.user + '@' + this.server;
		}
		isLid() { return this.server === 'lid'; }
		isGroup() { return this.server === 'g.us'; }
		toString() { return this._serialized; }
	}

	class Collection extends Emitter {
		constructor() { super(); this._m = new Map(); }
		get(id) { return this._m.get(typeof id === 'string' ? id : id && id._serialized); }
		add(model) {
			const key = model.id && model.id._serialized;
			this._m.set(key, model);
			if (model instanceof Model) {
				model._colls.push(this);
			}
			this.trigger('add', model, this);
			return [model];
		}
		getModelsArray() { return Array.from(this._m.values()); }
		replaceId(oldKey, newKey) {
			const model = this._m.get(oldKey._serialized);
			if (model) {
				this._m.delete(oldKey._serialized);
				this._m.set(newKey._serialized, model);
			}
		}
	}

	// A model re-triggers its events on the collections holding it.
	class Model extends Emitter {
		constructor(attrs) {
			super();
			Object.defineProperty(this, '_colls', { value: [], enumerable: false });
			Object.assign(this, attrs);
		}
		trigger(name, ...args) {
			super.trigger(name, ...args);
			for (const c of this._colls) { c.trigger(name, ...args); }
		}
	}

	class MsgModel extends Model {
		unsafe() { return this; }
		canReply() { return this.type !== 'revoked'; }
		serialize() { return Object.assign({}, this); }
		msgContextInfo(chat) {
			shape(chat && chat.id instanceof Wid, 'msgContextInfo(chat)');
			return {
				quotedMsg: { type: this.type, body: this.body },
				quotedStanzaID: this.id.id,
				quotedParticipant: this.author || this.from,
				quotedRemoteJid: this.id.remote,
			};
		}
		async downloadMedia(opts) {
			shape(opts && opts.downloadEvenIfExpensive === true, 'downloadMedia({downloadEvenIfExpensive, rmrReason})');
			if (this.mediaData) {
				this.mediaData.mediaStage = 'RESOLVED';
			}
		}
	}

	const Socket = new Emitter();
	Socket.state = 'OPENING';
	Socket.hasSynced = false;
	const Conn = new Emitter();
	Conn.ref = null;
	Conn.pushname = '';
	const Cmd = new Emitter();
	const Chat = new Collection();
	const Msg = new Collection();
	Msg.modelClass = MsgModel;
	Msg.getMessagesById = async (ids) => {
		shape(Array.isArray(ids), 'getMessagesById([ids])');
		return { messages: ids.map((id) => Msg.get(id)).filter(Boolean) };
	};
	let refN = 0;
	const nextRef = () => '2@fake-' + device + '-' + (++refN);
	Cmd.refreshQR = () => Conn.set('ref', nextRef());
	const Stream = { available: false };
	Stream.markAvailable = () => { Stream.available = true; };
	Stream.markUnavailable = () => { Stream.available = false; };

	const me = () => new Wid(localStorage.getItem('fakeMe') || '4900000000000@c.us');
	const loggedIn = () => localStorage.getItem('fakeLoggedIn') === '1';

	class MsgKey {
		constructor(o) {
			shape(o && o.to instanceof Wid && typeof o.id === 'string' && (o.selfDir === 'in' || o.selfDir === 'out'), 'new MsgKey({from, to, id, selfDir})');
			this.fromMe = o.selfDir === 'out';
			this.remote = o.to;
			this.id = o.id;
			this.participant = o.participant;
			this._serialized = this.fromMe + '_' + o.to._serialized + '_' + o.id +
				(o.participant && !this.fromMe ? '_' + o.participant._serialized : '');
		}
		toString() { return this._serialized; }
		static async newId() {
			const b = new Uint8Array(10);
			crypto.getRandomValues(b);
			return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
		}
	}

	const b64 = (u8) => btoa(String.fromCharCode(...u8));
	const keyBytes = (seed) => Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + seed) & 255);
	const sha256 = async (blob) => new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));

	const chatFor = (wid) => {
		let chat = Chat.get(wid);
		if (!chat) {
			chat = new ChatModel({ id: wid, msgs: new Collection(), unreadCount: 0, t: 0, archive: false, pin: 0, mute: { expiration: 0 }, muteExpiration: 0, formattedTitle: wid.user });
			Chat.add(chat);
		}
		return chat;
	};
	// findMsg finds a message by its bare id, as the phone names it.
	const findMsg = (id) => Msg.getModelsArray().find((m) => m.id.id === id);
	const addMsg = (chat, attrs) => {
		const m = attrs instanceof MsgModel ? attrs : new MsgModel(attrs);
		chat.msgs.add(m);
		Msg.add(m);
		return m;
	};

	// Media. OpaqueData wraps a Blob; uploads go to the server, which
	// keeps the bytes under a direct path for downloads.
	class OpaqueData {
		constructor(blob) { this._blob = blob; this.type = blob.type; this.size = blob.size; }
		// A File keeps its name (a document's file name comes from it).
		static async createFromData(data, mime) {
			shape(data instanceof Blob && typeof mime === 'string', 'OpaqueData.createFromData(blob, mimetype)');
			return new OpaqueData(data.type === mime ? data : new File([data], data.name || '', { type: mime }));
		}
		url() { return URL.createObjectURL(this._blob); }
		autorelease() { this._released = true; }
		formData() { return this._blob; }
	}
	const upload = async (blob, type, mime) => {
		const res = await fetch('/api/upload?device=' + device + '&type=' + encodeURIComponent(type) + '&mime=' + encodeURIComponent(mime), {
			method: 'POST', body: blob,
		});
		if (!res.ok) {
			throw new Error('upload refused: ' + res.status);
		}
		return res.json();
	};
	class MediaData extends Model {
		toJSON() { return Object.assign({}, this); }
	}
	const mediaObjects = new Map();
	const blobCache = new Map();
	const mediaTypes = {
		msgToMediaType: (o) => {
			shape(o && typeof o.type === 'string' && 'isGif' in o && 'isNewsletter' in o, 'msgToMediaType({type, isGif, isNewsletter})');
			return o.isGif ? 'gif' : o.type;
		},
		castToV4: (t) => t,
	};

	const modules = {
		WAWebSocketModel: { Socket: Socket },
		WAWebConnModel: { Conn: Conn },
		WAWebCmd: { Cmd: Cmd },
		WAWebCollections: { Chat: Chat, Msg: Msg },
		WAWebWidFactory: {
			createWid: (s) => new Wid(s),
			asUserWidOrThrow: (w) => { shape(w instanceof Wid && !w.isGroup(), 'asUserWidOrThrow(user wid)'); return w; },
		},
		WAWebFindChatAction: {
			findOrCreateLatestChat: async (wid) => {
				shape(wid instanceof Wid, 'findOrCreateLatestChat(wid)');
				return { chat: chatFor(wid), created: true };
			},
		},
		WAWebMsgKey: MsgKey,
		WAWebGetEphemeralFieldsMsgActionsUtils: { getEphemeralFields: () => ({}) },
		WAWebSendMsgChatAction: {
			addAndSendMsgToChat: (chat, msg) => {
				shape(chat && chat.msgs instanceof Collection && msg && msg.id instanceof MsgKey, 'addAndSendMsgToChat(chat, msg)');
				const added = Promise.resolve().then(() => addMsg(chat, msg));
				const done = added.then(() => {
					const rec = {
						kind: 'msg', to: chat.id._serialized, id: msg.id.id, from: msg.from._serialized, type: msg.type,
						caption: msg.caption, mimetype: msg.mimetype, filename: msg.filename, filehash: msg.filehash,
						directPath: msg.directPath, size: msg.size, quoted: msg.quotedStanzaID,
						mentions: (msg.mentionedJidList || []).map((w) => w._serialized),
						lat: msg.lat, lng: msg.lng, loc: msg.loc, vcardName: msg.vcardFormattedName,
						waveform: msg.waveform ? msg.waveform.length : 0,
					};
					if (msg.type === 'chat' || msg.type === 'vcard') {
						rec.body = msg.body;
					}
					return post('/api/sent', rec);
				}).then((res) => ({ messageSendResult: res.ok ? 'OK' : 'ERROR_' + res.status }));
				return [added, done];
			},
		},
		WAWebUserPrefsMeUser: { getMaybeMePnUser: () => (loggedIn() ? me() : null), getMaybeMeLidUser: () => null },
		WAWebSignalStoreApi: { waSignalStore: { getRegistrationInfo: async () => ({ identityKeyPair: { pubKey: keyBytes(2) } }) } },
		WAWebUserPrefsInfoStore: { waNoiseInfo: { get: async () => ({ staticKeyPair: { pubKey: keyBytes(1) } }) } },
		WAWebAdvSignatureApi: { getADVSecretKey: async () => b64(keyBytes(3)) },
		WAWebCompanionRegClientUtils: { DEVICE_PLATFORM: 'Chrome' },
		WABase64: { encodeB64: b64 },

		WAWebMediaOpaqueData: OpaqueData,
		WAWebPrepRawMedia: {
			prepRawMedia: (opaque, p) => {
				shape(opaque instanceof OpaqueData && p && 'isPtt' in p && 'asDocument' in p && 'asSticker' in p && 'asGif' in p,
					'prepRawMedia(opaqueData, {asSticker, asGif, isPtt, asDocument})');
				return {
					waitForPrep: async () => {
						const mime = opaque.type;
						let type = 'document';
						if (p.asDocument) {
							type = 'document';
						} else if (mime.startsWith('audio/')) {
							type = p.isPtt ? 'ptt' : 'audio';
						} else if (mime.startsWith('image/')) {
							type = 'image';
						} else if (mime.startsWith('video/')) {
							type = 'video';
						}
						return new MediaData({
							type: type, isGif: false, mimetype: mime, size: opaque.size,
							filename: type === 'document' ? opaque._blob.name : undefined,
							filehash: b64(await sha256(opaque._blob)), mediaBlob: opaque._blob,
							preview: type === 'image' || type === 'video' ? 'fake-thumbnail' : undefined,
						});
					},
				};
			},
		},
		WAWebMediaStorage: {
			getOrCreateMediaObject: (filehash) => {
				shape(typeof filehash === 'string' && filehash.length > 0, 'getOrCreateMediaObject(filehash)');
				let o = mediaObjects.get(filehash);
				if (!o) {
					o = { filehash: filehash, contentInfo: {}, consolidate(json) { Object.assign(this, json); } };
					mediaObjects.set(filehash, o);
				}
				return o;
			},
		},
		WAWebMmsMediaTypes: mediaTypes,
		WAWebMediaDataUtils: { shouldUseMediaCache: (t) => t === 'image' || t === 'sticker' },
		WAWebMediaInMemoryBlobCache: { InMemoryMediaBlobCache: { put: (hash, data) => { blobCache.set(hash, data); } } },
		WAWebMediaMmsV4Upload: {
			uploadMedia: async (o) => {
				shape(o && typeof o.mimetype === 'string' && o.mediaObject && o.mediaObject.mediaBlob instanceof OpaqueData &&
					typeof o.mediaType === 'string', 'uploadMedia({mimetype, mediaObject (consolidated), mediaType})');
				const blob = o.mediaObject.mediaBlob._blob;
				const up = await upload(blob, o.mediaType, o.mimetype);
				return {
					mediaEntry: {
						mmsUrl: 'https://mmg.fake.test' + up.directPath, deprecatedMms3Url: 'https://mmg.fake.test' + up.directPath,
						directPath: up.directPath, mediaKey: up.mediaKey, mediaKeyTimestamp: Math.floor(Date.now() / 1000),
						encFilehash: b64(await sha256(blob)), uploadHash: b64(await sha256(blob)),
					},
				};
			},
		},
		WAWebStartMediaUploadQpl: { startMediaUploadQpl: (o) => { shape(o && o.entryPoint, 'startMediaUploadQpl({entryPoint})'); return { qpl: true }; } },
		WAWebUploadManager: {
			encryptAndUpload: async (o) => {
				shape(o && o.blob instanceof Blob && typeof o.type === 'string' && o.signal instanceof AbortSignal &&
					typeof o.mediaKey === 'string' && o.uploadQpl, 'encryptAndUpload({blob, type, signal, mediaKey, uploadQpl})');
				const up = await upload(o.blob, o.type, o.blob.type);
				const hash = b64(await sha256(o.blob));
				return {
					url: 'https://mmg.fake.test' + up.directPath, directPath: up.directPath, mediaKey: up.mediaKey,
					mediaKeyTimestamp: Math.floor(Date.now() / 1000), encFilehash: hash,
				};
			},
		},
		WAWebMsgReply: { canReplyMsg: (m) => { shape(m instanceof MsgModel, 'canReplyMsg(msg)'); return m.type !== 'revoked'; } },
		WAWebAddonReactionTableMode: { reactionTableMode: { bulkUpsert: async (recs) => { shape(Array.isArray(recs), 'bulkUpsert([records])'); } } },
		WAWebSendReactionMsgAction: {
			sendReactionToMsg: async (msg, text) => {
				shape(msg instanceof MsgModel && typeof text === 'string', 'sendReactionToMsg(msg, reactionText)');
				const key = new MsgKey({ from: me(), to: msg.id.remote, id: await MsgKey.newId(), selfDir: 'out' });
				// Looked up at call time, as WhatsApp Web's code does, so
				// wrappers of bulkUpsert see it.
				await modules.WAWebAddonReactionTableMode.reactionTableMode.bulkUpsert([{
					id: key, reactionParentKey: msg.id, reactionText: text, reactionTimestamp: Date.now(),
					from: me(), type: 'reaction', read: true, ack: 0,
				}]);
				await sent({ kind: 'reaction', to: msg.id.remote._serialized, id: key.id, target: msg.id.id, emoji: text });
			},
		},
		WAWebMsgActionCapability: {
			canEditText: (m) => m.id.fromMe && m.type === 'chat',
			canEditCaption: (m) => m.id.fromMe && ['image', 'video', 'document'].includes(m.type) && !!m.caption,
			canSenderRevokeMsg: (m) => m.id.fromMe && m.type !== 'revoked',
			canAdminRevokeMsg: () => false,
		},
		WAWebSendMessageEditAction: {
			sendMessageEdit: async (msg, text, opts) => {
				shape(msg instanceof MsgModel && typeof text === 'string' && opts && typeof opts === 'object', 'sendMessageEdit(msg, text, options)');
				const key = new MsgKey({ from: me(), to: msg.id.remote, id: await MsgKey.newId(), selfDir: 'out' });
				msg.latestEditMsgKey = key;
				msg.latestEditSenderTimestampMs = Date.now();
				msg.set(msg.type === 'chat' ? 'body' : 'caption', text);
				await sent({ kind: 'edit', to: msg.id.remote._serialized, id: key.id, target: msg.id.id, body: text });
			},
		},
		WAWebUpdateUnreadChatAction: {
			sendSeen: async (o) => {
				shape(o && o.chat && o.chat.id instanceof Wid && 'threadId' in o, 'sendSeen({chat, threadId})');
				if (!Stream.available) {
					throw new Error('sendSeen while the stream is unavailable');
				}
				o.chat.unreadCount = 0;
				await sent({ kind: 'seen', to: o.chat.id._serialized });
			},
		},
		WAWebStreamModel: { Stream: Stream },
		WAWebChatStateBridge: {},
		WAWebDownloadManager: {
			downloadManager: {
				async downloadAndMaybeDecrypt(o) {
					shape(this === modules.WAWebDownloadManager.downloadManager, 'downloadAndMaybeDecrypt called on downloadManager');
					shape(o && typeof o.directPath === 'string' && typeof o.mediaKey === 'string' && typeof o.type === 'string' &&
						typeof o.filehash === 'string' && o.signal instanceof AbortSignal && o.downloadQpl && typeof o.downloadQpl.addPoint === 'function',
						'downloadAndMaybeDecrypt({directPath, encFilehash, filehash, mediaKey, mediaKeyTimestamp, type, signal, downloadQpl})');
					const res = await fetch('/api/media?path=' + encodeURIComponent(o.directPath) + '&key=' + encodeURIComponent(o.mediaKey));
					if (!res.ok) {
						const e = new Error('download failed: ' + res.status);
						e.status = res.status;
						throw e;
					}
					return res.arrayBuffer();
				},
			},
		},
	};
	for (const [fn, state] of [['sendChatStateComposing', 'composing'], ['sendChatStateRecording', 'recording'], ['sendChatStatePaused', 'paused']]) {
		modules.WAWebChatStateBridge[fn] = async (wid) => {
			shape(wid instanceof Wid, fn + '(wid)');
			await sent({ kind: 'chatstate', to: wid._serialized, state: state });
		};
	}
	Cmd.sendRevokeMsgs = async (chat, what, opts) => {
		shape(chat && chat.id instanceof Wid && what && Array.isArray(what.list) && what.type === 'message' && opts && 'clearMedia' in opts,
			'sendRevokeMsgs(chat, {list, type: "message"}, {clearMedia})');
		for (const m of what.list) {
			shape(m instanceof MsgModel, 'sendRevokeMsgs: list of messages');
			const revokeId = await MsgKey.newId();
			await sent({ kind: 'revoke', to: chat.id._serialized, id: revokeId, target: m.id.id });
			// As WAWebRevokeMsgAction does once the revoke is sent: the
			// message goes under the revoke's id, keeping its own in
			// protocolMessageKey.
			const old = m.id;
			const key = new MsgKey({ to: old.remote, id: revokeId, participant: old.participant, selfDir: old.fromMe ? 'out' : 'in' });
			for (const c of m._colls) { c.replaceId(old, key); }
			m.set({ protocolMessageKey: old, id: key, type: 'revoked' });
		}
	};
	Cmd.sendDeleteMsgs = async () => {
		throw new Error('fake WhatsApp Web: wad must never delete for this device only');
	};

	// Contacts, chats, groups, profile, presence and calls. The server's
	// directory (GET /api/directory) says who is on WhatsApp, their LID,
	// names, about, picture, privacy and the invite codes it knows; the
	// page asks it wherever WhatsApp Web would query the server.
	const directory = async () => {
		const res = await fetch('/api/directory?device=' + device);
		if (!res.ok) {
			throw new Error('directory: ' + res.status);
		}
		return res.json();
	};
	const serverError = (status, text) => Object.assign(new Error(text || ('server error ' + status)), { name: 'ServerStatusCodeError', status: status });
	class ActionError extends Error {
		constructor(m) { super(m); this.name = 'ActionError'; }
	}
	// The LID <-> phone number mappings WhatsApp Web has learnt.
	const lidOfPn = new Map();
	const pnOfLid = new Map();
	const learn = (pn, lid) => {
		if (pn && lid) {
			lidOfPn.set(pn, lid);
			pnOfLid.set(lid, pn);
		}
	};
	const userOf = (dir, w) => {
		if (w.server === 'lid') {
			for (const [digits, u] of Object.entries(dir.users || {})) {
				if (u.lid === w._serialized) {
					return [digits, u];
				}
			}
			return [null, null];
		}
		return [w.user, (dir.users || {})[w.user] || null];
	};
	// widOfJid turns a jid (as WAWebWidToJid makes them) back into a wid.
	const widOfJid = (j) => new Wid(String(j).replace(/@s\.whatsapp\.net$/, '@c.us'));

	class ContactModel extends Model {
		serialize() { return Object.assign({}, this); }
	}
	const Contact = new Collection();
	Contact.find = async (wid) => {
		shape(wid instanceof Wid, 'ContactCollection.find(wid)');
		return Contact.get(wid) || Contact.add(new ContactModel({ id: wid }))[0];
	};
	Contact.gadd = (wid) => Contact.get(wid) || Contact.add(new ContactModel({ id: wid }))[0];

	class ChatModel extends Model {
		getTcToken() { return this.tcToken; }
		iAmAdmin() { return !!(this.groupMetadata && this.groupMetadata.participants.iAmAdmin()); }
		serialize() { return Object.assign({}, this); }
	}

	class ParticipantModel extends Model {}
	class Participants extends Collection {
		iAmAdmin() {
			const p = this.get(me());
			return !!(p && (p.isAdmin || p.isSuperAdmin));
		}
		canRemove(p) { return this.iAmAdmin() && !p.isSuperAdmin; }
		serialize() { return this.getModelsArray().map((p) => ({ id: p.id, isAdmin: p.isAdmin, isSuperAdmin: p.isSuperAdmin })); }
	}
	const GroupMetadata = new Collection();
	let groupN = 0;
	// makeGroup holds a group's metadata and chat as WhatsApp Web does.
	const makeGroup = (gid, subject, owner, members) => {
		const parts = new Participants();
		for (const m of members) {
			parts.add(new ParticipantModel({ id: m.id, isAdmin: !!m.isAdmin, isSuperAdmin: !!m.isSuperAdmin }));
		}
		const meta = new Model({
			id: gid, subject: subject, owner: owner, creation: Math.floor(Date.now() / 1000), desc: '', descId: undefined,
			announce: false, restrict: false, memberAddMode: 'admin_add', isLidAddressingMode: false, participants: parts,
		});
		const old = GroupMetadata.get(gid);
		if (old) {
			GroupMetadata._m.delete(gid._serialized);
		}
		GroupMetadata.add(meta);
		const chat = chatFor(gid);
		chat.groupMetadata = meta;
		chat.formattedTitle = subject;
		chat.t = meta.creation;
		return meta;
	};
	const metaOf = (wid) => {
		const meta = GroupMetadata.get(wid);
		if (!meta) {
			throw serverError(404, 'item-not-found');
		}
		return meta;
	};
	const gp2 = async (gid, subtype, author, recipients, body) => {
		const key = new MsgKey({ to: gid, id: await MsgKey.newId(), participant: author, selfDir: 'in' });
		addMsg(chatFor(gid), new MsgModel({
			id: key, from: gid, author: author, to: me(), type: 'gp2', subtype: subtype, body: body,
			recipients: recipients, t: Math.floor(Date.now() / 1000), isNewMsg: true,
		}));
	};
	const inviteCodes = new Map(); // group -> code
	const newCode = () => 'Fk' + Math.random().toString(36).slice(2, 12) + 'Zz';

	const ProfilePicThumb = new Collection();
	class PicModel extends Model {
		canSet() { return this.id._serialized === me()._serialized || (this.id.isGroup() && !!GroupMetadata.get(this.id)); }
		canDelete() { return this.canSet() && !!this.tag; }
	}
	ProfilePicThumb.find = async (wid) => {
		shape(wid instanceof Wid, 'ProfilePicThumb.find(wid)');
		return ProfilePicThumb.get(wid) || ProfilePicThumb.add(new PicModel({ id: wid, tag: '' }))[0];
	};
	let myPicture = '';
	const groupPics = new Map(); // the server's group pictures: group -> tag

	class PresenceModel extends Model {}
	const Presence = new Collection();
	Presence.gadd = (wid) => {
		shape(wid instanceof Wid, 'PresenceCollection.gadd(wid)');
		let p = Presence.get(wid);
		if (!p) {
			const cs = new Model({ id: wid, type: 'unavailable', t: undefined, deny: false });
			p = new PresenceModel({ id: wid, isOnline: false, hasData: false, isSubscribed: false, chatstate: cs, chatstates: new Collection() });
			// The child's change bubbles as change:chatstate.type.
			cs.on('change:type', (m, v) => p.trigger('change:chatstate.type', m, v));
			Presence.add(p);
		}
		return p;
	};

	// Calls: the module's value is the collection; models are kept in its
	// internal Map.
	class CallModel extends Model {
		getState() { return this.state; }
	}
	const Call = new Collection();
	Call.activeCall = null;
	Call.remove = (call) => {
		Call._m.delete(call.id);
		Call.trigger('remove', call, Call);
	};
	Call.setActiveCall = (call) => {
		shape(call === null || call instanceof CallModel, 'setActiveCall(call)');
		Call.set('activeCall', call);
	};
	Call.processIncomingCall = (call) => {
		shape(call instanceof CallModel, 'processIncomingCall(call)');
		Call._m.set(call.id, call);
		call._colls.push(Call);
		Call.trigger('add', call, Call);
		Call.setActiveCall(call);
	};
	Call.get = (id) => Call._m.get(id);
	const endCall = (id) => {
		const call = Call.get(id) || (Call.activeCall && Call.activeCall.id === id ? Call.activeCall : null);
		if (!call) {
			return;
		}
		if (Call.activeCall === call) {
			Call.setActiveCall(null);
		}
		if (Call.get(id)) {
			Call.remove(call);
		}
	};

	// WapJid is what WAWap's jid constructors (USER_JID) make.
	class WapJid {
		constructor(j) { this.jid = j; }
		toString() { return this.jid; }
	}
	const W2J = {
		widToUserJid: (w) => { shape(w instanceof Wid && !w.isGroup(), 'widToUserJid(user wid)'); return w.server === 'lid' ? w._serialized : w.user + '@s.whatsapp.net'; },
		widToGroupJid: (w) => { shape(w instanceof Wid && w.isGroup(), 'widToGroupJid(group wid)'); return w._serialized; },
	};

	Object.assign(modules, {
		WAWebQueryExistsJob: {
			queryWidExists: async (wid) => {
				shape(wid instanceof Wid && !wid.isGroup(), 'queryWidExists(user wid)');
				if (wid.isLid()) {
					// A LID is on WhatsApp by definition: wad has no reason
					// to ask, and the answer would not give it the number.
					throw new Error('fake WhatsApp Web: wad must not ask whether a LID (' + wid._serialized + ') is on WhatsApp');
				}
				const dir = await directory();
				const [digits, u] = userOf(dir, wid);
				if (!u) {
					return null;
				}
				const pn = new Wid(digits + '@c.us');
				if (u.lid) {
					learn(pn._serialized, u.lid);
				}
				if (u.biz) {
					const c = Contact.gadd(pn);
					c.set({ isBusiness: true, verifiedName: u.bizName || '' });
				}
				return { wid: pn, biz: !!u.biz, isUsernameSearch: false };
			},
		},
		WAWebApiContact: {
			getCurrentLid: (w) => { shape(w instanceof Wid, 'getCurrentLid(wid)'); const l = lidOfPn.get(w._serialized); return l ? new Wid(l) : null; },
			getPhoneNumber: (w) => { shape(w instanceof Wid, 'getPhoneNumber(wid)'); const p = pnOfLid.get(w._serialized); return p ? new Wid(p) : null; },
			getAlternateUserWid: (w) => {
				shape(w instanceof Wid, 'getAlternateUserWid(wid)');
				const o = w.isLid() ? pnOfLid.get(w._serialized) : lidOfPn.get(w._serialized);
				return o ? new Wid(o) : null;
			},
		},
		WAWebLidMigrationUtils: {
			toPn: (w) => { shape(w instanceof Wid, 'toPn(wid)'); if (!w.isLid()) { return w; } const p = pnOfLid.get(w._serialized); return p ? new Wid(p) : null; },
			toUserLid: (w) => { shape(w instanceof Wid, 'toUserLid(wid)'); if (w.isLid()) { return w; } const l = lidOfPn.get(w._serialized); return l ? new Wid(l) : null; },
		},
		WAWebContactCollection: { ContactCollection: Contact },
		WAWebChatCollection: { ChatCollection: Chat },
		WAWebContactStatusBridge: {
			getStatus: async (o) => {
				shape(o && o.wid instanceof Wid && 'token' in o, 'getStatus({token, wid})');
				if (o.wid._serialized === me()._serialized) {
					return { status: localStorage.getItem('fakeAbout') || '' };
				}
				const [, u] = userOf(await directory(), o.wid);
				return u && u.about ? { status: u.about } : {};
			},
			setMyStatus: async (text) => {
				shape(typeof text === 'string', 'setMyStatus(text)');
				await sent({ kind: 'about', body: text });
				localStorage.setItem('fakeAbout', text);
				return { status: 200 };
			},
		},
		WAWebContactProfilePicThumbBridge: {
			// As the real one: it takes a chat (or contact) model, and a
			// person without a picture, or hiding it, is a server error.
			requestProfilePicFromServer: async (o) => {
				shape((o instanceof ChatModel || o instanceof ContactModel) && o.id instanceof Wid, 'requestProfilePicFromServer(chat or contact model)');
				let tag = '';
				if (o.id._serialized === me()._serialized) {
					tag = myPicture;
				} else if (o.id.isGroup()) {
					tag = groupPics.get(o.id._serialized) || '';
				} else {
					const [, u] = userOf(await directory(), o.id);
					tag = (u && u.pic) || '';
				}
				if (!tag) {
					throw serverError(404, 'item-not-found');
				}
				return { id: o.id, tag: tag, eurl: 'https://pps.fake.test/v/' + o.id.user + '/' + tag + '.jpg?oe=1', stale: false, eurlStale: false };
			},
			sendSetPicture: async (wid, thumb, full) => {
				shape(wid instanceof Wid && typeof thumb === 'string' && typeof full === 'string' && full.startsWith('data:image/jpeg;base64,'),
					'sendSetPicture(wid, thumbDataURL, fullDataURL)');
				const bytes = atob(full.slice(full.indexOf(',') + 1));
				const img = await createImageBitmap(new Blob([Uint8Array.from(bytes, (c) => c.charCodeAt(0))], { type: 'image/jpeg' }));
				const tag = String(Date.now());
				await sent({ kind: 'picture', to: wid._serialized, type: 'set', size: bytes.length, width: img.width, height: img.height, id: tag });
				if (wid._serialized === me()._serialized) {
					myPicture = tag;
				} else if (wid.isGroup()) {
					groupPics.set(wid._serialized, tag);
				}
				(await ProfilePicThumb.find(wid)).set('tag', tag);
				return { status: 200, tag: tag, eurl: 'https://pps.fake.test/v/' + wid.user + '/' + tag + '.jpg' };
			},
			requestDeletePicture: async (wid) => {
				shape(wid instanceof Wid, 'requestDeletePicture(wid)');
				await sent({ kind: 'picture', to: wid._serialized, type: 'delete' });
				if (wid._serialized === me()._serialized) {
					myPicture = '';
				}
				(await ProfilePicThumb.find(wid)).set('tag', '');
				return { status: 200 };
			},
		},
		WAWebSetPushnameConnAction: {
			setPushname: async (name) => {
				shape(typeof name === 'string', 'setPushname(name)');
				await sent({ kind: 'pushname', body: name });
				Conn.set('pushname', name);
			},
		},
		WAWebGroupCreateJob: {
			createGroup: async (opts, parts) => {
				shape(opts && typeof opts.title === 'string' && 'announce' in opts && 'restrict' in opts && 'memberAddMode' in opts &&
					Array.isArray(parts) && parts.every((p) => p && p.phoneNumber instanceof Wid), 'createGroup({title, announce, restrict, memberAddMode, ...}, [{phoneNumber}])');
				const dir = await directory();
				const gid = new Wid('1203630' + String(Date.now()).slice(-8) + String(++groupN).padStart(3, '0') + '@g.us');
				const out = [{ wid: me(), error: null, type: 'superadmin' }];
				const members = [{ id: me(), isAdmin: true, isSuperAdmin: true }];
				const added = [];
				for (const p of parts) {
					const [, u] = userOf(dir, p.phoneNumber);
					if (!u) {
						out.push({ wid: p.phoneNumber, error: 404 });
					} else if (u.privacy) {
						out.push({ wid: p.phoneNumber, error: 403, type: 'participant', invite_code: newCode(), invite_code_exp: String(Math.floor(Date.now() / 1000) + 7 * 86400) });
					} else {
						out.push({ wid: p.phoneNumber, error: null, type: 'participant' });
						members.push({ id: p.phoneNumber });
						added.push(p.phoneNumber._serialized);
					}
				}
				await sent({ kind: 'group_create', to: gid._serialized, body: opts.title, participants: added });
				const meta = makeGroup(gid, opts.title, me(), members);
				meta.announce = !!opts.announce;
				meta.restrict = !!opts.restrict;
				await gp2(gid, 'create', me(), [], opts.title);
				return { wid: gid, subject: opts.title, creator: me(), ts: meta.creation, participants: out, invitedOutContacts: [] };
			},
		},
		WAWebWidToJid: W2J,
		WAWebJidToWid: { userJidToUserWid: widOfJid, groupJidToWid: (j) => new Wid(j) },
		WASmaxGroupsAddParticipantsRPC: {
			sendAddParticipantsRPC: async (o) => {
				shape(o && typeof o.iqTo === 'string' && o.iqTo.endsWith('@g.us') && Array.isArray(o.participantArgs) &&
					o.participantArgs.every((a) => a && typeof a.participantJid === 'string' && /@(s\.whatsapp\.net|lid)$/.test(a.participantJid)),
				'sendAddParticipantsRPC({participantArgs: [{participantJid}], iqTo})');
				const gid = new Wid(o.iqTo);
				const meta = GroupMetadata.get(gid);
				if (!meta) {
					return { name: 'AddParticipantsResponseClientError', value: { errorAddParticipantsClientErrors: { name: 'ItemNotFound', value: { code: '404', text: 'item-not-found' } } } };
				}
				if (!meta.participants.iAmAdmin()) {
					return { name: 'AddParticipantsResponseClientError', value: { errorAddParticipantsClientErrors: { name: 'NotAuthorized', value: { code: '401', text: 'not-authorized' } } } };
				}
				const dir = await directory();
				const results = [];
				for (const a of o.participantArgs) {
					const w = widOfJid(a.participantJid);
					const [, u] = userOf(dir, w);
					if (u && u.addError) {
						// The server fails the whole query.
						throw serverError(u.addError, 'internal-server-error');
					}
					let value;
					let name = 'ParticipantAdded';
					if (!u) {
						value = { error: '404' };
						name = 'ParticipantNotRegistered';
					} else if (meta.participants.get(w)) {
						value = { error: '409' };
					} else if (u.privacy) {
						value = { error: '403', addRequestCode: newCode(), addRequestExpiration: Math.floor(Date.now() / 1000) + 7 * 86400 };
						name = 'ParticipantRequestCodeCanBeSent';
					} else {
						value = {};
						meta.participants.add(new ParticipantModel({ id: w, isAdmin: false, isSuperAdmin: false }));
					}
					await sent({ kind: 'group_add', to: gid._serialized, participants: [w._serialized], code: Number(value.error || 200) });
					results.push({
						participantJid: a.participantJid,
						addParticipantsParticipantAddedOrNonRegisteredWaUserParticipantErrorLidResponseMixinGroup: {
							name: 'AddParticipantsParticipantAddedOrNonRegisteredWaUserParticipantErrorLidResponseMixinGroup',
							value: { addParticipantsParticipantMixins: { name: name, value: value } },
						},
					});
				}
				return { name: 'AddParticipantsResponseSuccess', value: { addParticipant: results } };
			},
		},
		WAWebModifyParticipantsGroupAction: {},
		WAWebGroupQueryJob: {
			queryAndUpdateGroupMetadataById: async (o) => {
				shape(o && (typeof o.id === 'string' || o.id instanceof Wid), 'queryAndUpdateGroupMetadataById({id})');
				const meta = metaOf(new Wid(String(o.id)));
				if (!meta.participants.get(me())) {
					throw serverError(403, 'forbidden');
				}
				return meta;
			},
			queryGroupInvite: async (code) => {
				shape(typeof code === 'string', 'queryGroupInvite(code)');
				const inv = ((await directory()).invites || {})[code];
				if (!inv) {
					throw serverError(404, 'item-not-found');
				}
				return { id: new Wid(inv.group), subject: inv.subject, size: (inv.participants || []).length };
			},
		},
		WAWebGroupInviteJob: {
			joinGroupViaInvite: async (code) => {
				shape(typeof code === 'string', 'joinGroupViaInvite(code)');
				const inv = ((await directory()).invites || {})[code];
				if (!inv) {
					throw serverError(404, 'item-not-found');
				}
				const gid = new Wid(inv.group);
				await sent({ kind: 'group_join', to: gid._serialized, body: code });
				const members = (inv.participants || []).map((p, i) => ({ id: new Wid(p), isAdmin: i === 0, isSuperAdmin: i === 0 }));
				members.push({ id: me() });
				makeGroup(gid, inv.subject, new Wid(inv.participants[0]), members);
				await gp2(gid, 'invite', me(), [me()], '');
				return { gid: gid };
			},
			resetGroupInviteCode: async (wid) => {
				shape(wid instanceof Wid && wid.isGroup(), 'resetGroupInviteCode(group wid)');
				const meta = metaOf(wid);
				if (!meta.participants.iAmAdmin()) {
					throw serverError(401, 'not-authorized');
				}
				const code = newCode();
				inviteCodes.set(wid._serialized, code);
				await sent({ kind: 'group_invite_reset', to: wid._serialized, body: code });
				return { code: code };
			},
		},
		WAWebMexFetchGroupInviteCodeJob: {
			fetchMexGroupInviteCode: async (id) => {
				shape(typeof id === 'string' && id.endsWith('@g.us'), 'fetchMexGroupInviteCode(group id string)');
				const meta = metaOf(new Wid(id));
				if (!meta.participants.iAmAdmin()) {
					throw serverError(401, 'not-authorized');
				}
				if (!inviteCodes.has(id)) {
					inviteCodes.set(id, newCode());
				}
				return { code: inviteCodes.get(id) };
			},
		},
		WAWebGroupModifyInfoJob: {
			setGroupSubject: async (wid, subject) => {
				shape(wid instanceof Wid && wid.isGroup() && typeof subject === 'string', 'setGroupSubject(group wid, subject)');
				const meta = metaOf(wid);
				if (meta.restrict && !meta.participants.iAmAdmin()) {
					throw serverError(401, 'not-authorized');
				}
				await sent({ kind: 'group_set', to: wid._serialized, prop: 'subject', body: subject });
				meta.set('subject', subject);
				chatFor(wid).formattedTitle = subject;
			},
			setGroupDescription: async (wid, desc, newId, oldId) => {
				shape(wid instanceof Wid && wid.isGroup() && typeof desc === 'string' && typeof newId === 'string' && (oldId === undefined || typeof oldId === 'string'),
					'setGroupDescription(group wid, description, newId, oldDescId)');
				const meta = metaOf(wid);
				if (meta.descId !== oldId) {
					throw serverError(409, 'conflict');
				}
				await sent({ kind: 'group_set', to: wid._serialized, prop: 'description', body: desc });
				meta.set({ desc: desc, descId: newId });
			},
		},
		WAWebSetPropertyGroupAction: {
			setGroupProperty: async (chat, prop, value) => {
				shape(chat instanceof ChatModel && ['announcement', 'restrict', 'member_add_mode'].includes(prop) && (value === 0 || value === 1),
					'setGroupProperty(chat, announcement|restrict|member_add_mode, 0|1)');
				const meta = metaOf(chat.id);
				if (!meta.participants.iAmAdmin()) {
					throw serverError(401, 'not-authorized');
				}
				await sent({ kind: 'group_set', to: chat.id._serialized, prop: prop, value: value });
				if (prop === 'announcement') {
					meta.set('announce', value === 1);
				} else if (prop === 'restrict') {
					meta.set('restrict', value === 1);
				}
			},
		},
		WAWebExitGroupAction: {
			sendExitGroup: async (chat) => {
				shape(chat instanceof ChatModel && chat.id.isGroup(), 'sendExitGroup(group chat)');
				const meta = metaOf(chat.id);
				await sent({ kind: 'group_leave', to: chat.id._serialized });
				meta.participants._m.delete(me()._serialized);
				await gp2(chat.id, 'leave', me(), [me()], '');
			},
		},
		WAWebPresenceCollection: { PresenceCollection: Presence },
		WAWebContactPresenceBridge: {
			subscribePresence: async (wid, tcToken) => {
				shape(wid instanceof Wid && !wid.isGroup() && (tcToken === undefined || typeof tcToken === 'string'), 'subscribePresence(wid, tcToken)');
				await sent({ kind: 'presence_subscribe', to: wid._serialized });
				Presence.gadd(wid).set('isSubscribed', true);
			},
		},
		WAWebCallCollection: Call,
		WAWebVoipStackInterface: {
			getVoipStackInterface: async () => ({
				rejectCall: async () => {
					const call = Call.activeCall;
					shape(call, 'rejectCall() without an active call');
					await sent({ kind: 'call_reject', id: call.id, to: call.peerJid._serialized, type: 'voip' });
					setTimeout(() => endCall(call.id), 50);
				},
			}),
		},
		WAWap: {
			wap: (tag, attrs, content) => { shape(typeof tag === 'string' && attrs && typeof attrs === 'object', 'wap(tag, attrs, content)'); return { tag: tag, attrs: attrs, content: content }; },
			generateId: () => 'wap.' + Math.random().toString(36).slice(2, 10),
			// As the real WAWap: a jid attribute is an object made from a
			// user jid (user@s.whatsapp.net or user@lid), never a string.
			USER_JID: (j) => { shape(typeof j === 'string' && /^[0-9]+@(s\.whatsapp\.net|lid)$/.test(j), 'USER_JID(user@s.whatsapp.net | user@lid)'); return new WapJid(j); },
		},
		WADeprecatedSendIq: {
			deprecatedCastStanza: async (st) => {
				shape(st && st.tag === 'call' && st.attrs.to instanceof WapJid && st.attrs.from instanceof WapJid && Array.isArray(st.content) &&
					st.content[0] && st.content[0].tag === 'reject' && typeof st.content[0].attrs['call-id'] === 'string' &&
					st.content[0].attrs['call-creator'] instanceof WapJid && st.content[0].attrs.count === '0',
				'deprecatedCastStanza(<call to=USER_JID from=USER_JID><reject call-id call-creator=USER_JID count="0"/></call>)');
				if (st.attrs.from.jid !== W2J.widToUserJid(me())) {
					throw new Error('deprecatedCastStanza: the call stanza is not from this account but ' + st.attrs.from.jid);
				}
				await sent({ kind: 'call_reject', id: st.content[0].attrs['call-id'], to: widOfJid(st.attrs.to.jid)._serialized, type: 'stanza' });
				setTimeout(() => endCall(st.content[0].attrs['call-id']), 50);
			},
		},
	});
	modules.WAWebCollections.Contact = Contact;
	modules.WAWebCollections.WAWebGroupMetadataCollection = GroupMetadata;
	modules.WAWebCollections.ProfilePicThumb = ProfilePicThumb;
	modules.WAWebCollections.Presence = Presence;
	Conn.canSetMyPushname = () => true;
	for (const [fn, flag] of [['removeParticipants', 'remove'], ['promoteParticipants', 'promote'], ['demoteParticipants', 'demote']]) {
		modules.WAWebModifyParticipantsGroupAction[fn] = async (chat, models) => {
			shape(chat instanceof ChatModel && Array.isArray(models) && models.every((m) => m instanceof ParticipantModel), fn + '(chat, [participant models])');
			const meta = chat.groupMetadata;
			if (!meta || !meta.participants.iAmAdmin() || (flag === 'remove' && !models.every((m) => meta.participants.canRemove(m)))) {
				throw new ActionError(fn + ': not allowed');
			}
			await sent({ kind: 'group_' + flag, to: chat.id._serialized, participants: models.map((m) => m.id._serialized) });
			for (const m of models) {
				if (flag === 'remove') {
					meta.participants._m.delete(m.id._serialized);
				} else {
					m.set('isAdmin', flag === 'promote');
				}
			}
		};
	}

	// seedContacts plays the contact sync after login.
	const seedContacts = async () => {
		const dir = await directory();
		for (const [digits, u] of Object.entries(dir.users || {})) {
			if (!u.contact) {
				continue;
			}
			const pn = new Wid(digits + '@c.us');
			learn(pn._serialized, u.lid);
			Contact.gadd(pn).set({ name: u.name || '', shortName: (u.name || '').split(' ')[0], pushname: u.push || '', isBusiness: !!u.biz, verifiedName: u.bizName || '' });
		}
	};

	// socialIncoming plays what the server pushes of this domain.
	const socialIncoming = async (m) => {
		const t = Math.floor(Date.now() / 1000);
		switch (m.kind) {
		case 'chat': {
			const chat = chatFor(new Wid(m.id));
			chat.set({
				formattedTitle: m.title || chat.formattedTitle, t: m.t || chat.t || t, unreadCount: m.unread || 0,
				archive: !!m.archive, pin: m.pin ? t : 0, muteExpiration: m.mute || 0, mute: { expiration: m.mute || 0 },
			});
			return;
		}
		case 'gp2': {
			const gid = new Wid(m.group);
			const author = m.author ? new Wid(m.author) : undefined;
			const recips = (m.recipients || []).map((r) => new Wid(r));
			if (m.info) {
				makeGroup(gid, m.info.subject, new Wid(m.info.owner), m.info.participants.map((p) => ({ id: new Wid(p.id), isAdmin: !!p.admin, isSuperAdmin: !!p.superAdmin })));
			}
			const meta = metaOf(gid);
			// A new name, topic or picture arrives as the message first;
			// WhatsApp Web updates the metadata and fetches the thumbnail
			// after it (the server has the new picture already).
			const late = ['subject', 'description', 'picture'].includes(m.subtype);
			if (m.subtype === 'picture') {
				groupPics.set(gid._serialized, m.tag || '');
			}
			if (late) {
				await gp2(gid, m.subtype, author, recips, m.body);
			}
			switch (m.subtype) {
			case 'add': case 'invite':
				for (const r of recips) {
					if (!meta.participants.get(r)) {
						meta.participants.add(new ParticipantModel({ id: r, isAdmin: false, isSuperAdmin: false }));
					}
				}
				break;
			case 'remove': case 'leave':
				for (const r of recips) {
					meta.participants._m.delete(r._serialized);
				}
				break;
			case 'promote': case 'demote':
				for (const r of recips) {
					const p = meta.participants.get(r);
					if (p) {
						p.set('isAdmin', m.subtype === 'promote');
					}
				}
				break;
			case 'subject':
				meta.set('subject', m.body);
				chatFor(gid).formattedTitle = m.body;
				break;
			case 'description':
				meta.set({ desc: m.body, descId: 'D' + t });
				break;
			case 'announce':
				meta.set('announce', !!m.value);
				break;
			case 'restrict':
				meta.set('restrict', !!m.value);
				break;
			case 'picture':
				await new Promise((r) => setTimeout(r, 20));
				(await ProfilePicThumb.find(gid)).set('tag', m.tag || '');
				break;
			}
			if (!late) {
				await gp2(gid, m.subtype, author, recips, m.body);
			}
			return;
		}
		case 'presence': {
			// As WAWebChangePresenceHandlerAction applies it: the
			// chatstate first, then the presence.
			const from = new Wid(m.from);
			if (from.isGroup()) {
				const p = Presence.gadd(from);
				const who = new Wid(m.participant);
				let cs = p.chatstates.get(who);
				if (!cs) {
					cs = new Model({ id: who, type: m.type, t: t });
					p.chatstates.add(cs);
				} else {
					cs.set('type', m.type);
				}
				return;
			}
			const p = Presence.get(from);
			if (!p || !p.isSubscribed) {
				if (m.type === 'available' || m.type === 'unavailable') {
					report('presence of ' + m.from + ' without a subscription');
					return;
				}
			}
			const pm = p || Presence.gadd(from);
			pm.chatstate.set({ t: m.t, deny: !!m.deny });
			pm.chatstate.set('type', m.type);
			pm.set({ hasData: true, isOnline: m.type !== 'unavailable' });
			return;
		}
		case 'call': {
			if (m.end) {
				endCall(m.id);
				return;
			}
			const call = new CallModel({
				id: m.id, peerJid: new Wid(m.from), offerTime: m.native ? 0 : t, isVideo: !!m.video, isGroup: !!m.group,
				outgoing: false, canHandleLocally: false, webClientShouldHandle: false, state: 'INCOMING_RING',
			});
			if (m.native) {
				Call.setActiveCall(call);
			} else {
				Call.processIncomingCall(call);
			}
			return;
		}
		case 'pushname':
			Contact.gadd(new Wid(m.from)).set('pushname', m.pushname);
			return;
		case 'picture': {
			// load: WhatsApp Web fetching a thumbnail it had no tag of yet.
			const w = new Wid(m.from);
			const pm = m.load ? (ProfilePicThumb.get(w) || ProfilePicThumb.add(new PicModel({ id: w }))[0]) : await ProfilePicThumb.find(w);
			pm.set('tag', m.tag || '');
			return;
		}
		}
	};
	const socialKinds = new Set(['chat', 'gp2', 'presence', 'call', 'pushname', 'picture']);

	if (variant.startsWith('missing-')) {
		delete modules[variant.slice('missing-'.length)];
	}
	let warm = variant !== 'cold';
	if (!warm) {
		const trap = (obj, name) => {
			const f = obj[name];
			obj[name] = function (...args) {
				if (!warm) {
					throw new Error(name + ' called before the page is ready');
				}
				return f.apply(this, args);
			};
		};
		trap(Chat, 'get');
		trap(modules.WAWebFindChatAction, 'findOrCreateLatestChat');
		trap(modules.WAWebWidFactory, 'createWid');
		trap(modules.WAWebSendMsgChatAction, 'addAndSendMsgToChat');
		trap(modules.WAWebUserPrefsMeUser, 'getMaybeMePnUser');
		const newId = MsgKey.newId;
		MsgKey.newId = function () {
			if (!warm) {
				throw new Error('newId called before the page is ready');
			}
			return newId.call(this);
		};
	}

	// Logging out tells the server first (the device leaves the phone's
	// list), then forgets the login locally and navigates to post_logout.
	Socket.logout = async () => {
		Cmd.trigger('logout');
		const res = await post('/api/logout', {});
		if (!res.ok) {
			throw new Error('logout refused: ' + res.status);
		}
		await report('logout');
		localStorage.removeItem('fakeLoggedIn');
		setTimeout(() => { location.href = '/?post_logout=1'; }, 50);
	};

	let refTimer = null;
	const showQR = () => {
		Conn.set('ref', nextRef());
		Socket.set('state', 'UNPAIRED');
		refTimer = setInterval(() => Conn.set('ref', nextRef()), 1000);
	};
	const connect = () => {
		if (!warm) {
			setTimeout(() => { warm = true; }, 3000);
		}
		Socket.set('state', 'CONNECTED');
		Conn.pushname = 'Fake ' + device;
		const synced = () => setTimeout(() => Socket.set('hasSynced', true), 150);
		seedContacts().then(synced, (e) => { report('contact sync failed: ' + e); synced(); });
	};

	// incoming plays what the phone side sends.
	const incoming = async (m) => {
		const kind = m.kind || 'msg';
		if (socialKinds.has(kind)) {
			await socialIncoming(m);
			return;
		}
		const from = new Wid(m.from);
		const t = Math.floor(Date.now() / 1000);
		if (kind === 'msg') {
			const chat = chatFor(from);
			const id = m.id || await MsgKey.newId();
			const author = m.author ? new Wid(m.author) : undefined;
			const key = new MsgKey({ to: from, id: id, participant: author, selfDir: 'in' });
			const attrs = { id: key, from: from, author: author, to: me(), body: m.body, type: m.type || 'chat', t: t, isNewMsg: true };
			if (m.caption) {
				attrs.caption = m.caption;
			}
			if (m.media) {
				Object.assign(attrs, m.media);
				attrs.body = 'fake-thumbnail';
				attrs.mediaData = { mediaStage: 'INIT' };
			}
			if (m.quoted) {
				attrs.quotedStanzaID = m.quoted;
				attrs.quotedMsg = { type: 'chat' };
			}
			if (m.mentions) {
				attrs.mentionedJidList = m.mentions.map((j) => new Wid(j));
			}
			chat.unreadCount++;
			chat.t = t;
			addMsg(chat, attrs);
			return;
		}
		const target = findMsg(m.target);
		if (!target) {
			report('unknown target ' + m.target);
			return;
		}
		if (kind === 'reaction') {
			const key = new MsgKey({ to: target.id.remote, id: m.id || await MsgKey.newId(), selfDir: 'in' });
			await modules.WAWebAddonReactionTableMode.reactionTableMode.bulkUpsert([{
				id: key, reactionParentKey: target.id, reactionText: m.emoji || '', reactionTimestamp: Date.now(),
				from: from, author: target.id.remote.isGroup() ? from : undefined, type: 'reaction', read: false,
			}]);
		} else if (kind === 'edit') {
			target.latestEditMsgKey = new MsgKey({ to: target.id.remote, id: m.id || await MsgKey.newId(), selfDir: 'in' });
			target.latestEditSenderTimestampMs = Date.now();
			target.set(target.type === 'chat' ? 'body' : 'caption', m.body);
		} else if (kind === 'revoke') {
			target.protocolMessageKey = target.id;
			target.set('type', 'revoked');
		}
	};

	const boot = () => {
		window.require = (name) => {
			if (!(name in modules)) {
				throw new Error('Requiring unknown module "' + name + '"');
			}
			return modules[name];
		};
		window.Debug = { VERSION: '2.3000.1012345678' };
		if (variant === 'reload' && !sessionStorage.getItem('reloaded')) {
			// Reload the moment the agent starts hooking the socket: the
			// injection is cut off halfway, the next document must get a
			// complete one.
			const on = Socket.on;
			Socket.on = function (...args) {
				if (!sessionStorage.getItem('reloaded')) {
					sessionStorage.setItem('reloaded', '1');
					report('reloading');
					location.reload();
				}
				return on.apply(this, args);
			};
		}
		report('booted');
		setTimeout(() => {
			if (loggedIn()) {
				connect();
			} else {
				showQR();
			}
		}, 150);
		const poll = async () => {
			try {
				const res = await fetch('/api/poll?device=' + device);
				const p = await res.json();
				if (p.scanned && !loggedIn() && Socket.state === 'UNPAIRED') {
					clearInterval(refTimer);
					Socket.set('state', 'PAIRING');
					const res = await post('/api/paired', {});
					if (!res.ok) {
						throw new Error('pairing refused: ' + res.status);
					}
					localStorage.setItem('fakeLoggedIn', '1');
					setTimeout(connect, 100);
				}
				if (p.unlinked && loggedIn()) {
					localStorage.removeItem('fakeLoggedIn');
					location.href = '/?post_logout=1';
					return;
				}
				for (const m of p.incoming || []) {
					try {
						await incoming(m);
					} catch (e) {
						report('incoming failed: ' + e);
					}
				}
			} catch (e) {
				// the test server went away
			}
			setTimeout(poll, 200);
		};
		poll();
	};

	if (variant === 'hang') {
		report('hanging');
		return;
	}
	setTimeout(boot, variant === 'slow' ? 1500 : 100);
})();

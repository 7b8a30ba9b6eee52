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
//        {kind:"reaction"|"edit"|"revoke", id, from, target, emoji, body}
//   POST /api/paired         <- {device}  the phone's scan completed: linked
//   POST /api/logout         <- {device}  Socket.logout: unlinked upstream
//   POST /api/sent           <- {device, kind, to, id, ...} what the page
//        sent: a message (kind "msg", with its type, body, caption, media
//        fields, quoted id, mentions, location, vCard name), a reaction,
//        an edit, a revoke, a seen (sendSeen) or a chat state
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
//     versions >= 2.3000), the QR registration modules.
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
			chat = new Model({ id: wid, msgs: new Collection(), unreadCount: 0 });
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
			m.set('type', 'revoked');
			await sent({ kind: 'revoke', to: chat.id._serialized, target: m.id.id });
		}
	};
	Cmd.sendDeleteMsgs = async () => {
		throw new Error('fake WhatsApp Web: wad must never delete for this device only');
	};

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
		setTimeout(() => Socket.set('hasSynced', true), 150);
	};

	// incoming plays what the phone side sends.
	const incoming = async (m) => {
		const from = new Wid(m.from);
		const kind = m.kind || 'msg';
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

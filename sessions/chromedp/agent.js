// wad's agent inside WhatsApp Web. It runs at the start of every document
// of the top frame (so a reload re-injects it), waits until WhatsApp Web
// has booted (window.Debug.VERSION), and then reports to wad through the
// exposed function window.wadBridge, one event at a time and in order:
//   {k:"boot", version}            WhatsApp Web is loaded
//   {k:"missing", module, what}    a module wad needs is not there
//   {k:"state", state}             WAWebSocketModel Socket.state changed
//   {k:"qr", qr}                   a new QR string to show
//   {k:"ready", jid, pushname}     connected and synced; send is usable
//   {k:"msg", msg}                 a new message (received or sent)
//   {k:"reaction", reaction}       a reaction was set or removed
//   {k:"edit", msg, text, ...}     a message was edited
//   {k:"revoke", msg}              a message was deleted for everyone
//   {k:"group", d}                 a group notification (gp2 message)
//   {k:"presence", d}              a subscribed person came online or left
//   {k:"chatstate", d}             someone is typing, recording or paused
//   {k:"call", d}                  an incoming call was offered or ended
//   {k:"contact", d}               a contact's push name or picture changed
//   {k:"warn", what}               something optional is missing
//   {k:"logout"}                   WhatsApp Web is logging out
//   {k:"error", error}             the agent itself failed
// Readiness checks test that functions exist; they never call them.
// wad performs operations through wad.call (see there) and moves file
// bytes through the wad.blob* functions, in pieces.
(function () {
	'use strict';
	if (window.top !== window || window.__wad) {
		return;
	}
	const wad = { injected: false };
	window.__wad = wad;

	let chain = Promise.resolve();
	const emit = (ev) => {
		chain = chain.then(() => {
			if (typeof window.wadBridge !== 'function') {
				return undefined;
			}
			return window.wadBridge(ev);
		}).catch(() => {});
	};
	// emitWhen emits the event p resolves to in the place of the call:
	// later events wait for it.
	const emitWhen = (p) => {
		p.catch(() => {});
		chain = chain.then(() => p).then((ev) => {
			if (!ev || typeof window.wadBridge !== 'function') {
				return undefined;
			}
			return window.wadBridge(ev);
		}).catch(() => {});
	};

	// mod returns a module, or null when window.require does not know it
	// (the real loader throws for unknown modules).
	const mod = (name) => {
		try {
			const m = window.require(name);
			return m == null ? null : m;
		} catch (e) {
			return null;
		}
	};
	const isFn = (f) => typeof f === 'function';

	// need checks module name and its member path; it returns the member or
	// reports the module missing and returns null.
	const need = (name, path, fn) => {
		const m = mod(name);
		if (!m) {
			emit({ k: 'missing', module: name, what: 'module ' + name + ' is not loaded' });
			return null;
		}
		let v = m;
		for (const p of path) {
			v = v == null ? undefined : v[p];
		}
		if (v == null || (fn && !isFn(v))) {
			const what = name + (path.length ? '.' + path.join('.') : '') + (fn ? ' is not a function' : ' is missing');
			emit({ k: 'missing', module: name, what: what });
			return null;
		}
		return v;
	};

	const jid = (w) => {
		if (w == null) {
			return '';
		}
		if (typeof w === 'string') {
			return w;
		}
		return w._serialized || String(w);
	};

	// The QR string, built as whatsapp-web.js builds it: ref, noise static
	// public key, identity public key, ADV secret and platform, joined by
	// commas. When the registration modules are missing, the raw ref.
	let qrParts = null;
	const qrBuilder = async () => {
		if (qrParts) {
			return qrParts;
		}
		const reg = Object.assign({},
			mod('WAWebCompanionRegClientUtils') || {},
			mod('WAWebAdvSignatureApi') || {},
			mod('WAWebUserPrefsInfoStore') || {},
			mod('WAWebSignalStoreApi') || {});
		const b64 = mod('WABase64');
		try {
			if (!reg.waSignalStore || !reg.waNoiseInfo || !isFn(reg.getADVSecretKey) || !b64 || !isFn(b64.encodeB64)) {
				throw new Error('registration modules missing');
			}
			const info = await reg.waSignalStore.getRegistrationInfo();
			const noise = await reg.waNoiseInfo.get();
			const parts = [
				b64.encodeB64(noise.staticKeyPair.pubKey),
				b64.encodeB64(info.identityKeyPair.pubKey),
				await reg.getADVSecretKey(),
			];
			if (reg.DEVICE_PLATFORM !== undefined) {
				parts.push(String(reg.DEVICE_PLATFORM));
			}
			qrParts = parts;
		} catch (e) {
			qrParts = [];
		}
		return qrParts;
	};
	const sendQR = async (ref) => {
		if (!ref) {
			return;
		}
		const parts = await qrBuilder();
		emit({ k: 'qr', qr: [ref].concat(parts).join(',') });
	};

	const unpaired = (s) => s === 'UNPAIRED' || s === 'UNPAIRED_IDLE';

	// The message types of WhatsApp Web that carry a file, and the kind
	// wad calls each.
	const mediaKinds = { image: 'image', video: 'video', audio: 'audio', ptt: 'voice', document: 'document', sticker: 'sticker' };

	// describe turns a message model into what wad reports of it. The
	// body of a media message is its thumbnail: only texts and contact
	// cards carry theirs.
	const describe = (msg) => {
		const id = msg.id || {};
		const type = msg.type || '';
		const d = {
			id: id.id || jid(id),
			chat: jid(id.remote || (id.fromMe ? msg.to : msg.from)),
			sender: jid(msg.author || msg.from),
			t: msg.t || 0,
			fromMe: !!id.fromMe,
			type: type,
			caption: msg.caption || '',
		};
		if (type === 'chat' || type === 'vcard') {
			d.body = msg.body || '';
		}
		if (msg.directPath || mediaKinds[type]) {
			d.media = {
				mime: msg.mimetype || '',
				size: Number(msg.size) || 0,
				filename: msg.filename || '',
				duration: Number(msg.duration) || 0,
				width: Number(msg.width) || 0,
				height: Number(msg.height) || 0,
				pages: Number(msg.pageCount) || 0,
				filehash: msg.filehash || '',
				animated: !!msg.isAnimated,
				gif: !!msg.isGif,
				downloadable: !!(msg.directPath && msg.mediaKey) &&
					!(msg.mediaData && msg.mediaData.mediaStage === 'REUPLOADING'),
			};
		}
		if (type === 'location') {
			d.loc = { lat: Number(msg.lat) || 0, lng: Number(msg.lng) || 0, desc: typeof msg.loc === 'string' ? msg.loc : '' };
		}
		if (type === 'vcard') {
			d.vcardName = msg.vcardFormattedName || '';
		}
		if (msg.quotedStanzaID) {
			d.quoted = String(msg.quotedStanzaID);
		}
		if (Array.isArray(msg.mentionedJidList) && msg.mentionedJidList.length) {
			d.mentions = msg.mentionedJidList.map(jid);
		}
		return d;
	};

	// Messages received in each chat that this session has not marked
	// read (chat.read reports them): chat -> ids, oldest first.
	const unread = new Map();
	const maxUnread = 1000;
	const noteUnread = (d) => {
		if (d.fromMe || !d.chat) {
			return;
		}
		const ids = unread.get(d.chat) || [];
		ids.push(d.id);
		if (ids.length > maxUnread) {
			ids.splice(0, ids.length - maxUnread);
		}
		unread.set(d.chat, ids);
	};

	const emitMsg = (msg) => {
		try {
			const d = describe(msg);
			noteUnread(d);
			emit({ k: 'msg', msg: d });
		} catch (e) {
			emit({ k: 'error', error: 'reading message: ' + e });
		}
	};

	// Reactions are not messages in WhatsApp Web: they are written to the
	// reaction table (WAWebAddonReactionTableMode reactionTableMode.
	// bulkUpsert), sent, received and removed ones alike; whatsapp-web.js
	// wraps that function, and so does wad. ownReaction waits for the
	// record of this account's reaction to a message, for its id.
	const reactionWaiters = new Map(); // parent message id -> [resolve]
	// ownReaction resolves with the id, or with '' after ms.
	const ownReaction = (parentId, ms) => new Promise((resolve) => {
		const list = reactionWaiters.get(parentId) || [];
		list.push(resolve);
		reactionWaiters.set(parentId, list);
		setTimeout(() => {
			const left = (reactionWaiters.get(parentId) || []).filter((f) => f !== resolve);
			if (left.length) {
				reactionWaiters.set(parentId, left);
			} else {
				reactionWaiters.delete(parentId);
			}
			resolve('');
		}, ms);
	});
	const onReactions = (records) => {
		for (const rec of records || []) {
			try {
				const key = rec.id || {};
				const parent = rec.reactionParentKey || rec.parentMsgKey || {};
				const parentId = typeof parent === 'string' ? parent.split('_')[2] || parent : parent.id;
				const r = {
					id: key.id || jid(key),
					target: parentId || '',
					chat: jid(parent.remote || key.remote || ''),
					sender: jid(rec.author || rec.from || rec.senderUserJid),
					emoji: rec.reactionText || '',
					t: Math.floor((Number(rec.reactionTimestamp) || Date.now()) / 1000),
					fromMe: !!key.fromMe,
				};
				if (r.fromMe && reactionWaiters.has(r.target)) {
					for (const resolve of reactionWaiters.get(r.target)) {
						resolve(r.id);
					}
					reactionWaiters.delete(r.target);
				}
				emit({ k: 'reaction', reaction: r });
			} catch (e) {
				emit({ k: 'error', error: 'reading reaction: ' + e });
			}
		}
	};
	const hookReactions = () => {
		const m = mod('WAWebAddonReactionTableMode');
		const table = m && m.reactionTableMode;
		if (!table || !isFn(table.bulkUpsert)) {
			emit({ k: 'warn', what: 'WAWebAddonReactionTableMode.reactionTableMode.bulkUpsert is missing: no reaction events' });
			return;
		}
		if (table.bulkUpsert.__wad) {
			return;
		}
		const orig = table.bulkUpsert;
		const wrapped = function (...args) {
			try {
				onReactions(args[0]);
			} catch (e) {
				// never break WhatsApp Web's own write
			}
			return orig.apply(this, args);
		};
		wrapped.__wad = true;
		table.bulkUpsert = wrapped;
	};

	// An edit changes the body of a text, or the caption of a media
	// message, in place (whatsapp-web.js's message_edit listens for the
	// same). The body of a media message is its thumbnail, whose changes
	// are not edits.
	const emitEdit = (msg, text) => {
		try {
			if (!msg || msg.type === 'revoked') {
				return;
			}
			const k = msg.latestEditMsgKey;
			emit({
				k: 'edit',
				msg: describe(msg),
				text: String(text == null ? '' : text),
				editId: (k && (k.id || jid(k))) || '',
				editT: Math.floor((Number(msg.latestEditSenderTimestampMs) || 0) / 1000),
			});
		} catch (e) {
			emit({ k: 'error', error: 'reading edit: ' + e });
		}
	};
	// A message deleted for everyone turns into type "revoked" in place.
	const emitRevoke = (msg) => {
		try {
			const d = describe(msg);
			const pk = msg.protocolMessageKey;
			d.target = (pk && pk.id) || d.id;
			emit({ k: 'revoke', msg: d });
		} catch (e) {
			emit({ k: 'error', error: 'reading revoke: ' + e });
		}
	};

	let readySent = false;
	const ready = () => {
		const Socket = mod('WAWebSocketModel').Socket;
		if (readySent || Socket.state !== 'CONNECTED' || !Socket.hasSynced) {
			return;
		}
		const coll = mod('WAWebCollections');
		if (!need('WAWebCollections', ['Chat', 'get'], true) ||
			!need('WAWebCollections', ['Msg', 'on'], true) ||
			!need('WAWebFindChatAction', ['findOrCreateLatestChat'], true) ||
			!need('WAWebWidFactory', ['createWid'], true) ||
			!need('WAWebMsgKey', [], true) ||
			!need('WAWebMsgKey', ['newId'], true) ||
			!need('WAWebSendMsgChatAction', ['addAndSendMsgToChat'], true) ||
			!need('WAWebUserPrefsMeUser', ['getMaybeMePnUser'], true)) {
			return;
		}
		readySent = true;
		coll.Msg.on('add', (msg) => {
			if (!msg || !msg.isNewMsg) {
				return;
			}
			if (msg.type === 'gp2') {
				// Group notifications are group events, not messages.
				emitGroup(msg);
				return;
			}
			if (msg.type === 'ciphertext' && isFn(msg.once)) {
				// Not decrypted yet: report it once it is.
				msg.once('change:type', (m) => emitMsg(m || msg));
				return;
			}
			emitMsg(msg);
		});
		coll.Msg.on('change:body', (msg, body) => {
			if (msg && msg.type === 'chat') {
				emitEdit(msg, body === undefined ? msg.body : body);
			}
		});
		coll.Msg.on('change:caption', (msg, caption) => {
			if (msg && msg.type !== 'chat') {
				emitEdit(msg, caption === undefined ? msg.caption : caption);
			}
		});
		coll.Msg.on('change:type', (msg) => {
			if (msg && msg.type === 'revoked') {
				emitRevoke(msg);
			}
		});
		hookReactions();
		try {
			hookSocial();
		} catch (e) {
			// Only these events are lost; the session works.
			emit({ k: 'warn', what: 'hooking group, presence, call and contact events failed: ' + e });
		}
		let me = '';
		try {
			const M = mod('WAWebUserPrefsMeUser');
			me = jid(M.getMaybeMePnUser() || (isFn(M.getMaybeMeLidUser) ? M.getMaybeMeLidUser() : null));
		} catch (e) {
			me = '';
		}
		const Conn = mod('WAWebConnModel').Conn;
		emit({ k: 'ready', jid: me, pushname: (Conn && Conn.pushname) || '' });
	};

	// Operations. wad calls wad.call(name, args); it resolves with {ok:
	// result} or {err: {kind, msg}}, where kind is "invalid" (the caller
	// named a message or chat that cannot take the operation),
	// "unsupported" (whatsapp-web.js's way through WhatsApp Web cannot do
	// it), "missing" (a module or function is not there) or "upstream"
	// (WhatsApp Web failed).
	class WadError extends Error {
		constructor(kind, msg) {
			super(msg);
			this.kind = kind;
		}
	}
	const fail = (kind, msg) => {
		throw new WadError(kind, msg);
	};

	// use returns module name's member at path, or fails with "missing".
	const use = (name, path, fn) => {
		const m = mod(name);
		if (!m) {
			fail('missing', 'WhatsApp Web has no module ' + name);
		}
		let v = m;
		for (const p of path || []) {
			v = v == null ? undefined : v[p];
		}
		if (v == null || (fn && !isFn(v))) {
			fail('missing', 'WhatsApp Web lacks ' + name + (path && path.length ? '.' + path.join('.') : '') + (fn ? ' (a function)' : ''));
		}
		return v;
	};
	// method returns obj[name] bound to obj, or fails with "missing".
	const method = (obj, what, name) => {
		if (!obj || !isFn(obj[name])) {
			fail('missing', 'WhatsApp Web lacks ' + what + '.' + name);
		}
		return obj[name].bind(obj);
	};

	const now = () => Math.floor(Date.now() / 1000);

	// newer reports whether WhatsApp Web's version is at least v
	// (dotted numbers, compared part by part).
	const atLeast = (v) => {
		const a = String(window.Debug.VERSION).replace(/-beta$/, '').split('.').map(Number);
		const b = v.split('.').map(Number);
		for (let i = 0; i < Math.max(a.length, b.length); i++) {
			const x = a[i] || 0;
			const y = b[i] || 0;
			if (x !== y) {
				return x > y;
			}
		}
		return true;
	};

	// chatOf finds or creates the chat of a JID, as whatsapp-web.js's
	// getChat does for users and groups.
	const chatOf = async (to) => {
		if (/@(newsletter|broadcast)$/.test(to)) {
			fail('unsupported', 'channels and status updates (' + to + ') are not supported');
		}
		const wid = use('WAWebWidFactory', ['createWid'], true)(to);
		let chat = method(use('WAWebCollections', ['Chat']), 'WAWebCollections.Chat', 'get')(wid);
		if (!chat) {
			const found = await use('WAWebFindChatAction', ['findOrCreateLatestChat'], true)(wid);
			chat = found && found.chat;
		}
		if (!chat) {
			fail('invalid', 'chat ' + to + ' not found');
		}
		return chat;
	};

	// msgOf finds message id (the bare id wad reports) of chat: by its
	// serialized key (sent or received), through Msg.getMessagesById
	// (which loads it from WhatsApp Web's database), or among the loaded
	// messages (a group message's key also names its author).
	const msgOf = async (chat, id) => {
		const Msg = use('WAWebCollections', ['Msg']);
		const remote = jid(chat.id);
		const keys = ['true_' + remote + '_' + id, 'false_' + remote + '_' + id];
		for (const k of keys) {
			const m = Msg.get(k);
			if (m) {
				return m;
			}
		}
		const matches = (m) => m && m.id && m.id.id === id && jid(m.id.remote) === remote;
		if (isFn(Msg.getMessagesById)) {
			try {
				const res = await Msg.getMessagesById(keys);
				const m = ((res && res.messages) || []).find(matches);
				if (m) {
					return m;
				}
			} catch (e) {
				// not in the database
			}
		}
		const scan = (c) => (c && isFn(c.getModelsArray) ? c.getModelsArray().find(matches) : undefined);
		return scan(chat.msgs) || scan(Msg) || fail('invalid', 'no message ' + id + ' in chat ' + remote);
	};

	// Blobs hold file bytes on their way in (wad appends base64 pieces)
	// and out (wad reads base64 pieces of a download); a Blob keeps them
	// out of the JavaScript heap.
	const blobs = new Map();
	let blobN = 0;
	wad.blobNew = () => {
		const h = 'b' + (++blobN);
		blobs.set(h, new Blob([]));
		return h;
	};
	wad.blobPut = (h, b64) => {
		const b = blobs.get(h);
		if (!b) {
			throw new Error('no blob ' + h);
		}
		const bin = atob(b64);
		const u8 = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++) {
			u8[i] = bin.charCodeAt(i);
		}
		blobs.set(h, new Blob([b, u8]));
		return blobs.get(h).size;
	};
	wad.blobRead = (h, off, n) => new Promise((resolve, reject) => {
		const b = blobs.get(h);
		if (!b) {
			reject(new Error('no blob ' + h));
			return;
		}
		const fr = new FileReader();
		fr.onload = () => {
			const s = String(fr.result);
			resolve(s.slice(s.indexOf(',') + 1));
		};
		fr.onerror = () => reject(fr.error);
		fr.readAsDataURL(b.slice(off, off + n));
	});
	wad.blobDrop = (h) => blobs.delete(h);
	const takeBlob = (h) => {
		const b = blobs.get(h);
		if (!b) {
			fail('invalid', 'the file was not transferred into the page');
		}
		blobs.delete(h);
		return b;
	};

	const b64 = (u8) => {
		let s = '';
		for (let i = 0; i < u8.length; i += 0x8000) {
			s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
		}
		return btoa(s);
	};
	const sha256b64 = async (blob) => b64(new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())));

	// waveform computes the 64-bar loudness outline WhatsApp shows for a
	// voice note, when Chromium can decode the audio.
	const waveform = async (file) => {
		try {
			const ac = new AudioContext();
			const buf = await ac.decodeAudioData(await file.arrayBuffer());
			ac.close();
			const data = buf.getChannelData(0);
			const bars = 64;
			const per = Math.floor(data.length / bars);
			if (per < 1) {
				return undefined;
			}
			const avg = [];
			for (let i = 0; i < bars; i++) {
				let sum = 0;
				for (let j = i * per; j < (i + 1) * per; j++) {
					sum += Math.abs(data[j]);
				}
				avg.push(sum / per);
			}
			const peak = Math.max(...avg) || 1;
			return Uint8Array.from(avg, (v) => Math.floor((v / peak) * 100));
		} catch (e) {
			return undefined;
		}
	};

	// The message type WhatsApp Web must make of each media kind.
	const mediaTypes = { image: 'image', video: 'video', audio: 'audio', voice: 'ptt', document: 'document' };

	// prepareMedia prepares and uploads a file the way whatsapp-web.js's
	// processMediaData does: opaque data, prepRawMedia (with isPtt for a
	// voice note and asDocument for a document), the media object of its
	// filehash, uploadMedia; it resolves with the media data to spread
	// into the message.
	const prepareMedia = async (file, mime, kind) => {
		const OpaqueData = use('WAWebMediaOpaqueData', [], false);
		const opaque = await method(OpaqueData, 'WAWebMediaOpaqueData', 'createFromData')(file, mime);
		const prep = use('WAWebPrepRawMedia', ['prepRawMedia'], true)(opaque, {
			asSticker: false,
			asGif: false,
			isPtt: kind === 'voice',
			asDocument: kind === 'document',
		});
		const data = await method(prep, 'prepRawMedia()', 'waitForPrep')();
		if (!data || !data.filehash) {
			fail('upstream', 'WhatsApp Web prepared the ' + kind + ' without a filehash');
		}
		if (data.type !== mediaTypes[kind]) {
			fail('upstream', 'WhatsApp Web prepared the ' + kind + ' as ' + data.type + ', not ' + mediaTypes[kind]);
		}
		const obj = use('WAWebMediaStorage', ['getOrCreateMediaObject'], true)(data.filehash);
		const Types = use('WAWebMmsMediaTypes', [], false);
		const mediaType = method(Types, 'WAWebMmsMediaTypes', 'msgToMediaType')({ type: data.type, isGif: data.isGif, isNewsletter: false });
		if (kind === 'voice') {
			data.waveform = (obj.contentInfo && obj.contentInfo.waveform) || await waveform(file);
		}
		if (!(data.mediaBlob instanceof OpaqueData)) {
			data.mediaBlob = await OpaqueData.createFromData(data.mediaBlob, data.mediaBlob.type);
		}
		data.renderableUrl = data.mediaBlob.url();
		obj.consolidate(data.toJSON());
		data.mediaBlob.autorelease();
		const Utils = mod('WAWebMediaDataUtils');
		const Cache = mod('WAWebMediaInMemoryBlobCache');
		if (Utils && isFn(Utils.shouldUseMediaCache) && isFn(Types.castToV4) && Cache && Cache.InMemoryMediaBlobCache &&
			Utils.shouldUseMediaCache(Types.castToV4(obj.type))) {
			Cache.InMemoryMediaBlobCache.put(obj.filehash, data.mediaBlob.formData());
		}
		const up = await use('WAWebMediaMmsV4Upload', ['uploadMedia'], true)({ mimetype: data.mimetype, mediaObject: obj, mediaType: mediaType });
		const entry = up && up.mediaEntry;
		if (!entry) {
			fail('upstream', 'the upload of the ' + kind + ' failed: WhatsApp Web made no media entry');
		}
		data.set({
			clientUrl: entry.mmsUrl,
			deprecatedMms3Url: entry.deprecatedMms3Url,
			directPath: entry.directPath,
			mediaKey: entry.mediaKey,
			mediaKeyTimestamp: entry.mediaKeyTimestamp,
			filehash: obj.filehash,
			encFilehash: entry.encFilehash,
			uploadhash: entry.uploadHash,
			size: obj.size,
			streamingSidecar: entry.sidecar,
			firstFrameSidecar: entry.firstFrameSidecar,
			mediaHandle: null,
		});
		return data;
	};

	// prepareSticker uploads a WebP sticker the way whatsapp-web.js's
	// processStickerData does: encryptAndUpload of the file as type
	// "sticker", with a fresh media key.
	const prepareSticker = async (file) => {
		if (file.type !== 'image/webp') {
			fail('invalid', 'a sticker must be image/webp, not ' + file.type);
		}
		const filehash = await sha256b64(file);
		const key = new Uint8Array(32);
		crypto.getRandomValues(key);
		const qpl = use('WAWebStartMediaUploadQpl', ['startMediaUploadQpl'], true)({ entryPoint: 'MediaUpload' });
		const up = await use('WAWebUploadManager', ['encryptAndUpload'], true)({
			blob: file,
			type: 'sticker',
			signal: new AbortController().signal,
			mediaKey: b64(key),
			uploadQpl: qpl,
		});
		if (!up) {
			fail('upstream', 'the upload of the sticker failed');
		}
		return Object.assign({}, up, {
			clientUrl: up.url,
			deprecatedMms3Url: up.url,
			uploadhash: up.encFilehash,
			size: file.size,
			type: 'sticker',
			mimetype: file.type,
			filehash: filehash,
		});
	};

	const ops = {};

	// send sends one message the way whatsapp-web.js's sendMessage does
	// for a user or group chat. spec: {text} or {media: {handle, kind,
	// mime, filename, caption}} or {location: {lat, lng, name, address}}
	// or {vcard, name}; plus id (the id to send it under; WhatsApp Web
	// makes one without it), replyTo (a message id of the chat) and
	// mentions (@c.us JIDs). It resolves with the message id and
	// timestamp once WhatsApp Web reports the send done.
	ops.send = async (to, spec) => {
		const chat = await chatOf(to);
		const Wid = use('WAWebWidFactory', [], false);
		let body = spec.text || '';
		const opts = {};
		let media = {};
		if (spec.media) {
			const m = spec.media;
			const blob = takeBlob(m.handle);
			const file = new File([blob], m.filename || 'file', { type: m.mime, lastModified: Date.now() });
			media = m.kind === 'sticker' ? await prepareSticker(file) : await prepareMedia(file, m.mime, m.kind);
			if (m.kind === 'document' && !media.filename) {
				// WhatsApp Web takes a document's name from the File; make
				// sure it is there.
				if (isFn(media.set)) {
					media.set({ filename: file.name });
				} else {
					media.filename = file.name;
				}
			}
			if (m.caption) {
				opts.caption = m.caption;
				opts.isCaptionByUser = true;
				media.caption = m.caption;
			}
			body = m.kind === 'sticker' ? undefined : media.preview;
		}
		let quoted = {};
		if (spec.replyTo) {
			const q = await msgOf(chat, spec.replyTo);
			const Reply = mod('WAWebMsgReply');
			const can = Reply && isFn(Reply.canReplyMsg) ? Reply.canReplyMsg(isFn(q.unsafe) ? q.unsafe() : q) : (isFn(q.canReply) && q.canReply());
			if (!can) {
				fail('invalid', 'WhatsApp Web does not allow replying to message ' + spec.replyTo);
			}
			quoted = method(q, 'the quoted message', 'msgContextInfo')(chat);
		}
		if (spec.mentions && spec.mentions.length) {
			opts.mentionedJidList = spec.mentions.map((j) => Wid.createWid(j)).filter(Boolean);
		}
		let location = {};
		if (spec.location) {
			const l = spec.location;
			const desc = l.name && l.address ? l.name + '\n' + l.address : (l.name || l.address || undefined);
			location = { type: 'location', loc: desc, lat: l.lat, lng: l.lng };
			body = '';
		}
		let vcard = {};
		if (spec.vcard) {
			vcard = { type: 'vcard', body: spec.vcard, vcardFormattedName: spec.name };
		}

		const Me = use('WAWebUserPrefsMeUser', [], false);
		const lid = isFn(Me.getMaybeMeLidUser) ? Me.getMaybeMeLidUser() : null;
		const pn = Me.getMaybeMePnUser();
		let from = (chat.id && isFn(chat.id.isLid) && chat.id.isLid() && lid) ? lid : pn;
		let participant;
		if (chat.id && isFn(chat.id.isGroup) && chat.id.isGroup()) {
			from = (chat.groupMetadata && chat.groupMetadata.isLidAddressingMode && lid) ? lid : pn;
			participant = isFn(Wid.asUserWidOrThrow) ? Wid.asUserWidOrThrow(from) : from;
		}
		const MsgKey = use('WAWebMsgKey', [], true);
		const id = spec.id || await MsgKey.newId();
		const key = new MsgKey({ from: from, to: chat.id, id: id, participant: participant, selfDir: 'out' });
		const Eph = mod('WAWebGetEphemeralFieldsMsgActionsUtils');
		const ephemeral = Eph && isFn(Eph.getEphemeralFields) ? Eph.getEphemeralFields(chat) : {};
		const t = now();
		const msg = Object.assign({}, opts, {
			id: key, ack: 0, body: body, from: from, to: chat.id,
			local: true, self: 'out', t: t, isNewMsg: true, type: 'chat',
		}, ephemeral, media, isFn(media.toJSON) ? media.toJSON() : {}, quoted, location, vcard);
		const res = use('WAWebSendMsgChatAction', ['addAndSendMsgToChat'], true)(chat, msg);
		const added = Array.isArray(res) ? res[0] : res;
		const sent = Array.isArray(res) ? res[1] : null;
		await added;
		if (sent) {
			const r = await sent;
			const status = r && (r.messageSendResult || r.status);
			if (status && status !== 'OK' && status !== 200) {
				fail('upstream', 'WhatsApp Web did not send the message: ' + status);
			}
		}
		return { id: id, t: t };
	};

	// react sets this account's reaction (empty: removes it) through
	// WAWebSendReactionMsgAction.sendReactionToMsg, and reports the
	// reaction's id as the reaction table records it.
	ops.react = async (to, id, emoji) => {
		const chat = await chatOf(to);
		const msg = await msgOf(chat, id);
		const send = use('WAWebSendReactionMsgAction', ['sendReactionToMsg'], true);
		const own = ownReaction(msg.id.id, 3000);
		await send(msg, emoji);
		return { id: await own, t: now() };
	};

	// edit replaces the text (or caption) of a message this account sent,
	// through WAWebSendMessageEditAction.sendMessageEdit, if
	// WAWebMsgActionCapability allows it.
	ops.edit = async (to, id, text) => {
		const chat = await chatOf(to);
		const msg = await msgOf(chat, id);
		if (!msg.id.fromMe) {
			fail('invalid', 'message ' + id + ' was not sent by this account');
		}
		const Cap = use('WAWebMsgActionCapability', [], false);
		const can = method(Cap, 'WAWebMsgActionCapability', 'canEditText')(msg) ||
			method(Cap, 'WAWebMsgActionCapability', 'canEditCaption')(msg);
		if (!can) {
			fail('invalid', 'WhatsApp Web does not allow editing message ' + id + ' (too old, or nothing to edit)');
		}
		await use('WAWebSendMessageEditAction', ['sendMessageEdit'], true)(msg, text, { mentionedJidList: [] });
		const cur = mod('WAWebCollections').Msg.get(msg.id._serialized) || msg;
		const k = cur.latestEditMsgKey;
		const ms = Number(cur.latestEditSenderTimestampMs) || 0;
		return { id: (k && k.id) || '', t: ms ? Math.floor(ms / 1000) : now() };
	};

	// revokedId resolves with msg's id once it is revoked, or with ''
	// after ms. WhatsApp Web sends a revoke under an id of its own, then
	// re-keys the revoked message with that id (keeping the original in
	// protocolMessageKey) and turns it into type "revoked".
	const revokedId = (msg, ms) => new Promise((resolve) => {
		if (!isFn(msg.on) || !isFn(msg.off)) {
			resolve('');
			return;
		}
		let timer;
		const done = () => {
			if (msg.type !== 'revoked') {
				return;
			}
			clearTimeout(timer);
			msg.off('change:type', done);
			resolve((msg.id && msg.id.id) || '');
		};
		timer = setTimeout(() => {
			msg.off('change:type', done);
			resolve('');
		}, ms);
		msg.on('change:type', done);
	});

	// revoke deletes a message for everyone through Cmd.sendRevokeMsgs,
	// if WAWebMsgActionCapability lets this account (as its sender or as
	// a group admin) revoke it, and reports the revoke's id.
	// whatsapp-web.js deletes it for this device only when it cannot be
	// revoked; wad refuses instead.
	ops.revoke = async (to, id) => {
		const chat = await chatOf(to);
		const msg = await msgOf(chat, id);
		const Cap = use('WAWebMsgActionCapability', [], false);
		const can = method(Cap, 'WAWebMsgActionCapability', 'canSenderRevokeMsg')(msg) ||
			method(Cap, 'WAWebMsgActionCapability', 'canAdminRevokeMsg')(msg);
		if (!can) {
			fail('invalid', 'message ' + id + ' cannot be deleted for everyone by this account (not its sender or a group admin, or too old)');
		}
		const Cmd = use('WAWebCmd', ['Cmd'], false);
		const revoke = method(Cmd, 'WAWebCmd.Cmd', 'sendRevokeMsgs');
		const revoked = revokedId(msg, 10000);
		if (atLeast('2.3000.0')) {
			await revoke(chat, { list: [msg], type: 'message' }, { clearMedia: true });
		} else {
			await revoke(chat, [msg], { clearMedia: true, type: msg.id.fromMe ? 'Sender' : 'Admin' });
		}
		return { id: await revoked, t: now() };
	};

	// seen marks a chat read as whatsapp-web.js's sendSeen does (available,
	// WAWebUpdateUnreadChatAction.sendSeen, unavailable). WhatsApp Web
	// reads whole chats: with ids, it refuses when that would read other
	// messages this session received and has not marked read.
	ops.seen = async (to, ids) => {
		const chat = await chatOf(to);
		const key = jid(chat.id);
		for (const id of ids) {
			await msgOf(chat, id);
		}
		const pending = (unread.get(key) || []).slice();
		if (ids.length) {
			const others = pending.filter((id) => !ids.includes(id));
			if (others.length) {
				fail('unsupported', 'WhatsApp Web marks a whole chat read, which would also read ' + others.length +
					' other unread message(s) (' + others.slice(0, 5).join(', ') + (others.length > 5 ? ', ...' : '') +
					'); omit ids to mark the chat read');
			}
		}
		const Stream = use('WAWebStreamModel', ['Stream'], false);
		const sendSeen = use('WAWebUpdateUnreadChatAction', ['sendSeen'], true);
		method(Stream, 'WAWebStreamModel.Stream', 'markAvailable')();
		try {
			await sendSeen({ chat: chat, threadId: undefined });
		} finally {
			method(Stream, 'WAWebStreamModel.Stream', 'markUnavailable')();
		}
		const left = (unread.get(key) || []).filter((id) => !pending.includes(id));
		if (left.length) {
			unread.set(key, left);
		} else {
			unread.delete(key);
		}
		return ids.length ? ids : pending;
	};

	// chatState tells a chat this account is typing, recording or has
	// paused, through WAWebChatStateBridge.
	const chatStates = { typing: 'sendChatStateComposing', recording: 'sendChatStateRecording', paused: 'sendChatStatePaused' };
	ops.chatState = async (to, state) => {
		const fn = chatStates[state];
		if (!fn) {
			fail('invalid', 'unknown chat state ' + state);
		}
		if (/@(newsletter|broadcast)$/.test(to)) {
			fail('unsupported', 'chat states in channels and status updates (' + to + ') are not supported');
		}
		const wid = use('WAWebWidFactory', ['createWid'], true)(to);
		await use('WAWebChatStateBridge', [fn], true)(wid);
		return true;
	};

	// download fetches and decrypts the media of a message through
	// WAWebDownloadManager's downloadManager.downloadAndMaybeDecrypt, as
	// whatsapp-web.js's downloadMedia does, and keeps the bytes in a blob
	// for wad to read.
	ops.download = async (to, id) => {
		const chat = await chatOf(to);
		const msg = await msgOf(chat, id);
		if (!msg.directPath || !msg.mediaData) {
			fail('invalid', 'message ' + id + ' has no media to download');
		}
		if (!msg.mediaKey) {
			fail('invalid', 'this session does not hold the key of the media of message ' + id);
		}
		const md = msg.mediaData;
		if (md.mediaStage === 'REUPLOADING') {
			fail('upstream', 'the media of message ' + id + ' expired and is being re-uploaded by the sender; try again later');
		}
		if (md.mediaStage !== 'RESOLVED' && isFn(msg.downloadMedia)) {
			await msg.downloadMedia({ downloadEvenIfExpensive: true, rmrReason: 1 });
		}
		const stage = String(md.mediaStage || '');
		if (stage.includes('ERROR') || stage === 'FETCHING') {
			fail('upstream', 'WhatsApp Web could not fetch the media of message ' + id + ' (' + stage + ')');
		}
		const dm = use('WAWebDownloadManager', ['downloadManager'], false);
		const qpl = { addAnnotations() { return this; }, addPoint() { return this; } };
		let buf;
		try {
			buf = await method(dm, 'WAWebDownloadManager.downloadManager', 'downloadAndMaybeDecrypt')({
				directPath: msg.directPath,
				encFilehash: msg.encFilehash,
				filehash: msg.filehash,
				mediaKey: msg.mediaKey,
				mediaKeyTimestamp: msg.mediaKeyTimestamp,
				type: msg.type,
				signal: new AbortController().signal,
				downloadQpl: qpl,
			});
		} catch (e) {
			if (e && e.status === 404) {
				fail('upstream', 'the media of message ' + id + ' is no longer on WhatsApp\'s servers');
			}
			throw e;
		}
		const h = 'b' + (++blobN);
		blobs.set(h, new Blob([buf]));
		return {
			handle: h,
			size: blobs.get(h).size,
			mime: msg.mimetype || '',
			filename: msg.filename || '',
			type: msg.type || '',
			filehash: msg.filehash || '',
		};
	};

	// Contacts, chats, groups, profile, presence and calls, the way
	// whatsapp-web.js 1.34 reaches them in WhatsApp Web. People are
	// reported by phone-number wid where WhatsApp Web knows it (LID
	// migration utils, WAWebApiContact) and by LID otherwise.

	// coll returns a collection: the dedicated module's export when it
	// exists, else the first of WAWebCollections' keys (they drift).
	const coll = (dedicated, key, legacy) => {
		const m = dedicated ? mod(dedicated) : null;
		if (m && key && m[key]) {
			return m[key];
		}
		if (m && !key && isFn(m.on)) {
			return m;
		}
		const c = mod('WAWebCollections') || {};
		for (const k of legacy) {
			if (c[k]) {
				return c[k];
			}
		}
		return null;
	};
	const needColl = (what, dedicated, key, legacy) => coll(dedicated, key, legacy) ||
		fail('missing', 'WhatsApp Web has no ' + what + ' collection (' + [dedicated].concat(legacy.map((k) => 'WAWebCollections.' + k)).filter(Boolean).join(', ') + ')');
	const contactColl = () => coll('WAWebContactCollection', 'ContactCollection', ['Contact']);
	const chatColl = () => coll('WAWebChatCollection', 'ChatCollection', ['Chat']);
	const presenceColl = () => coll('WAWebPresenceCollection', 'PresenceCollection', ['Presence']);
	const metaColl = () => coll(null, null, ['GroupMetadata', 'WAWebGroupMetadataCollection']);
	const picColl = () => coll(null, null, ['ProfilePicThumb']);
	const callColl = () => coll('WAWebCallCollection', null, ['Call']);

	// toWid turns a serialized JID into a wid (null when it cannot).
	const toWid = (x) => {
		if (x == null || typeof x !== 'string') {
			return x || null;
		}
		try {
			return mod('WAWebWidFactory').createWid(x);
		} catch (e) {
			return null;
		}
	};
	const widOf = (s) => use('WAWebWidFactory', ['createWid'], true)(s);
	const isLidWid = (w) => !!w && (isFn(w.isLid) ? w.isLid() : w.server === 'lid');
	const isGroupWid = (w) => !!w && (isFn(w.isGroup) ? w.isGroup() : w.server === 'g.us');
	// pnOf returns the phone-number wid of w (w itself unless a LID), or
	// null when WhatsApp Web does not know it.
	const pnOf = (w) => {
		w = toWid(w);
		if (!w || !isLidWid(w)) {
			return w;
		}
		for (const [m, f] of [['WAWebLidMigrationUtils', 'toPn'], ['WAWebApiContact', 'getPhoneNumber']]) {
			try {
				const M = mod(m);
				const p = M && isFn(M[f]) ? M[f](w) : null;
				if (p) {
					return p;
				}
			} catch (e) {
				// not known
			}
		}
		return null;
	};
	// lidOf returns the LID of w, or null.
	const lidOf = (w) => {
		w = toWid(w);
		if (!w || isLidWid(w)) {
			return w;
		}
		try {
			const A = mod('WAWebApiContact');
			return (A && isFn(A.getCurrentLid) && A.getCurrentLid(w)) || null;
		} catch (e) {
			return null;
		}
	};
	// ident names a person: jid (phone number where known, else LID),
	// lid (when known and not the jid) and phone (E.164, when known).
	const ident = (w) => {
		w = toWid(w);
		if (!w) {
			return { jid: '' };
		}
		const pn = pnOf(w);
		const lid = lidOf(w);
		const out = { jid: jid(pn || w) };
		if (lid && jid(lid) !== out.jid) {
			out.lid = jid(lid);
		}
		if (pn && !isGroupWid(pn)) {
			out.phone = '+' + pn.user;
		}
		return out;
	};
	const meWids = () => {
		const M = mod('WAWebUserPrefsMeUser') || {};
		const out = [];
		try {
			out.push(M.getMaybeMePnUser());
		} catch (e) {
			// none
		}
		try {
			out.push(isFn(M.getMaybeMeLidUser) ? M.getMaybeMeLidUser() : null);
		} catch (e) {
			// none
		}
		return out.filter(Boolean);
	};
	const isMe = (w) => meWids().some((m) => jid(m) === jid(w));

	// serverStatus returns the status of WhatsApp Web's
	// ServerStatusCodeError, or 0.
	const serverStatus = (e) => (e && e.name === 'ServerStatusCodeError' ? Number(e.status) || 0 : 0);
	// refused rethrows a server refusal as kind with a message, anything
	// else as is.
	const refused = (e, codes, kind, msg) => {
		const st = serverStatus(e);
		if (st && codes.includes(st)) {
			fail(kind, msg + ' (WhatsApp said ' + st + ')');
		}
		if (st) {
			fail('upstream', 'WhatsApp answered ' + st + (e.message ? ': ' + e.message : ''));
		}
		throw e;
	};

	const queryExists = () => use('WAWebQueryExistsJob', ['queryWidExists'], true);

	// check asks WhatsApp which of phones (E.164) are on WhatsApp, one
	// WAWebQueryExistsJob.queryWidExists each, as whatsapp-web.js's
	// getNumberId does; the query also teaches WhatsApp Web the LID.
	ops.check = async (phones) => {
		const query = queryExists();
		const out = [];
		for (const phone of phones) {
			const asked = widOf(String(phone).replace(/^\+/, '') + '@c.us');
			const res = await query(asked);
			if (!res || res.wid == null) {
				out.push({ phone: phone, on: false });
				continue;
			}
			const got = toWid(res.wid);
			const pn = pnOf(got) || asked;
			const lid = lidOf(got) || lidOf(pn);
			const r = { phone: phone, on: true, jid: jid(pn), biz: !!res.biz };
			if (lid) {
				r.lid = jid(lid);
			}
			if (r.biz) {
				const info = res.bizInfo || {};
				const vn = info.verifiedName;
				const c = (contactColl() || { get: () => null }).get(pn);
				r.bizName = (vn && (vn.name || (typeof vn === 'string' ? vn : ''))) || (c && c.verifiedName) || '';
			}
			out.push(r);
		}
		return out;
	};

	const contactOut = (c) => {
		const id = ident(c.id);
		if (!id.phone && c.phoneNumber) {
			const pn = toWid(c.phoneNumber);
			if (pn) {
				id.lid = id.lid || id.jid;
				id.jid = jid(pn);
				id.phone = '+' + pn.user;
			}
		}
		return Object.assign(id, {
			name: c.name || '',
			first: c.shortName || '',
			push: c.pushname || '',
			biz: c.isBusiness ? (c.verifiedName || '') : '',
		});
	};
	const isUserWid = (w) => !!w && (w.server === 'c.us' || w.server === 's.whatsapp.net' || w.server === 'lid');

	// contacts lists WhatsApp Web's contact collection (the synced
	// address book and everyone WhatsApp Web knows a name of), users only,
	// one entry per person.
	ops.contacts = async () => {
		const Contacts = needColl('contact', 'WAWebContactCollection', 'ContactCollection', ['Contact']);
		const byJid = new Map();
		const mine = meWids().map(jid);
		for (const c of method(Contacts, 'the contact collection', 'getModelsArray')()) {
			const w = toWid(c.id);
			if (!isUserWid(w) || mine.includes(jid(w))) {
				continue;
			}
			const o = contactOut(c);
			const prev = byJid.get(o.jid);
			if (prev) {
				for (const k of Object.keys(o)) {
					if (!prev[k]) {
						prev[k] = o[k];
					}
				}
			} else {
				byJid.set(o.jid, o);
			}
		}
		return Array.from(byJid.values());
	};

	// contactInfo tells what WhatsApp Web knows of one person: the
	// contact model (WAWebContactCollection find), the about text
	// (WAWebContactStatusBridge.getStatus) and, if asked, the picture
	// (WAWebContactProfilePicThumbBridge.requestProfilePicFromServer). A
	// LID or number WhatsApp Web cannot map is looked up first, as
	// whatsapp-web.js's enforceLidAndPnRetrieval does.
	// picOf asks for the profile picture of a chat or contact model (what
	// WAWebContactProfilePicThumbBridge.requestProfilePicFromServer takes:
	// a model with id and, for a chat, tcToken, as whatsapp-web.js passes
	// the chat). No picture (404) or a hidden one (401, 403) is no
	// picture, as whatsapp-web.js's getProfilePicUrl has it.
	const picOf = async (request, model) => {
		if (!model || !model.id) {
			return null;
		}
		try {
			return await request(model);
		} catch (e) {
			if ([401, 403, 404].includes(serverStatus(e))) {
				return null;
			}
			throw e;
		}
	};

	ops.contactInfo = async (who, picture) => {
		const wid = widOf(who);
		// A LID is on WhatsApp by definition: it is not queried, and one
		// whose number WhatsApp Web does not know is reported without.
		if (!isLidWid(wid) && !lidOf(wid)) {
			const res = await queryExists()(wid);
			if (!res || res.wid == null) {
				fail('invalid', who + ' is not on WhatsApp');
			}
		}
		const Contacts = needColl('contact', 'WAWebContactCollection', 'ContactCollection', ['Contact']);
		let c = Contacts.get(wid) || Contacts.get(pnOf(wid) || wid);
		if (!c && isFn(Contacts.find)) {
			c = await Contacts.find(wid);
		}
		const out = contactOut(c || { id: wid });
		const chats = chatColl();
		const chat = chats && isFn(chats.get) ? chats.get(wid) : null;
		const Status = mod('WAWebContactStatusBridge');
		if (Status && isFn(Status.getStatus)) {
			try {
				const st = await Status.getStatus({ token: '', wid: wid });
				if (st && typeof st.status === 'string') {
					out.about = st.status;
				}
			} catch (e) {
				if (!serverStatus(e)) {
					throw e;
				}
			}
		}
		if (picture) {
			const pic = await picOf(use('WAWebContactProfilePicThumbBridge', ['requestProfilePicFromServer'], true), chat || c);
			if (pic && pic.eurl) {
				out.picId = String(pic.tag || '');
				out.picUrl = pic.eurl;
			}
		}
		return out;
	};

	const chatKind = (w) => {
		if (isGroupWid(w)) {
			return 'group';
		}
		if (w && w.server === 'broadcast') {
			return 'broadcast';
		}
		if (w && w.server === 'newsletter') {
			return 'newsletter';
		}
		return 'user';
	};

	// chats lists the chat collection with what WhatsApp Web keeps of
	// each (whatsapp-web.js's getChatModel, without its metadata query per
	// group): title, unread count, last activity, mute, archive, pin.
	ops.chats = async () => {
		const Chats = needColl('chat', 'WAWebChatCollection', 'ChatCollection', ['Chat']);
		const out = [];
		for (const c of method(Chats, 'the chat collection', 'getModelsArray')()) {
			const w = toWid(c.id);
			if (!w || jid(w) === 'status@broadcast') {
				continue;
			}
			const mute = c.mute && c.mute.expiration !== undefined ? Number(c.mute.expiration) : Number(c.muteExpiration) || 0;
			out.push({
				id: isUserWid(w) ? ident(w).jid : jid(w),
				name: c.formattedTitle || c.name || (c.groupMetadata && c.groupMetadata.subject) || '',
				kind: chatKind(w),
				unread: Math.max(0, Number(c.unreadCount) || 0),
				t: Number(c.t) || 0,
				mute: mute,
				archived: !!c.archive,
				pinned: !!c.pin,
			});
		}
		out.sort((a, b) => b.t - a.t);
		return out;
	};

	const partsOf = (meta) => {
		const p = meta && meta.participants;
		if (!p) {
			return [];
		}
		return isFn(p.getModelsArray) ? p.getModelsArray() : (Array.isArray(p) ? p : []);
	};
	const groupOut = (meta, chat, withParts) => {
		const parts = partsOf(meta);
		const g = {
			id: jid(meta.id),
			name: meta.subject || (chat && chat.formattedTitle) || '',
			topic: meta.desc || '',
			owner: meta.owner ? ident(meta.owner).jid : '',
			created: Number(meta.creation) || 0,
			announce: !!meta.announce,
			locked: !!meta.restrict,
			size: parts.length || Number(meta.size) || 0,
		};
		if (withParts) {
			g.participants = parts.map((p) => Object.assign(ident(p.id), { admin: !!(p.isAdmin || p.isSuperAdmin), superAdmin: !!p.isSuperAdmin }));
		}
		return g;
	};
	const amMember = (meta) => {
		const p = meta && meta.participants;
		if (!p || !isFn(p.get) || !partsOf(meta).length) {
			return true;
		}
		return meWids().some((w) => !!p.get(w));
	};
	const groupWid = (g) => {
		const w = widOf(g);
		if (!isGroupWid(w)) {
			fail('invalid', g + ' is not a group');
		}
		return w;
	};
	// groupMeta refreshes a group's metadata from the server
	// (WAWebGroupQueryJob.queryAndUpdateGroupMetadataById) and returns it.
	const groupMeta = async (g) => {
		const w = groupWid(g);
		try {
			await use('WAWebGroupQueryJob', ['queryAndUpdateGroupMetadataById'], true)({ id: g });
		} catch (e) {
			refused(e, [401, 403, 404, 406], 'upstream', 'group ' + g + ' is unknown or this account is not in it');
		}
		const Meta = needColl('group metadata', null, null, ['GroupMetadata', 'WAWebGroupMetadataCollection']);
		const meta = Meta.get(w);
		if (!meta) {
			fail('upstream', 'WhatsApp Web has no metadata of group ' + g);
		}
		return meta;
	};

	// groups lists the groups this account is in: the group chats with
	// their metadata as WhatsApp Web holds it (no query per group).
	ops.groups = async () => {
		const Chats = needColl('chat', 'WAWebChatCollection', 'ChatCollection', ['Chat']);
		const Meta = metaColl();
		const out = [];
		for (const c of method(Chats, 'the chat collection', 'getModelsArray')()) {
			const w = toWid(c.id);
			if (!isGroupWid(w)) {
				continue;
			}
			const meta = (Meta && Meta.get(w)) || c.groupMetadata;
			if (!meta || !amMember(meta) || meta.terminated) {
				continue;
			}
			out.push(groupOut(meta, c, false));
		}
		return out;
	};

	ops.groupInfo = async (g) => {
		const meta = await groupMeta(g);
		if (!amMember(meta)) {
			fail('upstream', 'this account is not in group ' + g);
		}
		const chats = chatColl();
		return groupOut(meta, chats && chats.get(meta.id), true);
	};

	// matchAsked returns the index of whom of asked the wid w names (by
	// number or LID), or -1.
	const matchAsked = (asked, w) => {
		const names = (x) => [jid(x), jid(pnOf(x)), jid(lidOf(x))].filter(Boolean);
		const mine = names(w);
		return asked.findIndex((a) => names(toWid(a)).some((n) => mine.includes(n)));
	};

	// groupCreate creates a group as whatsapp-web.js's createGroup does:
	// who is not on WhatsApp (queryWidExists) is refused with 404 before,
	// the others go to WAWebGroupCreateJob.createGroup, whose answer
	// carries a status per participant (403: their privacy settings allow
	// only an invite, whose code it carries).
	ops.groupCreate = async (name, asked) => {
		const create = use('WAWebGroupCreateJob', ['createGroup'], true);
		const query = queryExists();
		const results = asked.map((a) => ({ jid: a }));
		const args = [];
		const sentIdx = [];
		for (let i = 0; i < asked.length; i++) {
			const w = widOf(asked[i]);
			// A LID is on WhatsApp by definition and is not queried.
			const ex = isLidWid(w) ? { wid: w } : await query(w);
			if (!ex || ex.wid == null) {
				Object.assign(results[i], { code: 404, error: 'not on WhatsApp' });
				continue;
			}
			const pn = pnOf(w);
			const a = { phoneNumber: pn || w };
			const lid = lidOf(w);
			if (lid) {
				a.lid = lid;
			}
			args.push(a);
			sentIdx.push(i);
		}
		let res;
		try {
			res = await create({
				addressingModeOverride: 'lid',
				memberAddMode: false,
				membershipApprovalMode: false,
				announce: false,
				restrict: false,
				ephemeralDuration: 0,
				title: name,
			}, args);
		} catch (e) {
			refused(e, [400, 406], 'invalid', 'WhatsApp refused to create the group');
		}
		if (!res || !res.wid) {
			fail('upstream', 'WhatsApp Web created no group');
		}
		const done = new Set();
		for (const p of res.participants || []) {
			if (isMe(p.wid)) {
				continue;
			}
			let i = matchAsked(asked, toWid(p.wid));
			if (i < 0 || done.has(i)) {
				continue;
			}
			done.add(i);
			const code = Number(p.error) || 200;
			Object.assign(results[i], { code: code, ok: code === 200 });
			if (p.invite_code) {
				results[i].inviteCode = String(p.invite_code);
				results[i].inviteExp = Number(p.invite_code_exp) || 0;
			}
		}
		for (const i of sentIdx) {
			if (!done.has(i)) {
				Object.assign(results[i], { code: 500, error: 'WhatsApp did not say what became of this participant' });
			}
		}
		const Meta = metaColl();
		const meta = Meta && Meta.get(res.wid);
		const group = meta ? groupOut(meta, null, true) : {
			id: jid(res.wid), name: res.subject || name, owner: res.creator ? ident(res.creator).jid : '',
			created: Number(res.ts) || 0, announce: false, locked: false,
			participants: (res.participants || []).filter((p) => !p.error).map((p) =>
				Object.assign(ident(p.wid), { admin: p.type === 'admin' || p.type === 'superadmin', superAdmin: p.type === 'superadmin' })),
		};
		if (!meta) {
			group.size = group.participants.length;
		}
		return { group: group, participants: results };
	};

	// addOne adds one participant through
	// WASmaxGroupsAddParticipantsRPC.sendAddParticipantsRPC, as
	// whatsapp-web.js's addParticipants does, and reads its status.
	const addOne = async (gw, a) => {
		const W2J = use('WAWebWidToJid', [], false);
		const w = widOf(a);
		const send = use('WASmaxGroupsAddParticipantsRPC', ['sendAddParticipantsRPC'], true);
		const args = {
			participantArgs: [{ participantJid: method(W2J, 'WAWebWidToJid', 'widToUserJid')(w) }],
			iqTo: method(W2J, 'WAWebWidToJid', 'widToGroupJid')(gw),
		};
		const r = { jid: a };
		let rpc;
		try {
			rpc = await send(args);
		} catch (e) {
			// This participant's query failed; the others go on (as
			// whatsapp-web.js's getAddParticipantsRpcResult, 400).
			return Object.assign(r, { ok: false, code: serverStatus(e) || 400, error: String((e && e.message) || e) });
		}
		const v = (rpc && rpc.value) || {};
		if (rpc && rpc.name === 'AddParticipantsResponseSuccess') {
			const item = (v.addParticipant || [])[0] || {};
			const mixin = item.addParticipantsParticipantAddedOrNonRegisteredWaUserParticipantErrorLidResponseMixinGroup;
			const res = mixin && mixin.value && mixin.value.addParticipantsParticipantMixins;
			if (!res || !res.value) {
				return Object.assign(r, { code: 400, error: 'WhatsApp Web\'s answer had no result for this participant' });
			}
			r.code = Number(res.value.error || '200');
			if (res.value.addRequestCode) {
				r.inviteCode = String(res.value.addRequestCode);
				r.inviteExp = Number(res.value.addRequestExpiration) || 0;
			}
		} else if (rpc && rpc.name === 'AddParticipantsResponseClientError') {
			r.code = Number(v.errorAddParticipantsClientErrors && v.errorAddParticipantsClientErrors.value && v.errorAddParticipantsClientErrors.value.code) || 400;
		} else if (rpc && rpc.name === 'AddParticipantsResponseServerError') {
			r.code = Number(v.errorServerErrors && v.errorServerErrors.value && v.errorServerErrors.value.code) || 500;
		} else {
			r.code = 400;
			r.error = 'unexpected answer ' + (rpc && rpc.name);
		}
		r.ok = r.code === 200;
		return r;
	};
	const participantActions = { remove: 'removeParticipants', promote: 'promoteParticipants', demote: 'demoteParticipants' };

	// groupParticipants adds (one at a time, each with its own status),
	// removes, promotes or demotes participants. Removals, promotions and
	// demotions go through WAWebModifyParticipantsGroupAction with the
	// participant models; who is not in the group is reported as 404.
	ops.groupParticipants = async (g, action, asked) => {
		const gw = groupWid(g);
		const meta = await groupMeta(g);
		const chat = await chatOf(g);
		const parts = meta.participants;
		const admin = parts && isFn(parts.iAmAdmin) ? parts.iAmAdmin() : (isFn(chat.iAmAdmin) ? chat.iAmAdmin() : true);
		if (!admin) {
			fail('upstream', 'this account is not an admin of group ' + g);
		}
		if (action === 'add') {
			const out = [];
			for (const a of asked) {
				out.push(await addOne(gw, a));
			}
			return out;
		}
		const fn = participantActions[action];
		if (!fn) {
			fail('invalid', 'unknown participant action ' + action);
		}
		const out = asked.map((a) => ({ jid: a }));
		const models = [];
		for (let i = 0; i < asked.length; i++) {
			const w = widOf(asked[i]);
			const m = parts && isFn(parts.get) ? (parts.get(lidOf(w) || w) || parts.get(pnOf(w) || w)) : null;
			if (!m) {
				Object.assign(out[i], { code: 404, error: 'not a participant of the group' });
				continue;
			}
			models.push(m);
			Object.assign(out[i], { ok: true, code: 200 });
		}
		if (models.length) {
			try {
				await use('WAWebModifyParticipantsGroupAction', [fn], true)(chat, models);
			} catch (e) {
				if (e && e.name === 'ActionError') {
					fail('upstream', 'WhatsApp Web refused to ' + action + ' them: ' + (e.message || 'not allowed'));
				}
				refused(e, [401, 403, 404, 406], 'upstream', 'WhatsApp refused to ' + action + ' them');
			}
		}
		return out;
	};

	// inviteLink reads the group's invite code
	// (WAWebMexFetchGroupInviteCodeJob) or, with reset, revokes it for a
	// new one (WAWebGroupInviteJob.resetGroupInviteCode).
	ops.inviteLink = async (g, reset) => {
		const w = groupWid(g);
		let code;
		try {
			if (reset) {
				const J = mod('WAWebGroupInviteJob');
				const Q = mod('WAWebGroupQueryJob');
				const fn = (J && isFn(J.resetGroupInviteCode) && J.resetGroupInviteCode) || (Q && isFn(Q.resetGroupInviteCode) && Q.resetGroupInviteCode);
				if (!fn) {
					fail('missing', 'WhatsApp Web lacks WAWebGroupInviteJob.resetGroupInviteCode');
				}
				const res = await fn(w);
				code = res && res.code;
			} else {
				const res = await use('WAWebMexFetchGroupInviteCodeJob', ['fetchMexGroupInviteCode'], true)(g);
				code = res && typeof res === 'object' ? res.code : res;
			}
		} catch (e) {
			refused(e, [401, 403, 404, 406], 'upstream', 'this account cannot read the invite link of group ' + g + ' (not an admin?)');
		}
		if (!code) {
			fail('upstream', 'WhatsApp gave no invite code');
		}
		return String(code);
	};

	// join joins a group with an invite code
	// (WAWebGroupInviteJob.joinGroupViaInvite).
	ops.join = async (code) => {
		let res;
		try {
			res = await use('WAWebGroupInviteJob', ['joinGroupViaInvite'], true)(code);
		} catch (e) {
			if (e && e.name === 'UnexpectedJoinGroupViaInviteResponse') {
				fail('unsupported', 'the group asks admins to approve who joins, which wad does not do');
			}
			refused(e, [400, 401, 403, 404, 406, 410], 'invalid', 'WhatsApp refused the invite code (revoked, unknown, or the group is full)');
		}
		if (!res || !res.gid) {
			fail('upstream', 'WhatsApp Web joined no group');
		}
		return jid(res.gid);
	};

	// leave leaves a group (WAWebExitGroupAction.sendExitGroup with the
	// chat).
	ops.leave = async (g) => {
		groupWid(g);
		const meta = await groupMeta(g);
		if (!amMember(meta)) {
			fail('upstream', 'this account is not in group ' + g);
		}
		const chat = await chatOf(g);
		await use('WAWebExitGroupAction', ['sendExitGroup'], true)(chat);
		return true;
	};

	// groupSet changes a group's subject and description
	// (WAWebGroupModifyInfoJob) and its announce and restrict settings
	// (WAWebSetPropertyGroupAction.setGroupProperty), in that order.
	ops.groupSet = async (g, spec) => {
		const w = groupWid(g);
		const meta = await groupMeta(g);
		const chat = await chatOf(g);
		const deny = (e) => refused(e, [401, 403, 404, 406], 'upstream', 'this account may not change group ' + g + ' (not an admin?)');
		try {
			if (spec.name != null) {
				await use('WAWebGroupModifyInfoJob', ['setGroupSubject'], true)(w, spec.name);
			}
			if (spec.topic != null) {
				const id = await use('WAWebMsgKey', ['newId'], true)();
				await use('WAWebGroupModifyInfoJob', ['setGroupDescription'], true)(w, spec.topic, id, meta.descId);
			}
			const prop = use('WAWebSetPropertyGroupAction', ['setGroupProperty'], true);
			if (spec.announce != null) {
				await prop(chat, 'announcement', spec.announce ? 1 : 0);
			}
			if (spec.locked != null) {
				await prop(chat, 'restrict', spec.locked ? 1 : 0);
			}
		} catch (e) {
			if (e instanceof WadError) {
				throw e;
			}
			deny(e);
		}
		return true;
	};

	// profile tells this account as others see it: push name
	// (WAWebConnModel Conn), about and picture.
	ops.profile = async () => {
		const [pn, lid] = [mod('WAWebUserPrefsMeUser').getMaybeMePnUser(), (isFn(mod('WAWebUserPrefsMeUser').getMaybeMeLidUser) ? mod('WAWebUserPrefsMeUser').getMaybeMeLidUser() : null)];
		const me = pn || lid;
		const Conn = use('WAWebConnModel', ['Conn'], false);
		const out = { jid: jid(me), lid: lid && pn ? jid(lid) : '', name: Conn.pushname || '' };
		const Status = mod('WAWebContactStatusBridge');
		if (Status && isFn(Status.getStatus)) {
			try {
				const st = await Status.getStatus({ token: '', wid: me });
				out.about = (st && typeof st.status === 'string') ? st.status : '';
			} catch (e) {
				if (!serverStatus(e)) {
					throw e;
				}
			}
		}
		const Pic = mod('WAWebContactProfilePicThumbBridge');
		if (Pic && isFn(Pic.requestProfilePicFromServer)) {
			const chats = chatColl();
			const Contacts = contactColl();
			let model = (chats && isFn(chats.get) && chats.get(me)) || (Contacts && isFn(Contacts.get) && Contacts.get(me)) || null;
			if (!model && Contacts && isFn(Contacts.find)) {
				model = await Contacts.find(me);
			}
			const pic = await picOf(Pic.requestProfilePicFromServer.bind(Pic), model);
			if (pic && pic.eurl) {
				out.picId = String(pic.tag || '');
				out.picUrl = pic.eurl;
			}
		}
		return out;
	};

	// squareJPEG crops an image to its centre square and scales it to
	// size pixels, as a JPEG data URL (whatsapp-web.js crops and scales the
	// same way before WAWebContactProfilePicThumbBridge.sendSetPicture).
	const squareJPEG = async (bitmap, size) => {
		const side = Math.min(bitmap.width, bitmap.height);
		const canvas = document.createElement('canvas');
		canvas.width = size;
		canvas.height = size;
		const ctx = canvas.getContext('2d');
		ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, size, size);
		return canvas.toDataURL('image/jpeg', 0.9);
	};

	// profileSet changes the push name (WAWebSetPushnameConnAction), the
	// about (WAWebContactStatusBridge.setMyStatus) and the picture
	// (sendSetPicture / requestDeletePicture, after the picture model's
	// canSet / canDelete), in that order.
	ops.profileSet = async (spec) => {
		const Me = use('WAWebUserPrefsMeUser', [], false);
		const me = Me.getMaybeMePnUser() || (isFn(Me.getMaybeMeLidUser) ? Me.getMaybeMeLidUser() : null);
		const out = {};
		if (spec.name != null) {
			const Conn = use('WAWebConnModel', ['Conn'], false);
			if (!method(Conn, 'WAWebConnModel.Conn', 'canSetMyPushname')()) {
				fail('unsupported', 'WhatsApp Web does not let this account set its name');
			}
			await use('WAWebSetPushnameConnAction', ['setPushname'], true)(spec.name);
		}
		if (spec.about != null) {
			const res = await use('WAWebContactStatusBridge', ['setMyStatus'], true)(spec.about);
			const st = Number(res && res.status) || 0;
			if (st >= 400) {
				fail('upstream', 'WhatsApp refused the about text (' + st + ')');
			}
		}
		if (spec.picture || spec.removePicture) {
			const Pics = needColl('profile picture', null, null, ['ProfilePicThumb']);
			let model = Pics.get(me);
			if (!model && isFn(Pics.find)) {
				model = await Pics.find(me);
			}
			const Bridge = use('WAWebContactProfilePicThumbBridge', [], false);
			if (spec.picture) {
				const blob = takeBlob(spec.picture);
				if (!model || !isFn(model.canSet) || !model.canSet()) {
					fail('unsupported', 'WhatsApp Web does not let this account set its picture');
				}
				let bitmap;
				try {
					bitmap = await createImageBitmap(blob);
				} catch (e) {
					fail('invalid', 'the picture cannot be decoded as an image: ' + e);
				}
				const full = await squareJPEG(bitmap, Math.min(640, Math.min(bitmap.width, bitmap.height)));
				const thumb = await squareJPEG(bitmap, 96);
				bitmap.close();
				let res;
				try {
					res = await method(Bridge, 'WAWebContactProfilePicThumbBridge', 'sendSetPicture')(me, thumb, full);
				} catch (e) {
					refused(e, [400, 406, 415], 'invalid', 'WhatsApp refused the picture');
				}
				if (!res || Number(res.status) !== 200) {
					fail('upstream', 'WhatsApp did not set the picture' + (res && res.status ? ' (' + res.status + ')' : ''));
				}
				out.picId = String(res.tag || '');
			} else {
				if (!model || !isFn(model.canDelete) || !model.canDelete()) {
					fail('invalid', 'this account has no picture to remove');
				}
				const res = await method(Bridge, 'WAWebContactProfilePicThumbBridge', 'requestDeletePicture')(me);
				if (res && Number(res.status) >= 400) {
					fail('upstream', 'WhatsApp did not remove the picture (' + res.status + ')');
				}
			}
		}
		return out;
	};

	// Presence subscriptions, renewed when the socket connects again
	// (WhatsApp Web clears every presence on a disconnect).
	const subscribed = new Set();
	const subscribe = async (w) => {
		const B = use('WAWebContactPresenceBridge', [], false);
		const chats = chatColl();
		const chat = chats && isFn(chats.get) ? chats.get(w) : null;
		const tc = chat && isFn(chat.getTcToken) ? chat.getTcToken() : undefined;
		if (isFn(B.subscribePresence)) {
			await B.subscribePresence(w, tc);
		} else if (isFn(B.subscribeUserPresence)) {
			await B.subscribeUserPresence(w);
		} else {
			fail('missing', 'WhatsApp Web lacks WAWebContactPresenceBridge.subscribePresence');
		}
		const P = presenceColl();
		if (P && isFn(P.gadd)) {
			P.gadd(w);
		}
	};
	// presenceSubscribe asks WhatsApp for a person's presence
	// (WAWebContactPresenceBridge.subscribePresence with the chat's
	// tcToken, as WAHA does over whatsapp-web.js).
	ops.presenceSubscribe = async (who) => {
		const w = widOf(who);
		if (isGroupWid(w)) {
			fail('invalid', 'presence is subscribed per person, not per group');
		}
		await subscribe(w);
		subscribed.add(who);
		return true;
	};

	// callReject refuses an incoming call: through the VoIP stack when it
	// is the active call (WAWebVoipStackInterface), else with the reject
	// stanza whatsapp-web.js casts (WAWap, WADeprecatedSendIq), which
	// WhatsApp does not acknowledge. Its jids are WAWap USER_JID objects
	// of the user jids (@s.whatsapp.net or @lid), as the stanza needs.
	// With text, the caller is then messaged; a text that fails after the
	// call was rejected is reported as textError, not as a failure of the
	// rejection.
	ops.callReject = async (id, from, text) => {
		const Calls = callColl();
		const active = Calls && Calls.activeCall;
		const known = (Calls && isFn(Calls.get) && Calls.get(id)) || (active && active.id === id ? active : null);
		const peer = known && known.peerJid ? toWid(known.peerJid) : widOf(from);
		let done = false;
		// What ends the call now is this rejection, not a termination; the
		// mark is taken back when the rejection fails. It is set before,
		// since WhatsApp Web may drop the call while rejectCall runs.
		const wasEnded = ended.has(id);
		ended.add(id);
		try {
			if (active && active.id === id) {
				const V = mod('WAWebVoipStackInterface');
				if (V && isFn(V.getVoipStackInterface)) {
					const stack = await V.getVoipStackInterface();
					if (stack && isFn(stack.rejectCall)) {
						active.userEndedCall = true;
						await stack.rejectCall();
						done = true;
					}
				}
			}
			if (!done) {
				const Wap = use('WAWap', [], false);
				const W2J = use('WAWebWidToJid', [], false);
				const userJid = (w) => method(Wap, 'WAWap', 'USER_JID')(method(W2J, 'WAWebWidToJid', 'widToUserJid')(w));
				const me = use('WAWebUserPrefsMeUser', ['getMaybeMePnUser'], true)();
				const stanza = method(Wap, 'WAWap', 'wap')('call', { id: method(Wap, 'WAWap', 'generateId')(), from: userJid(me), to: userJid(peer) },
					[Wap.wap('reject', { 'call-id': id, 'call-creator': userJid(peer), count: '0' })]);
				await use('WADeprecatedSendIq', ['deprecatedCastStanza'], true)(stanza);
			}
		} catch (e) {
			if (!wasEnded) {
				ended.delete(id);
			}
			throw e;
		}
		const caller = ident(peer).jid;
		const out = { from: caller };
		if (text) {
			try {
				await ops.send(caller, { text: text });
			} catch (e) {
				out.textError = String((e && e.message) || e);
			}
		}
		return out;
	};

	// Events of this domain.
	const gp2Types = {
		add: 'add', invite: 'add', linked_group_join: 'add', remove: 'remove', leave: 'remove',
		promote: 'promote', demote: 'demote', subject: 'name', description: 'topic',
		announce: 'announce', restrict: 'locked', picture: 'picture', create: 'joined',
	};
	// groupPicId asks the server for the id (tag) of group g's picture:
	// '' when it has none (404). When it cannot tell, the thumbnail's tag
	// WhatsApp Web holds.
	const groupPicId = async (g) => {
		const chats = chatColl();
		const chat = chats && isFn(chats.get) ? chats.get(g) : null;
		const held = () => {
			const Pics = picColl();
			const p = Pics && Pics.get(g);
			return (p && p.tag) || '';
		};
		const B = mod('WAWebContactProfilePicThumbBridge');
		if (!chat || !B || !isFn(B.requestProfilePicFromServer)) {
			return held();
		}
		let timer;
		try {
			const pic = await Promise.race([
				B.requestProfilePicFromServer(chat),
				new Promise((_, reject) => {
					timer = setTimeout(() => reject(new Error('timeout')), 10000);
				}),
			]);
			return (pic && pic.tag) ? String(pic.tag) : held();
		} catch (e) {
			if (serverStatus(e) === 404) {
				return '';
			}
			return held();
		} finally {
			clearTimeout(timer);
		}
	};
	// emitGroup reports a gp2 message (whatsapp-web.js's group_join,
	// group_leave, group_admin_changed and group_update).
	const emitGroup = (msg) => {
		try {
			const type = gp2Types[msg.subtype];
			if (!type) {
				return;
			}
			const g = toWid(msg.id && msg.id.remote) || toWid(msg.from);
			const d = { group: jid(g), type: type, author: msg.author ? ident(msg.author).jid : '' };
			const recips = (msg.recipients || []).map(toWid).filter(Boolean);
			d.participants = recips.map((w) => ident(w).jid);
			const Meta = metaColl();
			const meta = Meta && Meta.get(g);
			const mine = recips.some(isMe);
			if (type === 'add' && mine) {
				d.type = 'joined';
			} else if (type === 'remove' && mine) {
				d.type = 'left';
			}
			if (d.type === 'joined' && meta) {
				d.info = groupOut(meta, null, true);
			}
			// The message carries the new name and topic; the metadata
			// may not have caught up with it yet.
			if (type === 'name') {
				d.name = typeof msg.body === 'string' && msg.body ? msg.body : ((meta && meta.subject) || '');
			} else if (type === 'topic') {
				d.topic = typeof msg.body === 'string' ? msg.body : ((meta && meta.desc) || '');
			} else if (type === 'announce' && meta) {
				d.value = !!meta.announce;
			} else if (type === 'locked' && meta) {
				d.value = !!meta.restrict;
			}
			if (d.type === 'joined' || d.type === 'left' || type === 'name' || type === 'topic' || type === 'announce' || type === 'locked' || type === 'picture') {
				if (d.type !== 'joined' || type === 'joined') {
					delete d.participants;
				}
			}
			if (type === 'picture') {
				// The thumbnail WhatsApp Web holds may be the old one, and
				// an empty id says "removed": the picture's id is asked of
				// the server (no picture, 404: removed), in event order.
				emitWhen(groupPicId(g).then((id) => {
					d.picId = id;
					return { k: 'group', d: d };
				}));
				return;
			}
			emit({ k: 'group', d: d });
		} catch (e) {
			emit({ k: 'error', error: 'reading group notification: ' + e });
		}
	};

	// chatStates of others: a user's presence model has one chatstate, a
	// group's one per participant (chatstates); typing and recording end
	// as "paused".
	const lastState = new Map();
	const chatStateOf = (chatWid, senderWid, type) => {
		const state = type === 'typing' ? 'typing' : (type === 'recording_audio' ? 'recording' : 'paused');
		const key = jid(chatWid) + ' ' + jid(senderWid);
		const prev = lastState.get(key) || 'paused';
		if (state === prev) {
			return;
		}
		if (state === 'paused') {
			lastState.delete(key);
		} else {
			lastState.set(key, state);
		}
		const chat = isGroupWid(chatWid) ? jid(chatWid) : ident(chatWid).jid;
		emit({ k: 'chatstate', d: { chat: chat, sender: ident(senderWid).jid, state: state } });
	};
	const hookedGroups = new WeakSet();
	const hookGroupPresence = (p) => {
		if (!p || hookedGroups.has(p) || !isGroupWid(toWid(p.id)) || !p.chatstates || !isFn(p.chatstates.on)) {
			return;
		}
		hookedGroups.add(p);
		p.chatstates.on('add change:type', (cs) => {
			if (cs && cs.id) {
				chatStateOf(toWid(p.id), toWid(cs.id), cs.type);
			}
		});
	};
	const ended = new Set();
	const seenCalls = new Map();
	const onCall = (call) => {
		try {
			if (!call || !call.id || call.outgoing || seenCalls.has(call.id)) {
				return;
			}
			const from = ident(call.peerJid).jid;
			seenCalls.set(call.id, from);
			if (seenCalls.size > 200) {
				seenCalls.delete(seenCalls.keys().next().value);
			}
			const d = { id: String(call.id), from: from, state: 'offer', video: !!call.isVideo };
			if (call.isGroup && call.groupJid) {
				d.group = jid(call.groupJid);
			}
			emit({ k: 'call', d: d });
		} catch (e) {
			emit({ k: 'error', error: 'reading call: ' + e });
		}
	};
	const onCallGone = (call) => {
		if (!call || !seenCalls.has(call.id) || ended.has(call.id)) {
			return;
		}
		ended.add(call.id);
		if (ended.size > 200) {
			ended.delete(ended.values().next().value);
		}
		emit({ k: 'call', d: { id: String(call.id), from: seenCalls.get(call.id), state: 'terminated', reason: String(call.endReason || '') } });
	};
	const wrapCalls = (Calls, name) => {
		const orig = Calls[name];
		if (!isFn(orig) || orig.__wad) {
			return;
		}
		const wrapped = function (...args) {
			const res = orig.apply(this, args);
			try {
				onCall(name === 'setActiveCall' ? args[0] : Calls.activeCall);
			} catch (e) {
				// never break WhatsApp Web's own call handling
			}
			return res;
		};
		wrapped.__wad = true;
		Calls[name] = wrapped;
	};

	// hookSocial listens for what the social events report; what is
	// missing only loses those events.
	const hookSocial = () => {
		const P = presenceColl();
		if (P && isFn(P.on)) {
			P.on('change:isOnline', (p) => {
				const w = toWid(p && p.id);
				if (!w || isGroupWid(w)) {
					return;
				}
				const cs = p.chatstate || {};
				const d = { jid: ident(w).jid, online: !!p.isOnline };
				if (!p.isOnline && !cs.deny && Number(cs.t) > 0) {
					d.t = Number(cs.t);
				}
				emit({ k: 'presence', d: d });
			});
			P.on('change:chatstate.type', (cs) => {
				const p = cs && cs.chatstate ? cs : P.getModelsArray().find((m) => m.chatstate === cs);
				const w = toWid(p && p.id);
				if (!w || isGroupWid(w)) {
					return;
				}
				chatStateOf(w, w, p.chatstate.type);
			});
			P.on('add', hookGroupPresence);
			for (const p of isFn(P.getModelsArray) ? P.getModelsArray() : []) {
				hookGroupPresence(p);
			}
		} else {
			emit({ k: 'warn', what: 'WAWebPresenceCollection is missing: no presence events' });
		}
		const Calls = callColl();
		if (Calls && isFn(Calls.on)) {
			Calls.on('add', onCall);
			// On WhatsApp Web's native VoIP stack a call may only ever be
			// the active call: one that stops being active has ended.
			let active = Calls.activeCall || null;
			Calls.on('change:activeCall', () => {
				const now = Calls.activeCall || null;
				if (active && active !== now) {
					onCallGone(active);
				}
				active = now;
				onCall(now);
			});
			Calls.on('remove', onCallGone);
			wrapCalls(Calls, 'setActiveCall');
			wrapCalls(Calls, 'processIncomingCall');
		} else {
			emit({ k: 'warn', what: 'WAWebCallCollection is missing: no call events' });
		}
		const Contacts = contactColl();
		if (Contacts && isFn(Contacts.on)) {
			// A push name changed when it replaces another: WhatsApp Web
			// also fills in push names it learns (a first message, a
			// query), which are no changes.
			const pushes = new Map();
			const notePush = (c) => {
				if (c && c.id) {
					pushes.set(jid(c.id), String(c.pushname || ''));
				}
			};
			for (const c of isFn(Contacts.getModelsArray) ? Contacts.getModelsArray() : []) {
				notePush(c);
			}
			Contacts.on('add', notePush);
			Contacts.on('change:pushname', (c) => {
				const w = toWid(c && c.id);
				const before = w ? (pushes.get(jid(w)) || (isFn(c.previous) ? String(c.previous('pushname') || '') : '')) : '';
				notePush(c);
				const push = String((c && c.pushname) || '');
				if (isUserWid(w) && !isMe(w) && before && push && push !== before) {
					emit({ k: 'contact', d: { jid: ident(w).jid, push: push } });
				}
			});
		}
		// A picture changed when its tag changes from one WhatsApp Web
		// knew: WhatsApp Web also fills in tags as it loads thumbnails,
		// which are no changes.
		const Pics = picColl();
		if (Pics && isFn(Pics.on)) {
			const tags = new Map();
			const note = (m) => {
				if (m && m.id && typeof m.tag === 'string') {
					tags.set(jid(m.id), m.tag);
				}
			};
			for (const m of isFn(Pics.getModelsArray) ? Pics.getModelsArray() : []) {
				note(m);
			}
			Pics.on('add', note);
			Pics.on('change:tag', (m) => {
				const w = toWid(m && m.id);
				const before = w ? tags.get(jid(w)) : undefined;
				note(m);
				if (isUserWid(w) && !isMe(w) && before !== undefined && before !== (m.tag || '')) {
					emit({ k: 'contact', d: { jid: ident(w).jid, picture: true, picId: String(m.tag || '') } });
				}
			});
		}
		const Socket = mod('WAWebSocketModel').Socket;
		Socket.on('change:state', (_, state) => {
			if (state !== 'CONNECTED') {
				return;
			}
			for (const who of subscribed) {
				subscribe(widOf(who)).catch((e) => emit({ k: 'warn', what: 'renewing the presence subscription of ' + who + ': ' + e }));
			}
		});
	};

	wad.call = async (name, args) => {
		try {
			if (!readySent) {
				fail('notready', 'WhatsApp Web is not ready');
			}
			const op = ops[name];
			if (!op) {
				fail('unsupported', 'the agent has no operation ' + name);
			}
			return { ok: await op(...args) };
		} catch (e) {
			const kind = e instanceof WadError ? e.kind : 'upstream';
			const st = serverStatus(e);
			return { err: { kind: kind, msg: String((e && e.message) || e) + (st && !(e instanceof WadError) ? ' (WhatsApp said ' + st + ')' : '') } };
		}
	};

	// logout logs out in the page; WhatsApp Web then navigates to
	// ?post_logout=1.
	wad.logout = () => {
		const Socket = mod('WAWebSocketModel').Socket;
		return Promise.resolve(Socket.logout()).then(() => true);
	};

	const inject = () => {
		emit({ k: 'boot', version: String(window.Debug.VERSION) });
		if (!isFn(window.require)) {
			emit({ k: 'missing', module: 'require', what: 'window.require is not a function' });
			return;
		}
		const Socket = need('WAWebSocketModel', ['Socket'], false);
		const Conn = need('WAWebConnModel', ['Conn'], false);
		if (!Socket || !Conn) {
			return;
		}
		if (!need('WAWebSocketModel', ['Socket', 'on'], true) || !need('WAWebConnModel', ['Conn', 'on'], true)) {
			return;
		}
		wad.injected = true;
		const Cmd = (mod('WAWebCmd') || {}).Cmd;
		Conn.on('change:ref', (_, ref) => {
			if (unpaired(Socket.state)) {
				sendQR(ref);
			}
		});
		Socket.on('change:state', (_, state) => {
			emit({ k: 'state', state: String(state) });
			if (state === 'UNPAIRED_IDLE' && Cmd && isFn(Cmd.refreshQR)) {
				Cmd.refreshQR();
			}
			if (unpaired(state)) {
				sendQR(Conn.ref);
			}
			ready();
		});
		Socket.on('change:hasSynced', () => ready());
		if (Cmd && isFn(Cmd.on)) {
			Cmd.on('logout', () => emit({ k: 'logout' }));
			Cmd.on('logout_from_bridge', () => emit({ k: 'logout' }));
		}
		emit({ k: 'state', state: String(Socket.state) });
		if (unpaired(Socket.state)) {
			sendQR(Conn.ref);
		}
		ready();
	};

	const boot = () => {
		if (window.Debug && window.Debug.VERSION != undefined) {
			try {
				inject();
			} catch (e) {
				emit({ k: 'error', error: String((e && e.stack) || e) });
			}
			return true;
		}
		return false;
	};
	const timer = setInterval(() => {
		if (boot()) {
			clearInterval(timer);
		}
	}, 200);
})();

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
	// or {vcard, name}; plus replyTo (a message id of the chat) and
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
		const id = await MsgKey.newId();
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

	// revoke deletes a message for everyone through Cmd.sendRevokeMsgs,
	// if WAWebMsgActionCapability lets this account (as its sender or as
	// a group admin) revoke it. whatsapp-web.js deletes it for this
	// device only when it cannot be revoked; wad refuses instead.
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
		if (atLeast('2.3000.0')) {
			await revoke(chat, { list: [msg], type: 'message' }, { clearMedia: true });
		} else {
			await revoke(chat, [msg], { clearMedia: true, type: msg.id.fromMe ? 'Sender' : 'Admin' });
		}
		return { id: '', t: now() };
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
			return { err: { kind: kind, msg: String((e && e.message) || e) } };
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

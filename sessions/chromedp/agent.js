// wad's agent inside WhatsApp Web. It runs at the start of every document
// of the top frame (so a reload re-injects it), waits until WhatsApp Web
// has booted (window.Debug.VERSION), and then reports to wad through the
// exposed function window.wadBridge, one event at a time and in order:
//   {k:"boot", version}            WhatsApp Web is loaded
//   {k:"missing", module, what}    a module wad needs is not there
//   {k:"state", state}             WAWebSocketModel Socket.state changed
//   {k:"qr", qr}                   a new QR string to show
//   {k:"ready", jid, pushname}     connected and synced; send is usable
//   {k:"msg", msg}                 an incoming message
//   {k:"logout"}                   WhatsApp Web is logging out
//   {k:"error", error}             the agent itself failed
// Readiness checks test that functions exist; they never call them.
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
			try {
				const id = msg.id || {};
				emit({
					k: 'msg',
					msg: {
						id: id.id || jid(id),
						chat: jid(id.remote || (id.fromMe ? msg.to : msg.from)),
						sender: jid(msg.author || msg.from),
						t: msg.t || 0,
						fromMe: !!id.fromMe,
						body: msg.body || '',
						type: msg.type || '',
						caption: msg.caption || '',
					},
				});
			} catch (e) {
				emit({ k: 'error', error: 'reading message: ' + e });
			}
		});
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

	// send sends a text the way whatsapp-web.js's sendMessage does for a
	// plain chat: find or create the chat, make a message key, add the
	// message to the chat and send it. It resolves with the message id and
	// timestamp once WhatsApp Web reports the send done.
	wad.send = async (to, text) => {
		const Wid = mod('WAWebWidFactory');
		const coll = mod('WAWebCollections');
		const wid = Wid.createWid(to);
		let chat = coll.Chat.get(wid);
		if (!chat) {
			const found = await mod('WAWebFindChatAction').findOrCreateLatestChat(wid);
			chat = found && found.chat;
		}
		if (!chat) {
			throw new Error('chat ' + to + ' not found');
		}
		const Me = mod('WAWebUserPrefsMeUser');
		const lid = isFn(Me.getMaybeMeLidUser) ? Me.getMaybeMeLidUser() : null;
		const from = (chat.id && isFn(chat.id.isLid) && chat.id.isLid() && lid) ? lid : Me.getMaybeMePnUser();
		const MsgKey = mod('WAWebMsgKey');
		const id = await MsgKey.newId();
		const key = new MsgKey({ from: from, to: chat.id, id: id, selfDir: 'out' });
		const t = Math.floor(Date.now() / 1000);
		const msg = {
			id: key, ack: 0, body: text, from: from, to: chat.id,
			local: true, self: 'out', t: t, isNewMsg: true, type: 'chat',
		};
		const res = mod('WAWebSendMsgChatAction').addAndSendMsgToChat(chat, msg);
		const added = Array.isArray(res) ? res[0] : res;
		const sent = Array.isArray(res) ? res[1] : null;
		await added;
		if (sent) {
			const r = await sent;
			const status = r && (r.messageSendResult || r.status);
			if (status && status !== 'OK' && status !== 200) {
				throw new Error('WhatsApp Web did not send the message: ' + status);
			}
		}
		return { id: id, t: t };
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

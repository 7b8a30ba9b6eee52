// A fake WhatsApp Web for wad's chromedp tests. It implements the modules
// wad's agent uses, under the names the real page gives them, and talks to
// the test's HTTP server on the same (loopback) origin, which plays
// WhatsApp's servers and the phone:
//   GET  /api/poll?device=D  -> {scanned, unlinked, incoming:[{from, body}]}
//   POST /api/paired         <- {device}  the phone's scan completed: linked
//   POST /api/logout         <- {device}  Socket.logout: unlinked upstream
//   POST /api/sent           <- {device, to, body, id}
//   POST /api/event          <- {device, event}
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
		constructor() { this._h = {}; }
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
			this.trigger('add', model, this);
			return [model];
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
	let refN = 0;
	const nextRef = () => '2@fake-' + device + '-' + (++refN);
	Cmd.refreshQR = () => Conn.set('ref', nextRef());

	const me = () => new Wid(localStorage.getItem('fakeMe') || '4900000000000@c.us');
	const loggedIn = () => localStorage.getItem('fakeLoggedIn') === '1';

	class MsgKey {
		constructor(o) {
			this.fromMe = o.selfDir === 'out';
			this.remote = o.to;
			this.id = o.id;
			this.participant = o.participant;
			this._serialized = this.fromMe + '_' + o.to._serialized + '_' + o.id;
		}
		static async newId() {
			const b = new Uint8Array(10);
			crypto.getRandomValues(b);
			return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
		}
	}

	const b64 = (u8) => btoa(String.fromCharCode(...u8));
	const keyBytes = (seed) => Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + seed) & 255);

	const modules = {
		WAWebSocketModel: { Socket: Socket },
		WAWebConnModel: { Conn: Conn },
		WAWebCmd: { Cmd: Cmd },
		WAWebCollections: { Chat: Chat, Msg: Msg },
		WAWebWidFactory: { createWid: (s) => new Wid(s) },
		WAWebFindChatAction: {
			findOrCreateLatestChat: async (wid) => {
				let chat = Chat.get(wid);
				if (!chat) {
					chat = { id: wid, msgs: [] };
					Chat.add(chat);
				}
				return { chat: chat, created: true };
			},
		},
		WAWebMsgKey: MsgKey,
		WAWebSendMsgChatAction: {
			addAndSendMsgToChat: (chat, msg) => {
				const added = Promise.resolve().then(() => { chat.msgs.push(msg); Msg.add(Object.assign({ serialize: () => msg }, msg)); return msg; });
				const sent = added.then(() => post('/api/sent', { to: chat.id._serialized, body: msg.body, id: msg.id.id, from: msg.from._serialized }))
					.then((res) => ({ messageSendResult: res.ok ? 'OK' : 'ERROR_' + res.status }));
				return [added, sent];
			},
		},
		WAWebUserPrefsMeUser: { getMaybeMePnUser: () => (loggedIn() ? me() : null), getMaybeMeLidUser: () => null },
		WAWebSignalStoreApi: { waSignalStore: { getRegistrationInfo: async () => ({ identityKeyPair: { pubKey: keyBytes(2) } }) } },
		WAWebUserPrefsInfoStore: { waNoiseInfo: { get: async () => ({ staticKeyPair: { pubKey: keyBytes(1) } }) } },
		WAWebAdvSignatureApi: { getADVSecretKey: async () => b64(keyBytes(3)) },
		WAWebCompanionRegClientUtils: { DEVICE_PLATFORM: 'Chrome' },
		WABase64: { encodeB64: b64 },
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
					const from = new Wid(m.from);
					const id = await MsgKey.newId();
					const key = new MsgKey({ to: from, id: id, selfDir: 'in' });
					Msg.add({ id: key, from: from, to: me(), body: m.body, type: 'chat', t: Math.floor(Date.now() / 1000), isNewMsg: true });
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

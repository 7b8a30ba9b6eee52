#!/usr/bin/env node
// Log a WhatsApp client in through wad and send one message or file.
//
//     wad-client.js [--socket PATH] [--timeout SECONDS] CLIENT TO TEXT
//     wad-client.js [...] --file PATH [--kind KIND] [--caption TEXT] CLIENT TO
//
// Talks JSON-RPC 2.0 to wad's Unix socket (one JSON object per line; the
// contract is docs/wire.md in wad's source), with Node's standard library
// only. It subscribes to the client's events, calls session.login, prints
// the QR code string (render it with `qrencode -t ansiutf8 STRING`, or use
// `wactl login CLIENT`) or pairing code while the phone is not linked yet,
// waits until the session is connected, then calls message.send with wait
// (the daemon answers once the message left its outbound queue) and
// prints the message id.
//
// A file goes base64-encoded in the request (see sendMedia): Node cannot
// pass descriptors over a Unix socket.
//
// The socket is --socket, else $WAD_SOCKET, else /run/wad/wad.sock (whose
// users must be root or in group wad). Exit status: 0 sent; 1 the session
// failed or logged out, or a call returned an error; 2 bad usage;
// 3 timeout.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: wad-client.js [--socket PATH] [--timeout SECONDS] CLIENT TO TEXT');
  console.error('       wad-client.js [...] --file PATH [--kind KIND] [--caption TEXT] CLIENT TO');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { socket: process.env.WAD_SOCKET || '/run/wad/wad.sock', timeout: 300 };
  const valued = ['--socket', '--timeout', '--file', '--kind', '--caption'];
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valued.includes(a)) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (a === '-h' || a === '--help') {
      usage();
    } else {
      rest.push(a);
    }
  }
  if (opts.file !== undefined) {
    if (rest.length !== 2) usage('with --file, want CLIENT TO (--caption is the text)');
  } else {
    if (rest.length !== 3) usage('want CLIENT TO TEXT');
    if (opts.kind !== undefined || opts.caption !== undefined) usage('--kind and --caption describe a --file');
  }
  opts.timeout = Number(opts.timeout);
  if (!(opts.timeout > 0)) usage('--timeout must be a positive number of seconds');
  [opts.client, opts.to, opts.text] = rest;
  return opts;
}

// guessKind is the media kind WhatsApp shows a file as, from its extension
// (as wactl guesses it): images, videos and audio as such, all else a
// document. Stickers and voice notes need an explicit --kind.
function guessKind(file) {
  const ext = path.extname(file).toLowerCase();
  if (['.jpg', '.jpeg', '.png', '.webp'].includes(ext)) return 'image';
  if (['.mp4', '.m4v', '.3gp'].includes(ext)) return 'video';
  if (['.mp3', '.m4a', '.aac', '.ogg', '.oga', '.opus', '.amr'].includes(ext)) return 'audio';
  return 'document';
}

// WadClient is a connection to wad: calls resolve with their result, event
// notifications go to onEvent.
class WadClient {
  constructor(path) {
    this.sock = net.createConnection(path);
    this.nextId = 0;
    this.pending = new Map();
    this.onEvent = () => {};
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
    const lines = readline.createInterface({ input: this.sock });
    lines.on('line', (line) => {
      const msg = JSON.parse(line);
      if (msg.method === 'event') {
        this.onEvent(msg.params);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) {
        p.reject(new Error(`${p.method}: ${msg.error.message} (error ${msg.error.code})`));
      } else {
        p.resolve(msg.result);
      }
    });
    this.sock.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('wad closed the connection'));
      this.pending.clear();
    });
  }

  call(method, params) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject });
      this.sock.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }

  // subscribe subscribes to events ({clients, kinds}: empty means all)
  // and resolves to {subscription, head, since}; the events then go to
  // onEvent. Without since or consumer they start now. since replays the
  // logged events after that seq (0: the whole log), then goes on live.
  // consumer names a durable reader: it starts after the last seq
  // acknowledged with ack (live, the first time), so a reader that acks
  // what it has processed resumes there after a restart; events after its
  // last ack come again. Each logged event has a seq; an events_dropped
  // event names the range ({from, to}) pruned before it was read.
  subscribe({ clients, kinds, since, consumer } = {}) {
    const params = {};
    if (clients && clients.length) params.clients = clients;
    if (kinds && kinds.length) params.kinds = kinds;
    if (since !== undefined) params.since = since;
    if (consumer) params.consumer = consumer;
    return this.call('events.subscribe', params);
  }

  // ack records that consumer has processed every event up to seq (an
  // event's seq, or an events_dropped event's to) and resolves to the
  // consumer's position. Acking in batches is as good as acking each.
  async ack(consumer, seq) {
    return (await this.call('events.ack', { consumer, seq })).seq;
  }

  // sendMedia sends a file as a media message: media is {kind, data,
  // mime?, filename?, caption?} with data a Buffer, sent base64-encoded in
  // the request's `data`. Node's net module cannot pass file descriptors
  // (core has no SCM_RIGHTS API), so unlike wactl send --file or the
  // Python example's send_file, the bytes travel inside the request line:
  // the daemon's max_media_request_bytes (96 MiB by default) bounds them,
  // and the whole file is held in memory here. Resolves to {id, state,
  // timestamp} once the message is sent.
  sendMedia(client, to, media) {
    const m = { ...media, data: Buffer.from(media.data).toString('base64') };
    return this.call('message.send', { client, to, media: m, wait: true });
  }

  close() {
    this.sock.end();
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const timer = setTimeout(() => {
    console.error(`timed out after ${opts.timeout}s`);
    process.exit(3);
  }, opts.timeout * 1000);

  const wad = new WadClient(opts.socket);
  try {
    await wad.ready;
  } catch (e) {
    console.error(`cannot connect to ${opts.socket}: ${e.message}`);
    return 1;
  }

  const seen = new Set();
  let session = null;
  let settled = false;
  let settle;
  const done = new Promise((resolve) => {
    settle = (ok) => { settled = true; resolve(ok); };
  });
  // show prints what the user must do for a state, and settles done when
  // the session is connected (true) or over (false).
  const show = (s) => {
    if (s.state === 'qr' && s.qr && !seen.has(s.qr)) {
      seen.add(s.qr);
      console.log(`qr ${s.qr}`);
      console.error('  scan it: WhatsApp > Linked devices > Link a device');
    } else if (s.state === 'pairing' && s.pair_code) {
      console.log(`pairing code ${s.pair_code}`);
    } else if (s.state === 'connected') {
      settle(true);
    } else if (s.state === 'failed' || s.state === 'logged_out') {
      console.error(`session ${s.state} ${s.reason || ''} ${s.message || ''}`.trim());
      settle(false);
    }
  };
  const early = [];
  wad.onEvent = (ev) => {
    if (ev.client !== opts.client || settled) return;
    if (session === null) {
      early.push(ev); // before login answered: apply after its state
      return;
    }
    if (ev.session) {
      session = ev.session;
      if (ev.kind === 'state') console.log(`state ${session.state}`);
    } else if (ev.kind === 'qr' && ev.qr) {
      session = { ...session, state: 'qr', qr: ev.qr };
    }
    show(session);
  };

  try {
    // Subscribe first, so no state change between login and waiting is lost.
    await wad.subscribe({ clients: [opts.client], kinds: ['state', 'qr'] });
    session = await wad.call('session.login', { client: opts.client });
    console.log(`state ${session.state}`);
    show(session);
    for (const ev of early.splice(0)) wad.onEvent(ev);
    if (!(await done)) return 1;
    let res;
    if (opts.file !== undefined) {
      const media = { kind: opts.kind || guessKind(opts.file), data: fs.readFileSync(opts.file), filename: path.basename(opts.file) };
      if (opts.caption) media.caption = opts.caption;
      res = await wad.sendMedia(opts.client, opts.to, media);
    } else {
      res = await wad.call('message.send', { client: opts.client, to: opts.to, text: opts.text, wait: true });
    }
    console.log(`sent ${res.id}`);
    return 0;
  } catch (e) {
    console.error(e.message);
    return 1;
  } finally {
    clearTimeout(timer);
    wad.close();
  }
}

if (require.main === module) {
  main().then((code) => { process.exitCode = code; });
}

module.exports = { WadClient };

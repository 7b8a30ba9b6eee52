#!/usr/bin/env node
// Receive wad's webhooks: check each request's signature, print its event.
//
//     WAD_WEBHOOK_SECRET=... receiver.js [--host HOST] [--port PORT]
//
// A [[webhooks]] table of wad.toml with url = "http://HOST:PORT/" and the
// same secret sends it every logged event, one JSON object a POST, with
// Standard Webhooks headers:
//
//     webhook-id         the event's seq
//     webhook-timestamp  when the attempt was made, in unix seconds
//     webhook-signature  "v1," and the base64 HMAC-SHA256, keyed with the
//                        secret, of "<id>.<timestamp>.<body>"
//
// verify() is the part to copy: it refuses a request whose signature does
// not match (401) or whose timestamp is more than five minutes off (a
// replay). Delivery is at least once, so a receiver drops an id it has
// already handled; this one remembers them in memory only.
//
// It prints "listening on URL", then "event SEQ CLIENT KIND" per event.
// Node's standard library only; --port 0 picks a free port.
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');

const TOLERANCE = 5 * 60; // seconds a timestamp may be off

// verify returns the event of a signed request, or throws. secret is the
// webhook's secret, headers the request's (lower-case names, as Node
// gives them), body its raw bytes (a Buffer).
function verify(secret, headers, body, now = Date.now() / 1000) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) throw new Error('missing webhook-id, webhook-timestamp or webhook-signature');
  const sent = Number(timestamp);
  if (!Number.isInteger(sent)) throw new Error('bad webhook-timestamp');
  if (Math.abs(now - sent) > TOLERANCE) throw new Error('webhook-timestamp too far from now');
  const expected = crypto.createHmac('sha256', secret)
    .update(`${id}.${timestamp}.`).update(body).digest();
  // The header may list several signatures ("v1,... v1,..."), for a
  // change of secret; one that matches is enough.
  for (const sig of signatures.split(' ')) {
    const [version, value] = sig.split(',', 2);
    if (version !== 'v1' || value === undefined) continue;
    const got = Buffer.from(value, 'base64');
    if (got.length === expected.length && crypto.timingSafeEqual(got, expected)) {
      return JSON.parse(body.toString('utf8'));
    }
  }
  throw new Error('no valid signature');
}

function main() {
  const opts = { host: '127.0.0.1', port: 8080 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === '--host' || argv[i] === '--port') && i + 1 < argv.length) {
      opts[argv[i].slice(2)] = argv[++i];
    } else {
      console.error('usage: WAD_WEBHOOK_SECRET=... receiver.js [--host HOST] [--port PORT]');
      process.exit(2);
    }
  }
  const secret = process.env.WAD_WEBHOOK_SECRET;
  if (!secret) {
    console.error("set WAD_WEBHOOK_SECRET to the webhook's secret");
    process.exit(2);
  }
  const seen = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let event;
      try {
        event = verify(secret, req.headers, Buffer.concat(chunks));
      } catch (e) {
        console.error(`refused: ${e.message}`);
        res.writeHead(401).end();
        return;
      }
      const id = req.headers['webhook-id'];
      if (!seen.has(id)) { // else a retry of one already handled
        seen.add(id);
        console.log(`event ${id} ${event.client || ''} ${event.kind}`);
      }
      res.writeHead(204).end();
    });
  });
  server.listen(Number(opts.port), opts.host, () => {
    const { address, port } = server.address();
    console.log(`listening on http://${address}:${port}/`);
  });
}

main();

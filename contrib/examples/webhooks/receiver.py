#!/usr/bin/env python3
"""Receive wad's webhooks: check each request's signature, print its event.

    WAD_WEBHOOK_SECRET=... receiver.py [--host HOST] [--port PORT]

A [[webhooks]] table of wad.toml with url = "http://HOST:PORT/" and the
same secret sends it every logged event, one JSON object a POST, with
Standard Webhooks headers:

    webhook-id         the event's seq
    webhook-timestamp  when the attempt was made, in unix seconds
    webhook-signature  "v1," and the base64 HMAC-SHA256, keyed with the
                       secret, of "<id>.<timestamp>.<body>"

verify() is the part to copy: it refuses a request whose signature does
not match (401) or whose timestamp is more than five minutes off (a
replay). Delivery is at least once, so a receiver drops an id it has
already handled; this one remembers them in memory only.

It prints "listening on URL", then "event SEQ CLIENT KIND" per event.
Python standard library only; --port 0 picks a free port.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

TOLERANCE = 5 * 60  # seconds a timestamp may be off


class BadRequest(Exception):
    pass


def verify(secret, headers, body, now=None):
    """Return the event of a signed request, or raise BadRequest.

    secret is the webhook's secret (str), headers the request's headers
    (any mapping with .get), body its raw bytes.
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise BadRequest("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise BadRequest("bad webhook-timestamp") from None
    if abs((time.time() if now is None else now) - sent) > TOLERANCE:
        raise BadRequest("webhook-timestamp too far from now")
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    # The header may list several signatures ("v1,... v1,..."), for a
    # change of secret; one that matches is enough.
    for sig in signatures.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return json.loads(body)
    raise BadRequest("no valid signature")


def handler(secret):
    seen = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = verify(secret, self.headers, body)
            except BadRequest as e:
                print(f"refused: {e}", file=sys.stderr, flush=True)
                self.send_response(401)
                self.end_headers()
                return
            msg_id = self.headers["webhook-id"]
            if msg_id not in seen:  # else a retry of one already handled
                seen.add(msg_id)
                print(f"event {msg_id} {event.get('client', '')} {event.get('kind')}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser(description="Receive wad's webhooks and check their signatures.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args(argv)
    secret = os.environ.get("WAD_WEBHOOK_SECRET")
    if not secret:
        p.error("set WAD_WEBHOOK_SECRET to the webhook's secret")
    server = http.server.ThreadingHTTPServer((args.host, args.port), handler(secret))
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Log a WhatsApp client in through wad and send one message.

    wad_client.py [--socket PATH] [--timeout SECONDS] CLIENT TO TEXT

Talks JSON-RPC 2.0 to wad's Unix socket (one JSON object per line; the
contract is docs/wire.md in wad's source), with the Python standard
library only. It subscribes to the client's events, calls session.login,
prints the QR code string (render it with `qrencode -t ansiutf8 STRING`, or
use `wactl login CLIENT`) or pairing code while the phone is not linked
yet, waits until the session is connected, then calls message.send and
prints the message id.

The socket is --socket, else $WAD_SOCKET, else /run/wad/wad.sock (whose
users must be root or in group wad). Exit status: 0 sent; 1 the session
failed or logged out, or a call returned an error; 2 bad usage; 3 timeout.
"""

import argparse
import json
import os
import socket
import sys
import time


class RPCError(Exception):
    """A JSON-RPC error reply: code and message as wad sent them."""

    def __init__(self, method, error):
        self.code = error.get("code")
        super().__init__(f"{method}: {error.get('message')} (error {self.code})")


class WadClient:
    """A connection to wad: calls, and the event notifications between them."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.reader = self.sock.makefile("r", encoding="utf-8", newline="\n")
        self.next_id = 0
        self.events = []  # notifications read while waiting for a reply

    def close(self):
        self.reader.close()
        self.sock.close()

    def _read(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            line = self.reader.readline()
        except socket.timeout:
            raise TimeoutError from None
        if not line:
            raise ConnectionError("wad closed the connection")
        return json.loads(line)

    def call(self, method, params, deadline):
        """Send one request and return its result; events read meanwhile are kept."""
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.sock.sendall((json.dumps(req, separators=(",", ":")) + "\n").encode())
        while True:
            msg = self._read(deadline)
            if msg.get("method") == "event":
                self.events.append(msg["params"])
                continue
            if msg.get("id") != self.next_id:
                continue
            if "error" in msg:
                raise RPCError(method, msg["error"])
            return msg["result"]

    def event(self, deadline):
        """Return the next event notification's params."""
        if self.events:
            return self.events.pop(0)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == "event":
                return msg["params"]


def show(session, seen):
    """Print what the user must do for a session state; False if it is over."""
    state = session.get("state")
    if state == "qr" and session.get("qr") and session["qr"] not in seen:
        seen.add(session["qr"])
        print(f"qr {session['qr']}", flush=True)
        print("  scan it: WhatsApp > Linked devices > Link a device", file=sys.stderr)
    elif state == "pairing" and session.get("pair_code"):
        print(f"pairing code {session['pair_code']}", flush=True)
    elif state in ("failed", "logged_out"):
        reason = session.get("reason", "")
        print(f"session {state} {reason} {session.get('message', '')}".rstrip(), file=sys.stderr)
        return False
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description="Log a WhatsApp client in through wad and send a message.")
    p.add_argument("--socket", default=os.environ.get("WAD_SOCKET") or "/run/wad/wad.sock")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the login (default 300)")
    p.add_argument("client", help="client id, e.g. sales")
    p.add_argument("to", help="E.164 number (+4915112345678) or JID")
    p.add_argument("text", help="message text")
    args = p.parse_args(argv)

    deadline = time.monotonic() + args.timeout
    try:
        wad = WadClient(args.socket)
    except OSError as e:
        print(f"cannot connect to {args.socket}: {e}", file=sys.stderr)
        return 1
    try:
        # Subscribe first, so no state change between login and waiting is lost.
        wad.call("events.subscribe", {"clients": [args.client], "kinds": ["state", "qr"]}, deadline)
        session = wad.call("session.login", {"client": args.client}, deadline)
        print(f"state {session['state']}", flush=True)
        seen = set()
        while session.get("state") != "connected":
            if not show(session, seen):
                return 1
            ev = wad.event(deadline)
            if ev.get("client") != args.client:
                continue
            if ev.get("session"):
                session = ev["session"]
            elif ev.get("kind") == "qr" and ev.get("qr"):
                session = dict(session, state="qr", qr=ev["qr"])
            if ev.get("kind") == "state":
                print(f"state {session.get('state')}", flush=True)
        result = wad.call("message.send", {"client": args.client, "to": args.to, "text": args.text}, deadline)
        print(f"sent {result['id']}", flush=True)
        return 0
    except TimeoutError:
        print(f"timed out after {args.timeout:g}s", file=sys.stderr)
        return 3
    except (RPCError, ConnectionError) as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        wad.close()


if __name__ == "__main__":
    sys.exit(main())

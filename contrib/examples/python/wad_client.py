#!/usr/bin/env python3
"""Log a WhatsApp client in through wad, then send a message or a file,
or download a file.

    wad_client.py [--socket PATH] [--timeout SECONDS] CLIENT TO TEXT
    wad_client.py [...] --file PATH [--kind KIND] [--caption TEXT] CLIENT TO
    wad_client.py [...] --download ID --output PATH CLIENT CHAT

Talks JSON-RPC 2.0 to wad's Unix socket (one JSON object per line; the
contract is docs/wire.md in wad's source), with the Python standard
library only. It subscribes to the client's events, calls session.login,
prints the QR code string (render it with `qrencode -t ansiutf8 STRING`, or
use `wactl login CLIENT`) or pairing code while the phone is not linked
yet, waits until the session is connected, then calls message.send with
wait (the daemon answers once the message left its outbound queue) and
prints the message id, or message.download and prints what it saved.

Files travel as open descriptors passed with the request line over the
socket (SCM_RIGHTS, socket.send_fds): the daemon reads or writes them with
this process's rights and never opens a path, and no file is read into
memory or copied into the request.

The socket is --socket, else $WAD_SOCKET, else /run/wad/wad.sock (whose
users must be root or in group wad). Exit status: 0 done; 1 the session
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
        if deadline is None:
            self.sock.settimeout(None)
        else:
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

    def call(self, method, params, deadline=None, fds=()):
        """Send one request and return its result; events read meanwhile are kept.

        fds are file descriptors passed with the request: in params, "fd": 0
        names the first. They go with the one sendmsg that writes the whole
        line, as wad requires; wad closes its copies after the reply, and
        the caller still owns (and closes) its own.
        """
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        line = (json.dumps(req, separators=(",", ":")) + "\n").encode()
        if fds:
            self.sock.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.001))
            sent = socket.send_fds(self.sock, [line], list(fds))
            if sent < len(line):
                self.sock.sendall(line[sent:])
        else:
            self.sock.sendall(line)
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

    def send_file(self, client, to, path, kind, caption=None, deadline=None):
        """Send the file at path as a media message of kind (image, video,
        audio, voice, document, sticker) and return {id, timestamp}.

        The file is opened here and its descriptor passed with the request:
        wad reads it from there (it never opens the path), and the file is
        neither read into memory nor base64-encoded into the request.
        """
        with open(path, "rb") as f:
            media = {"kind": kind, "fd": 0, "filename": os.path.basename(path)}
            if caption:
                media["caption"] = caption
            params = {"client": client, "to": to, "media": media, "wait": True}
            return self.call("message.send", params, deadline, fds=[f.fileno()])

    def download(self, client, chat, id, path, deadline=None):
        """Save the media of message id in chat to path, a new file, and
        return {kind, mime, filename, size, sha256}.

        path is created here (never overwritten) and its descriptor passed
        for wad to write to; when the call fails, the file is removed.
        """
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            params = {"client": client, "chat": chat, "id": id, "fd": 0}
            result = self.call("message.download", params, deadline, fds=[fd])
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return result

    def subscribe(self, clients=None, kinds=None, since=None, consumer=None, deadline=None):
        """Subscribe to events (empty clients or kinds: all) and return
        {subscription, head, since}; the events then come from event().

        Without since or consumer the events start now. since replays the
        logged events after that seq (0: the whole log), then goes on
        live. consumer names a durable reader: it starts after the last
        seq acknowledged with ack() (live, the first time), so a reader
        that acks what it has processed resumes there after a restart;
        events after its last ack come again. Each logged event has a
        "seq"; an "events_dropped" event names the range ("from", "to")
        pruned from the log before it was read.
        """
        params = {}
        if clients:
            params["clients"] = list(clients)
        if kinds:
            params["kinds"] = list(kinds)
        if since is not None:
            params["since"] = since
        if consumer:
            params["consumer"] = consumer
        return self.call("events.subscribe", params, deadline)

    def ack(self, consumer, seq, deadline=None):
        """Record that consumer has processed every event up to seq (an
        event's "seq", or an events_dropped event's "to"); returns the
        consumer's position. Acking in batches (every N events or
        seconds) is as good as acking each."""
        return self.call("events.ack", {"consumer": consumer, "seq": seq}, deadline)["seq"]

    def event(self, deadline):
        """Return the next event notification's params."""
        if self.events:
            return self.events.pop(0)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == "event":
                return msg["params"]


def guess_kind(path):
    """The media kind WhatsApp shows a file as, from its extension (as
    wactl guesses it): images, videos and audio as such, all else a
    document. Stickers and voice notes need an explicit --kind."""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jpg", ".jpeg", ".png", ".webp"):
        return "image"
    if ext in (".mp4", ".m4v", ".3gp"):
        return "video"
    if ext in (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".amr"):
        return "audio"
    return "document"


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
    p = argparse.ArgumentParser(description="Log a WhatsApp client in through wad, then send a message or file, or download a file.")
    p.add_argument("--socket", default=os.environ.get("WAD_SOCKET") or "/run/wad/wad.sock")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the login (default 300)")
    p.add_argument("--file", help="send this file (passed as a descriptor) instead of TEXT")
    p.add_argument("--kind", help="media kind of --file (default: from its extension)")
    p.add_argument("--caption", help="caption of --file")
    p.add_argument("--download", metavar="ID", help="download the media of message ID of chat TO")
    p.add_argument("--output", metavar="PATH", help="the new file --download saves to")
    p.add_argument("client", help="client id, e.g. sales")
    p.add_argument("to", help="E.164 number (+4915112345678) or JID")
    p.add_argument("text", nargs="?", help="message text")
    args = p.parse_args(argv)
    if args.download:
        if not args.output or args.text is not None or args.file:
            p.error("--download needs --output, and no TEXT or --file")
    elif args.file:
        if args.text is not None:
            p.error("give TEXT or --file, not both (--caption is the file's text)")
    elif args.text is None:
        p.error("give TEXT, --file or --download")
    elif args.kind or args.caption:
        p.error("--kind and --caption describe a --file")

    deadline = time.monotonic() + args.timeout
    try:
        wad = WadClient(args.socket)
    except OSError as e:
        print(f"cannot connect to {args.socket}: {e}", file=sys.stderr)
        return 1
    try:
        # Subscribe first, so no state change between login and waiting is lost.
        wad.subscribe(clients=[args.client], kinds=["state", "qr"], deadline=deadline)
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
        if args.download:
            r = wad.download(args.client, args.to, args.download, args.output, deadline)
            print(f"downloaded {r.get('kind')} {r.get('mime', '')} {r.get('size')} bytes sha256 {r.get('sha256')}", flush=True)
            return 0
        if args.file:
            kind = args.kind or guess_kind(args.file)
            result = wad.send_file(args.client, args.to, args.file, kind, args.caption, deadline)
        else:
            result = wad.call("message.send", {"client": args.client, "to": args.to, "text": args.text, "wait": True}, deadline)
        print(f"sent {result['id']}", flush=True)
        return 0
    except TimeoutError:
        print(f"timed out after {args.timeout:g}s", file=sys.stderr)
        return 3
    except (RPCError, OSError) as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        wad.close()


if __name__ == "__main__":
    sys.exit(main())

"""The reference receiver of DSR Tracker's webhooks (docs/webhooks.md), standard library only.

A separate HTTP server process: the tests start it on a free loopback port and talk to it over
HTTP, and ``make run`` starts it for the demo's "Newsletter (HTTP)" system. It checks each
message's signature and timestamp, keeps what it received, and answers as its settings say:

    python -m tests.systems.receiver --port 8765 --secret-env DEMO_WEBHOOK_SECRET

``POST /hook`` receives the tracker's messages. The tests steer it through ``POST /_control``
with a JSON object (any subset; what is left out keeps its value):

- ``answer``: ``sync`` (200 with the answer) or ``callback`` (202, then a signed POST of the
  answer to the message's ``callback_url`` after ``delay`` seconds);
- ``fault``: ``none``, ``slow`` (wait ``delay`` seconds before answering), ``bad_signature``
  (sign with another secret), ``oversized`` (stream ``size`` bytes, no Content-Length),
  ``malformed`` (not JSON), ``schema`` (JSON that breaks the schema), ``unavailable`` (503),
  ``redirect`` (302 to ``/hook`` again), ``failed`` (a signed "failed" answer, ``retryable``),
  ``nothing_found``;
- ``callback_base``: replace the scheme and host of ``callback_url`` (the tests' tracker listens
  on another port than the one its messages name);
- ``replay``: send each callback twice, the same bytes and headers;
- ``delay``, ``size``, ``retryable``.

With ``--tls-cert`` and ``--tls-key`` it serves https (the tests' own certificate authority).

``GET /_received`` returns the messages received (headers and body), ``GET /_callbacks`` the
callbacks sent with the tracker's HTTP status and answer, ``GET /_health`` answers ``ok``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPLAY_WINDOW = 300
MAX_MESSAGE = 1024 * 1024


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature recipe of docs/webhooks.md, in three lines."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_ok(secret: bytes, timestamp: str, given: str, body: bytes) -> bool:
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), given)


def answer_for(message: dict[str, Any], fault: str, retryable: bool) -> dict[str, Any]:
    """What a small newsletter tool holds on the subject, or did for the request."""
    task_id, action = message["task_id"], message["action"]
    email = message["subject"]["email"]
    if fault == "nothing_found":
        return {"task_id": task_id, "status": "nothing_found", "note": "No subscriber."}
    if fault == "failed":
        return {
            "task_id": task_id,
            "status": "failed",
            "error": "The mailing list store is being migrated.",
            "retryable": retryable,
        }
    if fault == "schema":
        return {"task_id": task_id, "status": "done", "counts": {"subscribers": -1}}
    reference = f"nl-{task_id}"
    if action == "export":
        return {
            "task_id": task_id,
            "status": "done",
            "reference": reference,
            "data": {
                "subscribers": [
                    {"email": email, "list": "Weekly offers", "subscribed_on": "2026-03-01"}
                ],
                "campaign_clicks": [
                    {"campaign": "Navruz menu", "clicked_at": "2026-03-20T10:12:00Z"},
                    {"campaign": "Summer terrace", "clicked_at": "2026-06-02T18:40:00Z"},
                ],
            },
            "note": "Subscriber record and click history.",
        }
    answer: dict[str, Any] = {
        "task_id": task_id,
        "status": "done",
        "reference": reference,
        "counts": {"subscribers": 1, "campaign_clicks": 2},
    }
    if action == "erase":
        answer["kept"] = [
            {
                "what": "Proof of the subscriber's consent",
                "basis": "GDPR art. 7(1): the controller must be able to show consent",
                "until": "2029-12-31",
            }
        ]
    return answer


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, secret: bytes) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.secret = secret
        self.lock = threading.Lock()
        self.settings: dict[str, Any] = {
            "answer": "sync",
            "fault": "none",
            "delay": 0.5,
            "size": 11 * 1024 * 1024,
            "callback_base": "",
            "replay": False,
            "retryable": True,
        }
        self.received: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    server: Receiver
    # HTTP/1.0: a body may end with the connection, so an oversized answer needs no length.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("receiver: " + format % args + "\n")

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def do_GET(self) -> None:
        with self.server.lock:
            views = {
                "/_received": self.server.received,
                "/_callbacks": self.server.callbacks,
                "/_health": "ok",
            }
            found = views.get(self.path)
            payload = json.loads(json.dumps(found)) if found is not None else None
        if payload is None:
            self._json(404, {"error": "not found"})
        else:
            self._json(200, payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_MESSAGE:
            self._json(413, {"error": "message too large"})
            return
        body = self.rfile.read(length)
        if self.path == "/_control":
            with self.server.lock:
                self.server.settings.update(json.loads(body))
            self._json(200, self.server.settings)
            return
        if self.path != "/hook":
            self._json(404, {"error": "not found"})
            return
        self._hook(body)

    def _hook(self, body: bytes) -> None:
        timestamp = self.headers.get("X-DSR-Timestamp", "")
        given = self.headers.get("X-DSR-Signature", "")
        if not signature_ok(self.server.secret, timestamp, given, body):
            self._json(401, {"error": "bad signature or timestamp"})
            return
        message = json.loads(body)
        with self.server.lock:
            self.server.received.append({"headers": dict(self.headers.items()), "body": message})
            settings = dict(self.server.settings)
        fault = settings["fault"]
        if fault == "unavailable":
            # A raw NUL and a line break, as a careless error page may hold.
            self._send(503, b"Down for maintenance.\x00\nBack soon.")
            return
        if fault == "redirect":
            self._send(302, b"", {"Location": "/hook"})
            return
        if fault == "slow":
            time.sleep(settings["delay"])
        if fault == "oversized":
            self._oversized(settings["size"])
            return
        if fault == "malformed":
            self._signed(200, b"{this is not json", fault)
            return
        answer = answer_for(message, fault, settings["retryable"])
        if settings["answer"] == "callback":
            accepted = {"task_id": message["task_id"], "status": "accepted"}
            self._signed(202, json.dumps(accepted).encode(), fault)
            threading.Thread(
                target=self._call_back, args=(message, answer, settings), daemon=True
            ).start()
            return
        self._signed(200, json.dumps(answer).encode(), fault)

    def _signed(self, status: int, body: bytes, fault: str) -> None:
        secret = b"not-the-shared-secret" * 2 if fault == "bad_signature" else self.server.secret
        timestamp = str(int(time.time()))
        headers = {"X-DSR-Timestamp": timestamp, "X-DSR-Signature": sign(secret, timestamp, body)}
        self._send(status, body, headers)

    def _oversized(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        prefix = b'{"task_id":"0","status":"done","note":"'
        self.wfile.write(prefix)
        sent, chunk = len(prefix), b"x" * 65536
        try:
            while sent < size:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the tracker stopped reading at its limit, as it should

    def _call_back(
        self, message: dict[str, Any], answer: dict[str, Any], settings: dict[str, Any]
    ) -> None:
        time.sleep(settings["delay"])
        url = message["callback_url"]
        if settings["callback_base"]:
            base = urlsplit(settings["callback_base"])
            url = urlunsplit(urlsplit(url)._replace(scheme=base.scheme, netloc=base.netloc))
        fault = settings["fault"]
        body = b"{this is not json" if fault == "malformed" else json.dumps(answer).encode()
        secret = b"not-the-shared-secret" * 2 if fault == "bad_signature" else self.server.secret
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-DSR-Timestamp": timestamp,
            "X-DSR-Signature": sign(secret, timestamp, body),
        }
        for _ in range(2 if settings["replay"] else 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - the tracker's own callback URL
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    status, reply = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, reply = error.code, error.read()
            except OSError as error:
                status, reply = 0, str(error).encode()
            with self.server.lock:
                self.server.callbacks.append(
                    {"url": url, "status": status, "reply": reply.decode("utf-8", "replace")}
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--secret-env", required=True, help="the environment variable holding the shared secret"
    )
    parser.add_argument("--answer", choices=("sync", "callback"), default="sync")
    parser.add_argument("--callback-base", default="")
    parser.add_argument("--tls-cert", default="", help="serve https with this PEM certificate")
    parser.add_argument("--tls-key", default="", help="and this PEM key")
    options = parser.parse_args(argv)
    secret = os.environ.get(options.secret_env, "")
    if not secret:
        print(f"receiver: {options.secret_env} is not set", file=sys.stderr)
        return 2
    server = Receiver(options.port, secret.encode())
    server.settings.update(answer=options.answer, callback_base=options.callback_base)
    scheme = "http"
    if options.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options.tls_cert, options.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    print(f"receiver: listening on {scheme}://127.0.0.1:{options.port}/hook", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

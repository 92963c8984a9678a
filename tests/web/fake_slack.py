"""A fake Slack Web API (and incoming webhook) on loopback, for the poster's tests.

``http.server`` in a thread on 127.0.0.1: ``chat.postMessage`` and ``chat.update`` answer
like Slack (``{"ok": true, "channel", "ts"}``), ``/webhook`` answers ``ok``. ``fail`` queues
answers to give instead (a 500, a 429 with Retry-After); ``refuse_blocks`` names the error to
answer any message with blocks (as Slack does: ``ok: false`` on the Web API, a 400 with the
error as text on a webhook); ``calls`` records what was taken.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []  # accepted: (method, body)
        self.attempts = 0
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0
        self.refuse_blocks: str | None = None
        self.lock = threading.Lock()
        self._ts = 0
        self.url = ""

    def fail(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.failures.append((status, headers or {}))

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        time.sleep(self.delay)
        with self.lock:
            self.attempts += 1
            if self.failures:
                status, headers = self.failures.pop(0)
                return status, headers, (b'{"ok":false,"error":"ratelimited"}' if status == 429
                                         else b"<html>upstream error</html>")
            method = path.rsplit("/", 1)[-1]
            if self.refuse_blocks and body.get("blocks"):
                if method == "webhook":
                    return 400, {"Content-Type": "text/plain"}, self.refuse_blocks.encode()
                refused = {"ok": False, "error": self.refuse_blocks}
                return 200, {"Content-Type": "application/json"}, json.dumps(refused).encode()
            self.calls.append((method, body))
            if method == "webhook":
                return 200, {"Content-Type": "text/plain"}, b"ok"
            if method == "chat.postMessage":
                self._ts += 1
                ts = f"1700000000.{self._ts:06d}"
            else:
                ts = body.get("ts", "")
            out = {"ok": True, "channel": body.get("channel"), "ts": ts}
            return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode("utf-8", "replace")}
            status, headers, out = fake.answer(self.path, body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""The gunicorn worker ``serve`` runs: gunicorn's gevent worker (see ``server``), answering the
requests gunicorn refuses itself (a request line above ``limit_request_line``: 414; header
fields above their limits: 431; malformed request lines, headers or chunking: 400) in the
service's one error shape instead of gunicorn's HTML page.

gunicorn writes those answers with ``gunicorn.util.write_error``; the worker replaces that
function in its own process (one worker per process) when it starts.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

_MESSAGES = {
    414: "the request line (method, path and query) is longer than the server accepts "
         "({limit} bytes)",
    431: "the request's header fields are larger than the server accepts",
    500: "unexpected server error; the log has the details",
}


def json_error_writer(limit_request_line: int) -> Any:
    """A ``write_error(sock, status, reason, message)`` that writes the JSON error shape."""

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        message = _MESSAGES.get(status_int, mesg or reason).format(limit=limit_request_line)
        body = json.dumps({"error": {"code": reason.replace(" ", "").replace("-", ""),
                                     "message": message, "details": {}}}).encode()
        head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
                "Content-Type: application/json\r\nCache-Control: no-store\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        util.write_nonblock(sock, head.encode("latin-1") + body)

    return write_error


class Worker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker with JSON error answers."""

    def init_process(self) -> None:
        util.write_error = json_error_writer(self.cfg.limit_request_line)
        super().init_process()

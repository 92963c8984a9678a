"""Slow clients against a live ``serve``: do /healthz and hook deliveries still answer?

Starts ``rollback-advisor serve`` (2 workers, loopback), measures probes from a few clients
alone, then again while ``--slow`` connections dribble one byte a second each: a third send
their headers slowly, a third send a body slowly (after a complete header block with a
Content-Length), a third connect and say nothing. A connection the server cuts is reopened,
as an attacker would. Target (issue 10): with 100 slow connections, p99 of both probes under
250 ms. Bounded: --seconds per phase, each probe given 5 s (a probe that gets no answer counts
as 5,000 ms and as unanswered).

    python benchmarks/slow_clients.py                         # SQLite, 100 slow connections
    python benchmarks/slow_clients.py --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_common import KEY, percentile, scratch_database, server  # noqa: E402

from connectors.hooks import sign  # noqa: E402
from rollback_advisor.store import Store  # noqa: E402
from rollback_advisor.store.service_tables import ServiceTables  # noqa: E402
from rollback_advisor.web.credentials import register_hook  # noqa: E402

PROBE_TIMEOUT = 5.0


class Dribbler:
    """Keeps ``count`` slow connections open, one byte per connection per second."""

    def __init__(self, port: int, hook_id: str, count: int) -> None:
        self.port, self.hook_id, self.count = port, hook_id, count
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, kind: int) -> tuple[socket.socket, bytes]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        if kind == 0:  # slow headers: the request line and headers, a byte at a time
            rest = (f"POST /hooks/{self.hook_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "X-Pad: " + "a" * 4000 + "\r\n\r\n").encode()
        elif kind == 1:  # slow body: a complete header block, then the body a byte at a time
            sock.sendall(f"POST /hooks/{self.hook_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                         .encode())
            rest = b"x" * 100_000
        else:  # connects, says nothing
            rest = b""
        return sock, rest

    def start(self) -> None:
        self.slots = [self._open(k % 3) for k in range(self.count)]
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for i, (sock, rest) in enumerate(self.slots):
                try:
                    if rest:
                        sock.sendall(rest[:1])
                        self.slots[i] = (sock, rest[1:])
                    else:  # the idle kind: only notice when the server has closed it
                        sock.setblocking(False)
                        try:
                            if sock.recv(1) == b"":
                                raise ConnectionError
                        except BlockingIOError:
                            pass
                        finally:
                            sock.setblocking(True)
                except OSError:
                    sock.close()
                    self.reopened += 1
                    with contextlib.suppress(OSError):
                        self.slots[i] = self._open(i % 3)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock, _ in self.slots:
            sock.close()


def probe_phase(base: str, hook: dict[str, str], seconds: float, clients: int
                ) -> dict[str, list[float | None]]:
    """Probes from ``clients`` threads (fresh connection each: a new client) for ``seconds``."""
    results: dict[str, list[float | None]] = {"healthz": [], "hook": []}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    run = uuid.uuid4().hex[:6]

    def client(k: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            kind = "hook" if n % 2 else "healthz"
            t0 = time.perf_counter()
            try:
                if kind == "healthz":
                    ok = requests.get(f"{base}/healthz", timeout=PROBE_TIMEOUT).ok
                else:
                    body = json.dumps({"id": f"slow:{run}:{k}:{n}", "kind": "deploy",
                                       "service": "checkout",
                                       "at": "2026-11-20T14:00:00Z"}).encode()
                    ok = requests.post(f"{base}/hooks/{hook['id']}", data=body,
                                       timeout=PROBE_TIMEOUT, headers={
                                           "Content-Type": "application/json",
                                           "X-Rollback-Advisor-Signature":
                                               sign(body, hook["secret"])}).status_code == 201
                took: float | None = (time.perf_counter() - t0) * 1000 if ok else None
            except requests.RequestException:
                took = None
            with lock:
                results[kind].append(took)
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def report(phase: str, results: dict[str, list[float | None]]) -> None:
    for kind, values in results.items():
        answered = [v for v in values if v is not None]
        scored = [v if v is not None else PROBE_TIMEOUT * 1000 for v in values]
        if not scored:
            continue
        print(f"{phase:<22} {kind:<8} answered {len(answered):4d}/{len(values):<4d} "
              f"p50 {percentile(scored, .5):8.1f} ms  p99 {percentile(scored, .99):8.1f} ms  "
              f"max {max(scored):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="default: a fresh SQLite file")
    parser.add_argument("--slow", type=int, default=100, help="slow connections (max 1000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase (max 120)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2, help="probing clients")
    args = parser.parse_args()
    slow, seconds = min(args.slow, 1000), min(args.seconds, 120.0)
    url = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='ra-slow-')}/bench.db"
    database, drop_database = scratch_database(url)
    store = Store(database)
    hook = register_hook(tables=ServiceTables(store), server_key=KEY, base_url="http://x",
                         name="bench", source="generic", mapping={}, environment=None)
    store.close()
    try:
        with server(database, args.workers) as base:
            port = int(base.rsplit(":", 1)[1])
            probe_phase(base, hook, 1.0, args.clients)  # warm up
            alone = probe_phase(base, hook, seconds, args.clients)
            dribbler = Dribbler(port, hook["id"], slow)
            dribbler.start()
            try:
                time.sleep(1.0)
                loaded = probe_phase(base, hook, seconds, args.clients)
            finally:
                dribbler.stop()
    finally:
        drop_database()
    print(f"database: {url.split('?')[0]}  workers: {args.workers}  probing clients: "
          f"{args.clients}  {seconds:.0f} s per phase")
    report("alone", alone)
    report(f"with {slow} slow conns", loaded)
    print(f"slow connections cut by the server and reopened: {dribbler.reopened}")


if __name__ == "__main__":
    main()

"""A real ``rollback-advisor serve`` (gunicorn) on a free loopback port, for the tests that need
real sockets and processes (slow clients, concurrency, several instances). Loopback only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from rollback_advisor.store import Store
from rollback_advisor.store.service_tables import ServiceTables
from rollback_advisor.web.credentials import register_hook

from .conftest import SERVER_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(x) for x in path.read_text().split()} if path.exists() else set()


def add_hook(database: str, name: str) -> dict[str, str]:
    """Register a generic hook in ``database`` (the tests' server key): id, url, secret."""
    store = Store(database)
    try:
        return register_hook(tables=ServiceTables(store), server_key=SERVER_KEY,
                             base_url="http://x", name=name, source="generic", mapping={},
                             environment=None)
    finally:
        store.close()


@dataclass
class LiveServer:
    base: str
    port: int
    proc: subprocess.Popen[bytes]

    def workers(self, expected: int, seconds: float = 10) -> set[int]:
        """The worker pids, once ``expected`` of them run (gunicorn boots them one by one)."""
        deadline = time.monotonic() + seconds
        while len(children(self.proc.pid)) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return children(self.proc.pid)


@contextmanager
def live_serve(database: str, workdir: Path, workers: int = 2) -> Iterator[LiveServer]:
    """Run ``serve`` on ``database`` (the tests' server key) until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    config.write_text("server:\n  secret_key: {$env: RA_TEST_KEY}\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "RA_TEST_KEY": SERVER_KEY, "ROLLBACK_ADVISOR_DATABASE_URL": database,
           "ROLLBACK_ADVISOR_DATA_DIR": str(workdir)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = workdir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "rollback_advisor.web.serve_main", "--config",
                             str(config), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"server exited: {log_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "server did not come up"
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield LiveServer(base, port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # a loaded machine: stop it, and reap it
            proc.kill()
            proc.wait(20)
        log.close()


class Answer:
    """A ``requests`` response seen through the Flask test response's interface, so that
    ``assert_canonical_error`` checks answers from a live server too."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self.mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
        self._response = response

    def get_json(self) -> object:
        return self._response.json()

    def get_data(self, as_text: bool = False) -> str | bytes:
        return self._response.text if as_text else self._response.content

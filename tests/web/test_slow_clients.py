"""Slow clients must not take the service down (issue 10, item 1): a real ``serve`` (gunicorn,
two workers, the embedded store) with 30 connections that sent part of a request and then
stall (headers cut short, or a body shorter than its Content-Length) still answers
``/healthz`` and a hook delivery from another client. Before, 8 such connections held every
gthread thread (2 workers x 4 threads) and nothing else was answered. Loopback only, bounded:
30 sockets, each request given 10 s."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import requests

from rollback_advisor.store import Store
from rollback_advisor.store.service_tables import ServiceTables

from .conftest import sign_own
from .live_server import add_hook, live_serve

SLOW = 30


@pytest.fixture
def live_server(tmp_path):
    """``serve`` on the embedded store; yields (base URL, hook, port)."""
    database = f"sqlite:///{tmp_path / 'web.db'}"
    hook = add_hook(database, "slow")
    with live_serve(database, tmp_path) as server:
        yield server.base, hook, server.port


def _stall(port: int, hook_id: str, kind: int) -> socket.socket:
    """A connection that sent part of a request and then says nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if kind % 2:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    else:
        sock.sendall(f"POST /hooks/{hook_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"id\":"
                     .encode())
    return sock


def test_stalled_connections_leave_the_service_answering(live_server):
    base, hook, port = live_server
    stalled = [_stall(port, hook["id"], k) for k in range(SLOW)]
    try:
        time.sleep(0.5)  # let the workers accept them all
        assert requests.get(base + "/healthz", timeout=10).status_code == 200
        body = json.dumps({"id": "slow:1", "kind": "deploy", "service": "checkout",
                           "at": "2026-11-20T14:00:00Z"}).encode()
        r = requests.post(f"{base}/hooks/{hook['id']}", data=body, timeout=10, headers={
            "Content-Type": "application/json",
            "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"])})
        assert r.status_code == 201, r.text
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.postgres
def test_the_master_migrates_without_importing_the_driver(postgres_url, tmp_path):
    """psycopg chooses its wait function on first import: imported by gunicorn's master before
    the fork, it stays the blocking one in the gevent workers (hook throughput halved). The
    migration runs in a child process instead."""
    settings = f"Settings(database_url={postgres_url!r}, data_dir={str(tmp_path)!r})"
    code = ("import sys\nfrom rollback_advisor.config import Settings\n"
            "from rollback_advisor.web.server import _migrate_in_child\n"
            f"_migrate_in_child({settings})\n"
            "assert 'psycopg' not in sys.modules, 'the master imported psycopg'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    store = Store(postgres_url)  # the schema is there
    assert ServiceTables(store).list_hooks() == []
    store.close()


def test_a_migration_failure_is_one_line(tmp_path):
    from rollback_advisor.config import Settings
    from rollback_advisor.errors import StoreError
    from rollback_advisor.web.server import _migrate_in_child

    with pytest.raises(StoreError, match="unsupported database mysql://"):
        _migrate_in_child(Settings(database_url="mysql://x/y", data_dir=str(tmp_path)))

"""A real ``rollback-advisor serve`` (gunicorn, two workers) on PostgreSQL, loopback only:
2000 deliveries from several client threads, a quarter of them redeliveries, and one worker
SIGKILLed mid-run. Every acknowledged (2xx) delivery is stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from rollback_advisor.store import Store
from rollback_advisor.store.schema import changes, deliveries
from rollback_advisor.store.service_tables import ServiceTables
from rollback_advisor.web.credentials import register_hook

from .conftest import SERVER_KEY, sign_own
from .live_server import children, live_serve

TOTAL = 2000
UNIQUE = 1500
THREADS = 8


@pytest.mark.postgres
def test_concurrent_deliveries_survive_a_killed_worker(postgres_url, tmp_path):
    store = Store(postgres_url)
    hook = register_hook(tables=ServiceTables(store), server_key=SERVER_KEY,
                         base_url="http://x", name="load", source="generic", mapping={},
                         environment=None)
    with live_serve(postgres_url, tmp_path) as server:
        base = server.base
        workers = server.workers(2)
        assert len(workers) == 2
        proc = server.proc

        # delivery i carries event i % UNIQUE: the last 500 are redeliveries of earlier ones
        plan = [i % UNIQUE for i in range(TOTAL)]
        acked: list[tuple[int, str]] = []
        failed = [0]
        lock = threading.Lock()
        sent = [0]
        killed = threading.Event()
        sessions: list[requests.Session] = []

        def body_of(n: int) -> bytes:
            return json.dumps({"id": f"load:{n}", "kind": "deploy", "service": f"svc-{n % 37}",
                               "at": "2026-11-20T14:00:00Z", "version": f"v{n}"}).encode()

        def client(indexes: list[int]) -> None:
            session = requests.Session()
            sessions.append(session)
            for n in indexes:
                body = body_of(n)
                headers = {"Content-Type": "application/json",
                           "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"]),
                           "X-Rollback-Advisor-Delivery": f"d-{n}"}
                with lock:
                    sent[0] += 1
                    if sent[0] == TOTAL // 3 and not killed.is_set():
                        killed.set()
                        os.kill(sorted(workers)[0], signal.SIGKILL)
                try:
                    r = session.post(f"{base}/hooks/{hook['id']}", data=body, headers=headers,
                                     timeout=15)
                except requests.RequestException:
                    with lock:
                        failed[0] += 1
                    session = requests.Session()
                    sessions.append(session)
                    continue
                if 200 <= r.status_code < 300:
                    with lock:
                        acked.append((n, r.json()["status"]))
                else:
                    with lock:
                        failed[0] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(plan[k::THREADS],))
                   for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - started
        for session in sessions:
            session.close()
        assert killed.is_set()
        assert len(acked) + failed[0] == TOTAL
        assert len(acked) >= TOTAL * 0.9, (len(acked), failed[0])

        with store.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.delivery_key, deliveries.c.change_ids)
                                .where(deliveries.c.hook_id == hook["id"])).all()
            stored_changes = set(conn.execute(select(changes.c.id)).scalars())
            count = conn.execute(select(func.count()).select_from(deliveries)).scalar()
        keys = [r.delivery_key.partition("#")[0] for r in rows]  # header#content hash
        assert len(keys) == len(set(keys)) == count  # never twice
        acked_keys = {f"d-{n}" for n, _ in acked}
        assert acked_keys <= set(keys)  # every acknowledged delivery is stored
        assert {f"load:{n}" for n, _ in acked} <= stored_changes
        assert len(stored_changes) == len(keys)  # one change per stored delivery, no more
        # gunicorn's master replaced the killed worker
        assert len(children(proc.pid)) == 2 and children(proc.pid) != workers
        print(f"{TOTAL} deliveries in {elapsed:.1f}s, {len(acked)} acknowledged, "
              f"{failed[0]} failed around the kill, {count} stored")
    store.close()

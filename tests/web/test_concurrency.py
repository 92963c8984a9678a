"""Two real ``rollback-advisor serve`` instances (gunicorn, two workers each, separate ports) on
one PostgreSQL, loopback only: 2000 deliveries from several client threads spread over both,
a quarter of them redeliveries sent to the other instance than the first copy, and one worker
of each instance SIGKILLed mid-run. Every acknowledged (2xx) delivery is stored exactly once,
and each master replaces its killed worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import ExitStack, closing

import pytest
import requests
from sqlalchemy import func, select

from rollback_advisor.store import Store
from rollback_advisor.store.schema import changes, deliveries

from .conftest import sign_own
from .live_server import add_hook, live_serve

TOTAL = 2000
UNIQUE = 1500
THREADS = 8


@pytest.mark.postgres
def test_two_instances_deliver_exactly_once_through_killed_workers(postgres_url, tmp_path):
    hook = add_hook(postgres_url, "load")
    with ExitStack() as stack:
        servers = [stack.enter_context(live_serve(postgres_url, tmp_path / f"instance-{k}"))
                   for k in range(2)]
        workers = [server.workers(2) for server in servers]
        assert [len(w) for w in workers] == [2, 2]
        # the kills: a worker of instance 0 after a third of the deliveries, one of instance
        # 1 after two thirds
        kills = {TOTAL // 3: sorted(workers[0])[0], 2 * TOTAL // 3: sorted(workers[1])[0]}

        # delivery i carries event i % UNIQUE: the last 500 are redeliveries of earlier ones,
        # each sent to the other instance than its first copy
        plan = [(i % UNIQUE, (i % UNIQUE + i // UNIQUE) % 2) for i in range(TOTAL)]
        acked: list[tuple[int, int]] = []
        failed = [0]
        lock = threading.Lock()
        sent = [0]
        killed: list[int] = []
        sessions: list[requests.Session] = []

        def body_of(n: int) -> bytes:
            return json.dumps({"id": f"load:{n}", "kind": "deploy", "service": f"svc-{n % 37}",
                               "at": "2026-11-20T14:00:00Z", "version": f"v{n}"}).encode()

        def client(part: list[tuple[int, int]]) -> None:
            session = requests.Session()
            sessions.append(session)
            for n, instance in part:
                body = body_of(n)
                headers = {"Content-Type": "application/json",
                           "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"]),
                           "X-Rollback-Advisor-Delivery": f"d-{n}"}
                with lock:
                    sent[0] += 1
                    if sent[0] in kills:
                        killed.append(kills[sent[0]])
                        os.kill(kills[sent[0]], signal.SIGKILL)
                url = f"{servers[instance].base}/hooks/{hook['id']}"
                try:
                    r = session.post(url, data=body, headers=headers, timeout=15)
                except requests.RequestException:
                    with lock:
                        failed[0] += 1
                    session = requests.Session()
                    sessions.append(session)
                    continue
                with lock:
                    if 200 <= r.status_code < 300:
                        acked.append((n, instance))
                    else:
                        failed[0] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(plan[k::THREADS],))
                   for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - started
        for session in sessions:
            session.close()
        assert sorted(killed) == sorted(kills.values())
        assert len(acked) + failed[0] == TOTAL
        assert len(acked) >= TOTAL * 0.9, (len(acked), failed[0])
        assert {instance for _, instance in acked} == {0, 1}

        store = stack.enter_context(closing(Store(postgres_url)))
        with store.engine.connect() as conn:
            keys = [k.partition("#")[0]  # header key#content hash
                    for k in conn.execute(select(deliveries.c.delivery_key)
                                          .where(deliveries.c.hook_id == hook["id"])).scalars()]
            stored_changes = set(conn.execute(select(changes.c.id)).scalars())
            count = conn.execute(select(func.count()).select_from(deliveries)).scalar()
        assert len(keys) == len(set(keys)) == count  # never twice
        assert {f"d-{n}" for n, _ in acked} <= set(keys)  # every acknowledged one is stored
        assert {f"load:{n}" for n, _ in acked} <= stored_changes
        assert len(stored_changes) == len(keys)  # one change per stored delivery, no more
        # each master replaced its killed worker
        for server, before in zip(servers, workers, strict=True):
            now = server.workers(2)
            assert len(now) == 2 and now != before
        print(f"{TOTAL} deliveries through 2 instances in {elapsed:.1f}s, {len(acked)} "
              f"acknowledged, {failed[0]} failed around the kills, {count} stored")


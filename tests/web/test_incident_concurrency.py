"""A real ``serve`` (gunicorn, two workers) on PostgreSQL, loopback only: alert groups delivered
several times at once from several threads open one incident each, with one advice each; a
worker SIGKILLed mid-run changes nothing (a copy that failed around the kill is sent again, as
Alertmanager retries)."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
import requests
from sqlalchemy import func, select

from rollback_advisor.store import Store
from rollback_advisor.store.schema import incident_advice, incident_alerts, incidents
from rollback_advisor.store.service_tables import ServiceTables
from rollback_advisor.web.credentials import register_hook

from .conftest import GRAPH, SERVER_KEY
from .live_server import live_serve

GROUPS = 12
COPIES = 4  # each group delivered this many times, each copy a distinct body (no delivery dup)
THREADS = 8


def body(group: int, copy: int) -> bytes:
    return json.dumps({
        "version": "4", "groupKey": f'{{}}:{{alertname="Errors{group}"}}', "status": "firing",
        "receiver": f"copy-{copy}", "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "fingerprint": f"fp{group}",
                    "labels": {"alertname": f"Errors{group}", "service": "checkout"},
                    "startsAt": "2026-11-20T14:05:00Z", "endsAt": "0001-01-01T00:00:00Z"}],
    }).encode()


@pytest.mark.postgres
def test_racing_alert_deliveries_open_one_incident_per_group(postgres_url, tmp_path):
    store = Store(postgres_url)
    store.save_graph(GRAPH)
    hook = register_hook(tables=ServiceTables(store), server_key=SERVER_KEY,
                         base_url="http://x", name="prom", source="alertmanager", mapping={},
                         environment=None)
    plan = [(g, c) for c in range(COPIES) for g in range(GROUPS)]
    statuses: list[int] = []
    lock = threading.Lock()
    sent = [0]
    killed: list[int] = []
    with live_serve(postgres_url, tmp_path) as server:
        url = f"{server.base}/hooks/{hook['id']}"
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {hook['secret']}"}
        victim = sorted(server.workers(2))[0]

        def client(items: list[tuple[int, int]]) -> None:
            session = requests.Session()
            for g, c in items:
                with lock:
                    sent[0] += 1
                    if sent[0] == len(plan) // 2:
                        killed.append(victim)
                        os.kill(victim, signal.SIGKILL)
                status = 0  # no answer at all
                for _ in range(5):  # a copy lost with the killed worker is delivered again
                    try:
                        status = session.post(url, data=body(g, c), headers=headers,
                                              timeout=30).status_code
                    except requests.RequestException:
                        session.close()
                        session = requests.Session()
                        continue
                    if status < 500:
                        break
                with lock:
                    statuses.append(status)
            session.close()

        threads = [threading.Thread(target=client, args=(plan[i::THREADS],))
                   for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert killed == [victim]
    # 201 stored, or 200 duplicate for a copy the killed worker had stored before it died
    assert set(statuses) <= {200, 201} and len(statuses) == GROUPS * COPIES
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(incidents)).scalar() == GROUPS
        assert conn.execute(select(func.count()).select_from(incident_alerts)).scalar() == GROUPS
        per_incident = conn.execute(select(incident_advice.c.incident_id, func.count())
                                    .group_by(incident_advice.c.incident_id)).all()
    assert len(per_incident) == GROUPS and {n for _, n in per_incident} == {1}
    store.close()

"""A worker's copy of a hook: deliveries it verified are stored only if the store confirms the
hook in the same transaction, so a revocation or a new vendor secret made by another worker (or
the CLI) applies to the very next delivery; and a stored delivery costs one round trip on
PostgreSQL, with no read of the hook of its own on either store."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

import rollback_advisor.store as store_module
from rollback_advisor.store.service_tables import ServiceTables
from rollback_advisor.web import create_app
from rollback_advisor.web.credentials import register_hook, seal_vendor_secret
from rollback_advisor.web.services import services

from .conftest import SERVER_KEY, make_settings, sign_own


def _event(i: int) -> dict[str, Any]:
    return {"id": f"ci:checkout:{i}", "kind": "deploy", "service": "checkout",
            "at": "2026-11-20T14:00:00Z", "version": f"v{i}"}


@pytest.fixture
def workers(store_url: str, tmp_path: Any) -> Iterator[tuple[Flask, Flask]]:
    """Two apps on one store, as two gunicorn workers are."""
    settings = dataclasses.replace(make_settings(tmp_path), database_url=store_url)
    apps = (create_app(settings), create_app(settings))
    yield apps
    for app in apps:
        app.extensions["rollback_advisor"].store.close()


def _tables(app: Flask) -> ServiceTables:
    with app.app_context():
        return services().tables


def _post(app: Flask, hook: dict[str, Any], payload: Any, secret: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    return app.test_client().post(f"/hooks/{hook['id']}", data=body, headers={
        "Content-Type": "application/json",
        "X-Rollback-Advisor-Signature": sign_own(body, secret or hook["secret"])})


def _hook(app: Flask) -> dict[str, Any]:
    return register_hook(tables=_tables(app), server_key=SERVER_KEY, base_url="http://x",
                         name="ci", source="generic", mapping={}, environment=None)


def _metric(app: Flask, name: str) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if not line.startswith("#") and name in line)


def test_a_revoked_hook_is_refused_at_once_by_a_worker_holding_a_copy(workers) -> None:
    a, b = workers
    hook = _hook(a)
    assert _post(b, hook, _event(1)).status_code == 201  # b now holds the hook
    _tables(a).revoke_hook(hook["id"])  # in another worker: b is not told
    r = _post(b, hook, _event(2))
    assert r.status_code == 404, r.get_json()
    assert [d["change_ids"] for d in _tables(a).list_deliveries(hook["id"])] == [["ci:checkout:1"]]
    with a.app_context():
        assert services().store.get_change("ci:checkout:2") is None
    # counted once, as a refusal of an unknown hook, never as stored
    assert _metric(b, 'rejected_deliveries_total{reason="unknown_hook"}') == 1
    assert _metric(b, 'hook_deliveries_total{outcome="stored",source="generic"}') == 1
    assert _post(b, hook, _event(3)).status_code == 404


def test_a_vendor_secret_set_or_removed_elsewhere_applies_to_the_next_delivery(workers) -> None:
    a, b = workers
    hook = _hook(a)
    assert _post(b, hook, _event(1)).status_code == 201
    vendor = "vendor-signing-secret"
    _tables(a).set_vendor_secret(hook["id"], seal_vendor_secret(SERVER_KEY, hook["id"], vendor))
    # b's copy knows no vendor secret: it reads the hook again rather than answer 401
    assert _post(b, hook, _event(2), secret=vendor).status_code == 201
    _tables(a).set_vendor_secret(hook["id"], None)
    # b's copy still has it: the store refuses to confirm, b reads again and refuses
    r = _post(b, hook, _event(3), secret=vendor)
    assert r.status_code == 401, r.get_json()
    with a.app_context():
        assert services().store.get_change("ci:checkout:3") is None
    assert _post(b, hook, _event(4)).status_code == 201  # its own secret still works
    # the copy's 401 that a fresh read overturned counted nothing; the real one counted once
    assert _metric(b, 'rejected_deliveries_total{reason="signature"}') == 1
    assert _metric(b, 'hook_deliveries_total{outcome="stored",source="generic"}') == 3


def _count_statements(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Every statement the app's store sends from now on, at the driver (SQLite's trace
    callback; psycopg's cursor and commit calls), so none escapes SQLAlchemy's events."""
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE", 3600.0)  # no pings in between
    sent: list[str] = []
    with app.app_context():
        store = services().store
    if store.dialect == "sqlite":
        store.engine.dispose()
        event.listen(store.engine, "connect",
                     lambda conn, _record: conn.set_trace_callback(sent.append))
    else:
        import psycopg

        def counting(name: str, real: Any) -> Any:
            def call(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                sent.append(f"{name}: {query}")
                return real(self, query, *args, **kwargs)
            return call

        def commit(real: Any) -> Any:
            def call(self: Any) -> Any:
                sent.append("COMMIT")
                return real(self)
            return call

        monkeypatch.setattr(psycopg.Cursor, "execute",
                            counting("execute", psycopg.Cursor.execute))
        monkeypatch.setattr(psycopg.Cursor, "executemany",
                            counting("executemany", psycopg.Cursor.executemany))
        monkeypatch.setattr(psycopg.Connection, "commit", commit(psycopg.Connection.commit))
    return lambda: sent


def test_statements_per_stored_delivery(workers, monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = workers
    hook = _hook(a)
    assert _post(a, hook, _event(0)).status_code == 201  # warm: connection, the hook's copy
    sent = _count_statements(a, monkeypatch)
    for i in (1, 2):
        before = len(sent())
        r = _post(a, hook, _event(i))
        assert r.status_code == 201 and r.get_json()["status"] == "stored"
        mine = sent()[before:]
        assert not any("FROM hooks" in s and s.lstrip().upper().startswith("SELECT")
                       for s in mine), mine  # the hook is confirmed inside the write
        with a.app_context():
            dialect = services().store.dialect
        if dialect == "postgresql":
            assert len(mine) == 1, mine  # delivery, change, services and commit: one trip
        else:
            # BEGIN, the delivery, the change, the redeploy lookup, its services, COMMIT
            assert len(mine) == 6, mine

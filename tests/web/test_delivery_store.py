"""``ServiceTables.store_delivery``: PostgreSQL's one-statement path must store exactly what the
generic path (SQLite, and PostgreSQL's own fallback) stores, with the same answers: new
changes, redeliveries, change ids already stored (updated in the delivery's transaction), ids
repeated in one delivery, rollouts, refused values and a change id stored concurrently."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change, change_from_dict
from rollback_advisor.store import Store
from rollback_advisor.store.schema import change_services, changes, store_meta
from rollback_advisor.store.service_tables import DeliveryResult, ServiceTables
from rollback_advisor.web.credentials import register_hook

from .conftest import SERVER_KEY


def _change(id_: str, **extra: Any) -> Change:
    return change_from_dict({"id": id_, "kind": "deploy", "service": "payment",
                             "at": "2026-11-20T14:00:00Z", **extra})


@pytest.fixture
def tables(store_url: str) -> Iterator[ServiceTables]:
    store = Store(store_url)
    yield ServiceTables(store)
    store.close()


def _hook(tables: ServiceTables) -> str:
    return str(register_hook(tables=tables, server_key=SERVER_KEY, base_url="http://x",
                             name="ci", source="generic", mapping={},
                             environment=None)["id"])


def _deliver(tables: ServiceTables, hook: str, key: str, items: list[Change]
             ) -> DeliveryResult:
    return tables.store_delivery(hook_id=hook, delivery_key=key, event="change",
                                 headers={"Content-Type": "application/json"},
                                 body=json.dumps([c.id for c in items]).encode(),
                                 changes=items)


def _services(tables: ServiceTables) -> list[tuple[str, str]]:
    with tables.engine.connect() as conn:
        return sorted((r.change_id, r.service) for r in conn.execute(select(change_services)))


def _max_rollout(tables: ServiceTables) -> int | None:
    with tables.engine.connect() as conn:
        return conn.execute(select(store_meta.c.value)
                            .where(store_meta.c.key == "max_rollout_us")).scalar()


def test_new_delivery_then_redelivery(tables: ServiceTables) -> None:
    hook = _hook(tables)
    items = [_change("a", services=["payment", "checkout"], service=None),
             _change("b", started_at="2026-11-20T13:30:00Z",
                     details={"rollout_percentage": 25})]
    first = _deliver(tables, hook, "k1", items)
    assert not first.duplicate and first.delivery_id is not None
    assert (first.changes.inserted, first.changes.updated, first.changes.duplicates) == (2, 0, 0)
    assert tables.store.get_change("b") == items[1]
    assert _services(tables) == [("a", "checkout"), ("a", "payment"), ("b", "payment")]
    assert _max_rollout(tables) == 30 * 60 * 1_000_000
    light = tables.store.window_candidates(
        start=items[0].at.replace(hour=0), end=items[0].at.replace(hour=23),
        environment="production")
    assert {c.id: c.rollout_percentage for c in light} == {"a": None, "b": 25.0}
    again = _deliver(tables, hook, "k1", [_change("c")])
    assert again == DeliveryResult(True, None)
    assert tables.store.get_change("c") is None
    (stored,) = [d for d in tables.list_deliveries(hook)]
    assert stored["change_ids"] == ["a", "b"] and stored["delivery_key"] == "k1"


def test_stored_change_under_a_new_key_is_updated_with_the_delivery(
        tables: ServiceTables) -> None:
    hook = _hook(tables)
    _deliver(tables, hook, "k1", [_change("a", version="v1")])
    same = _deliver(tables, hook, "k2", [_change("a", version="v1")])
    assert (same.duplicate, same.changes.inserted, same.changes.duplicates) == (False, 0, 1)
    moved = _deliver(tables, hook, "k3", [_change("a", version="v2", service="checkout"),
                                          _change("b")])
    assert (moved.changes.inserted, moved.changes.updated) == (1, 1)
    stored = tables.store.get_change("a")
    assert stored is not None and stored.version == "v2"
    assert _services(tables) == [("a", "checkout"), ("b", "payment")]
    assert tables.delivery_count(hook) == 3


def test_repeated_id_in_one_delivery_keeps_the_last(tables: ServiceTables) -> None:
    hook = _hook(tables)
    result = _deliver(tables, hook, "k1", [_change("a", version="v1"),
                                           _change("a", version="v2")])
    assert (result.changes.inserted, result.changes.duplicates) == (1, 1)
    stored = tables.store.get_change("a")
    assert stored is not None and stored.version == "v2"


def test_empty_delivery(tables: ServiceTables) -> None:
    hook = _hook(tables)
    empty = _deliver(tables, hook, "k0", [])
    assert not empty.duplicate and empty.changes.inserted == 0
    assert tables.delivery_count(hook) == 1 and tables.store.count_changes() == 0


def test_too_long_id_is_refused_not_truncated(tables: ServiceTables) -> None:
    """Refused alike on both stores (models.MAX_LENGTHS), even for a change built without
    change_from_dict, never cut and never a server error."""
    hook = _hook(tables)
    with pytest.raises(InvalidInput, match="at most 512"):
        _deliver(tables, hook, "k1", [dataclasses.replace(_change("a"), id="x" * 600)])
    assert tables.delivery_count(hook) == 0 and tables.store.count_changes() == 0


@pytest.mark.postgres
def test_change_id_stored_concurrently_falls_back_in_one_transaction(
        postgres_url: str) -> None:
    """Another transaction inserts the same change id and commits while the delivery's
    statement waits on it: the statement fails whole, and the generic path stores the
    delivery and updates the change together."""
    store = Store(postgres_url)
    tables = ServiceTables(store)
    hook = _hook(tables)
    other = create_engine(store.url)
    done: dict[str, Any] = {}
    try:
        with other.connect() as conn:
            conn.execute(changes.insert().values(
                id="a", kind="deploy", environment="production", at_us=1, start_us=1,
                status="succeeded", is_global=False, source=None, ingested_us=1,
                owner=f"hook:{hook}",
                doc=json.dumps(_change("a", version="old").to_dict())))
            worker = threading.Thread(target=lambda: done.update(
                result=_deliver(tables, hook, "k1", [_change("a", version="new")])))
            worker.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until the delivery waits on our row lock
                with other.connect() as probe:
                    if probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                          "wait_event_type = 'Lock'")).scalar():
                        break
                time.sleep(0.02)
            conn.commit()
        worker.join(10)
        result = done["result"]
        assert not result.duplicate and result.changes.updated == 1
        stored = store.get_change("a")
        assert stored is not None and stored.version == "new"
        assert tables.delivery_count(hook) == 1
    finally:
        other.dispose()
        store.close()

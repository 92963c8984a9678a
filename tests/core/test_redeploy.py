"""A deploy of a version live before the current one is a rollback, by hook and by sync alike
(issue #10, item 10): the pure rule, then the store applying it on every write path."""

from __future__ import annotations

from typing import Any

import pytest

from rollback_advisor.models import ChangeKind, change_from_dict
from rollback_advisor.redeploy import as_rollback
from rollback_advisor.store import Store


def deploy(n: int, version: str, minute: int, **extra: Any) -> Any:
    return change_from_dict({"id": f"d{n}", "kind": "deploy", "service": "checkout",
                             "version": version, "at": f"2026-11-20T14:{minute:02d}:00Z",
                             **extra})


@pytest.mark.parametrize("history, kind", [
    (["v2", "v1"], ChangeKind.ROLLBACK),     # v1 was live before v2
    (["v2", "v3", "v1"], ChangeKind.ROLLBACK),
    (["v1", "v0"], ChangeKind.DEPLOY),       # a redeploy of what is live
    (["v2"], ChangeKind.DEPLOY),             # v1 never live
    (["v3", "v2"], ChangeKind.DEPLOY),
    ([None, "v1"], ChangeKind.DEPLOY),       # what is live is unknown
    ([], ChangeKind.DEPLOY),
])
def test_rule(history: list[str | None], kind: ChangeKind) -> None:
    change = as_rollback(deploy(9, "v1", 30), history)
    assert change.kind is kind
    if kind is ChangeKind.ROLLBACK:
        assert change.previous_version == history[0] and "v1 was live" in change.details[
            "redeploy"]


def test_explicit_previous_version_is_kept() -> None:
    change = as_rollback(deploy(9, "v1", 30, previous_version="v2-hotfix"), ["v2", "v1"])
    assert change.kind is ChangeKind.ROLLBACK and change.previous_version == "v2-hotfix"


def test_only_deploys_of_one_known_service_and_version() -> None:
    config = change_from_dict({"id": "c", "kind": "config", "service": "checkout",
                               "version": "v1", "at": "2026-11-20T14:30:00Z"})
    assert as_rollback(config, ["v2", "v1"]) is config
    unversioned = change_from_dict({"id": "u", "kind": "deploy", "service": "checkout",
                                    "at": "2026-11-20T14:30:00Z"})
    assert as_rollback(unversioned, ["v2", "v1"]) is unversioned


@pytest.fixture
def store(store_url: str) -> Any:
    s = Store(store_url)
    yield s
    s.close()


def test_store_classifies_on_every_path(store: Store) -> None:
    """import, sync and a hook delivery alike; failed deploys were never live; another
    environment has its own history; a reclassified change is updated like any other."""
    from rollback_advisor.store.service_tables import ServiceTables
    from rollback_advisor.web.credentials import register_hook

    store.add_changes([deploy(1, "v1", 0), deploy(2, "v2", 10),
                       deploy(3, "v3", 20, status="failed"),
                       deploy(4, "v1", 5, environment="staging")])
    synced = [deploy(5, "v3", 25), deploy(6, "v1", 30)]  # v3 new; v1 live before v2 (and v3)
    store.sync_batch("ci", synced, {})
    assert store.get_change("d5").kind is ChangeKind.DEPLOY
    back = store.get_change("d6")
    assert back.kind is ChangeKind.ROLLBACK and back.previous_version == "v3"

    tables = ServiceTables(store)
    hook = register_hook(tables=tables, server_key="k" * 32, base_url="http://x", name="h",
                         source="generic", mapping={}, environment=None)["id"]
    tables.store_delivery(hook_id=hook, delivery_key="k1", event="change", headers={},
                          body=b"[]", changes=[deploy(7, "v3", 40)])
    assert store.get_change("d7").kind is ChangeKind.ROLLBACK  # v1 live, v3 before it
    tables.store_delivery(hook_id=hook, delivery_key="k2", event="change", headers={},
                          body=b"[]", changes=[deploy(11, "w1", 42), deploy(12, "w2", 43),
                                               deploy(13, "w1", 44)])  # within one delivery
    assert [store.get_change(f"d{n}").kind for n in (11, 12, 13)] == [
        ChangeKind.DEPLOY, ChangeKind.DEPLOY, ChangeKind.ROLLBACK]
    staging = store.add_changes([deploy(8, "v2", 50, environment="staging")])
    assert staging.inserted == 1 and store.get_change("d8").kind is ChangeKind.DEPLOY


def test_migration_0007_fills_versions(tmp_path: Any) -> None:
    import dataclasses
    import json

    from sqlalchemy import select, text

    from rollback_advisor.store.schema import changes

    from ..store.revisions import at_revision

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with at_revision(url, "0006") as conn:
        too_long = dataclasses.replace(deploy(4, "v4", 15), version="v" * 300)
        for change in (deploy(1, "v1", 0), deploy(2, "v2", 10), too_long):
            conn.execute(text(
                "INSERT INTO changes (id, kind, environment, at_us, start_us, status, "
                "is_global, doc, ingested_us, services, destructive) VALUES (:id, 'deploy', "
                "'production', :at, :at, 'succeeded', false, :doc, 1, 'checkout', false)"),
                {"id": change.id, "at": int(change.at.timestamp() * 1e6),
                 "doc": json.dumps(change.to_dict())})
            conn.execute(text("INSERT INTO change_services VALUES (:id, 'checkout', 'deploy', "
                              "'production', :at)"),
                         {"id": change.id, "at": int(change.at.timestamp() * 1e6)})
    store = Store(url)
    with store.engine.connect() as conn:
        assert dict(conn.execute(select(changes.c.id, changes.c.version)).all()) == {
            "d1": "v1", "d2": "v2", "d4": None}  # too long for the column: left out
    store.add_changes([deploy(3, "v1", 20)])  # the filled versions serve the rule at once
    assert store.get_change("d3").kind is ChangeKind.ROLLBACK
    store.close()

"""The incident lifecycle (pure) and its store: grouping, symptoms, resolution, idempotency,
and two writers racing one group."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from rollback_advisor.alerts import Alert, AlertBatch
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.incident_state import apply_batch
from rollback_advisor.store import Store
from rollback_advisor.store.incidents import IncidentTables

GRAPH = DependencyGraph.from_document({"services": {
    "frontend": {"depends_on": ["checkout"]}, "checkout": {"depends_on": ["payment"]},
    "payment": {}}})
T0 = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)


def a(key: str, service: str | None, minutes: int = 0, firing: bool = True) -> Alert:
    return Alert(key=key, firing=firing, starts_at=T0 + timedelta(minutes=minutes),
                 name="HighErrorRate", service=service,
                 ends_at=None if firing else T0 + timedelta(hours=1))


def batch(*alerts: Alert) -> AlertBatch:
    return AlertBatch(source="alertmanager", group="g", alerts=alerts)


def step(state, *alerts):
    return apply_batch(state, batch(*alerts), GRAPH, default_environment="production",
                       now=T0 + timedelta(hours=2))


def test_lifecycle_open_add_repeat_resolve_reopen() -> None:
    state, out = step(None, a("1", "frontend"))
    assert out.opened and out.advise == "opened" and state.target == "frontend"
    same, out = step(state, a("1", "frontend"))
    assert same == state and not out.changed and out.advise is None
    state, out = step(state, a("2", "checkout", -3))
    assert out.added == ("checkout",) and out.advise == "symptom_added"
    assert state.started_at == T0 - timedelta(minutes=3)
    assert state.incident().started_at == T0  # the target's own onset
    assert [s.node for s in state.incident().symptoms] == ["checkout"]
    state, out = step(state, a("3", "checkout", -1))  # another alert, same node: no advice
    assert out.changed and out.advise is None
    state, out = step(state, a("2", "checkout", -3, firing=False))
    assert state.status == "open" and state.symptoms()[0]["status"] == "firing"  # 3 fires
    state, out = step(state, a("3", "checkout", -1, False), a("1", "frontend", 0, False))
    assert out.resolved and state.status == "resolved"
    assert state.resolved_at == T0 + timedelta(hours=1)
    state, out = step(state, a("1", "frontend"))
    assert out.reopened and state.status == "open" and state.resolved_at is None


def test_unknown_nodes_are_kept_and_the_first_known_becomes_target() -> None:
    state, out = step(None, a("1", "ghost"), a("2", None))
    assert state.target == "ghost" and not state.target_known
    assert {k: (x.node, x.known) for k, x in state.alerts.items()} == {
        "1": ("ghost", False), "2": (None, False)}
    state, out = step(state, a("3", "payment", 2))
    assert out.retargeted and out.advise == "target_known" and state.target == "payment"
    first, _ = step(None, a("1", "ghost"), a("2", "payment"))
    assert first.target == "payment"  # the first alert the graph knows


def test_racing_writers_open_one_incident(store_url: str) -> None:
    """Two writers deliver the same new group at once: one incident, its alerts once each."""
    stores = [Store(store_url), Store(store_url)]
    barrier = threading.Barrier(2)
    results = []

    def deliver(store: Store, key: str) -> None:
        barrier.wait()
        results.append(IncidentTables(store).apply(
            hook_id="h", batch=batch(a("1", "frontend"), a(key, "checkout")),
            graph=GRAPH, default_environment="production"))

    # incidents.hook_id has no foreign key: no hooks row is needed here
    threads = [threading.Thread(target=deliver, args=(s, k))
               for s, k in zip(stores, "23", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tables = IncidentTables(stores[0])
    assert tables.count() == 1
    (only,) = tables.list()
    assert sorted(only.state.alerts) == ["1", "2", "3"]
    assert sorted(r.outcome.opened for r in results) == [False, True]
    for s in stores:
        s.close()


def test_migration_0010_keeps_existing_hooks(store_url: str) -> None:
    """Hooks registered before 0010 load with no label overrides and no vendor secret."""
    from sqlalchemy import text

    from rollback_advisor.store.service_tables import ServiceTables

    from .revisions import at_revision

    with at_revision(store_url, "0009") as conn:
        conn.execute(text("INSERT INTO hooks (id, name, source, mapping, environment, nonce, "
                          "created_us) VALUES ('h_old', 'ci', 'github', '{\"a/b\": \"b\"}', "
                          "NULL, 'n', 1)"))
    store = Store(store_url)
    (old,) = ServiceTables(store).list_hooks()
    assert (old.id, dict(old.mapping), dict(old.labels), old.vendor_secret) == (
        "h_old", {"a/b": "b"}, {}, None)
    assert IncidentTables(store).count() == 0
    store.close()

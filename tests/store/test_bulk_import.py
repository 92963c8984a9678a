"""Large batches go straight to the driver (store/bulk.py: COPY on PostgreSQL, multi-row
statements on SQLite), with the same counting, duplicate and all-or-nothing rules as the small
batches' statements, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rollback_advisor.models import Change, ChangeKind
from rollback_advisor.store import CHUNK, Store
from rollback_advisor.store import bulk as bulk_module
from rollback_advisor.store.schema import change_services

from .test_store import T0, make


def services_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(change_services)).scalar_one())


def test_large_batches_take_the_bulk_path(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard the guard: a chunk of CHUNK changes reaches bulk.insert_changes, a small one not."""
    calls: list[int] = []
    real = bulk_module.insert_changes
    monkeypatch.setattr(bulk_module, "insert_changes",
                        lambda conn, rows: calls.append(len(rows)) or real(conn, rows))
    store.add_changes([make(i) for i in range(CHUNK + 5)])
    store.add_changes([make(i) for i in range(5000, 5003)])
    assert calls == [CHUNK]


def test_duplicates_within_and_across_batches(store: Store) -> None:
    """Within a chunk the last of an id wins and the others are duplicates; across chunks the
    stored one stays and the later ones are duplicates, as with row-by-row statements."""
    first = [make(i, summary="first") for i in range(CHUNK)]
    # chunk 1: 0..CHUNK-1, with id 7 again at its end (last wins: "again")
    chunk1 = first[:-1] + [make(7, summary="again")]
    # chunk 2: ids 10..(CHUNK+9): 10..CHUNK-2 stored by chunk 1 (CHUNK-1 was replaced by 7),
    # the rest new, and id 12 twice more
    chunk2 = [make(i, summary="second") for i in range(10, CHUNK + 8)] + [make(12)] * 2
    result = store.add_changes(chunk1 + chunk2)
    assert result.inserted == (CHUNK - 1) + (CHUNK + 8 - (CHUNK - 1))
    assert result.duplicates == 1 + (CHUNK - 1 - 10) + 2
    assert result.inserted + result.duplicates == len(chunk1) + len(chunk2)
    assert store.count_changes() == CHUNK + 8
    got = store.get_changes(["c7", "c12", f"c{CHUNK - 1}", f"c{CHUNK + 7}"])
    assert got["c7"].summary == "again"
    assert got["c12"].summary == "first"
    assert got[f"c{CHUNK - 1}"].summary == "second"  # first stored by chunk 2
    assert got[f"c{CHUNK + 7}"].summary == "second"
    assert services_rows(store) == CHUNK + 8
    again = store.add_changes(chunk1 + chunk2)
    assert (again.inserted, again.duplicates) == (0, len(chunk1) + len(chunk2))
    assert services_rows(store) == CHUNK + 8


def test_a_failing_large_batch_stores_nothing(store: Store) -> None:
    def items() -> Iterator[Change]:
        yield from (make(i, services=["a", "b"]) for i in range(3 * CHUNK))
        raise ValueError("the last line is bad")

    with pytest.raises(ValueError):
        store.add_changes(items())
    assert store.count_changes() == 0 and services_rows(store) == 0
    result = store.add_changes(make(i, services=["a", "b"]) for i in range(3 * CHUNK))
    assert result.inserted == 3 * CHUNK and services_rows(store) == 6 * CHUNK


def test_large_batches_store_what_small_ones_do(store: Store) -> None:
    """Rows, service rows, candidate columns, scope and the redeploy rule come out the same
    whichever path wrote them."""
    def batch(offset: int) -> list[Change]:  # services of its own: no redeploy across them
        return [make(offset + i, service=f"s{offset}-{i % 7}", version=f"v{i}",
                     scope={"region": ["x"]},
                     started_at=(T0 + timedelta(minutes=10 * (offset + i) - 2)).isoformat(),
                     details={"rollout_percentage": 50} if i % 5 == 0 else {})
                for i in range(300)] + [
            # redeploys v3 on s3 after v10 went live there: a rollback
            make(offset + 400, service=f"s{offset}-3", version="v3")]

    small = [store.add_changes(batch(0)[i:i + 50]) for i in range(0, 301, 50)]
    assert sum(r.inserted for r in small) == 301
    large = store.add_changes(batch(10_000))
    assert large.inserted == 301
    window = {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=365),
              "environment": "production"}
    by_id = {c.id: c for c in store.window_candidates(**window)}
    for i in [*range(300), 400]:
        a, b = by_id[f"c{i}"], by_id[f"c{10_000 + i}"]
        assert (a.kind, len(a.services), a.status, a.rollout_percentage, a.destructive,
                a.scope, a.source, a.at - a.start) == (
            b.kind, len(b.services), b.status, b.rollout_percentage, b.destructive, b.scope,
            b.source, b.at - b.start)
    assert by_id["c400"].kind is by_id["c10400"].kind is ChangeKind.ROLLBACK
    assert services_rows(store) == 602


@pytest.mark.postgres
def test_a_large_load_keeps_postgres_statistics(postgres_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The load analyzes the tables as it grows (in its own transaction), so the planner
    knows them: an empty store has no statistics (reltuples -1) until then."""
    from sqlalchemy import text

    from rollback_advisor.store import open_store

    monkeypatch.setattr(bulk_module, "ANALYZE_FROM", 500)
    store = open_store(postgres_url)

    def reltuples() -> float:
        with store.engine.connect() as conn:
            return float(conn.execute(text(
                "SELECT reltuples FROM pg_class WHERE oid = 'changes'::regclass")).scalar_one())

    assert reltuples() < 0
    store.add_changes([make(i) for i in range(3 * CHUNK)])
    assert reltuples() >= 2 * CHUNK  # analyzed at 1,000 and 2,000 rows written
    store.close()


def test_statistics_are_kept_at_doublings_on_postgres_only() -> None:
    ran: list[str] = []

    class Conn:
        def __init__(self, name: str) -> None:
            self.dialect = type("D", (), {"name": name})()

        def exec_driver_sql(self, sql: str) -> None:
            ran.append(sql)

    pg = Conn("postgresql")
    steps = [bulk_module.keep_statistics(pg, n, a)  # type: ignore[arg-type]
             for n, a in ((5_000, 0), (10_000, 0), (15_000, 10_000), (20_000, 10_000))]
    assert steps == [0, 10_000, 10_000, 20_000] and len(ran) == 2
    assert bulk_module.keep_statistics(Conn("sqlite"), 10**6, 0) == 0  # type: ignore[arg-type]
    assert len(ran) == 2

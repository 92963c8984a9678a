"""The store on SQLite and on PostgreSQL: idempotent writes, atomic batches, window queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rollback_advisor.errors import StoreError
from rollback_advisor.models import Change, change_from_dict
from rollback_advisor.store import Store, open_store

from .revisions import at_revision

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def make(i: int, **extra: object) -> Change:
    data = {"id": f"c{i}", "kind": "deploy", "service": "svc", "at": (T0 + timedelta(
        minutes=10 * i)).isoformat(), "version": f"v{i}"}
    if "services" in extra:
        del data["service"]
    data.update(extra)
    return change_from_dict(data)


def test_sqlite_file_in_data_dir_uses_wal(tmp_path: Path) -> None:
    """The default store is a SQLite file in the data directory, in WAL mode."""
    s = open_store(None, tmp_path / "d")
    with s.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    s.close()
    assert (tmp_path / "d" / "rollback-advisor.db").is_file() and mode == "wal"


def test_idempotent_by_id(store: Store) -> None:
    """Re-adding the same ids inserts nothing and counts duplicates."""
    assert store.add_changes([make(1), make(2)]).inserted == 2
    again = store.add_changes([make(1), make(2), make(3)])
    assert (again.inserted, again.duplicates) == (1, 2)
    assert store.count_changes() == 3


def test_update_only_when_content_differs(store: Store) -> None:
    """With update=True a changed record is rewritten; an identical one is a duplicate."""
    store.add_changes([make(1), make(2)])
    result = store.add_changes([make(1, status="failed"), make(2)], update=True)
    assert (result.updated, result.duplicates) == (1, 1)
    assert store.get_change("c1").status.value == "failed"


def test_failed_batch_stores_nothing(store: Store) -> None:
    """An error while a batch is being read rolls the whole batch back."""
    def items() -> Iterator[Change]:
        yield make(1)
        yield make(2)
        raise ValueError("line 3 is bad")

    with pytest.raises(ValueError):
        store.add_changes(items())
    assert store.count_changes() == 0


def test_large_batch_in_chunks(store: Store) -> None:
    """Batches larger than one chunk are counted exactly, duplicates within included."""
    many = [make(i) for i in range(2500)]
    assert store.add_changes(many + many[:10]).inserted == 2500
    assert store.count_changes() == 2500


def test_window_query_bounds_and_environment(store: Store) -> None:
    """The window returns changes effective inside it, of one environment, and a long
    rollout that began inside it but finished after its end."""
    store.add_changes([make(i) for i in range(10)] + [
        make(20, environment="staging", at=(T0 + timedelta(minutes=30)).isoformat()),
        make(21, at=(T0 + timedelta(hours=5)).isoformat(),
             started_at=(T0 + timedelta(minutes=25)).isoformat())])
    got = store.changes_in_window(start=T0 + timedelta(minutes=15),
                                  end=T0 + timedelta(minutes=45), environment="production")
    assert sorted(c.id for c in got) == ["c2", "c21", "c3", "c4"]


def test_previous_change_and_listing(store: Store) -> None:
    """previous_change finds the last succeeded change of the service; list_changes filters
    by service (globals included), kind and time, newest first."""
    store.add_changes([make(1), make(2, status="failed"), make(3),
                       make(4, kind="config", services=["*"]),
                       make(5, service="other")])
    prev = store.previous_change(service="svc", kind="deploy", before=make(3).at,
                                 environment="production")
    assert prev is not None and prev.id == "c1"
    assert [c.id for c in store.list_changes(service="svc")] == ["c4", "c3", "c2", "c1"]
    assert [c.id for c in store.list_changes(kind="config")] == ["c4"]
    assert [c.id for c in store.list_changes(since=make(3).at, until=make(4).at)] == ["c4",
                                                                                     "c3"]
    assert sorted(store.referenced_services()) == ["other", "svc"]


def test_changes_round_trip(store: Store) -> None:
    """What comes out is what went in, details and all."""
    c = make(1, started_at=(T0 - timedelta(minutes=5)).isoformat(), reversible=False,
             details={"sql": "DROP TABLE x", "files": ["a.py"]}, summary="ünïcode")
    store.add_changes([c])
    assert store.get_change("c1") == c


def test_graph_and_cursor(store: Store) -> None:
    """The graph document and a sync cursor round-trip; a sync batch stores both at once."""
    assert store.load_graph() is None and store.get_cursor("gh") is None
    store.save_graph({"services": {"a": {"depends_on": ["b"]}}})
    assert store.load_graph() == {"services": {"a": {"depends_on": ["b"]}}}
    result = store.sync_batch("gh", [make(1)], {"since": "x"})
    assert result.inserted == 1 and store.get_cursor("gh") == {"since": "x"}


def test_reopen_keeps_data(tmp_path: Path) -> None:
    """Opening an existing store migrates nothing and keeps what it holds."""
    open_store(None, tmp_path).add_changes([make(1)])
    assert open_store(None, tmp_path).count_changes() == 1


def test_unreachable_postgres_is_one_clear_error() -> None:
    """A server that does not answer gives a StoreError naming the URL, password hidden."""
    with pytest.raises(StoreError) as info:
        open_store("postgresql+psycopg://u:hunter2@127.0.0.1:1/x")
    assert "127.0.0.1:1" in info.value.message and "hunter2" not in info.value.message


def test_bad_url() -> None:
    """Only SQLite and PostgreSQL URLs are accepted."""
    with pytest.raises(StoreError, match="unsupported database"):
        open_store("mysql://x@localhost/db")
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("::nonsense::")


def test_window_candidates_match_the_window(store: Store) -> None:
    """The light candidates cover the same changes as the full window query, with the columns
    the engine reads; get_changes materialises any of them."""
    store.add_changes([make(1), make(2, services=["svc", "other"], status="in_progress"),
                       make(3, kind="migration", summary="ALTER TABLE t DROP COLUMN c"),
                       make(4, details={"rollout_percentage": 25})])
    start, end = T0, T0 + timedelta(hours=1)
    full = {c.id: c for c in store.changes_in_window(start=start, end=end,
                                                     environment="production")}
    light = {c.id: c for c in store.window_candidates(start=start, end=end,
                                                      environment="production")}
    assert set(full) == set(light) == {"c1", "c2", "c3", "c4"}
    assert light["c2"].services == ("svc", "other") and light["c2"].status.value == "in_progress"
    assert light["c3"].destructive and not light["c1"].destructive
    assert light["c4"].rollout_percentage == 25.0
    assert light["c1"].at == full["c1"].at.timestamp()
    assert store.get_changes(["c3", "nope"]) == {"c3": full["c3"]}


def test_migration_0003_fills_candidate_columns(tmp_path: Path) -> None:
    """Changes stored before migration 0003 get their candidate columns from their documents."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with at_revision(url, "0002") as conn:
        conn.execute(text(
            "INSERT INTO changes (id, kind, environment, at_us, start_us, status, is_global, "
            "doc, ingested_us) VALUES ('m1', 'migration', 'production', 1, 1, 'succeeded', 0, "
            ":doc, 1)"), {"doc": '{"id": "m1", "kind": "migration", "services": ["db", "x"], '
                                 '"at": "1970-01-01T00:00:00Z", "reversible": false, '
                                 '"environment": "production", "status": "succeeded"}'})
    s = open_store(url)
    (c,) = s.window_candidates(start=datetime(1970, 1, 1, tzinfo=UTC),
                               end=datetime(1970, 1, 2, tzinfo=UTC), environment="production")
    s.close()
    assert (c.services, c.destructive) == (("db", "x"), True)


def test_sqlite_file_is_private_and_commits_are_durable(tmp_path: Path) -> None:
    """The store holds deliveries and token hashes: 0600, its new directory 0700 (was 0644
    under the usual umask). synchronous=FULL (was NORMAL): in WAL mode only FULL syncs each
    commit, so an acknowledged write survives a power loss."""
    import stat

    s = open_store(None, tmp_path / "new" / "dir")
    s.add_changes([make(1)])  # a write: the -wal file exists now
    with s.engine.connect() as conn:
        synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    s.close()
    data = tmp_path / "new" / "dir"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for f in data.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert synchronous == 2  # FULL


def test_sqlite_writers_of_a_process_take_turns(tmp_path: Path) -> None:
    """On SQLite a service write holds the store's write lock for its transaction (so gevent
    workers never wait in SQLite's busy handler, which blocks the whole worker) and gives it
    back when the transaction fails."""
    from sqlalchemy.exc import IntegrityError

    from rollback_advisor.store.service_tables import ServiceTables

    s = open_store(None, tmp_path)
    tables = ServiceTables(s)
    with tables._begin():
        assert not s.write_lock.acquire(blocking=False)
    assert s.write_lock.acquire(blocking=False)
    s.write_lock.release()
    tables.add_hook(hook_id="h1", name="a", source="generic", mapping={}, environment=None,
                    nonce="n")
    with pytest.raises(IntegrityError):
        tables.add_hook(hook_id="h1", name="a", source="generic", mapping={},
                        environment=None, nonce="n")
    assert s.write_lock.acquire(blocking=False)
    s.write_lock.release()
    s.close()


def test_sqlite_write_lock_holds_across_processes(tmp_path: Path) -> None:
    """Two gevent workers are two processes: while one holds the write lock the other cannot
    take it (it polls, yielding, instead of sleeping in SQLite's busy handler)."""
    import subprocess
    import sys

    s = open_store(None, tmp_path)
    probe = ("import sys\nfrom pathlib import Path\n"
             "from rollback_advisor.store.write_lock import SQLiteWriteLock\n"
             "lock = SQLiteWriteLock(Path(sys.argv[1]))\n"
             "print(lock.acquire(blocking=False))\n")
    database = str(tmp_path / "rollback-advisor.db")

    def other_process_gets_it() -> str:
        return subprocess.run([sys.executable, "-c", probe, database], capture_output=True,
                              text=True, timeout=60, check=True).stdout.strip()

    assert s.write_lock.acquire()
    try:
        assert other_process_gets_it() == "False"
    finally:
        s.write_lock.release()
    assert other_process_gets_it() == "True"
    s.close()


def test_scope_round_trips_and_reaches_the_candidates(store: Store) -> None:
    """A change's scope is stored with it and read by the window query as compact JSON; a
    change without one reads as unknown (None)."""
    store.add_changes([make(1, scope={"region": ["us-east-1"], "cell": ["7", "3"]}), make(2)])
    window = {"start": T0, "end": T0 + timedelta(hours=1), "environment": "production"}
    light = {c.id: c for c in store.window_candidates(**window)}
    assert light["c1"].scope == '{"cell":["3","7"],"region":["us-east-1"]}'
    assert light["c2"].scope is None
    assert store.get_change("c1").scope == {"cell": ("3", "7"), "region": ("us-east-1",)}


def test_migration_0004_adds_scope_to_a_0003_store(tmp_path: Path) -> None:
    """A store at 0003 with changes opens at head: old rows read as unknown scope, new ones
    keep theirs."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with at_revision(url, "0003"):
        pass
    s = open_store(url)
    s.add_changes([make(1), make(2, scope={"zone": ["a"]})])
    got = {c.id: c.scope for c in s.window_candidates(start=T0, end=T0 + timedelta(hours=1),
                                                      environment="production")}
    s.close()
    assert got == {"c1": None, "c2": '{"zone":["a"]}'}


def test_the_advisor_reads_the_failing_nodes_history_beyond_the_window(store: Store) -> None:
    """A change weeks old to a failing node is read from the store and ranked; one as old to a
    node that is not failing is not read at all."""
    from rollback_advisor.advisor import Advisor
    from rollback_advisor.config import Settings
    from rollback_advisor.models import Incident, Symptom

    store.save_graph({"services": {"web": {"depends_on": ["db"]}, "db": {"type": "datastore"},
                                   "jobs": {"depends_on": ["db"]}, "other": {}}})
    onset = T0 + timedelta(days=20)
    store.add_changes([make(1, service="db", kind="config"), make(2, service="other"),
                       make(3, service="web")])
    advisor = Advisor(store, Settings())
    ranking = advisor.advise(Incident("web", onset, symptoms=(Symptom("db", onset),))).ranking
    assert {s.change.id for s in ranking.suspects} == {"c1", "c3"}
    assert advisor.advise(Incident("jobs", onset)).ranking.candidates == 0


def test_an_answer_reads_through_one_connection(store: Store) -> None:
    """Every read of one answer (window, history, verdicts, the listed changes, a rollback
    target) goes through one pooled connection: on PostgreSQL each apart would cost a BEGIN
    and a ROLLBACK besides its statement."""
    from sqlalchemy import event

    from rollback_advisor.advisor import Advisor
    from rollback_advisor.config import Settings
    from rollback_advisor.models import Incident, Symptom

    store.save_graph({"services": {"web": {"depends_on": ["db"]}, "db": {"type": "datastore"}}})
    store.add_changes([make(i, service="db" if i % 2 else "web",
                            **({} if i % 3 else {"version": None})) for i in range(1, 9)])
    advisor = Advisor(store, Settings())
    advisor.graph()
    onset = T0 + timedelta(hours=2)
    checkouts: list[object] = []
    event.listen(store.engine, "checkout", lambda *args: checkouts.append(args))
    advice = advisor.advise(Incident("web", onset, symptoms=(Symptom("db", onset),)))
    assert len(checkouts) == 1
    assert [s.change.id for s in advice.ranking.suspects] == [
        s.change.id for s in Advisor(store, Settings()).advise(
            Incident("web", onset, symptoms=(Symptom("db", onset),))).ranking.suspects]
    assert advice.ranking.candidates == 8


def test_the_graph_stamp_changes_when_a_graph_is_saved(store: Store) -> None:
    """What a long-lived process compares to notice a graph another process loaded."""
    assert store.graph_stamp() is None
    store.save_graph({"services": {"web": {}}})
    first = store.graph_stamp()
    assert isinstance(first, int)
    store.save_graph({"services": {"web": {}, "db": {}}})
    assert store.graph_stamp() not in (None, first)

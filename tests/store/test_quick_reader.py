"""The command line's quick path: a current SQLite store read straight through sqlite3
(store_reads.QuickReader) answers exactly as the Store does, and anything else is left to the
Store (which migrates)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rollback_advisor.store import open_store
from rollback_advisor.store.verdicts import VerdictStore
from rollback_advisor.store_reads import QuickReader, sqlite_file
from rollback_advisor.verdicts import Verdict, VerdictKind

from .revisions import at_revision
from .test_store import T0, make


def test_quick_reader_reads_what_the_store_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    store.save_graph({"services": {"web": {"depends_on": ["svc"]}, "svc": {}}})
    store.add_changes([make(i, started_at=(T0 + timedelta(minutes=10 * i - 3)).isoformat(),
                            scope={"region": ["eu-west-1"]}) for i in range(1, 6)]
                      + [make(9, kind="config", services=["svc", "web"], source="github")])
    VerdictStore(store).record(Verdict("inc-1", "c2", VerdictKind.CULPRIT, "alice", T0))
    quick = QuickReader.open(url)
    assert quick is not None
    window = {"start": T0, "end": T0 + timedelta(minutes=45), "environment": "production"}
    history = {"services": ["svc", "web"], "start": T0 - timedelta(days=1),
               "end": T0 + timedelta(minutes=30), "environment": "production"}
    for reader in (store, quick):
        assert reader.window_candidates(**window) == store.window_candidates(**window)
        assert reader.changes_in_window(**window) == store.changes_in_window(**window)
        assert reader.history_candidates(**history) == store.history_candidates(**history)
        assert reader.get_changes(["c1", "c9", "nope"]) == store.get_changes(["c1", "c9"])
        assert reader.previous_change(service="svc", kind="deploy", before=make(4).at,
                                      environment="production") == store.get_change("c3")
        assert reader.load_graph() == store.load_graph()
        assert (reader.verdicts_version(), reader.verdicts()) == (1, VerdictStore(store).list())
    assert len(quick.window_candidates(**window)) == 4
    quick.close()
    store.close()


def test_quick_reader_declines_what_only_the_store_may_open(tmp_path: Path) -> None:
    """No file (the Store creates it), an older schema (the Store migrates it), and URLs the
    Store reads differently: None, so the caller opens the Store."""
    assert QuickReader.open(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert not (tmp_path / "missing.db").exists()
    old = f"sqlite:///{tmp_path / 'old.db'}"
    with at_revision(old, "0011"):
        pass
    assert QuickReader.open(old) is None
    open_store(old).close()  # migrates to head
    reader = QuickReader.open(old)
    assert reader is not None
    reader.close()
    (tmp_path / "empty.db").write_bytes(b"")
    assert QuickReader.open(f"sqlite:///{tmp_path / 'empty.db'}") is None


@pytest.mark.parametrize("url", ["postgresql+psycopg://u@h/db", "sqlite://", "sqlite:///:memory:",
                                 "sqlite+pysqlite:///x.db", "sqlite:///x.db?mode=ro",
                                 "sqlite:///~/x.db", "sqlite:///a%20b.db"])
def test_only_plain_sqlite_file_urls_take_the_quick_path(url: str) -> None:
    assert sqlite_file(url) is None


def test_a_quick_reader_never_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url).close()
    reader = QuickReader.open(url)
    assert reader is not None
    with pytest.raises(Exception, match="readonly|read-only|query_only"):
        reader.conn.execute("DELETE FROM changes")
    reader.close()


def test_window_rows_decode_to_the_engines_candidates() -> None:
    """Rows become Candidates without the NamedTuple's constructor: the columns must be the
    candidate's fields, one for one, and give what the constructor gives."""
    from rollback_advisor.engine import Candidate
    from rollback_advisor.models import ChangeKind, ChangeStatus
    from rollback_advisor.store_reads import CANDIDATE_COLUMNS, candidates

    assert len(CANDIDATE_COLUMNS) == len(Candidate._fields)
    row = ("c1", "migration", "a\x1fb", "production", 1_763_647_500_000_000,
           1_763_647_200_000_000, "failed", 50.0, 1, '{"region":["x"]}', "github")
    (got,) = candidates([row])
    assert got == Candidate("c1", ChangeKind.MIGRATION, ("a", "b"), "production",
                            1_763_647_500.0, 1_763_647_200.0, ChangeStatus.FAILED, 50.0, True,
                            '{"region":["x"]}', "github")
    assert type(got) is Candidate and got.source == "github" and got.destructive is True


def test_the_reads_text_goes_to_each_driver_in_its_style() -> None:
    from rollback_advisor.store import driver_sql

    sql = 'SELECT x::text FROM t WHERE a = :a AND "by" IN (:b_0, :b_1) AND c = :a'
    assert driver_sql(sql, "qmark") == (
        'SELECT x::text FROM t WHERE a = ? AND "by" IN (?, ?) AND c = ?', ("a", "b_0", "b_1", "a"))
    assert driver_sql(sql + " AND d LIKE 'x%'", "pyformat") == (
        "SELECT x::text FROM t WHERE a = %(a)s AND \"by\" IN (%(b_0)s, %(b_1)s) AND c = %(a)s"
        " AND d LIKE 'x%%'", None)

"""Verdicts in the store (SQLite and PostgreSQL), the candidates' source column and migration
0008, and the Advisor learning from the stored verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from rollback_advisor.advisor import Advisor
from rollback_advisor.config import Settings
from rollback_advisor.engine import EngineSettings
from rollback_advisor.errors import NotFound
from rollback_advisor.models import ChangeKind, Incident
from rollback_advisor.store import Store, open_store
from rollback_advisor.store.verdicts import VerdictStore
from rollback_advisor.verdicts import Verdict, VerdictKind

from .revisions import at_revision
from .test_store import T0, make

CULPRIT, NOT, NONE = VerdictKind.CULPRIT, VerdictKind.NOT_CULPRIT, VerdictKind.NO_CHANGE


def verdict(incident: str, change: str | None, said: VerdictKind, minute: int = 0,
            **extra: object) -> Verdict:
    return Verdict(incident, change, said, extra.pop("by", "alice"),  # type: ignore[arg-type]
                   T0 + timedelta(minutes=minute), **extra)  # type: ignore[arg-type]


def test_record_copies_kind_and_source_and_lists(store: Store) -> None:
    """A verdict keeps its change's kind and source, copied when recorded: it survives the
    change being rewritten or gone."""
    store.add_changes([make(1, source="github"), make(2, kind="config")])
    verdicts = VerdictStore(store)
    stored = verdicts.record(verdict("inc-1", "c1", CULPRIT, note="the pool size"))
    assert (stored.kind, stored.source) == (ChangeKind.DEPLOY, "github")
    verdicts.record(verdict("inc-1", "c2", NOT))
    verdicts.record(verdict("inc-2", None, NONE, by="bob"))
    assert [(v.incident, v.change, v.verdict, v.kind, v.source) for v in verdicts.list()] == [
        ("inc-1", "c1", CULPRIT, ChangeKind.DEPLOY, "github"),
        ("inc-1", "c2", NOT, ChangeKind.CONFIG, None),
        ("inc-2", None, NONE, None, None)]
    (only,) = verdicts.list("inc-2")
    assert (only.by, only.at, only.note) == ("bob", T0, None)
    assert verdicts.list("inc-1")[0].note == "the pool size"
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM change_services"))
        conn.execute(text("DELETE FROM changes"))
    assert verdicts.list("inc-1")[0].source == "github"


def test_a_later_verdict_replaces_the_earlier(store: Store) -> None:
    """One verdict per (incident, change): the later one (by its time) wins, whatever the
    order they arrive in; other incidents and changes are untouched."""
    store.add_changes([make(1), make(2)])
    verdicts = VerdictStore(store)
    verdicts.record(verdict("inc-1", "c1", CULPRIT, minute=5))
    verdicts.record(verdict("inc-1", "c2", CULPRIT, minute=5))
    verdicts.record(verdict("inc-2", "c1", CULPRIT, minute=5))
    verdicts.record(verdict("inc-1", "c1", NOT, minute=9, by="bob"))
    verdicts.record(verdict("inc-1", "c1", CULPRIT, minute=7))  # older, arriving late
    got = {(v.incident, v.change): (v.verdict, v.by) for v in verdicts.list()}
    assert got == {("inc-1", "c1"): (NOT, "bob"), ("inc-1", "c2"): (CULPRIT, "alice"),
                   ("inc-2", "c1"): (CULPRIT, "alice")}


def test_culprit_and_no_change_exclude_each_other(store: Store) -> None:
    """An incident's conclusion is a culprit or no change: the later one replaces the other,
    an earlier one arriving late is not stored; not_culprit verdicts stand beside either."""
    store.add_changes([make(1), make(2), make(3)])
    verdicts = VerdictStore(store)

    def got(incident: str) -> list[tuple[str | None, VerdictKind]]:
        return [(v.change, v.verdict) for v in verdicts.list(incident)]

    verdicts.record(verdict("inc-1", None, NONE, minute=5))
    verdicts.record(verdict("inc-1", "c3", NOT, minute=5))
    verdicts.record(verdict("inc-1", "c1", CULPRIT, minute=3))  # older, arriving late
    assert got("inc-1") == [(None, NONE), ("c3", NOT)]
    verdicts.record(verdict("inc-1", "c1", CULPRIT, minute=8))
    verdicts.record(verdict("inc-1", "c2", CULPRIT, minute=9))
    assert got("inc-1") == [("c1", CULPRIT), ("c2", CULPRIT), ("c3", NOT)]
    verdicts.record(verdict("inc-1", None, NONE, minute=8))  # older than c2's: not stored
    assert got("inc-1") == [("c1", CULPRIT), ("c2", CULPRIT), ("c3", NOT)]
    verdicts.record(verdict("inc-2", "c1", CULPRIT, minute=1))
    verdicts.record(verdict("inc-1", None, NONE, minute=10))
    assert got("inc-1") == [(None, NONE), ("c3", NOT)]
    assert got("inc-2") == [("c1", CULPRIT)]  # another incident's conclusion is its own


def test_a_verdict_on_an_unknown_change_is_refused(store: Store) -> None:
    """A verdict names a stored change (what the priors learn is its kind and source); one
    carrying its own kind (re-imported) is kept as given."""
    verdicts = VerdictStore(store)
    with pytest.raises(NotFound, match="change: 'ghost'"):
        verdicts.record(verdict("inc-1", "ghost", CULPRIT))
    assert verdicts.list() == []
    kept = verdicts.record(verdict("inc-1", "ghost", CULPRIT, kind=ChangeKind.CONFIG,
                                   source="argocd"))
    assert verdicts.list() == [kept]


def test_reset_deletes_every_verdict_and_moves_the_version(store: Store) -> None:
    store.add_changes([make(1)])
    verdicts = VerdictStore(store)
    assert verdicts.version() == 0
    verdicts.record(verdict("inc-1", "c1", CULPRIT))
    verdicts.record(verdict("inc-2", None, NONE))
    after_writes = verdicts.version()
    assert after_writes == 2
    assert verdicts.delete_all() == 2
    assert verdicts.list() == [] and verdicts.version() == 3


def test_candidates_carry_the_source(store: Store) -> None:
    """The window and history queries read each change's source with its candidate columns."""
    store.add_changes([make(1, source="github"), make(2)])
    window = {"start": T0, "end": T0 + timedelta(hours=1), "environment": "production"}
    assert {c.id: c.source for c in store.window_candidates(**window)} == {"c1": "github",
                                                                         "c2": None}
    history = store.history_candidates(services=["svc"], **window)
    assert {c.id: c.source for c in history} == {"c1": "github", "c2": None}


def test_window_query_stays_index_only(tmp_path: Path) -> None:
    """SQLite answers the candidates' window query from the covering index alone: no table
    page per candidate (the source column is in the index)."""
    import contextlib

    from rollback_advisor.store_reads import CANDIDATE_COLUMNS, AdviceReads

    s = open_store(None, tmp_path / "d")
    s.add_changes([make(i, source="github") for i in range(5)])
    plans: list[str] = []

    class Explained(AdviceReads):  # the store's own reads, each statement explained
        @contextlib.contextmanager
        def _reading(self):
            with s.engine.connect() as conn:
                def run(sql, params):
                    plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
                    plans.append(" ".join(str(r[-1]) for r in plan))
                    return conn.exec_driver_sql(sql, params).all()

                yield run

    Explained().window_candidates(start=T0, end=T0 + timedelta(hours=1),
                                  environment="production")
    s.close()
    assert "source" in CANDIDATE_COLUMNS
    assert any("COVERING INDEX ix_changes_window" in p for p in plans), plans


def test_migration_0008_from_a_0007_store(tmp_path: Path) -> None:
    """A 0007 store with changes opens at head: their source reaches the candidates, and
    verdicts can be recorded."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with at_revision(url, "0007") as conn:
        conn.execute(text(
            "INSERT INTO changes (id, kind, environment, at_us, start_us, status, is_global, "
            "source, doc, ingested_us, services) VALUES ('m1', 'deploy', 'production', 1, 1, "
            "'succeeded', 0, 'gitlab', :doc, 1, 'svc')"),
            {"doc": '{"id": "m1", "kind": "deploy", "services": ["svc"], "source": "gitlab", '
                    '"at": "1970-01-01T00:00:00Z", "environment": "production", '
                    '"status": "succeeded"}'})
    s = open_store(url)
    (c,) = s.window_candidates(start=datetime(1970, 1, 1, tzinfo=UTC),
                               end=datetime(1970, 1, 2, tzinfo=UTC), environment="production")
    stored = VerdictStore(s).record(verdict("inc", "m1", CULPRIT))
    s.close()
    assert c.source == "gitlab" and stored.source == "gitlab"


def _advisor_setup(store: Store, settings: Settings) -> tuple[Advisor, Incident]:
    store.save_graph({"services": {"web": {"depends_on": ["db"]}, "db": {}}})
    # two deploys of the same service, equally close to the onset: only the source differs
    store.add_changes([make(1, service="db", source="github"),
                       make(2, service="db", source="jenkins")])
    return Advisor(store, settings), Incident("web", T0 + timedelta(minutes=25))


def test_the_advisor_learns_from_stored_verdicts(store: Store) -> None:
    """Verdicts move the ranking through the Advisor, which learns again when they change
    (another process's writes included) and forgets on reset."""
    advisor, incident = _advisor_setup(store, Settings())
    before = [s.change.id for s in advisor.advise(incident).ranking.suspects]
    assert before == ["c2", "c1"]  # c2 is closer to the onset
    other = VerdictStore(open_store(str(store.url.render_as_string(hide_password=False))))
    for i in range(6):
        other.record(verdict(f"old-{i}", "c1", CULPRIT))
        other.record(verdict(f"old-{i}", "c2", NOT))
    other.store.close()
    ranking = advisor.advise(incident).ranking
    assert [s.change.id for s in ranking.suspects] == ["c1", "c2"]
    learnt = ranking.suspects[0].reasons[-1]
    assert "deploys from github: the culprit in 6 of 6 past verdicts: prior x" in learnt.text
    assert learnt.factor == "learnt_prior" and learnt.weight > 1.0
    VerdictStore(store).delete_all()
    assert [s.change.id for s in advisor.advise(incident).ranking.suspects] == before


def test_learning_switched_off_keeps_the_configured_priors(store: Store) -> None:
    settings = Settings(engine=EngineSettings(learn_priors=False))
    advisor, incident = _advisor_setup(store, settings)
    before = advisor.advise(incident).ranking
    for i in range(6):
        VerdictStore(store).record(verdict(f"old-{i}", "c1", CULPRIT))
        VerdictStore(store).record(verdict(f"old-{i}", "c2", NOT))
    after = advisor.advise(incident).ranking
    assert [(s.change.id, s.score) for s in after.suspects] == [
        (s.change.id, s.score) for s in before.suspects]
    assert all(r.factor != "learnt_prior" for s in after.suspects for r in s.reasons)


def test_migration_0008_downgrades(tmp_path: Path) -> None:
    """Down to 0007 drops the verdicts and takes source out of the covering index; up again
    restores both."""
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from rollback_advisor.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'd.db'}"
    open_store(url).close()
    engine = create_engine(url)

    def state() -> tuple[bool, list[str]]:
        found = inspect(engine)
        index = next(i for i in found.get_indexes("changes") if i["name"] == "ix_changes_window")
        return "verdicts" in found.get_table_names(), list(index["column_names"])

    try:
        assert state() == (True, [*_WINDOW_0007, "source"])
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        assert state() == (False, list(_WINDOW_0007))
    finally:
        engine.dispose()
    open_store(url).close()
    engine = create_engine(url)
    try:
        assert state() == (True, [*_WINDOW_0007, "source"])
    finally:
        engine.dispose()


_WINDOW_0007 = ("environment", "at_us", "start_us", "id", "kind", "status", "services",
                "rollout_pct", "destructive", "scope")

"""The reads an answer needs, as SQL text with ``:name`` parameters, and their rows decoded.

``suspects`` and ``recommend`` read the graph, the window's candidates, the failing nodes'
history, the few listed changes, a rollback target and the verdicts. The Store runs these
statements through SQLAlchemy on SQLite and PostgreSQL; the command line runs the very same
text straight on ``sqlite3`` when the store is a current SQLite file (``QuickReader``), so a
responder's first answer pays for neither SQLAlchemy nor Alembic (issue 11). One text and one
decoder for both runners: their answers cannot drift apart.

The text names its parameters ``:name`` (sqlite3 takes them as they are; the Store turns them
into its driver's style, ``store.driver_sql``) and holds no other colon outside a ``::`` cast.
Not under ``store/``: importing anything there imports the Store, and so SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .engine import Candidate
from .models import Change, ChangeKind, ChangeStatus
from .verdicts import Verdict, VerdictKind

# The Alembic head revision: a store at it needs no migration. tests/meta checks it against
# the newest file in store/migrations/versions.
SCHEMA_HEAD = "0013"
DEFAULT_FILE = "rollback-advisor.db"
SERVICE_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a node name
CHUNK = 1000
MAX_ROLLOUT_KEY = "max_rollout_us"
VERDICTS_VERSION_KEY = "verdicts_version"
_KINDS = {k.value: k for k in ChangeKind}
_STATUSES = {s.value: s for s in ChangeStatus}

Run = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]

CANDIDATE_COLUMNS = ("id", "kind", "services", "environment", "at_us", "start_us", "status",
                     "rollout_pct", "destructive", "scope", "source")
_SELECT_CANDIDATES = ", ".join(f"changes.{c}" for c in CANDIDATE_COLUMNS)


def to_us(dt: datetime) -> int:
    """Integer microseconds since the epoch, the stored form of every time (naive = UTC)."""
    return int(dt.timestamp() * 1_000_000) if dt.tzinfo else int(
        dt.replace(tzinfo=UTC).timestamp() * 1_000_000)


def in_list(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``:name_0, :name_1, ...`` for an IN list, the values added to ``params``."""
    keys = [f"{name}_{i}" for i in range(len(values))]
    params.update(zip(keys, values, strict=True))
    return ", ".join(f":{k}" for k in keys)


class AdviceReads:
    """The advice path's reads, over ``_reading()``: a context that yields a ``Run``."""

    def _reading(self) -> contextlib.AbstractContextManager[Run]:
        raise NotImplementedError

    @contextlib.contextmanager
    def session(self) -> Iterator[AdviceReads]:
        """These reads on one connection, for the span of one answer: an answer makes five or
        six, and on PostgreSQL each apart is a pool checkout, a BEGIN and a ROLLBACK besides
        its statement. Not one snapshot: each read sees what is committed when it runs, as
        before (autocommit on PostgreSQL)."""
        with self._reading() as run:
            yield _Session(run)

    def load_graph(self) -> dict[str, Any] | None:
        with self._reading() as run:
            rows = run("SELECT graphs.document FROM graphs WHERE graphs.id = :id", {"id": 1})
        return json.loads(rows[0][0]) if rows else None

    def graph_stamp(self) -> int | None:
        """When the stored graph was last saved (None: no graph): a long-lived process reads
        it per answer to notice a graph another process loaded."""
        with self._reading() as run:
            rows = run("SELECT graphs.updated_us FROM graphs WHERE graphs.id = :id", {"id": 1})
        return int(rows[0][0]) if rows else None

    def changes_in_window(self, *, start: datetime, end: datetime,
                          environment: str) -> list[Change]:
        """Changes that took effect at or after ``start`` and began by ``end``."""
        with self._reading() as run:
            return [from_doc(d) for d, in _window(run, "changes.doc", start, end, environment)]

    def window_candidates(self, *, start: datetime, end: datetime,
                          environment: str) -> list[Candidate]:
        """The same window as the engine's light candidates: columns only, no document
        decoded (``get_changes`` fetches the few that get listed)."""
        with self._reading() as run:
            return candidates(_window(run, _SELECT_CANDIDATES, start, end, environment))

    def history_candidates(self, *, services: Iterable[str], start: datetime, end: datetime,
                           environment: str) -> list[Candidate]:
        """Light candidates of the changes to ``services`` that took effect in [start, end):
        the failing nodes' own history, older than the window (served by the per-service
        index; a handful of rows per service)."""
        names = sorted(set(services))
        if not names:
            return []
        # driven by the per-service index: the few rows of these services in the range, then
        # their changes by primary key (an IN over the changes table would scan the window
        # index instead)
        params: dict[str, Any] = {"start": to_us(start), "end": to_us(end),
                                  "environment": environment}
        sql = (f"SELECT DISTINCT {_SELECT_CANDIDATES} FROM change_services "
               "JOIN changes ON changes.id = change_services.change_id "
               f"WHERE change_services.service IN ({in_list('service', names, params)}) "
               "AND change_services.at_us >= :start AND change_services.at_us < :end "
               "AND changes.environment = :environment")
        with self._reading() as run:
            return candidates(run(sql, params))

    def get_changes(self, ids: Sequence[str]) -> dict[str, Change]:
        """Changes by id (those missing are absent from the answer)."""
        out: dict[str, Change] = {}
        with self._reading() as run:
            for i in range(0, len(ids), CHUNK):
                params: dict[str, Any] = {}
                sql = ("SELECT changes.doc FROM changes WHERE changes.id IN "
                       f"({in_list('id', ids[i:i + CHUNK], params)})")
                for doc, in run(sql, params):
                    change = from_doc(doc)
                    out[change.id] = change
        return out

    def previous_change(self, *, service: str, kind: str, before: datetime,
                        environment: str) -> Change | None:
        """The last succeeded change of this kind to ``service`` before ``before``: what a
        rollback returns to when the suspect does not say."""
        sql = ("SELECT changes.doc FROM changes "
               "JOIN change_services ON change_services.change_id = changes.id "
               "WHERE change_services.service = :service "
               "AND change_services.environment = :environment "
               "AND change_services.kind = :kind AND change_services.at_us < :before "
               "AND changes.status = :status "
               "ORDER BY change_services.at_us DESC, changes.id DESC LIMIT 1")
        with self._reading() as run:
            rows = run(sql, {"service": service, "environment": environment, "kind": kind,
                             "before": to_us(before), "status": ChangeStatus.SUCCEEDED.value})
        return from_doc(rows[0][0]) if rows else None

    def verdicts_version(self) -> int:
        """A number that changes whenever the verdicts do (0 before the first write)."""
        with self._reading() as run:
            return meta_value(run, VERDICTS_VERSION_KEY)

    def verdicts(self) -> list[Verdict]:
        """Every verdict, by incident then change."""
        sql = ('SELECT verdicts.incident, verdicts.change_key, verdicts.verdict, verdicts."by", '
               "verdicts.at_us, verdicts.note, verdicts.kind, verdicts.source FROM verdicts "
               "ORDER BY verdicts.incident, verdicts.change_key")
        with self._reading() as run:
            return [verdict_of(*row) for row in run(sql, {})]


class _Session(AdviceReads):
    """``AdviceReads.session``: every read through the one ``Run`` it was opened with."""

    def __init__(self, run: Run) -> None:
        self._run = run

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Run]:
        yield self._run


def meta_value(run: Run, key: str) -> int:
    rows = run("SELECT store_meta.value FROM store_meta WHERE store_meta.key = :key",
               {"key": key})
    return int(rows[0][0] or 0) if rows else 0


def _window(run: Run, columns: str, start: datetime, end: datetime,
            environment: str) -> list[tuple[Any, ...]]:
    """Bound the scan on the indexed effect time: a change that began by ``end`` took effect
    by ``end`` plus the longest rollout ever stored."""
    longest = meta_value(run, MAX_ROLLOUT_KEY)
    end_us = to_us(end)
    params = {"environment": environment, "start": to_us(start), "until": end_us + longest}
    sql = (f"SELECT {columns} FROM changes WHERE changes.environment = :environment "
           "AND changes.at_us >= :start AND changes.at_us <= :until")
    if longest:
        sql += " AND changes.start_us <= :end"
        params["end"] = end_us
    return run(sql, params)


def candidates(rows: list[tuple[Any, ...]]) -> list[Candidate]:
    """The engine's light candidates of window rows (CANDIDATE_COLUMNS, in order).

    Built with ``tuple.__new__``, not the NamedTuple's own constructor, which binds eleven
    arguments by name: a busy window's 3,000 rows decode in 1.0 ms instead of 1.6 ms. Every
    field is given, in the order of ``Candidate._fields`` (tests/store/test_quick_reader.py
    checks that they correspond)."""
    kinds, statuses, sep, new = _KINDS, _STATUSES, SERVICE_SEPARATOR, tuple.__new__
    return [new(Candidate, (i, kinds[k], (s,) if sep not in s else tuple(s.split(sep)), env,
                            at / 1e6, st / 1e6, statuses[status], pct, bool(d), scope, source))
            for i, k, s, env, at, st, status, pct, d, scope, source in rows]


def from_doc(doc: str) -> Change:
    """Rebuild a stored change without validating it again: it was validated on the way in,
    and the window query decodes thousands of these per recommendation."""
    d = json.loads(doc)
    services = (d["service"],) if "service" in d else tuple(d["services"])
    started = d.get("started_at")
    return Change(id=d["id"], kind=ChangeKind(d["kind"]), services=services,
                  at=datetime.fromisoformat(d["at"]), environment=d["environment"],
                  started_at=datetime.fromisoformat(started) if started else None,
                  version=d.get("version"), previous_version=d.get("previous_version"),
                  status=ChangeStatus(d["status"]), reversible=d.get("reversible"),
                  scope={k: tuple(v) for k, v in d["scope"].items()} if "scope" in d else None,
                  summary=d.get("summary"), author=d.get("author"), url=d.get("url"),
                  source=d.get("source"), details=d.get("details") or {})


def verdict_of(incident: str, change_key: str, verdict: str, by: str, at_us: int,
               note: str | None, kind: str | None, source: str | None) -> Verdict:
    return Verdict(incident=incident, change=change_key or None,
                   verdict=VerdictKind(verdict), by=by,
                   at=datetime.fromtimestamp(at_us / 1e6, UTC), note=note,
                   kind=ChangeKind(kind) if kind else None, source=source)


class QuickReader(AdviceReads):
    """A SQLite store at the current schema, read straight through ``sqlite3``.

    ``open`` answers None for anything else (PostgreSQL, an unusual URL, a missing file, an
    older schema): the caller then opens the Store, which migrates. It checks the schema with
    one read of Alembic's version table and never writes.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, url: str) -> QuickReader | None:
        path = sqlite_file(url)
        if path is None or not path.is_file():
            return None
        conn = sqlite3.connect(path, timeout=10)
        try:
            conn.execute("PRAGMA query_only=ON")
            version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error:
            version = []
        if version != [(SCHEMA_HEAD,)]:
            conn.close()
            return None
        return cls(conn)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Run]:
        def run(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            return self.conn.execute(sql, params).fetchall()

        yield run

    def close(self) -> None:
        self.conn.close()


def default_url(data_dir: Path) -> str:
    """The store's URL when none is configured: SQLite in the data directory."""
    return f"sqlite:///{data_dir / DEFAULT_FILE}"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL, else None: anything SQLAlchemy would read
    differently (a driver, a query, quoting, ``~``, memory) is left to the Store."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or any(c in url for c in "?%~"):
        return None
    path = url[len(prefix):]
    return Path(path) if path and path != ":memory:" else None


__all__ = ["DEFAULT_FILE", "SCHEMA_HEAD", "AdviceReads", "QuickReader", "candidates",
           "default_url", "from_doc", "in_list", "sqlite_file", "to_us"]

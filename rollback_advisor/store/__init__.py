"""The store: change events, the graph and sync cursors, in SQLite or PostgreSQL.

One SQLAlchemy Core code path serves both: SQLite in a data directory by default (WAL mode, so
readers never wait for an import), PostgreSQL by URL when several service instances share one
store. The schema is migrated with Alembic on open.

Writes are idempotent by change id (``INSERT ... ON CONFLICT DO NOTHING ... RETURNING``), so a
redelivered or re-imported event is counted as a duplicate, never stored twice, even when two
writers race. A batch is one transaction: an error while it is read stores nothing.

Each change records its owner, the writer that created it (``hook:<id>``, ``sync:<section>``,
``import``): an update from any other writer is refused (``Conflict``) or, for sync, skipped,
so one hook cannot rewrite what another source reported.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from ..errors import Conflict, StoreError
from ..models import GLOBAL, Change, ChangeKind, ChangeStatus, check_change
from ..redeploy import HISTORY, as_rollback, may_be_redeploy
from ..store_reads import (
    CHUNK,
    MAX_ROLLOUT_KEY,
    AdviceReads,
    Run,
    default_url,
    from_doc,
    to_us,
)
from . import bulk, prepared
from .prepared import Prepared
from .schema import change_services, changes, graphs, store_meta, sync_cursors
from .write_lock import write_lock

_MAX_ROLLOUT = MAX_ROLLOUT_KEY
_STATUSES = {s.value: s for s in ChangeStatus}
_DEPLOY, _ROLLBACK = ChangeKind.DEPLOY.value, ChangeKind.ROLLBACK.value
_SUCCEEDED_VALUE = ChangeStatus.SUCCEEDED.value
_SERVICE_COLUMNS = ("change_id", "service", "kind", "environment", "at_us")
IMPORT_OWNER = "import"
_T = TypeVar("_T")


def hook_owner(hook_id: str) -> str:
    """The owner of the changes a hook's deliveries create."""
    return f"hook:{hook_id}"


def sync_owner(source: str) -> str:
    """The owner of the changes a sync of connector section ``source`` creates."""
    return f"sync:{source}"


@dataclass(frozen=True)
class ImportResult:
    """What a write did: new ids, ids whose content changed, and ids already stored as is."""

    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    not_owned: int = 0  # stored by another source, left as is (sync only; hooks refuse)

    def __add__(self, other: ImportResult) -> ImportResult:
        return ImportResult(self.inserted + other.inserted, self.updated + other.updated,
                            self.duplicates + other.duplicates, self.not_owned + other.not_owned)


def open_store(url: str | None, data_dir: Path | None = None) -> Store:
    """Open (and migrate) the store at ``url``, or the SQLite file in ``data_dir``."""
    if url is None:
        if data_dir is None:
            raise StoreError("no database URL and no data directory given")
        url = default_url(Path(data_dir))
    return Store(url)


_us = to_us
_from_doc = from_doc


def _now_us() -> int:
    return _us(datetime.now(UTC))


class Store(AdviceReads):
    """Changes, the graph and cursors behind one SQLAlchemy engine; the advice path's reads
    are ``AdviceReads``' SQL text, run here through SQLAlchemy."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(f"not a database URL: {url!r} (expected e.g. sqlite:///path.db or "
                             "postgresql+psycopg://user@host/db)") from None
        self.url = parsed
        self.shown_url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported database {self.shown_url}: use SQLite or PostgreSQL")
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            _private_sqlite_file(Path(parsed.database).expanduser())
        try:
            self.engine: Engine = create_engine(parsed, future=True,
                                                **({"connect_args": {"connect_timeout": 5}}
                                                   if self.dialect == "postgresql" else {}))
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"cannot open {self.shown_url}: driver missing ({exc}); for "
                             "PostgreSQL: pip install 'rollback-advisor[postgres]'") from None
        _ping_when_idle(self.engine)
        # The advice path's reads on PostgreSQL in autocommit: each answer is spared a BEGIN
        # and a ROLLBACK round trip, and at read committed a transaction gave its statements
        # nothing more. SQLite reads open no transaction either way (and setting its isolation
        # level back on every return costs a PRAGMA).
        self._reader = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                        if self.dialect == "postgresql" else self.engine)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        # SQLite has one writer at a time: the service's writers take turns on this lock
        # rather than in SQLite's busy handler, which stalls a gevent worker (write_lock.py).
        self.write_lock = write_lock(self.dialect, parsed.database)
        from .migrate import upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:
            self.engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"cannot open the store at {self.shown_url}: {reason}") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- writes -----------------------------------------------------------------------------

    def add_changes(self, items: Iterable[Change], *, update: bool = False,
                    owner: str = IMPORT_OWNER, checked: bool = False) -> ImportResult:
        """Store changes in one transaction; existing ids are duplicates (or updated when
        ``update`` and their content differs). An exception from ``items`` stores nothing.
        ``checked``: every change came from ``change_from_dict``, which checked the store's
        limits already (``import``): not checked twice.

        Raises:
            Conflict: ``update`` and a stored id belongs to another owner (nothing stored).
        """
        try:
            with self.engine.begin() as conn:
                return self._write(conn, items, update, owner, checked=checked)
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_reason(exc)}") from None

    def import_prepared(self, items: Iterable[Prepared], *,
                        owner: str = IMPORT_OWNER) -> ImportResult:
        """``add_changes`` of changes prepared by ``prepared.py`` (``import``): the same rows,
        counts and all-or-nothing transaction, without building a ``Change`` for each."""
        try:
            with self.engine.begin() as conn:
                return self._write_prepared(conn, items, owner)
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_reason(exc)}") from None

    def sync_batch(self, source: str, items: Sequence[Change],
                   cursor: dict[str, Any]) -> ImportResult:
        """Upsert a connector's batch and save its cursor atomically: a crash between the two
        can neither lose a change (cursor ahead) nor repeat one (cursor behind is harmless).

        Changes another source created are left as stored and counted in ``not_owned``: one
        foreign id must not stop the source's other changes (a hook gets a 409 instead)."""
        try:
            with self.engine.begin() as conn:
                result = self._write(conn, items, True, sync_owner(source), refuse=False)
                self._save_cursor(conn, source, cursor)
                return result
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_reason(exc)}") from None

    def write_changes(self, conn: Connection, items: Iterable[Change], *, owner: str,
                      update: bool = False) -> ImportResult:
        """Store changes inside a transaction the caller holds (e.g. with a raw delivery);
        ``Conflict`` when one of them belongs to another owner."""
        return self._write(conn, items, update, owner)

    def _write(self, conn: Connection, items: Iterable[Change], update: bool, owner: str,
               refuse: bool = True, checked: bool = False) -> ImportResult:
        total = ImportResult()
        longest = written = analyzed = 0
        for chunk in _chunks(items, CHUNK):
            rows = {c.id: c for c in chunk}  # last one wins within a chunk
            now = _now_us()
            values = [_row(c, now, owner, checked) for c in rows.values()]
            longest = max([longest] + [v["at_us"] - v["start_us"] for v in values])
            inserted = self._insert_new(conn, values)
            written += len(inserted)
            analyzed = bulk.keep_statistics(conn, written, analyzed)
            # Classified after the insert, not before: on SQLite the insert opens the
            # transaction (pysqlite begins at the first write) and takes the write lock, so
            # the history read cannot change under it. A redeploy inserted as a deploy (rare)
            # is rewritten in the same transaction, before anyone can read it.
            given = rows
            rows = {c.id: c for c in self.classify(list(given.values()), conn)}
            for i in inserted:
                if rows[i] is not given[i]:
                    self._rewrite(conn, rows[i], now, owner, services=False)
            new = [rows[i] for i in inserted]
            if new:
                services = [s for c in new for s in _service_rows(c)]
                if len(services) >= bulk.MIN_ROWS:
                    bulk.insert_services(conn, services)
                else:
                    conn.execute(change_services.insert(), services)
            rest = [rows[i] for i in rows if i not in inserted]
            updated = foreign = 0
            if update and rest:
                updated, foreign = self._update(conn, rest, now, owner, refuse)
            total = total + ImportResult(len(inserted), updated, len(rest) - updated - foreign
                                         + len(chunk) - len(rows), foreign)
        if longest:
            self._raise_max_rollout(conn, longest)
        return total

    def _write_prepared(self, conn: Connection, items: Iterable[Prepared],
                        owner: str) -> ImportResult:
        """``_write`` (no update) of prepared rows, chunk by chunk as it does: within a chunk
        the last of an id wins, and each chunk is classified against what is stored by then
        (earlier chunks included); only a chunk with a possible redeploy builds ``Change``s."""
        inserted_total = duplicates = longest = written = analyzed = 0
        columns = (*prepared.COLUMNS, *prepared.WRITER_COLUMNS)
        for chunk in _chunks(items, CHUNK):
            rows = {p.id: p for p in chunk}  # last one wins within a chunk
            now = _now_us()
            tail = (now, owner)
            values = [p.row + tail for p in rows.values()]
            longest = max(longest, max(p.at_us - p.start_us for p in rows.values()))
            if len(values) >= bulk.MIN_ROWS:
                inserted = bulk.insert_change_values(conn, columns, values)
            else:
                inserted = self._insert_new(conn, [dict(zip(columns, v, strict=True))
                                                   for v in values])
            written += len(inserted)
            analyzed = bulk.keep_statistics(conn, written, analyzed)
            kinds = {i: p.kind for i, p in rows.items()}
            for c in self._reclassified(conn, list(rows.values()), inserted):
                # as _write: a redeploy inserted as a deploy is rewritten
                self._rewrite(conn, c, now, owner, services=False)
                kinds[c.id] = c.kind.value
            services = [(i, s, kinds[i], p.environment, p.at_us) for i in inserted
                        for p in [rows[i]] for s in p.services]
            if len(services) >= bulk.MIN_ROWS:
                bulk.insert_service_values(conn, _SERVICE_COLUMNS, services)
            elif services:
                conn.execute(change_services.insert(),
                             [dict(zip(_SERVICE_COLUMNS, r, strict=True)) for r in services])
            inserted_total += len(inserted)
            duplicates += len(chunk) - len(inserted)
        if longest:
            self._raise_max_rollout(conn, longest)
        return ImportResult(inserted=inserted_total, duplicates=duplicates)

    def _reclassified(self, conn: Connection, items: list[Prepared],
                      inserted: set[str]) -> list[Change]:
        """The changes ``inserted`` among ``items`` that ``classify(items)`` turns into
        rollbacks (what ``_write`` rewrites; the others' class is never used). ``classify``'s
        first test on the prepared fields, for the inserted deploys only (one query, none for
        a file already imported); only when one of their versions was live on its service
        before are the chunk's ``Change``s built and classified in full."""
        eligible = [(p.id, (p.services[0], p.environment, p.version)) for p in items
                    if p.kind == _DEPLOY and p.version is not None and len(p.services) == 1
                    and p.services[0] != GLOBAL and p.id in inserted]
        if not eligible:
            return []
        live: dict[tuple[str, str, str | None], set[str]] = {}
        for service, environment, version, change_id in bulk.live_versions(
                conn, sorted({key[2] for _, key in eligible if key[2] is not None})):
            live.setdefault((service, environment, version), set()).add(change_id)
        for p in items:
            if (p.status == _SUCCEEDED_VALUE and len(p.services) == 1
                    and p.kind in (_DEPLOY, _ROLLBACK)):
                live.setdefault((p.services[0], p.environment, p.version), set()).add(p.id)
        if not any(live.get(key, set()) - {change_id} for change_id, key in eligible):
            return []
        given = [p.change() for p in items]
        return [c for c, g in zip(self.classify(given, conn), given, strict=True)
                if c is not g and c.id in inserted]

    def _insert_new(self, conn: Connection, values: list[dict[str, Any]]) -> set[str]:
        """Insert the rows whose id is not stored yet; the ids inserted. A large batch goes
        straight to the driver (bulk.py: COPY on PostgreSQL), a small one through SQLAlchemy."""
        if len(values) >= bulk.MIN_ROWS:
            return bulk.insert_changes(conn, values)
        stmt = self._insert(changes).on_conflict_do_nothing(
            index_elements=["id"]).returning(changes.c.id)
        return set(conn.execute(stmt, values).scalars())

    def classify(self, items: list[Change], conn: Connection) -> list[Change]:
        """``items`` with each deploy of a version live before the current one made a
        rollback (``redeploy.as_rollback``): one indexed lookup per such deploy, merged with
        the batch's own earlier deploys (a sync brings a service's history in one batch)."""
        eligible = [c for c in items if may_be_redeploy(c)]
        if not eligible:
            return items
        # One indexed query for the batch: which of these versions were ever live on these
        # services. Only a deploy whose version was (rare: a real rollback) needs its history.
        versions = sorted({c.version for c in eligible if c.version is not None})
        live: dict[tuple[str, str, str | None], set[str]] = {}
        for service, environment, version, change_id in (*bulk.live_versions(conn, versions),
                                                         *_live(items)):
            live.setdefault((service, environment, version), set()).add(change_id)
        return [as_rollback(c, self._live_before(conn, c, items))
                if may_be_redeploy(c)
                and live.get((c.services[0], c.environment, c.version), set()) - {c.id}
                else c for c in items]

    def _live_before(self, conn: Connection, change: Change,
                     batch: list[Change]) -> list[str | None]:
        """Versions of the service's succeeded deploys and rollbacks before ``change``,
        stored or in ``batch``, newest first (``change`` itself left out: an update is
        classified afresh)."""
        start = _us(change.effective_start)
        stmt = (select(changes.c.id, changes.c.at_us, changes.c.doc)
                .join(change_services, change_services.c.change_id == changes.c.id)
                .where(change_services.c.service == change.services[0],
                       change_services.c.environment == change.environment,
                       change_services.c.kind.in_([ChangeKind.DEPLOY.value,
                                                   ChangeKind.ROLLBACK.value]),
                       change_services.c.at_us < start,
                       changes.c.status == ChangeStatus.SUCCEEDED.value,
                       changes.c.id != change.id)
                .order_by(change_services.c.at_us.desc(), changes.c.id.desc()).limit(HISTORY))
        live = {i: (at, i, json.loads(doc).get("version")) for i, at, doc in conn.execute(stmt)}
        for other in batch:
            if (other.id != change.id and other.services == change.services
                    and other.environment == change.environment
                    and other.kind in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK)
                    and other.status is ChangeStatus.SUCCEEDED and _us(other.at) < start):
                live[other.id] = (_us(other.at), other.id, other.version)
        return [version for _, _, version in sorted(live.values(), reverse=True)[:HISTORY]]

    def _update(self, conn: Connection, items: list[Change], now: int, owner: str,
                refuse: bool) -> tuple[int, int]:
        """Rewrite the stored changes ``items`` carry new content for: (updated, not owned).

        An update older than the stored change, or one moving a finished change back to in
        progress, is left out (``supersedes``): deliveries arrive in any order."""
        current = {r.id: r for r in conn.execute(
            select(changes.c.id, changes.c.doc, changes.c.owner, changes.c.status,
                   changes.c.at_us)
            .where(changes.c.id.in_([c.id for c in items])))}
        foreign = [c for c in items if not may_update(current[c.id].owner, owner)]
        if foreign and refuse:
            first = foreign[0]
            raise Conflict("id", f"change {first.id!r} was created by "
                           f"{_describe_owner(current[first.id].owner)}; only that source may "
                           "update it (give this event an id of its own)",
                           change_id=first.id)
        mine = [c for c in items if c not in foreign]
        changed = [c for c in mine if current[c.id].doc != prepared.change_doc(c)
                   and supersedes(_STATUSES[current[c.id].status], current[c.id].at_us, c)]
        for c in changed:
            self._rewrite(conn, c, now, owner)
        return len(changed), len(foreign)

    def _rewrite(self, conn: Connection, change: Change, now: int, owner: str, *,
                 services: bool = True) -> None:
        """Replace a stored change's row (and its service rows unless told otherwise)."""
        row = _row(change, now, owner)
        conn.execute(update(changes).where(changes.c.id == change.id).values(
            {k: v for k, v in row.items() if k != "id"}))
        if services:
            conn.execute(delete(change_services)
                         .where(change_services.c.change_id == change.id))
            conn.execute(change_services.insert(), _service_rows(change))

    def _raise_max_rollout(self, conn: Connection, value: int) -> None:
        stmt = self._insert(store_meta).values(key=_MAX_ROLLOUT, value=value)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": func.max(store_meta.c.value, value)}
            if self.dialect == "sqlite" else
            {"value": func.greatest(store_meta.c.value, value)}))

    # -- reads ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Run]:
        with self._reader.connect() as conn:
            style = conn.dialect.paramstyle
            yield lambda sql, params: _driver_rows(conn, *driver_sql(sql, style), params)

    def list_changes(self, *, service: str | None = None, kind: str | None = None,
                     environment: str | None = None, since: datetime | None = None,
                     until: datetime | None = None, limit: int = 50,
                     offset: int = 0) -> list[Change]:
        """Stored changes, newest first; a service filter includes global changes."""
        stmt = select(changes.c.doc)
        conds = []
        if service is not None:
            ids = select(change_services.c.change_id).where(
                change_services.c.service == service)
            conds.append(or_(changes.c.id.in_(ids), changes.c.is_global))
        if kind is not None:
            try:
                conds.append(changes.c.kind == ChangeKind(kind).value)
            except ValueError:
                from ..errors import InvalidInput

                raise InvalidInput("kind", kind, "one of " + ", ".join(
                    k.value for k in ChangeKind)) from None
        if environment is not None:
            conds.append(changes.c.environment == environment)
        if since is not None:
            conds.append(changes.c.at_us >= _us(since))
        if until is not None:
            conds.append(changes.c.at_us <= _us(until))
        stmt = stmt.where(*conds).order_by(changes.c.at_us.desc(), changes.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit).offset(offset)).scalars()
            return [_from_doc(d) for d in rows]

    def get_change(self, change_id: str) -> Change | None:
        with self.engine.connect() as conn:
            doc = conn.execute(select(changes.c.doc).where(changes.c.id == change_id)).scalar()
        return _from_doc(doc) if doc is not None else None

    def count_changes(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(changes)).scalar() or 0)

    def referenced_services(self) -> list[str]:
        """Every node a stored change names (for ``graph check``)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(change_services.c.service).distinct()
                                     .where(change_services.c.service != GLOBAL)).scalars())

    # -- graph and cursors ------------------------------------------------------------------

    def save_graph(self, document: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(graphs))
            conn.execute(graphs.insert().values(id=1, document=json.dumps(document),
                                                updated_us=_now_us()))

    def get_cursor(self, source: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            text = conn.execute(select(sync_cursors.c.cursor)
                                .where(sync_cursors.c.source == source)).scalar()
        return json.loads(text) if text is not None else None

    def _save_cursor(self, conn: Connection, source: str, cursor: dict[str, Any]) -> None:
        text = json.dumps(cursor, sort_keys=True, default=str)
        stmt = self._insert(sync_cursors).values(source=source, cursor=text,
                                                 updated_us=_now_us())
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source"], set_={"cursor": text, "updated_us": _now_us()}))


_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


@functools.lru_cache(maxsize=512)
def driver_sql(sql: str, paramstyle: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` with its ``:name`` parameters in the driver's own style, and their names in
    order for a positional style (None: the driver takes the mapping). SQLAlchemy's compile of
    the same text cost ~20 us a statement and more per IN-list parameter: ~0.5 ms of each
    recommendation's reads (issue 11)."""
    if paramstyle == "qmark":
        return _PARAMETER.sub("?", sql), tuple(_PARAMETER.findall(sql))
    if paramstyle == "pyformat":
        return _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%")), None
    raise StoreError(f"unsupported parameter style {paramstyle!r}")  # pragma: no cover


def _driver_rows(conn: Connection, sql: str, names: tuple[str, ...] | None,
                 params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the DBAPI cursor of ``conn`` and return plain tuples: on the window
    query, building SQLAlchemy Row objects for thousands of rows costs more than the query."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params if names is None else [params[n] for n in names])
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _private_sqlite_file(path: Path) -> None:
    """Create the SQLite file 0600 (its directory 0700 when we create that) before SQLite
    does: it holds hook deliveries and token hashes, and SQLite gives its -wal and -shm files
    the database file's mode. An existing file keeps the mode its owner chose."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


PING_AFTER_IDLE = 1.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it sat idle for more than PING_AFTER_IDLE
    seconds (a server restart, a dropped socket), and replace it if it fails; one used a moment
    ago is trusted. ``pool_pre_ping`` pinged on every checkout: a round trip for every hook
    delivery, about a sixth of its CPU on the worker (issue 11). A connection that breaks in
    use is invalidated as before, so the next checkout reconnects."""
    dialect = engine.dialect

    def checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: in WAL mode each commit syncs the WAL, so an acknowledged delivery survives a
    # power loss; NORMAL could lose the last commits (benchmarks/http_ingest.py: the cost).
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-32768")  # 32 MiB of pages: a busy window stays cached
    cur.close()


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _row(change: Change, now: int, owner: str, checked: bool = False) -> dict[str, Any]:
    if not checked:  # built by a connector without change_from_dict: same limits
        check_change(change)
    return dict(zip(prepared.COLUMNS, prepared.prepare_change(change).row, strict=True),
                ingested_us=now, owner=owner)


def supersedes(status: ChangeStatus, at_us: int, update: Change) -> bool:
    """Whether ``update`` replaces a stored change of ``status`` that took effect at ``at_us``.

    Updates apply in the order of their own time (``at``), not of arrival; a finished status
    (succeeded, failed) always replaces in progress and is never replaced by it, whatever two
    senders' clocks say.
    """
    done = status is not ChangeStatus.IN_PROGRESS
    if update.status is ChangeStatus.IN_PROGRESS:
        return not done and _us(update.at) >= at_us
    return not done or _us(update.at) >= at_us


def _live(items: Iterable[Change]) -> Iterator[tuple[str, str, str | None, str]]:
    """(service, environment, version, id) of the succeeded deploys and rollbacks among
    ``items``: what they make live."""
    return ((c.services[0], c.environment, c.version, c.id) for c in items
            if c.status is ChangeStatus.SUCCEEDED and len(c.services) == 1
            and c.kind in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK))


def redeploys_within(items: Sequence[Change]) -> bool:
    """Whether one of ``items`` deploys a version another of them made live: the batch must
    then be classified with the store (the PostgreSQL one-statement path cannot)."""
    live: dict[tuple[str, str, str | None], set[str]] = {}
    for service, environment, version, change_id in _live(items):
        live.setdefault((service, environment, version), set()).add(change_id)
    return any(live.get((c.services[0], c.environment, c.version), set()) - {c.id}
               for c in items if may_be_redeploy(c))


def may_update(stored: str | None, writer: str) -> bool:
    """Whether ``writer`` may rewrite a change whose owner is ``stored``: only its creator,
    or any sync for a row stored before owners were recorded (hooks' rows got theirs)."""
    return stored == writer or (stored is None and writer.startswith("sync:"))


def _describe_owner(owner: str | None) -> str:
    """Who owns a change, as an error says it: never another hook's id."""
    if owner is None:
        return "a sync or import before owners were recorded"
    if owner.startswith("hook:"):
        return "another hook"
    if owner.startswith("sync:"):
        return f"connector source {owner.removeprefix('sync:')} (sync)"
    return owner


def _service_rows(change: Change) -> list[dict[str, Any]]:
    return [{"change_id": change.id, "service": s, "kind": change.kind.value,
             "environment": change.environment, "at_us": _us(change.at)}
            for s in change.services]


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return (str(orig) if orig is not None else str(exc)).strip().splitlines()[0]


def in_transaction(engine: Engine, what: str, action: Any, lock: Any = None) -> Any:
    """``action(conn)`` in one transaction (holding ``lock``, a store's ``write_lock``, when
    given); a database error becomes a StoreError naming ``what`` (the tables beside Store:
    sync state, the Slack outbox)."""
    if lock is not None:
        lock.acquire()
    try:
        with engine.begin() as conn:
            return action(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"store: {what}: {_reason(exc)}") from None
    finally:
        if lock is not None:
            lock.release()


__all__ = ["IMPORT_OWNER", "ImportResult", "Store", "default_url", "hook_owner", "may_update",
           "open_store", "redeploys_within", "supersedes", "sync_owner"]

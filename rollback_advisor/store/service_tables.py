"""Data access for the HTTP service's tables: hooks, API tokens and raw hook deliveries.

Kept beside ``Store`` rather than inside it so the core store stays about changes and graphs.
A delivery and the changes it carries are written in one transaction; the delivery row's
UNIQUE (hook_id, key_sha256), the digest of the whole delivery key, is what makes a
redelivery a no-op even when two workers receive it at the same moment (the second insert
waits for the first commit, then conflicts).

On PostgreSQL the delivery, its changes and their service rows go to the server as one
autocommitted statement (data-modifying CTEs): a committed delivery costs one round trip after
the pool's pre-ping instead of BEGIN, one per table and COMMIT, which were most of a hook
request's time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, String, Table, bindparam, exists, func, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import InvalidInput, NotFound, StoreError
from ..models import MAX_LENGTHS, Change, ChangeKind, ChangeStatus, check_text
from . import (
    _MAX_ROLLOUT,
    ImportResult,
    Store,
    _now_us,
    _reason,
    _row,
    _service_rows,
    hook_owner,
    redeploys_within,
)
from .schema import api_tokens, change_services, changes, deliveries, hooks, store_meta

_HOOK_NAME_LENGTH = 256  # hooks.name VARCHAR(256)


@dataclass(frozen=True)
class HookRecord:
    id: str
    name: str
    source: str
    mapping: Mapping[str, str]
    environment: str | None
    nonce: str
    created_us: int
    revoked_us: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # alert hooks' label overrides
    vendor_secret: str | None = None  # encrypted (web/credentials.py), never shown

    @property
    def active(self) -> bool:
        return self.revoked_us is None

    def public(self) -> dict[str, Any]:
        """What the API and CLI show: never the nonce (half of the secret's derivation)."""
        return {"id": self.id, "name": self.name, "source": self.source,
                "mapping": dict(self.mapping), "environment": self.environment,
                "labels": dict(self.labels), "created_us": self.created_us,
                "revoked": not self.active}


# What a token row is: made by `tokens create` or the API (api), a page session's own row
# (session) or a one-time sign-in link (link). Recorded when minted (migration 0013), so
# `tokens list` can show the API tokens alone without reading anything into names.
TOKEN_KINDS = ("api", "session", "link")


@dataclass(frozen=True)
class TokenRecord:
    id: str
    token_hash: str
    scope: str
    name: str | None
    created_us: int
    revoked_us: int | None = None
    kind: str = "api"  # one of TOKEN_KINDS


class StaleHook(Exception):
    """The hook a delivery was verified with is no longer the stored one (revoked, or its
    vendor secret changed): nothing was stored; the caller reads the hook again."""


@dataclass(frozen=True)
class DeliveryResult:
    """``duplicate`` when the same delivery was stored before (nothing written now)."""

    duplicate: bool
    delivery_id: int | None
    changes: ImportResult = field(default_factory=ImportResult)


@dataclass(frozen=True)
class StoredDelivery:
    """A raw delivery as stored: what ``deliveries replay`` re-parses."""

    id: int
    hook_id: str
    delivery_key: str
    received_us: int
    headers: Mapping[str, str]
    body: bytes
    change_ids: list[str]


def attach_delivery(changes: Iterable[Change], hook_id: str, delivery_key: str) -> list[Change]:
    """The changes with ``details.delivery`` pointing at the raw delivery they came from: the
    same on receipt and on replay, so a replay of an unchanged parse rewrites nothing."""
    ref = {"hook": hook_id, "delivery_key": delivery_key}
    return [dataclasses.replace(c, details={**dict(c.details), "delivery": ref})
            for c in changes]


def delivery_values(*, hook_id: str, delivery_key: str, event: str, headers: Mapping[str, str],
                    body: bytes, change_ids: list[str]) -> dict[str, Any]:
    """The ``deliveries`` row of one raw delivery (a deploy hook's or an alert hook's)."""
    check_text(delivery_key, "delivery key")  # from a payload (a CloudEvents id): any text
    check_text(event, "event")
    return {"hook_id": hook_id, "delivery_key": delivery_key,
            "key_sha256": hashlib.sha256(delivery_key.encode("utf-8")).hexdigest(),
            "event": event[:128],
            "received_us": _now_us(), "headers": json.dumps(dict(headers), sort_keys=True),
            "body": bytes(body), "outcome": "stored", "change_ids": json.dumps(change_ids)}


def _is_current(hook: HookRecord | None) -> Any:
    """The condition that ``hook`` is still stored active with the same nonce and vendor
    secret (true without one), for the delivery's INSERT ... SELECT: the check costs no
    statement of its own and sits in the delivery's transaction."""
    if hook is None:
        return true()
    return exists().where(hooks.c.id == hook.id, hooks.c.revoked_us.is_(None),
                          hooks.c.nonce == hook.nonce,
                          hooks.c.vendor_secret.is_not_distinct_from(hook.vendor_secret))


def _current(conn: Any, hook: HookRecord) -> bool:
    """Whether ``hook`` is still stored active, with the same nonce and vendor secret."""
    return bool(conn.execute(select(_is_current(hook))).scalar())


def _hook(row: Any) -> HookRecord:
    return HookRecord(row.id, row.name, row.source, json.loads(row.mapping), row.environment,
                      row.nonce, row.created_us, row.revoked_us,
                      json.loads(row.labels) if row.labels else {}, row.vendor_secret)


def _token(row: Any) -> TokenRecord:
    return TokenRecord(row.id, row.token_hash, row.scope, row.name, row.created_us,
                       row.revoked_us, row.kind)


class ServiceTables:
    """Hooks, tokens and deliveries in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- hooks ------------------------------------------------------------------------------

    def add_hook(self, *, hook_id: str, name: str, source: str, mapping: Mapping[str, str],
                 environment: str | None, nonce: str,
                 labels: Mapping[str, str] | None = None) -> HookRecord:
        # Which sources exist is the parsers' business (connectors.hooks): the surfaces check
        # ``source`` before calling, so the core never copies that list.
        if not name or not name.strip():
            raise InvalidInput("name", name, "a non-empty name")
        check_text(name.strip(), "name", _HOOK_NAME_LENGTH)
        if environment is not None:
            check_text(environment, "environment", MAX_LENGTHS["environment"])
        for repo, node in mapping.items():
            check_text(repo, "map")
            check_text(node, f"map.{repo}", MAX_LENGTHS["service"])
        record = HookRecord(hook_id, name.strip(), source, dict(mapping), environment, nonce,
                            _now_us(), labels=dict(labels or {}))
        with self._begin() as conn:
            conn.execute(hooks.insert().values(
                id=record.id, name=record.name, source=source,
                mapping=json.dumps(record.mapping, sort_keys=True), environment=environment,
                nonce=nonce, created_us=record.created_us,
                labels=json.dumps(record.labels, sort_keys=True) if record.labels else None))
        return record

    def get_hook(self, hook_id: str) -> HookRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(hooks).where(hooks.c.id == hook_id)).first()
        return _hook(row) if row is not None else None

    def list_hooks(self, *, include_revoked: bool = False) -> list[HookRecord]:
        stmt = select(hooks).order_by(hooks.c.created_us, hooks.c.id)
        if not include_revoked:
            stmt = stmt.where(hooks.c.revoked_us.is_(None))
        with self.engine.connect() as conn:
            return [_hook(r) for r in conn.execute(stmt)]

    def set_vendor_secret(self, hook_id: str, sealed: str | None) -> None:
        """Store (or with None, forget) an active hook's encrypted vendor signing secret."""
        with self._begin() as conn:
            done = conn.execute(update(hooks).where(hooks.c.id == hook_id,
                                                    hooks.c.revoked_us.is_(None))
                                .values(vendor_secret=sealed)).rowcount
        if not done:
            raise NotFound(f"no active hook {hook_id!r} (see 'rollback-advisor hooks list')")

    def revoke_hook(self, hook_id: str) -> None:
        with self._begin() as conn:
            done = conn.execute(update(hooks).where(hooks.c.id == hook_id,
                                                    hooks.c.revoked_us.is_(None))
                                .values(revoked_us=_now_us())).rowcount
        if not done:
            raise NotFound(f"no active hook {hook_id!r} (see 'rollback-advisor hooks list')")

    # -- tokens -----------------------------------------------------------------------------

    def add_token(self, *, token_id: str, token_hash: str, scope: str,
                  name: str | None = None, kind: str = "api") -> TokenRecord:
        if kind not in TOKEN_KINDS:
            raise InvalidInput("kind", kind, "one of " + ", ".join(TOKEN_KINDS))
        record = TokenRecord(token_id, token_hash, scope, name, _now_us(), kind=kind)
        with self._begin() as conn:
            conn.execute(api_tokens.insert().values(
                id=token_id, token_hash=token_hash, scope=scope, name=name,
                created_us=record.created_us, kind=kind))
        return record

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return _token(row) if row is not None else None

    def list_tokens(self) -> list[TokenRecord]:
        """Every token row, oldest first: API tokens, page sessions and sign-in links."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_us)).all()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        with self._begin() as conn:
            done = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                         api_tokens.c.revoked_us.is_(None))
                                .values(revoked_us=_now_us())).rowcount
        if not done:
            raise NotFound(f"no active token {token_id!r}")

    # -- deliveries -------------------------------------------------------------------------

    def store_delivery(self, *, hook_id: str, delivery_key: str, event: str,
                       headers: Mapping[str, str], body: bytes, changes: Iterable[Change],
                       confirm: HookRecord | None = None) -> DeliveryResult:
        """Store the raw delivery and its changes atomically, or nothing if already stored.

        With ``confirm`` (the hook as the caller verified the delivery with it, perhaps from a
        per-process cache), the same transaction checks that the stored hook is still active
        with that nonce and vendor secret, so a revocation refuses deliveries at once without a
        read of its own.

        Raises:
            Conflict: a change id is stored already and another source created it; nothing
                is stored, the delivery included.
            StaleHook: ``confirm`` no longer matches the stored hook; nothing is stored.
        """
        items = list(changes)
        values = delivery_values(hook_id=hook_id, delivery_key=delivery_key, event=event,
                                 headers=headers, body=body, change_ids=[c.id for c in items])
        if self.store.dialect == "postgresql" and not redeploys_within(items):
            done = self._store_delivery_pg(values, items, hook_owner(hook_id), confirm)
            if done is not None:
                return done
        row = select(*[bindparam(k, v, type_=deliveries.c[k].type) for k, v in values.items()])
        stmt = (self.store._insert(deliveries)
                .from_select(list(values), row.where(_is_current(confirm)))
                .on_conflict_do_nothing(index_elements=["hook_id", "key_sha256"])
                .returning(deliveries.c.id))
        with self._begin() as conn:
            delivery_id = conn.execute(stmt).scalar()
            if delivery_id is None:
                if confirm is not None and not _current(conn, confirm):
                    raise StaleHook(hook_id)
                return DeliveryResult(True, None)
            result = self.store.write_changes(conn, items, update=True,
                                              owner=hook_owner(hook_id))
        return DeliveryResult(False, int(delivery_id), result)

    def _store_delivery_pg(self, values: dict[str, Any], items: list[Change], owner: str,
                           confirm: HookRecord | None) -> DeliveryResult | None:
        """``store_delivery`` as one autocommitted statement, or None when it wrote nothing and
        the generic path must decide.

        The common delivery (new key, new change ids) is then a single round trip whose commit
        is as durable as any (``synchronous_commit`` applies to the implicit transaction, and
        the answer arrives after it). A change id already stored (an event re-sent under another
        delivery key) needs an update in the same transaction as the delivery row, so the
        statement writes nothing then and answers None; a change id stored concurrently makes
        the plain INSERT fail, which rolls the whole statement back, and answers None too.
        """
        now = _now_us()
        rows = {c.id: c for c in items}  # last one wins, as in Store.write_changes
        change_rows = [_row(c, now, owner) for c in rows.values()]
        service_rows = [s for c in rows.values() for s in _service_rows(c)]
        longest = max([0] + [r["at_us"] - r["start_us"] for r in change_rows])
        change_cols = tuple(change_rows[0]) if change_rows else tuple(_row_columns())
        service_cols = tuple(service_rows[0]) if service_rows else _SERVICE_COLUMNS
        try:  # JSON has no NaN or infinity: such a value takes the generic path
            params: dict[str, Any] = {**values, "longest": longest, "max_key": _MAX_ROLLOUT,
                                      "changes": json.dumps(change_rows, allow_nan=False),
                                      "services": json.dumps(service_rows, allow_nan=False),
                                      "check_hook": confirm is not None,
                                      "nonce": confirm.nonce if confirm else None,
                                      "vendor_secret": confirm.vendor_secret if confirm else None}
        except ValueError:
            return None
        try:
            delivery_id, existing, hook_current = self._autocommit_one(
                _delivery_sql(change_cols, service_cols), params)
        except IntegrityError:
            return None
        if not hook_current:
            raise StaleHook(values["hook_id"])
        if delivery_id is None:
            return None if existing else DeliveryResult(True, None)
        return DeliveryResult(False, int(delivery_id),
                              ImportResult(len(rows), 0, len(items) - len(rows)))

    def _autocommit_one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """Run one statement on a pooled DBAPI connection in autocommit mode; its one row.

        The DBAPI connection directly, not a SQLAlchemy Connection: on the hook path the
        Connection's bookkeeping cost about as much client CPU as the statement itself. The
        pool still pre-pings on checkout; a connection that fails mid-statement is
        invalidated, as SQLAlchemy would, so the next checkout reconnects. Driver errors come
        back as SQLAlchemy's (IntegrityError, StoreError for the rest).
        """
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            pooled = self.engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StoreError(f"store unavailable: {_reason(exc)}") from None
        try:
            conn: Any = pooled.driver_connection
            conn.autocommit = True
            try:
                row = conn.execute(sql, params).fetchone()
            finally:
                if not conn.closed:
                    conn.autocommit = False
        except dbapi.IntegrityError as exc:
            raise IntegrityError(sql, None, exc) from None
        except dbapi.Error as exc:
            if getattr(conn, "broken", False) or conn.closed:
                pooled.invalidate(exc)
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(f"store write failed: {reason}") from None
        finally:
            pooled.close()
        return tuple(row)

    def iter_deliveries(self, *, hook_id: str | None = None,
                        since_us: int | None = None) -> Iterator[StoredDelivery]:
        """Stored deliveries, oldest first, in pages (no cursor held while the caller
        writes)."""
        last = 0
        while True:
            stmt = select(deliveries).where(deliveries.c.id > last)
            if hook_id is not None:
                stmt = stmt.where(deliveries.c.hook_id == hook_id)
            if since_us is not None:
                stmt = stmt.where(deliveries.c.received_us >= since_us)
            with self.engine.connect() as conn:
                rows = conn.execute(stmt.order_by(deliveries.c.id).limit(500)).all()
            if not rows:
                return
            for r in rows:
                yield StoredDelivery(r.id, r.hook_id, r.delivery_key, r.received_us,
                                     json.loads(r.headers), bytes(r.body),
                                     json.loads(r.change_ids))
            last = rows[-1].id

    def restore_delivery(self, delivery: StoredDelivery, changes: list[Change],
                         body: bytes | None = None) -> ImportResult:
        """Store what a re-parse of ``delivery`` gives, as its hook would (same owner, same
        rules), and record the change ids (and a redacted ``body``) on the delivery row, in
        one transaction. ``Conflict`` as for a delivery: nothing written."""
        ids = json.dumps([c.id for c in changes])
        values: dict[str, Any] = {"change_ids": ids}
        if body is not None and body != delivery.body:
            values["body"] = body
        with self._begin() as conn:
            result = self.store.write_changes(conn, changes, update=True,
                                              owner=hook_owner(delivery.hook_id))
            if values.keys() != {"change_ids"} or json.loads(ids) != delivery.change_ids:
                conn.execute(update(deliveries).where(deliveries.c.id == delivery.id)
                             .values(values))
        return result

    def delivery_count(self, hook_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(deliveries)
        if hook_id is not None:
            stmt = stmt.where(deliveries.c.hook_id == hook_id)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def list_deliveries(self, hook_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        stmt = (select(deliveries).where(deliveries.c.hook_id == hook_id)
                .order_by(deliveries.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [{"id": r.id, "delivery_key": r.delivery_key, "event": r.event,
                 "received_us": r.received_us, "headers": json.loads(r.headers),
                 "body": bytes(r.body), "outcome": r.outcome,
                 "change_ids": json.loads(r.change_ids)} for r in rows]

    def ping(self) -> None:
        """Raise StoreError unless the database answers (for /healthz?store=1)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            raise StoreError(f"store unreachable: {_reason(exc)}") from None

    def _begin(self) -> Any:
        return _Tx(self.engine, self.store.write_lock)


class _Tx:
    """``engine.begin()`` whose SQLAlchemy errors become StoreError with one readable line,
    holding the store's ``write_lock`` (SQLite) for the transaction."""

    def __init__(self, engine: Any, lock: Any) -> None:
        self._cm = engine.begin()
        self._lock = lock

    def __enter__(self) -> Any:
        self._lock.acquire()
        try:
            return self._cm.__enter__()
        except SQLAlchemyError as exc:
            self._lock.release()
            raise StoreError(f"store unavailable: {_reason(exc)}") from None
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._cm.__exit__(*exc)
        except SQLAlchemyError as err:
            raise StoreError(f"store write failed: {_reason(err)}") from None
        finally:
            self._lock.release()


_SERVICE_COLUMNS = ("change_id", "service", "kind", "environment", "at_us")
_SQL_CACHE: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}


def _row_columns() -> list[str]:
    """The change columns the store writes, when a delivery carries no change to ask."""
    from datetime import UTC, datetime

    probe = Change(id="-", kind=ChangeKind.DEPLOY, services=("-",), at=datetime.now(UTC))
    return list(_row(probe, 0, ""))


def _record_type(table: Table, cols: tuple[str, ...]) -> str:
    """The ``json_to_recordset`` column list for ``cols`` (``id TEXT, at_us BIGINT, ...``).

    Rows go to the server as one JSON text, which the driver sends as is: adapting a typed
    array per column cost more client CPU than the rest of the delivery. Strings are TEXT:
    the INSERT's own assignment cast to VARCHAR(n) then refuses a value too long, as the
    generic path does (an explicit cast would silently truncate)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    columns: list[Column[Any]] = [table.c[c] for c in cols]
    return ", ".join(
        f"{col.name} "
        f"{'TEXT' if isinstance(col.type, String) else col.type.compile(dialect=dialect)}"
        for col in columns)


def _delivery_sql(change_cols: tuple[str, ...], service_cols: tuple[str, ...]) -> str:
    """The PostgreSQL statement that stores a delivery with its changes, or nothing.

    ``d`` inserts the delivery row only if the hook is still the one the caller verified the
    delivery with (``h``: active, same nonce and vendor secret; skipped without
    ``check_hook``), unless one of its change ids is stored already or one of its deploys is
    of a version a stored deploy made live (``stored``: the generic path then decides whether
    it is a rollback, ``Store.classify``: rare, so this path stays one statement), and nothing
    when (hook, key) exists: that conflict waits for a concurrent insert of the same key to
    commit, exactly as the generic path does. ``stored`` looks each id up by primary key and
    each version by ``ix_changes_version`` whatever the planner estimates (LATERAL ... LIMIT 1,
    OFFSET 0): on a fresh or unanalysed table it preferred a scan of every stored change, or
    of a service's whole deploy history, per delivery. The changes (``c``, a plain INSERT: an
    id stored meanwhile fails the statement), their service rows (``s``) and the longest
    rollout (``m``) are written only when ``d`` inserted. Foreign keys are checked at the end
    of the statement, so service rows may reference changes inserted by the same statement.
    Answers the delivery id (NULL when nothing was written), whether a change id was already
    stored and whether the hook check passed.
    """
    key = (change_cols, service_cols)
    sql = _SQL_CACHE.get(key)
    if sql is None:
        ccols = ", ".join(change_cols)
        scols = ", ".join(service_cols)
        sql = f"""
WITH u AS MATERIALIZED (
    SELECT * FROM json_to_recordset(%(changes)s::JSON) AS u({_record_type(changes, change_cols)})
), h AS (
    SELECT NOT %(check_hook)s::BOOLEAN OR EXISTS (
        SELECT FROM {hooks.name} WHERE id = %(hook_id)s AND revoked_us IS NULL
          AND nonce = %(nonce)s AND vendor_secret IS NOT DISTINCT FROM %(vendor_secret)s) AS ok
), stored AS (
    SELECT EXISTS (
            SELECT FROM u, LATERAL (SELECT FROM {changes.name} WHERE id = u.id LIMIT 1) AS x)
        OR EXISTS (
            SELECT FROM u, LATERAL (
                SELECT FROM (SELECT id FROM {changes.name}
                             WHERE version = u.version
                               AND status = '{ChangeStatus.SUCCEEDED.value}' OFFSET 0) AS c,
                LATERAL (
                    SELECT FROM {change_services.name} AS cs
                    WHERE cs.change_id = c.id AND cs.service = u.services
                      AND cs.environment = u.environment
                      AND cs.kind IN ('{ChangeKind.DEPLOY.value}',
                                      '{ChangeKind.ROLLBACK.value}')
                    LIMIT 1) AS y
                LIMIT 1) AS x
            WHERE u.kind = '{ChangeKind.DEPLOY.value}') AS yes
), d AS (
    INSERT INTO {deliveries.name} (hook_id, delivery_key, key_sha256, event, received_us,
                                   headers, body, outcome, change_ids)
    SELECT %(hook_id)s, %(delivery_key)s, %(key_sha256)s, %(event)s, %(received_us)s,
           %(headers)s, %(body)s, %(outcome)s, %(change_ids)s
    WHERE (SELECT ok FROM h) AND NOT (SELECT yes FROM stored)
    ON CONFLICT (hook_id, key_sha256) DO NOTHING
    RETURNING id
), c AS (
    INSERT INTO {changes.name} ({ccols})
    SELECT {ccols} FROM u WHERE EXISTS (SELECT FROM d)
), s AS (
    INSERT INTO {change_services.name} ({scols})
    SELECT * FROM json_to_recordset(%(services)s::JSON)
        AS v({_record_type(change_services, service_cols)})
    WHERE EXISTS (SELECT FROM d)
), m AS (
    INSERT INTO {store_meta.name} (key, value)
    SELECT %(max_key)s, %(longest)s::BIGINT WHERE %(longest)s::BIGINT > 0 AND EXISTS (SELECT FROM d)
    ON CONFLICT (key) DO UPDATE SET value = greatest({store_meta.name}.value, excluded.value)
)
SELECT (SELECT id FROM d), (SELECT yes FROM stored), (SELECT ok FROM h)"""
        _SQL_CACHE[key] = sql
    return sql

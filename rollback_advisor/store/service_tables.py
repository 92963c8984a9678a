"""Data access for the HTTP service's tables: hooks, API tokens and raw hook deliveries.

Kept beside ``Store`` rather than inside it so the core store stays about changes and graphs.
A delivery and the changes it carries are written in one transaction; the delivery row's
UNIQUE (hook_id, delivery_key) is what makes a redelivery a no-op even when two workers receive
it at the same moment (the second insert waits for the first commit, then conflicts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..errors import InvalidInput, NotFound, StoreError
from ..models import Change
from . import ImportResult, Store, _now_us, _reason
from .schema import api_tokens, deliveries, hooks

HOOK_SOURCES = ("generic", "github", "gitlab", "cdevents", "pagerduty")


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

    @property
    def active(self) -> bool:
        return self.revoked_us is None

    def public(self) -> dict[str, Any]:
        """What the API and CLI show: never the nonce (half of the secret's derivation)."""
        return {"id": self.id, "name": self.name, "source": self.source,
                "mapping": dict(self.mapping), "environment": self.environment,
                "created_us": self.created_us, "revoked": not self.active}


@dataclass(frozen=True)
class TokenRecord:
    id: str
    token_hash: str
    scope: str
    name: str | None
    created_us: int
    revoked_us: int | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """``duplicate`` when the same delivery was stored before (nothing written now)."""

    duplicate: bool
    delivery_id: int | None
    changes: ImportResult = field(default_factory=ImportResult)


def _hook(row: Any) -> HookRecord:
    return HookRecord(row.id, row.name, row.source, json.loads(row.mapping), row.environment,
                      row.nonce, row.created_us, row.revoked_us)


class ServiceTables:
    """Hooks, tokens and deliveries in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- hooks ------------------------------------------------------------------------------

    def add_hook(self, *, hook_id: str, name: str, source: str, mapping: Mapping[str, str],
                 environment: str | None, nonce: str) -> HookRecord:
        if source not in HOOK_SOURCES:
            raise InvalidInput("source", source, "one of " + ", ".join(HOOK_SOURCES))
        if not name or not name.strip():
            raise InvalidInput("name", name, "a non-empty name")
        record = HookRecord(hook_id, name.strip(), source, dict(mapping), environment, nonce,
                            _now_us())
        with self._begin() as conn:
            conn.execute(hooks.insert().values(
                id=record.id, name=record.name, source=source,
                mapping=json.dumps(record.mapping, sort_keys=True), environment=environment,
                nonce=nonce, created_us=record.created_us))
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

    def revoke_hook(self, hook_id: str) -> None:
        with self._begin() as conn:
            done = conn.execute(update(hooks).where(hooks.c.id == hook_id,
                                                    hooks.c.revoked_us.is_(None))
                                .values(revoked_us=_now_us())).rowcount
        if not done:
            raise NotFound(f"no active hook {hook_id!r} (see 'rollback-advisor hooks list')")

    # -- tokens -----------------------------------------------------------------------------

    def add_token(self, *, token_id: str, token_hash: str, scope: str,
                  name: str | None = None) -> TokenRecord:
        record = TokenRecord(token_id, token_hash, scope, name, _now_us())
        with self._begin() as conn:
            conn.execute(api_tokens.insert().values(
                id=token_id, token_hash=token_hash, scope=scope, name=name,
                created_us=record.created_us))
        return record

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            return None
        return TokenRecord(row.id, row.token_hash, row.scope, row.name, row.created_us,
                           row.revoked_us)

    def list_tokens(self) -> list[TokenRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_us)).all()
        return [TokenRecord(r.id, r.token_hash, r.scope, r.name, r.created_us, r.revoked_us)
                for r in rows]

    def revoke_token(self, token_id: str) -> None:
        with self._begin() as conn:
            done = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                         api_tokens.c.revoked_us.is_(None))
                                .values(revoked_us=_now_us())).rowcount
        if not done:
            raise NotFound(f"no active token {token_id!r}")

    # -- deliveries -------------------------------------------------------------------------

    def store_delivery(self, *, hook_id: str, delivery_key: str, event: str,
                       headers: Mapping[str, str], body: bytes,
                       changes: Iterable[Change]) -> DeliveryResult:
        """Store the raw delivery and its changes atomically, or nothing if already stored."""
        items = list(changes)
        values = {"hook_id": hook_id, "delivery_key": delivery_key[:256], "event": event[:128],
                  "received_us": _now_us(), "headers": json.dumps(dict(headers), sort_keys=True),
                  "body": bytes(body), "outcome": "stored",
                  "change_ids": json.dumps([c.id for c in items])}
        stmt = (self.store._insert(deliveries).values(values)
                .on_conflict_do_nothing(index_elements=["hook_id", "delivery_key"])
                .returning(deliveries.c.id))
        with self._begin() as conn:
            delivery_id = conn.execute(stmt).scalar()
            if delivery_id is None:
                return DeliveryResult(True, None)
            result = self.store.write_changes(conn, items, update=True)
        return DeliveryResult(False, int(delivery_id), result)

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
        return _Tx(self.engine)


class _Tx:
    """``engine.begin()`` whose SQLAlchemy errors become StoreError with one readable line."""

    def __init__(self, engine: Any) -> None:
        self._cm = engine.begin()

    def __enter__(self) -> Any:
        try:
            return self._cm.__enter__()
        except SQLAlchemyError as exc:
            raise StoreError(f"store unavailable: {_reason(exc)}") from None

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._cm.__exit__(*exc)
        except SQLAlchemyError as err:
            raise StoreError(f"store write failed: {_reason(err)}") from None

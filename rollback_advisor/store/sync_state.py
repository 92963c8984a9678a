"""Leases and outcomes of scheduled syncs: the ``sync_state`` table (migration 0007).

One row per connector source. A process syncs a source only while it holds the row's lease,
taken by one conditional UPDATE (``lease_expires_us`` past, and the source due), so that on one
database, however many workers or instances run a scheduler, a source syncs once per interval.
The lease is a row with an expiry rather than an advisory lock so that SQLite and PostgreSQL
behave alike and a holder killed mid-sync (whose connection may linger) loses it by itself
after its TTL. Times are passed in, as epoch seconds, so tests drive a clock of their own.

Kept beside ``Store`` like ``ServiceTables``: the core store stays about changes and graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from . import Store, in_transaction
from .schema import sync_state


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def _s(us: int | None) -> float | None:
    return None if us is None else us / 1_000_000


@dataclass(frozen=True)
class SourceState:
    """A source's row, times in epoch seconds (None: never)."""

    source: str
    holder: str | None
    lease_expires: float
    next_run: float
    last_attempt: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int
    auth_failures: int
    paused: str | None
    last_seconds: float | None
    last_changes: int | None

    def running(self, now: float) -> bool:
        """Someone holds the lease (is syncing it) at ``now``."""
        return self.holder is not None and self.lease_expires > now


def _state(row: Any) -> SourceState:
    m = row._mapping
    return SourceState(
        source=m["source"], holder=m["holder"], lease_expires=m["lease_expires_us"] / 1e6,
        next_run=m["next_run_us"] / 1e6, last_attempt=_s(m["last_attempt_us"]),
        last_success=_s(m["last_success_us"]), last_error=m["last_error"],
        last_error_at=_s(m["last_error_us"]), failures=m["failures"],
        auth_failures=m["auth_failures"], paused=m["paused"], last_seconds=m["last_seconds"],
        last_changes=m["last_changes"])


class SyncStates:
    """Lease, schedule and outcome of every source, on the store's engine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def _run(self, action: Any) -> Any:
        return in_transaction(self.engine, "sync state", action)

    def ensure(self, source: str, *, first_run: float) -> None:
        """Create the source's row (due at ``first_run``) unless it exists."""
        stmt = self.store._insert(sync_state).values(
            source=source, holder=None, lease_expires_us=0, next_run_us=_us(first_run),
            failures=0, auth_failures=0).on_conflict_do_nothing(index_elements=["source"])
        self._run(lambda conn: conn.execute(stmt))

    def acquire(self, source: str, holder: str, *, now: float, ttl: float,
                due_only: bool) -> SourceState | None:
        """Take the source's lease for ``ttl`` seconds; None when it is held, paused, not yet
        due (``due_only``: the scheduler) or backing off after a failure (any caller: an
        advice pull must not hammer a vendor that said to wait). Atomic: of two processes
        asking at once, one gets it."""
        now_us = _us(now)
        cond = [sync_state.c.source == source, sync_state.c.lease_expires_us <= now_us,
                sync_state.c.paused.is_(None)]
        if due_only:
            cond.append(sync_state.c.next_run_us <= now_us)
        else:
            cond.append((sync_state.c.failures == 0) | (sync_state.c.next_run_us <= now_us))
        stmt = update(sync_state).where(*cond).values(
            holder=holder, lease_expires_us=now_us + _us(ttl), last_attempt_us=now_us)

        def take(conn: Any) -> SourceState | None:
            if conn.execute(stmt).rowcount != 1:
                return None
            row = conn.execute(select(sync_state).where(sync_state.c.source == source)).one()
            return _state(row)

        return self._run(take)  # type: ignore[no-any-return]

    def renew(self, source: str, holder: str, *, now: float, ttl: float) -> bool:
        """Extend a held lease (after each stored batch); False when it was lost."""
        stmt = update(sync_state).where(
            sync_state.c.source == source, sync_state.c.holder == holder,
            sync_state.c.lease_expires_us > _us(now)).values(
            lease_expires_us=_us(now + ttl))
        return bool(self._run(lambda conn: conn.execute(stmt).rowcount == 1))

    def succeeded(self, source: str, holder: str, *, now: float, next_run: float | None,
                  seconds: float, changes: int) -> None:
        """Record a successful sync and free the lease (``next_run`` None: keep the
        schedule, for a pull before advice)."""
        values: dict[str, Any] = dict(
            holder=None, lease_expires_us=0, last_success_us=_us(now), failures=0,
            auth_failures=0, paused=None, last_seconds=seconds, last_changes=changes)
        if next_run is not None:
            values["next_run_us"] = _us(next_run)
        self._finish(source, holder, values)

    def failed(self, source: str, holder: str, *, now: float, next_run: float, error: str,
               auth: bool, pause_after: int, seconds: float) -> None:
        """Record a failed sync, due again at ``next_run`` (the back-off), and free the lease.
        The ``pause_after``-th authentication failure in a row pauses the source."""
        def act(conn: Any) -> None:
            row = conn.execute(select(sync_state.c.failures, sync_state.c.auth_failures)
                               .where(sync_state.c.source == source,
                                      sync_state.c.holder == holder)).first()
            if row is None:  # the lease ran out and another process took the source over
                return
            auth_failures = row.auth_failures + 1 if auth else 0
            paused = (f"paused after {auth_failures} authentication failures in a row: "
                      f"{error}" if auth and auth_failures >= pause_after else None)
            conn.execute(update(sync_state).where(
                sync_state.c.source == source, sync_state.c.holder == holder).values(
                holder=None, lease_expires_us=0, next_run_us=_us(next_run),
                last_error=error, last_error_us=_us(now), failures=row.failures + 1,
                auth_failures=auth_failures, paused=paused, last_seconds=seconds))

        self._run(act)

    def _finish(self, source: str, holder: str, values: dict[str, Any]) -> None:
        stmt = update(sync_state).where(sync_state.c.source == source,
                                        sync_state.c.holder == holder).values(**values)
        self._run(lambda conn: conn.execute(stmt))

    def record(self, source: str, *, now: float, error: str | None, seconds: float,
               changes: int) -> None:
        """Record a manual ``rollback-advisor sync`` (no lease, schedule unchanged), so
        ``sync status`` shows it; a success also lifts a pause (the credentials work)."""
        self.ensure(source, first_run=now)
        values: dict[str, Any] = {"last_seconds": seconds}
        if error is None:
            values.update(last_success_us=_us(now), failures=0, auth_failures=0, paused=None,
                          last_changes=changes)
        else:
            values.update(last_error=error, last_error_us=_us(now))
        stmt = update(sync_state).where(sync_state.c.source == source).values(**values)
        self._run(lambda conn: conn.execute(stmt))

    def resume(self, source: str, *, now: float) -> bool:
        """Clear a pause and any back-off: the source is due at once. False: no such row."""
        stmt = update(sync_state).where(sync_state.c.source == source).values(
            paused=None, auth_failures=0, failures=0, next_run_us=_us(now))
        return bool(self._run(lambda conn: conn.execute(stmt).rowcount == 1))

    def get(self, source: str) -> SourceState | None:
        row = self._run(lambda conn: conn.execute(
            select(sync_state).where(sync_state.c.source == source)).first())
        return None if row is None else _state(row)

    def all(self) -> dict[str, SourceState]:
        rows = self._run(lambda conn: conn.execute(
            select(sync_state).order_by(sync_state.c.source)).all())
        return {r.source: _state(r) for r in rows}


__all__ = ["SourceState", "SyncStates"]

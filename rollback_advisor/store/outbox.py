"""The Slack outbox in the store: messages queued by the incident hooks, sent by a poster.

Queuing is one ``INSERT ... ON CONFLICT (key) DO NOTHING``: a hook that runs twice for the
same advice or verdict queues one message. Sending is claimed row by row with a lease, one
conditional UPDATE (``claimed_until_us`` past), the same on SQLite and PostgreSQL: of two
posters racing a row, one gets it; a poster killed mid-send loses it when the lease runs out.
Only the oldest unsent row of an incident can be claimed, so its first message is posted
before the replies that need its ``ts``. Times are epoch seconds passed in (tests drive a
clock of their own). Kept beside ``Store`` like ``SyncStates``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, select, update

from . import Store, in_transaction
from .schema import slack_outbox, slack_posts


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


@dataclass(frozen=True)
class OutboxMessage:
    """A claimed row: what to send, for which incident, and how often it was tried."""

    id: int
    incident_id: int
    key: str
    kind: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Posting:
    """Where an incident's first message is, and what it showed."""

    channel: str
    ts: str
    payload: dict[str, Any]


class SlackOutbox:
    """The ``slack_outbox`` and ``slack_posts`` tables behind a Store's engine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def _run(self, action: Any, *, write: bool = False) -> Any:
        # writes take the store's write lock, as the service's other writers do on SQLite
        # (store/write_lock.py: a gevent worker must not wait in SQLite's busy handler)
        return in_transaction(self.engine, "slack outbox", action,
                              self.store.write_lock if write else None)

    def enqueue(self, *, incident_id: int, key: str, kind: str, payload: dict[str, Any],
                now: float) -> bool:
        """Queue one message; False when ``key`` is queued (or sent) already."""
        stmt = (self.store._insert(slack_outbox).values(
            incident_id=incident_id, key=key[:255], kind=kind,
            payload=json.dumps(payload, separators=(",", ":")), created_us=_us(now),
            next_attempt_us=0, claimed_until_us=0, attempts=0)
            .on_conflict_do_nothing(index_elements=["key"]).returning(slack_outbox.c.id))
        return bool(self._run(lambda conn: conn.execute(stmt).scalar() is not None,
                             write=True))

    def claim(self, holder: str, *, now: float, ttl: float, limit: int = 20
              ) -> list[OutboxMessage]:
        """Lease up to ``limit`` due rows to ``holder`` for ``ttl`` seconds, oldest first, at
        most one per incident (its oldest unsent)."""
        now_us = _us(now)
        earlier = slack_outbox.alias("earlier")
        due = and_(slack_outbox.c.sent_us.is_(None), slack_outbox.c.next_attempt_us <= now_us,
                   slack_outbox.c.claimed_until_us < now_us)
        head = ~exists().where(earlier.c.incident_id == slack_outbox.c.incident_id,
                               earlier.c.sent_us.is_(None), earlier.c.id < slack_outbox.c.id)
        pick = select(slack_outbox.c.id).where(due, head).order_by(slack_outbox.c.id)
        ids = self._run(lambda conn: conn.execute(pick.limit(limit)).scalars().all())
        taken: list[OutboxMessage] = []
        for row_id in ids:
            stmt = update(slack_outbox).where(slack_outbox.c.id == row_id, due).values(
                claimed_by=holder, claimed_until_us=now_us + _us(ttl),
                attempts=slack_outbox.c.attempts + 1)

            def take(conn: Any, stmt: Any = stmt, row_id: int = row_id) -> Any:
                if conn.execute(stmt).rowcount != 1:
                    return None  # another poster claimed it first
                return conn.execute(select(slack_outbox)
                                    .where(slack_outbox.c.id == row_id)).one()

            row = self._run(take, write=True)
            if row is not None:
                taken.append(OutboxMessage(row.id, row.incident_id, row.key, row.kind,
                                           json.loads(row.payload), row.attempts))
        return taken

    def sent(self, message: OutboxMessage, holder: str, *, now: float,
             channel: str | None = None, ts: str | None = None,
             first_of_incident: bool = False) -> None:
        """Mark ``message`` sent; ``first_of_incident``: it is the incident's message that
        replies thread under (its channel and ``ts`` are kept in ``slack_posts``)."""
        def act(conn: Any) -> None:
            conn.execute(update(slack_outbox).where(
                slack_outbox.c.id == message.id, slack_outbox.c.claimed_by == holder).values(
                sent_us=_us(now), claimed_until_us=0, last_error=None, channel=channel,
                ts=ts))
            if first_of_incident and channel and ts:
                conn.execute(self.store._insert(slack_posts).values(
                    incident_id=message.incident_id, channel=channel, ts=ts,
                    payload=json.dumps(message.payload, separators=(",", ":")),
                    posted_us=_us(now)).on_conflict_do_nothing(index_elements=["incident_id"]))

        self._run(act, write=True)

    def failed(self, message: OutboxMessage, holder: str, *, now: float, retry_at: float,
               error: str) -> None:
        """Free the lease and try ``message`` again at ``retry_at`` (the back-off)."""
        stmt = update(slack_outbox).where(
            slack_outbox.c.id == message.id, slack_outbox.c.claimed_by == holder,
            slack_outbox.c.sent_us.is_(None)).values(
            claimed_until_us=0, next_attempt_us=_us(retry_at), last_error=error[:2000])
        self._run(lambda conn: conn.execute(stmt), write=True)

    def due_now(self, *, now: float) -> int:
        """Make every unsent message that is backing off due at ``now``; how many were."""
        stmt = update(slack_outbox).where(slack_outbox.c.sent_us.is_(None),
                                          slack_outbox.c.next_attempt_us > _us(now)
                                          ).values(next_attempt_us=_us(now))
        return int(self._run(lambda conn: conn.execute(stmt).rowcount, write=True) or 0)

    def posting(self, incident_id: int) -> Posting | None:
        row = self._run(lambda conn: conn.execute(
            select(slack_posts).where(slack_posts.c.incident_id == incident_id)).first())
        return None if row is None else Posting(row.channel, row.ts, json.loads(row.payload))

    def depth(self) -> int:
        """Messages still to send (queued or backing off)."""
        stmt = select(func.count()).select_from(slack_outbox).where(
            slack_outbox.c.sent_us.is_(None))
        return int(self._run(lambda conn: conn.execute(stmt).scalar()) or 0)

    def rows(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        """Every row (or an incident's), oldest first: for tests and inspection."""
        stmt = select(slack_outbox).order_by(slack_outbox.c.id)
        if incident_id is not None:
            stmt = stmt.where(slack_outbox.c.incident_id == incident_id)
        return [dict(r._mapping) for r in self._run(lambda conn: conn.execute(stmt).all())]


__all__ = ["OutboxMessage", "Posting", "SlackOutbox"]

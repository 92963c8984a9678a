"""Data access for incidents, their alerts and their advice history (DESIGN §7).

An alert batch is applied in one transaction: the raw delivery row first (a redelivery with
the same key stops there, as for deploy hooks), then the incident row is inserted unless the
group has one (``ON CONFLICT DO NOTHING`` on UNIQUE (hook_id, external_sha256)), then the row
is locked (``FOR UPDATE`` on PostgreSQL; SQLite's single writer holds the database from the
first write) and the lifecycle (``incident_state``) decides from what is stored. Two workers
racing the same group therefore open one incident, and the second applies its alerts to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..alerts import AlertBatch
from ..errors import InvalidInput, NotFound, StoreError
from ..graph import DependencyGraph
from ..incident_state import AlertState, IncidentState, Outcome, apply_batch
from ..models import check_text, scope_from_dict
from . import Store, _now_us, _reason, _us
from .schema import deliveries, incident_advice, incident_alerts, incidents

STATUSES = ("open", "resolved")


def _dt(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, UTC)


def _iso(us: int | None) -> str | None:
    value = _dt(us)
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class IncidentRecord:
    """A stored incident: its row and its alerts (the state the lifecycle works on)."""

    id: int
    title: str | None
    source: str
    hook_id: str | None
    external_id: str | None
    url: str | None
    created_us: int
    updated_us: int
    state: IncidentState
    # the advice a delivery owed and no one has stored yet (its worker killed in between)
    advice_due: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """DESIGN §7's record, with the alerts (unknown nodes flagged)."""
        s = self.state
        return {"id": self.id, "title": self.title, "target": s.target,
                "symptoms": [{**sym, "started_at": sym["started_at"].isoformat()
                              .replace("+00:00", "Z")} for sym in s.symptoms()],
                "scope": {k: list(v) for k, v in (s.scope or {}).items()} or None,
                "environment": s.environment,
                "started_at": s.started_at.isoformat().replace("+00:00", "Z"),
                "status": s.status,
                "resolved_at": (s.resolved_at.isoformat().replace("+00:00", "Z")
                                if s.resolved_at else None),
                "source": self.source, "hook_id": self.hook_id,
                "external_id": self.external_id, "url": self.url,
                # nodes the graph did not know; alerts naming no node at all are in
                # "alerts" with node null, flagged like these (known_node false)
                "unknown_nodes": sorted({a.node for a in s.alerts.values()
                                         if not a.known and a.node}),
                "alerts": [a.to_dict() for a in sorted(s.alerts.values(),
                                                       key=lambda a: (a.starts_at, a.key))]}


@dataclass(frozen=True)
class AdviceEntry:
    """One advice computed for an incident: when, why, and what it said (or why it failed)."""

    incident_id: int
    at: datetime
    trigger: str
    decision: str | None = None
    confidence: float | None = None
    change_id: str | None = None
    error: str | None = None
    advice: Mapping[str, Any] | None = None
    # the Advice object itself when just computed (never stored): what on_advice renders
    live: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat().replace("+00:00", "Z"), "trigger": self.trigger,
                "decision": self.decision, "confidence": self.confidence,
                "change_id": self.change_id, "error": self.error,
                "advice": dict(self.advice) if self.advice is not None else None}


@dataclass(frozen=True)
class Applied:
    """What applying a batch did: the incident (None for a duplicate delivery) and outcome."""

    duplicate: bool
    incident: IncidentRecord | None = None
    outcome: Outcome = Outcome()


class IncidentTables:
    """Incidents, their alerts and advice in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- writes -----------------------------------------------------------------------------

    def apply(self, *, hook_id: str | None, batch: AlertBatch, graph: DependencyGraph | None,
              default_environment: str, delivery: Mapping[str, Any] | None = None) -> Applied:
        """Apply an alert batch to its group's incident (opening it), atomically with the raw
        ``delivery`` row (``deliveries`` columns) when given."""
        _check_batch(batch)
        now = datetime.now(UTC)
        digest = hashlib.sha256(batch.group.encode("utf-8", "surrogatepass")).hexdigest()
        fresh, opened = apply_batch(None, batch, graph, default_environment=default_environment,
                                    now=now)
        try:
            with self.engine.begin() as conn:
                if delivery is not None:
                    stmt = (self.store._insert(deliveries).values(dict(delivery))
                            .on_conflict_do_nothing(index_elements=["hook_id", "key_sha256"])
                            .returning(deliveries.c.id))
                    if conn.execute(stmt).scalar() is None:  # a redelivery: its incident
                        found = conn.execute(select(incidents.c.id).where(
                            incidents.c.hook_id == hook_id,
                            incidents.c.external_sha256 == digest)).scalar()
                        return Applied(True, None if found is None
                                       else self._load(conn, int(found)))
                row = _incident_row(fresh, now)
                row.update(title=_cut(batch.title), source=batch.source, hook_id=hook_id,
                           external_id=batch.group, external_sha256=digest,
                           url=batch.url, created_us=row["updated_us"],
                           advice_due=opened.advise)
                stmt = (self.store._insert(incidents).values(row)
                        .on_conflict_do_nothing(index_elements=["hook_id", "external_sha256"])
                        .returning(incidents.c.id))
                new_id = conn.execute(stmt).scalar()
                if new_id is not None:
                    self._write_alerts(conn, int(new_id), fresh.alerts.values())
                    return Applied(False, self._load(conn, int(new_id)), opened)
                found = conn.execute(
                    select(incidents.c.id).where(incidents.c.hook_id == hook_id,
                                                 incidents.c.external_sha256 == digest)
                    .with_for_update()).scalar()
                assert found is not None  # the conflict means the row exists
                current = self._load(conn, int(found))
                state, outcome = apply_batch(current.state, batch, graph,
                                             default_environment=default_environment, now=now)
                if outcome.changed:
                    changed = [a for k, a in state.alerts.items()
                               if current.state.alerts.get(k) != a]
                    if changed:
                        conn.execute(delete(incident_alerts).where(
                            incident_alerts.c.incident_id == found,
                            incident_alerts.c.key.in_([a.key for a in changed])))
                        self._write_alerts(conn, int(found), changed)
                    values = _incident_row(state, now)
                    if outcome.advise is not None:  # owed until add_advice(claim=True)
                        values["advice_due"] = outcome.advise
                    conn.execute(update(incidents).where(incidents.c.id == found)
                                 .values(values))
                    current = self._load(conn, int(found))
                return Applied(False, current, outcome)
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_reason(exc)}") from None

    def open_manual(self, state: IncidentState, *, title: str | None) -> IncidentRecord:
        """Store an incident opened by hand (no hook, no group)."""
        now = datetime.now(UTC)
        row = _incident_row(state, now)
        row.update(title=_cut(title), source="manual", created_us=row["updated_us"])
        try:
            with self.engine.begin() as conn:
                new_id = int(conn.execute(incidents.insert().values(row)
                                          .returning(incidents.c.id)).scalar_one())
                self._write_alerts(conn, new_id, state.alerts.values())
                return self._load(conn, new_id)
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_reason(exc)}") from None

    def resolve(self, incident_id: int, at: datetime | None = None) -> IncidentRecord:
        """Resolve an incident by hand (its alerts stay as reported)."""
        when = at or datetime.now(UTC)
        with self.engine.begin() as conn:
            done = conn.execute(update(incidents).where(incidents.c.id == incident_id,
                                                        incidents.c.status == "open")
                                .values(status="resolved", resolved_us=_us(when),
                                        updated_us=_now_us())).rowcount
            if not done:
                self._load(conn, incident_id)  # NotFound when there is no such incident
            return self._load(conn, incident_id)

    def add_advice(self, entry: AdviceEntry, *, claim: bool = False) -> bool:
        """Store an advice entry. With ``claim``, only if the incident still owes advice (its
        ``advice_due``), which it then no longer does, in the same transaction: of deliveries
        racing to make good advice a killed worker owed, exactly one stores it. Returns
        whether it was stored."""
        with self.engine.begin() as conn:
            if claim and not conn.execute(
                    update(incidents).where(incidents.c.id == entry.incident_id,
                                            incidents.c.advice_due.is_not(None))
                    .values(advice_due=None)).rowcount:
                return False
            conn.execute(incident_advice.insert().values(
                incident_id=entry.incident_id, at_us=_us(entry.at), trigger=entry.trigger,
                decision=entry.decision, confidence=entry.confidence,
                change_id=entry.change_id, error=entry.error,
                advice=json.dumps(entry.advice, default=str) if entry.advice is not None
                else None))
        return True

    # -- reads ------------------------------------------------------------------------------

    def get(self, incident_id: int) -> IncidentRecord:
        with self.engine.connect() as conn:
            return self._load(conn, incident_id)

    def advice_history(self, incident_id: int) -> list[AdviceEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(incident_advice)
                                .where(incident_advice.c.incident_id == incident_id)
                                .order_by(incident_advice.c.id)).all()
        return [AdviceEntry(r.incident_id, _dt(r.at_us) or datetime.now(UTC), r.trigger,
                            r.decision, r.confidence, r.change_id, r.error,
                            json.loads(r.advice) if r.advice else None) for r in rows]

    def latest_advice(self, incident_ids: Sequence[int]) -> dict[int, AdviceEntry]:
        """Each incident's latest advice entry, without its advice body (a list page shows
        the decision, the confidence and the top change of many incidents at once)."""
        if not incident_ids:
            return {}
        latest = (select(func.max(incident_advice.c.id))
                  .where(incident_advice.c.incident_id.in_(list(incident_ids)))
                  .group_by(incident_advice.c.incident_id))
        cols = incident_advice.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(cols.incident_id, cols.at_us, cols.trigger, cols.decision,
                                       cols.confidence, cols.change_id, cols.error)
                                .where(cols.id.in_(latest))).all()
        return {r.incident_id: AdviceEntry(r.incident_id, _dt(r.at_us) or datetime.now(UTC),
                                           r.trigger, r.decision, r.confidence, r.change_id,
                                           r.error) for r in rows}

    def list(self, *, status: str | None = None, limit: int = 50, offset: int = 0
             ) -> Sequence[IncidentRecord]:
        """Incidents, the latest onset first."""
        if status is not None and status not in STATUSES:
            raise InvalidInput("status", status, "open or resolved")
        stmt = select(incidents.c.id).order_by(incidents.c.started_us.desc(),
                                               incidents.c.id.desc())
        if status is not None:
            stmt = stmt.where(incidents.c.status == status)
        with self.engine.connect() as conn:
            ids = conn.execute(stmt.limit(limit).offset(offset)).scalars().all()
            return [self._load(conn, int(i)) for i in ids]

    def count(self, status: str | None = None) -> int:
        stmt = select(func.count()).select_from(incidents)
        if status is not None:
            stmt = stmt.where(incidents.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    # -- rows -------------------------------------------------------------------------------

    def _load(self, conn: Connection, incident_id: int) -> IncidentRecord:
        row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None:
            raise NotFound(f"no incident {incident_id} (see 'rollback-advisor incidents list')")
        alerts = {a.key: AlertState(a.key, a.node, bool(a.known), bool(a.firing),
                                    _dt(a.starts_us) or datetime.now(UTC), _dt(a.ends_us),
                                    json.loads(a.doc))
                  for a in conn.execute(select(incident_alerts)
                                        .where(incident_alerts.c.incident_id == incident_id))}
        state = IncidentState(
            target=row.target, environment=row.environment,
            started_at=_dt(row.started_us) or datetime.now(UTC), status=row.status,
            resolved_at=_dt(row.resolved_us),
            scope=scope_from_dict(json.loads(row.scope)) if row.scope else None, alerts=alerts)
        return IncidentRecord(row.id, row.title, row.source, row.hook_id, row.external_id,
                              row.url, row.created_us, row.updated_us, state, row.advice_due)

    def _write_alerts(self, conn: Connection, incident_id: int, alerts: Any) -> None:
        rows = [{"incident_id": incident_id, "key": a.key, "node": _cut(a.node),
                 "known": a.known, "firing": a.firing, "starts_us": _us(a.starts_at),
                 "ends_us": _us(a.ends_at) if a.ends_at else None,
                 "doc": json.dumps(a.doc, sort_keys=True, default=str)} for a in alerts]
        if rows:
            conn.execute(incident_alerts.insert(), rows)


def _check_batch(batch: AlertBatch) -> None:
    """Refuse (InvalidInput, a 400) text either store cannot hold: NUL, lone surrogates."""
    check_text(batch.group, "groupKey")
    for value, name in ((batch.title, "title"), (batch.url, "url")):
        if value is not None:
            check_text(value, name)
    for i, alert in enumerate(batch.alerts):
        check_text(alert.key, f"alerts[{i}].fingerprint", 512)
        for value, name in ((alert.name, "alertname"), (alert.service, "service"),
                            (alert.endpoint, "endpoint"), (alert.environment, "environment"),
                            (alert.summary, "summary"), (alert.url, "url")):
            if value is not None:
                check_text(value, f"alerts[{i}].{name}")
        for key, value in alert.labels.items():
            check_text(key, f"alerts[{i}].labels")
            check_text(value, f"alerts[{i}].labels.{key}")


def _incident_row(state: IncidentState, now: datetime) -> dict[str, Any]:
    return {"target": _cut(state.target), "environment": state.environment[:128],
            "scope": json.dumps({k: list(v) for k, v in state.scope.items()})
            if state.scope else None,
            "started_us": _us(state.started_at), "status": state.status,
            "resolved_us": _us(state.resolved_at) if state.resolved_at else None,
            "updated_us": _us(now)}


def _cut(value: str | None, length: int = 512) -> str | None:
    return value[:length] if value else value


__all__ = ["AdviceEntry", "Applied", "IncidentRecord", "IncidentTables", "_iso"]

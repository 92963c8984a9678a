"""How alerts move an incident (DESIGN §7): the lifecycle, pure and in one place.

One alert group is one incident. The first alerts open it: its target is the first alert's
node that the graph knows (else the first alert's own name, flagged unknown). Later alerts of
the group add symptoms (their node and onset); an alert seen before only updates its status, so
a repeated delivery changes nothing; a resolved alert resolves its symptom; when every alert has
resolved the incident resolves, and a firing alert reopens it. An alert whose node the graph
does not know is kept and flagged, never dropped. The outcome says whether the advice should be
computed again: when the incident opens, when a symptom is added, or when the target becomes a
node the graph knows; never for a repeated alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .alerts import AlertBatch, alert_node
from .graph import DependencyGraph
from .models import Incident, Scope, Symptom, scope_from_dict


@dataclass(frozen=True)
class AlertState:
    """One alert of an incident as last reported."""

    key: str
    node: str | None
    known: bool
    firing: bool
    starts_at: datetime
    ends_at: datetime | None
    doc: dict[str, Any] = field(default_factory=dict)  # Alert.to_dict() of the last report

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "node": self.node, "known_node": self.known,
                "status": "firing" if self.firing else "resolved",
                "starts_at": self.starts_at.isoformat(),
                "ends_at": self.ends_at.isoformat() if self.ends_at else None,
                "name": self.doc.get("name"), "summary": self.doc.get("summary"),
                "labels": self.doc.get("labels") or {}, "url": self.doc.get("url")}


@dataclass(frozen=True)
class IncidentState:
    """What the lifecycle decides on: the incident's fields and its alerts by key."""

    target: str
    environment: str
    started_at: datetime
    status: str = "open"
    resolved_at: datetime | None = None
    scope: Scope | None = None
    alerts: dict[str, AlertState] = field(default_factory=dict)

    @property
    def target_known(self) -> bool:
        return any(a.known and a.node == self.target for a in self.alerts.values()) \
            or not self.alerts

    def symptoms(self) -> list[dict[str, Any]]:
        """The other failing nodes the graph knows: each node's earliest onset, and whether
        any of its alerts still fires."""
        by_node: dict[str, list[AlertState]] = {}
        for alert in self.alerts.values():
            if alert.known and alert.node and alert.node != self.target:
                by_node.setdefault(alert.node, []).append(alert)
        return [{"node": node, "started_at": min(a.starts_at for a in items),
                 "status": "firing" if any(a.firing for a in items) else "resolved"}
                for node, items in sorted(by_node.items(),
                                          key=lambda kv: (min(a.starts_at for a in kv[1]),
                                                          kv[0]))]

    def incident(self) -> Incident:
        """The engine's question: the target at its onset, the symptoms, the scope."""
        own = [a.starts_at for a in self.alerts.values() if a.node == self.target]
        return Incident(target=self.target, started_at=min(own, default=self.started_at),
                        environment=self.environment, scope=self.scope,
                        symptoms=tuple(Symptom(s["node"], s["started_at"])
                                       for s in self.symptoms()))


@dataclass(frozen=True)
class Outcome:
    """What one batch did to the incident."""

    opened: bool = False
    added: tuple[str, ...] = ()  # symptom nodes added
    retargeted: bool = False
    resolved: bool = False
    reopened: bool = False
    changed: bool = False

    @property
    def advise(self) -> str | None:
        """Why the advice should be computed again now, or None."""
        if self.opened:
            return "opened"
        if self.retargeted:
            return "target_known"
        if self.added:
            return "symptom_added"
        return None


def apply_batch(state: IncidentState | None, batch: AlertBatch, graph: DependencyGraph | None,
                *, default_environment: str, now: datetime) -> tuple[IncidentState, Outcome]:
    """The incident after ``batch`` (a new one when ``state`` is None) and what changed."""
    opened = state is None
    alerts = dict(state.alerts) if state else {}
    changed = opened
    for alert in batch.alerts:
        node, known = alert_node(graph, alert)
        old = alerts.get(alert.key)
        new = AlertState(alert.key, node, known, alert.firing,
                         min(alert.starts_at, old.starts_at) if old else alert.starts_at,
                         None if alert.firing else (alert.ends_at or now), alert.to_dict())
        if old is not None and (old.firing, old.node, old.known) == (new.firing, new.node,
                                                                     new.known):
            new = replace(new, starts_at=old.starts_at, ends_at=old.ends_at)
            if new.starts_at == old.starts_at and new.doc == old.doc:
                continue
        alerts[alert.key] = new
        changed = True
    before = {s["node"] for s in state.symptoms()} if state else set()
    if state is None:
        first = batch.alerts[0]
        known_first = next((alerts[a.key] for a in batch.alerts if alerts[a.key].known), None)
        target = (known_first.node if known_first else None) or alerts[first.key].node \
            or first.name
        environment = next((a.environment for a in batch.alerts if a.environment),
                           default_environment)
        state = IncidentState(target=target, environment=environment,
                              started_at=min(a.starts_at for a in alerts.values()))
    retargeted = False
    if not opened and not state.target_known:
        named = sorted((a for a in alerts.values() if a.known), key=lambda a: a.starts_at)
        if named and named[0].node:
            state = replace(state, target=named[0].node)
            retargeted = True
    state = replace(state, alerts=alerts, scope=_union_scope(alerts.values()),
                    started_at=min(a.starts_at for a in alerts.values()))
    after = {s["node"] for s in state.symptoms()}
    added = tuple(sorted(after - before - {state.target}))
    firing = any(a.firing for a in alerts.values())
    resolved = reopened = False
    if state.status == "open" and not firing:
        ends = [a.ends_at for a in alerts.values() if a.ends_at]
        state = replace(state, status="resolved", resolved_at=max(ends, default=now))
        resolved = True
    elif state.status == "resolved" and firing:
        state = replace(state, status="open", resolved_at=None)
        reopened = True
    return state, Outcome(opened=opened, added=added, retargeted=retargeted, resolved=resolved,
                          reopened=reopened, changed=changed or resolved or reopened)


def _union_scope(alerts: Any) -> Scope | None:
    merged: dict[str, set[str]] = {}
    for alert in alerts:
        for label, values in (alert.doc.get("scope") or {}).items():
            merged.setdefault(label, set()).update(values)
    return scope_from_dict({k: sorted(v) for k, v in merged.items()}) if merged else None

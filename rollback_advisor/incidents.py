"""Incidents as a service: alerts in, the incident updated, the advice kept with it (DESIGN §7).

``IncidentDesk`` is what the hook endpoint, the API and the CLI call. It applies alert batches
through the store (``store/incidents.py``), and when the lifecycle says so (the incident opened,
a symptom was added, the target became a known node) it computes the advice with the same
``Advisor`` as ``recommend``, stores it in the incident's history and hands it to ``on_advice``
(the place where posting to Slack plugs in). Computing advice never fails the caller: a missing
graph, an unknown target or a store error while advising is stored as the entry's error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .advisor import Advice, Advisor
from .alerts import AlertBatch
from .errors import AdvisorError, InvalidInput, NotFound
from .graph import DependencyGraph
from .incident_state import AlertState, IncidentState
from .models import Incident, check_text
from .store import Store
from .store.incidents import AdviceEntry, Applied, IncidentRecord, IncidentTables

log = logging.getLogger("rollback_advisor.incidents")

AdviceListener = Callable[[IncidentRecord, AdviceEntry], None]
"""Called after an advice entry is stored (``web/incident_posting.on_advice``). It must not
block for long; whatever it raises is logged and otherwise ignored."""


def no_listener(incident: IncidentRecord, entry: AdviceEntry) -> None:
    """The default: nothing is posted anywhere."""


class IncidentDesk:
    """Opens, updates and resolves incidents and keeps their advice history."""

    def __init__(self, store: Store, advisor: Callable[[], Advisor], *,
                 default_environment: str, on_advice: AdviceListener = no_listener,
                 advise: Callable[[Incident], Advice] | None = None) -> None:
        """``advise`` computes an incident's advice (default: the advisor's own); the service
        passes one that pulls the sources on the incident's paths first (issue #12)."""
        self.tables = IncidentTables(store)
        self._advisor = advisor
        self._advise = advise or (lambda incident: self._advisor().advise(incident))
        self.default_environment = default_environment
        self.on_advice = on_advice

    def receive(self, *, hook_id: str | None, batch: AlertBatch,
                delivery: dict[str, Any] | None = None) -> Applied:
        """Apply one delivery's alerts; advise when the lifecycle asks for it."""
        applied = self.tables.apply(hook_id=hook_id, batch=batch, graph=self._graph(),
                                    default_environment=self.default_environment,
                                    delivery=delivery)
        # what this delivery triggers, or what an earlier one owed and never stored (its
        # worker killed between the delivery and the advice): made good exactly once
        record = applied.incident
        if record is not None and record.advice_due is not None:
            self.advise(record, record.advice_due, claim=True)
        return applied

    def open(self, incident: Incident, *, title: str | None = None) -> IncidentRecord:
        """Open an incident by hand (``incidents open``, ``POST /api/v1/incidents``)."""
        if title is not None:
            check_text(title, "title", 512)
        graph = self._graph()
        nodes = [(incident.target, incident.started_at),
                 *((s.node, s.started_at) for s in incident.symptoms)]
        alerts = {}
        for node, started in nodes:
            check_text(node, "target", 512)
            alerts[f"manual:{node}"] = AlertState(
                f"manual:{node}", node, _known(graph, node), True, started, None,
                {"name": node, "labels": {}, "summary": "opened by hand"})
        state = IncidentState(target=incident.target, environment=incident.environment,
                              started_at=incident.earliest_onset, scope=incident.scope,
                              alerts=alerts)
        record = self.tables.open_manual(state, title=title)
        self.advise(record, "opened")
        return record

    def resolve(self, incident_id: int) -> IncidentRecord:
        return self.tables.resolve(incident_id)

    def advise(self, record: IncidentRecord, trigger: str, *, claim: bool = False
               ) -> AdviceEntry:
        """Compute, store and announce the advice for ``record`` now; never raises. With
        ``claim``, only the caller that clears the incident's owed advice stores and announces
        it (``IncidentTables.add_advice``)."""
        now = datetime.now(UTC)
        try:
            advice = self._advise(record.state.incident())
            body = advice.to_dict()
            rec = advice.recommendation
            entry = AdviceEntry(record.id, now, trigger, rec.decision.value,
                                round(rec.confidence, 4),
                                rec.suspect.change.id if rec.suspect else None, advice=body,
                                live=advice)
        except AdvisorError as exc:
            entry = AdviceEntry(record.id, now, trigger, error=exc.message)
        except Exception as exc:  # noqa: BLE001 - the delivery must still succeed
            log.exception("advice for incident %s failed", record.id)
            entry = AdviceEntry(record.id, now, trigger,
                                error=f"unexpected error computing the advice "
                                      f"({type(exc).__name__})")
        try:
            if not self.tables.add_advice(entry, claim=claim):
                return entry  # a racing delivery stored it
        except AdvisorError as exc:
            log.error("could not store the advice of incident %s: %s", record.id, exc.message)
            return entry
        try:
            self.on_advice(record, entry)
        except Exception:  # noqa: BLE001 - posting must never fail the caller
            log.exception("on_advice for incident %s failed", record.id)
        return entry

    def _graph(self) -> DependencyGraph | None:
        try:
            return self._advisor().graph()
        except (NotFound, InvalidInput):
            return None


def incident_number(text: str) -> int:
    """An incident id as typed or in a path; NotFound for anything no incident has."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise NotFound(f"no incident {text[:40]!r} (incident ids are numbers)")
    return int(text)


def _known(graph: DependencyGraph | None, node: str) -> bool:
    if graph is None:
        return False
    try:
        graph.resolve(node)
    except NotFound:
        return False
    return True

"""Recording a responder's verdict on an incident: one path for the API, the CLI and Slack.

Checks, in order: the incident exists (NotFound), the change it names is stored (NotFound),
and the change was among the incident's suspects in some advice of its history (Conflict).
The last is required, not advisory: the priors learn "of the changes the engine ranked, which
turned out to be the culprit" (``learning.py``), so a verdict on a change the engine never
ranked would teach a rate the ranking never faced.

A ``no_change`` verdict also marks the top suspect of the incident's latest advice
``not_culprit``: a ``no_change`` verdict names no change, so by itself it teaches no
(kind, source) (``learning.py``), yet the change the advice blamed was blamed wrongly. Each
recorded verdict is handed to ``on_verdict`` (where the Slack message update plugs in).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .errors import Conflict, NotFound
from .store import Store
from .store.incidents import AdviceEntry, IncidentRecord, IncidentTables
from .store.verdicts import VerdictStore
from .verdicts import Verdict, VerdictKind

log = logging.getLogger("rollback_advisor.verdicts")

VerdictListener = Callable[[IncidentRecord, Verdict], None]
"""Called after a verdict is stored (``web/incident_posting.on_verdict``); must return
quickly; whatever it raises is logged and otherwise ignored."""

IMPLIED_NOTE = "implied by a no_change verdict: the top suspect of the latest advice"


def no_verdict_listener(incident: IncidentRecord, verdict: Verdict) -> None:
    """The default: the verdict is announced nowhere."""


class VerdictDesk:
    """Records verdicts on stored incidents and announces them."""

    def __init__(self, store: Store, *, on_verdict: VerdictListener = no_verdict_listener
                 ) -> None:
        self.store = store
        self.incidents = IncidentTables(store)
        self.verdicts = VerdictStore(store)
        self.on_verdict = on_verdict

    def record(self, incident_id: int, *, change: str | None, verdict: VerdictKind, by: str,
               note: str | None = None, at: datetime | None = None) -> list[Verdict]:
        """Store the verdict (and, for ``no_change``, the implied ``not_culprit``); what was
        stored is returned, the given verdict first. A later verdict on the same
        (incident, change) replaces an earlier one."""
        record = self.incidents.get(incident_id)  # NotFound names the incident
        at = at or datetime.now(UTC)
        given = Verdict(incident=str(incident_id), change=change, verdict=verdict, by=by,
                        at=at, note=note)  # InvalidInput for a verdict at odds with itself
        history = self.incidents.advice_history(incident_id)
        if change is not None:
            if self.store.get_change(change) is None:
                raise NotFound(f"change: {change!r} is not stored (see 'rollback-advisor "
                               "changes')", field="change")
            suspects = suspects_of(history)
            if change not in suspects:
                shown = ", ".join(suspects[:5]) + (", ..." if len(suspects) > 5 else "")
                raise Conflict("change", f"{change!r} is not among incident "
                               f"{incident_id}'s suspects ({shown or 'its advice ranked none'}"
                               "): a verdict judges a change the advice ranked")
        todo = [given]
        top = top_suspect(history) if verdict is VerdictKind.NO_CHANGE else None
        if top is not None and self.store.get_change(top) is not None:
            todo.append(Verdict(incident=str(incident_id), change=top,
                                verdict=VerdictKind.NOT_CULPRIT, by=by, at=at,
                                note=IMPLIED_NOTE))
        stored = [self.verdicts.record(v) for v in todo]
        for v in stored:
            try:
                self.on_verdict(record, v)
            except Exception:  # noqa: BLE001 - announcing must never fail the caller
                log.exception("on_verdict for incident %s failed", incident_id)
        return stored

    def list(self, incident_id: int) -> list[Verdict]:
        """The incident's verdicts (NotFound when there is no such incident)."""
        self.incidents.get(incident_id)
        return self.verdicts.list(str(incident_id))


def _suspect_ids(advice: Any) -> list[str]:
    suspects = advice.get("suspects") if isinstance(advice, dict) else None
    ids = []
    for s in suspects or ():
        change = s.get("change") if isinstance(s, dict) else None
        if isinstance(change, dict) and isinstance(change.get("id"), str):
            ids.append(change["id"])
    return ids


def suspects_of(history: Iterable[AdviceEntry]) -> list[str]:
    """Every change any advice of the history ranked, first appearance first."""
    seen: dict[str, None] = {}
    for entry in history:
        for change_id in _suspect_ids(entry.advice):
            seen.setdefault(change_id)
    return list(seen)


def top_suspect(history: list[AdviceEntry]) -> str | None:
    """The first suspect of the latest advice that was computed (error entries skipped)."""
    for entry in reversed(history):
        if entry.advice is not None:
            ids = _suspect_ids(entry.advice)
            return ids[0] if ids else None
    return None

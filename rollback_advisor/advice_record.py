"""An advice read back from the JSON an incident's history keeps (``Advice.to_dict``).

The incident page and its "copy for Slack" text must show the advice as it was given, not a
recomputation that later changes or verdicts would move; the renderers (``render.py``) work on
``Advice`` objects, so the stored form is turned back into one here. Pure: the changes that a
rollback would also undo, which the stored form names by id only, come from ``lookup``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from .advisor import Advice, SourceFreshness
from .errors import InvalidInput
from .models import (
    Change,
    Decision,
    Ranking,
    Reason,
    Recommendation,
    StackedChange,
    Suspect,
    change_from_dict,
    incident_from_dict,
)
from .timeutil import parse_rfc3339

ChangeLookup = Callable[[Sequence[str]], Mapping[str, Change]]


def advice_from_dict(data: Mapping[str, Any], lookup: ChangeLookup) -> Advice:
    """The ``Advice`` whose ``to_dict()`` gave ``data``; InvalidInput for anything else.
    ``lookup`` fetches the changes ``also_affected`` names (one missing now is left out)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("recommendation"), Mapping):
        raise InvalidInput("advice", data, "a stored advice (recommendation, suspects, ...)")
    incident = incident_from_dict(data.get("incident"))
    suspects = tuple(_suspect(s) for s in data.get("suspects") or ())
    ranking = Ranking(
        incident=incident, suspects=suspects,
        no_change_probability=float(data.get("no_change_probability") or 0.0),
        window=timedelta(hours=float(data.get("window_hours") or 0.0)),
        warnings=tuple(str(w) for w in data.get("warnings") or ()),
        candidates=int(data.get("candidates") or 0),
        unlisted_probability=float(data.get("unlisted_probability") or 0.0),
        no_change_reason=str(data.get("no_change_reason") or ""))
    rec = data["recommendation"]
    by_id = {s.change.id: s for s in suspects}
    stacked = [(str(a["id"]), str(a.get("why", ""))) for a in rec.get("also_affected") or ()]
    known = {i: s.change for i, s in by_id.items()}
    missing = [i for i, _ in stacked if i not in known]
    if missing:
        known.update(lookup(missing))
    also = tuple(StackedChange(known[i], why) for i, why in stacked if i in known)
    recommendation = Recommendation(
        decision=Decision(rec["decision"]), confidence=float(rec.get("confidence") or 0.0),
        suspect=by_id.get(rec.get("change_id") or ""),
        rollback_target=rec.get("rollback_target"),
        reasons=tuple(str(r) for r in rec.get("reasons") or ()), also_affected=also,
        next_questions=tuple(str(q) for q in rec.get("next_questions") or ()))
    sources = tuple(_source(s) for s in data.get("sources") or ())
    return Advice(ranking, recommendation, sources)


def _suspect(data: Mapping[str, Any]) -> Suspect:
    score = data.get("score")
    return Suspect(change=change_from_dict(data["change"]), rank=int(data["rank"]),
                   score=math.inf if score is None else float(score),  # stored non-finite
                   probability=float(data.get("probability") or 0.0), hops=data.get("hops"),
                   path=tuple(data.get("path") or ()), after_onset=bool(data.get("after_onset")),
                   unknown_service=bool(data.get("unknown_service")),
                   reasons=tuple(Reason(str(r["factor"]), str(r["text"]),
                                        math.inf if r.get("weight") is None
                                        else float(r["weight"]))
                                 for r in data.get("reasons") or ()))


def _source(data: Mapping[str, Any]) -> SourceFreshness:
    def when(key: str) -> Any:
        return parse_rfc3339(data[key], key) if data.get(key) else None

    return SourceFreshness(source=str(data.get("source")), status=str(data.get("status")),
                           last_success=when("last_success"), last_error=data.get("last_error"),
                           last_error_at=when("last_error_at"), pulled=bool(data.get("pulled")),
                           line=str(data.get("text") or ""))

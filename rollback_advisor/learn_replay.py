"""The learning replay (``rollback-advisor eval --learn``): would the verdicts have helped?

Walks the cases in the order their incidents began (onset, then name), as a team would have
met them. Each case is ranked twice: with the configured priors alone, and with what the
verdicts fed so far have taught. Then the case's expected answer is fed as the responders'
verdicts would have given it, from the learning ranking:

* ``culprit`` on the expected culprit;
* ``not_culprit`` on the top live suspect when it is not the culprit (in a no-change case too);
* ``no_change`` when no change caused it (it names no change, so it teaches no (kind, source):
  see learning.py).

Nothing in a case's ranking has seen its own verdicts. The figures (top-1, decisions, Brier)
compare the two rankings over the same walk; ``worse`` lists the cases whose decision learning
turned from right to wrong, which the model must keep empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from .advisor import Advice, advise, previous_in
from .cases import Case
from .config import Settings
from .evaluate import calibration, rank_of, ranking_metrics
from .learning import LearntPriors, learn_priors
from .verdicts import Verdict, VerdictKind

REPLAY_BY = "replay"


def in_date_order(cases: Sequence[Case]) -> list[Case]:
    return sorted(cases, key=lambda c: (c.incident.started_at, c.name))


def case_verdicts(case: Case, advice: Advice) -> list[Verdict]:
    """What responders would have said of this case, given the advice they saw."""
    at = case.incident.started_at + timedelta(hours=1)
    by_id = {c.id: c for c in case.changes}
    out = []
    if case.culprit is None:
        out.append(Verdict(case.name, None, VerdictKind.NO_CHANGE, REPLAY_BY, at))
    elif case.culprit in by_id:
        culprit = by_id[case.culprit]
        out.append(Verdict(case.name, culprit.id, VerdictKind.CULPRIT, REPLAY_BY, at,
                           kind=culprit.kind, source=culprit.source))
    top = next((s for s in advice.ranking.suspects if not s.after_onset), None)
    if top is not None and top.change.id != case.culprit:
        out.append(Verdict(case.name, top.change.id, VerdictKind.NOT_CULPRIT, REPLAY_BY, at,
                           kind=top.change.kind, source=top.change.source))
    return out


def _row(case: Case, advice: Advice) -> dict[str, Any]:
    ranking = [s.change.id for s in advice.ranking.suspects]
    top = next((s for s in advice.ranking.suspects if not s.after_onset), None)
    rec = advice.recommendation
    return {"rank": rank_of(case.culprit, ranking), "decision": rec.decision.value,
            "confidence": round(rec.confidence, 4),
            "top_probability": top.probability if top else 0.0}


def _summary(cases: Sequence[Case], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    correct = sum(r["decision"] == c.decision.value for c, r in zip(cases, rows, strict=True))
    return {**ranking_metrics((c.culprit, r["rank"]) for c, r in zip(cases, rows, strict=True)),
            "decision_accuracy": round(correct / len(rows), 4) if rows else 0.0,
            "decisions_correct": correct,
            "brier": calibration([(r["top_probability"], r["rank"] == 1) for r in rows])["brier"]}


def replay(cases: Sequence[Case], settings: Settings) -> dict[str, Any]:
    """Walk the cases in date order, learning as it goes; both rankings' figures."""
    engine = settings.engine
    walk = in_date_order(cases)
    fed: list[Verdict] = []
    without: list[dict[str, Any]] = []
    learnt: list[dict[str, Any]] = []
    per_case: list[dict[str, Any]] = []
    for case in walk:
        previous = previous_in(case.changes)
        priors: LearntPriors = learn_priors(fed, engine.learned_prior_bounds,
                                            engine.learned_prior_strength)
        plain = advise(case.changes, case.graph, case.incident, settings, previous)
        taught = advise(case.changes, case.graph, case.incident, settings, previous, priors)
        a, b = _row(case, plain), _row(case, taught)
        without.append(a)
        learnt.append(b)
        per_case.append({"name": case.name, "started_at": case.incident.started_at.isoformat(),
                         "culprit": case.culprit, "expected_decision": case.decision.value,
                         "without": {k: a[k] for k in ("rank", "decision", "confidence")},
                         "with": {k: b[k] for k in ("rank", "decision", "confidence")},
                         "verdicts_before": len(fed)})
        fed.extend(case_verdicts(case, taught))
    final = learn_priors(fed, engine.learned_prior_bounds, engine.learned_prior_strength)
    worse = [p["name"] for p in per_case
             if p["without"]["decision"] == p["expected_decision"] != p["with"]["decision"]]
    better = [p["name"] for p in per_case
              if p["with"]["decision"] == p["expected_decision"] != p["without"]["decision"]]
    return {"cases": len(walk), "verdicts": len(fed),
            "without": _summary(walk, without), "with": _summary(walk, learnt),
            "decisions_better": better, "decisions_worse": worse,
            "priors": [p.to_dict() for p in final.values()], "per_case": per_case}

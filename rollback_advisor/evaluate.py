"""The benchmark (DESIGN §3): score ranking and decisions on case files against two baselines.

Baselines see the same candidates as the engine (the incident's environment and window), so the
comparison measures the model, not the filtering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .advisor import advise, previous_in
from .cases import Case
from .config import Settings
from .engine import CandidateFilter, candidate_of
from .models import Change

Baseline = Callable[[Case, Sequence[Change]], list[str]]


def candidates(case: Case, settings: Settings) -> list[Change]:
    """The changes any ranker may consider: the engine's own filter (environment, window, and
    the failing nodes' older history)."""
    admits = CandidateFilter(case.graph, case.incident, settings.engine).admits
    return [c for c in case.changes if admits(candidate_of(c))]


def _recency_key(case: Case) -> Callable[[Change], tuple[Any, ...]]:
    onset = case.incident.started_at

    def key(change: Change) -> tuple[Any, ...]:
        after = change.effective_start > onset
        return (after, abs((onset - change.at).total_seconds()), change.id)

    return key


def recency_baseline(case: Case, changes: Sequence[Change]) -> list[str]:
    """Newest before the onset first; changes after it last."""
    return [c.id for c in sorted(changes, key=_recency_key(case))]


def same_service_baseline(case: Case, changes: Sequence[Change]) -> list[str]:
    """Changes to the target's own service first, then by recency."""
    owner = case.graph.owner(case.graph.resolve(case.incident.target))
    key = _recency_key(case)
    return [c.id for c in sorted(changes, key=lambda c: (owner not in c.services, *key(c)))]


BASELINES: dict[str, Baseline] = {"recency": recency_baseline,
                                  "same_service": same_service_baseline}


@dataclass(frozen=True)
class CaseResult:
    name: str
    culprit: str | None
    rank: int | None
    decision: str
    expected_decision: str
    confidence: float
    ranking: list[str]
    top_probability: float  # the first live suspect's, for calibration (not in per_case)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "culprit": self.culprit, "rank": self.rank,
                "decision": self.decision, "expected_decision": self.expected_decision,
                "confidence": round(self.confidence, 4), "ranking": self.ranking}


def rank_of(culprit: str | None, ranking: Sequence[str]) -> int | None:
    if culprit is None or culprit not in ranking:
        return None
    return list(ranking).index(culprit) + 1


def ranking_metrics(pairs: Iterable[tuple[str | None, int | None]]) -> dict[str, float]:
    """top1, top3 and MRR over the cases that have a culprit."""
    ranks = [r for culprit, r in pairs if culprit is not None]
    if not ranks:
        return {"top1": 0.0, "top3": 0.0, "mrr": 0.0}
    n = len(ranks)
    return {"top1": round(sum(r == 1 for r in ranks) / n, 4),
            "top3": round(sum(r is not None and r <= 3 for r in ranks) / n, 4),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4)}


RELIABILITY_BINS = 5


def calibration(outcomes: Sequence[tuple[float, bool]]) -> dict[str, Any]:
    """Does the top suspect's probability mean what it says? The Brier score of "the top
    suspect is the culprit" (0 is perfect; always saying 0.5 scores 0.25; in a case no change
    caused, any top suspect is wrong) and a reliability table: predicted against observed, in
    equal-width bins of the predicted probability."""
    if not outcomes:
        return {"brier": 0.0, "reliability": []}
    brier = sum((p - hit) ** 2 for p, hit in outcomes) / len(outcomes)
    table = []
    for b in range(RELIABILITY_BINS):
        lo, hi = b / RELIABILITY_BINS, (b + 1) / RELIABILITY_BINS
        inside = [(p, hit) for p, hit in outcomes
                  if lo <= p < hi or (b == RELIABILITY_BINS - 1 and p == hi)]
        if inside:
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "cases": len(inside),
                          "predicted": round(sum(p for p, _ in inside) / len(inside), 4),
                          "observed": round(sum(h for _, h in inside) / len(inside), 4)})
    return {"brier": round(brier, 4), "reliability": table}


def evaluate(cases: Sequence[Case], settings: Settings) -> dict[str, Any]:
    """Run the engine and the baselines on every case; the DESIGN §3 result object."""
    results: list[CaseResult] = []
    baseline_ranks: dict[str, list[tuple[str | None, int | None]]] = {n: [] for n in BASELINES}
    for case in cases:
        advice = advise(case.changes, case.graph, case.incident, settings,
                        previous_in(case.changes))
        ranking = [s.change.id for s in advice.ranking.suspects]
        rec = advice.recommendation
        top = next((s for s in advice.ranking.suspects if not s.after_onset), None)
        results.append(CaseResult(case.name, case.culprit, rank_of(case.culprit, ranking),
                                  rec.decision.value, case.decision.value, rec.confidence,
                                  ranking, top.probability if top else 0.0))
        pool = candidates(case, settings)
        for name, baseline in BASELINES.items():
            baseline_ranks[name].append((case.culprit,
                                         rank_of(case.culprit, baseline(case, pool))))
    correct = sum(r.decision == r.expected_decision for r in results)
    return {
        "cases": len(results),
        **ranking_metrics((r.culprit, r.rank) for r in results),
        "decision_accuracy": round(correct / len(results), 4) if results else 0.0,
        **calibration([(r.top_probability, r.rank == 1) for r in results]),
        "per_case": [r.to_dict() for r in results],
        "baselines": {name: ranking_metrics(pairs) for name, pairs in baseline_ranks.items()},
    }

"""Learnt priors: what responders' verdicts say about each (kind, source) of change.

The engine's prior for a change is the configured ``kind_prior``; verdicts multiply it by a
factor learnt per (kind, source) (deploys from github, configs from argocd, ...), so a source
whose changes keep turning out to be the culprit weighs more, and one that keeps being blamed
wrongly weighs less.

What a verdict observes: a change that was a suspect, and whether it was the culprit. Were the
configured priors right, the engine's probabilities would be calibrated the same way for every
kind and source, so the culprit rate among judged suspects would be the same in every group:
the pooled rate. A group above it is under-weighted by its configured prior, one below it
over-weighted. With ``c_g`` culprit and ``n_g`` not_culprit verdicts in group ``g`` and
``C``, ``N`` their totals over every group:

    p̄   = (C + 1) / (C + N + 2)                      pooled culprit rate (Laplace)
    p_g = (c_g + k p̄) / (c_g + n_g + k)              Beta(k p̄, k (1 - p̄)) prior, posterior mean
    m_g = clamp( p_g / p̄ ,  lo, hi )                   the multiplier on the configured prior

The Beta-Binomial prior is centred on the pooled rate with ``k`` pseudo-verdicts
(``engine.learned_prior_strength``): a group with few verdicts stays near x1 (the configured
prior), and one with many moves towards its own rate. The multiplier is the ratio of rates
(how much likelier a judged change of this group is the culprit than a judged change in
general), not of odds: it saturates as rates approach 1, which keeps a run of correct answers
from inflating the confidence the policy thresholds. ``lo`` and ``hi``
(``engine.learned_prior_bounds``, default x0.25 to x4) bound it whatever the history.

Which verdicts count: ``culprit`` and ``not_culprit`` on a change count for its (kind, source),
copied when the verdict was recorded. A ``no_change`` verdict names no change; which changes
were suspects then is the incident's business, not the verdict's, so it teaches no group by
itself: the responder (or the replay benchmark) marks the blamed suspects ``not_culprit``. Of
several verdicts on one (incident, change) only the latest counts (the store keeps one; here
ties in time break on the verdict's content, so the order of the input never matters).

Properties: no verdicts, no factors (the configured priors exactly); a group without verdicts
gets exactly x1; the factors depend on the counts alone, so the same history in any order gives
the same factors. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import InvalidInput
from .models import ChangeKind
from .verdicts import Verdict, VerdictKind

DEFAULT_BOUNDS = (0.25, 4.0)
DEFAULT_STRENGTH = 5.0

PriorKey = tuple[ChangeKind, "str | None"]


@dataclass(frozen=True, slots=True)
class LearntPrior:
    """One (kind, source)'s verdict counts and the multiplier they earn."""

    kind: ChangeKind
    source: str | None
    culprit: int
    not_culprit: int
    factor: float

    @property
    def verdicts(self) -> int:
        return self.culprit + self.not_culprit

    def describe(self) -> str:
        """The reasons' words: "deploys from github: the culprit in 3 of 11 past verdicts"."""
        return (f"{group_name(self.kind, self.source)}: the culprit in {self.culprit} of "
                f"{self.verdicts} past verdict{'s' if self.verdicts != 1 else ''}")

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "source": self.source, "culprit": self.culprit,
                "not_culprit": self.not_culprit, "factor": round(self.factor, 4)}


LearntPriors = Mapping[PriorKey, LearntPrior]

_PLURAL = {ChangeKind.DEPLOY: "deploys", ChangeKind.ROLLBACK: "rollbacks",
           ChangeKind.MIGRATION: "migrations", ChangeKind.CONFIG: "config changes",
           ChangeKind.FEATURE_FLAG: "flag changes",
           ChangeKind.INFRASTRUCTURE: "infrastructure changes",
           ChangeKind.PROVIDER: "provider changes", ChangeKind.CERTIFICATE: "certificate expiries"}


def group_name(kind: ChangeKind, source: str | None) -> str:
    return f"{_PLURAL[kind]} from {source}" if source else f"{_PLURAL[kind]} of no known source"


def check_bounds(bounds: object, field: str = "engine.learned_prior_bounds") -> tuple[float, float]:
    """``[lo, hi]`` with 0 < lo <= 1 <= hi: the configured prior must stay reachable."""
    if (not isinstance(bounds, list | tuple) or len(bounds) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)):
        raise InvalidInput(field, bounds, "[low, high], two numbers")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0 < lo <= 1 <= hi < float("inf"):
        raise InvalidInput(field, bounds, "0 < low <= 1 <= high (finite)")
    return lo, hi


def latest(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """One verdict per (incident, change): the latest, ties broken on content, in key order."""
    best: dict[tuple[str, str], Verdict] = {}
    for v in verdicts:
        key = (v.incident, v.change or "")
        held = best.get(key)
        if held is None or _order(v) > _order(held):
            best[key] = v
    return [best[k] for k in sorted(best)]


def _order(v: Verdict) -> tuple[object, ...]:
    return (v.at, v.verdict.value, v.by, v.note or "", v.kind.value if v.kind else "",
            v.source or "")


def learn_priors(verdicts: Iterable[Verdict], bounds: tuple[float, float] = DEFAULT_BOUNDS,
                 strength: float = DEFAULT_STRENGTH) -> dict[PriorKey, LearntPrior]:
    """The multiplier of every (kind, source) some verdict names (see the module docstring)."""
    lo, hi = check_bounds(bounds)
    if strength <= 0:
        raise InvalidInput("engine.learned_prior_strength", strength, "a number > 0")
    counts: dict[PriorKey, list[int]] = {}
    for v in latest(verdicts):
        if v.kind is None or v.verdict is VerdictKind.NO_CHANGE:
            continue
        pair = counts.setdefault((v.kind, v.source), [0, 0])
        pair[0 if v.verdict is VerdictKind.CULPRIT else 1] += 1
    if not counts:
        return {}
    total_c = sum(c for c, _ in counts.values())
    total_n = sum(n for _, n in counts.values())
    pooled = (total_c + 1) / (total_c + total_n + 2)
    out = {}
    for (kind, source), (c, n) in sorted(counts.items(), key=lambda item: _sort_key(item[0])):
        rate = (c + strength * pooled) / (c + n + strength)
        out[(kind, source)] = LearntPrior(kind, source, c, n, min(max(rate / pooled, lo), hi))
    return out


def _sort_key(key: PriorKey) -> tuple[str, str]:
    return key[0].value, key[1] or ""


def factors(priors: LearntPriors) -> dict[PriorKey, float]:
    """Just the multipliers, as the engine's numeric pass reads them."""
    return {key: p.factor for key, p in priors.items()}

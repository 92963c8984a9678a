"""The correlation engine: rank candidate changes as hypotheses for an incident's cause.

Each candidate change ``c`` is a hypothesis with a score

    s_c = prior(kind) x risk(status, destructiveness, breadth) x f_time(Δ | kind) x g(graph)

beside a "no change explains this" hypothesis with its own base score ``s_0``. Normalising
``s_c / (s_0 + Σ s)`` gives each suspect's probability; the policy thresholds it.

* ``f_time`` is a density over the lag Δ between a change taking effect and the onset: a
  short exponential (most culprits land minutes before) mixed with a log-uniform tail (capacity
  additions and slow propagation land hours or weeks before). Both parts fall with Δ, so closer
  always ranks higher, yet a change from yesterday is not written off.
* ``g`` falls with dependency hops from the failing endpoint and is small, not zero, for changes
  off the path (graphs are never complete): reachable > unknown node > caller > unrelated.
* A change that began after the onset (beyond the clock-skew allowance) cannot have caused it:
  it is listed after every live change, marked, and holds no probability.

Scores depend only on the change, the incident and the graph, never on the other candidates, so
adding an unrelated change cannot reorder the rest. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .graph import DependencyGraph, Reach
from .models import Change, ChangeKind, ChangeStatus, Incident, Ranking, Reason, Suspect
from .sqlrisk import change_text, destructive_operations
from .timeutil import humanize

HOUR = 3600.0


def _kinds(**values: float) -> dict[ChangeKind, float]:
    return {ChangeKind(k): v for k, v in values.items()}


@dataclass(frozen=True)
class EngineSettings:
    """The model's parameters; every one is in config.example.yaml under ``engine:``."""

    window: timedelta = timedelta(hours=24)
    clock_skew: timedelta = timedelta(minutes=2)
    list_after_onset: timedelta = timedelta(hours=2)
    no_change_score: float = 0.1
    kind_prior: Mapping[ChangeKind, float] = field(default_factory=lambda: _kinds(
        deploy=1.0, rollback=0.4, migration=0.8, config=1.0, feature_flag=0.7,
        infrastructure=0.8, provider=1.0, certificate=1.5))
    kind_time_scale_minutes: Mapping[ChangeKind, float] = field(default_factory=lambda: _kinds(
        deploy=20, rollback=15, migration=20, config=30, feature_flag=20, infrastructure=60,
        provider=20, certificate=5))
    tail_weight: float = 0.35
    tail_min: timedelta = timedelta(minutes=1)
    tail_max: timedelta = timedelta(days=30)
    hop_decay: float = 0.8
    hop_floor: float = 0.03
    caller_weight: float = 0.005
    unrelated_weight: float = 0.003
    unknown_node_weight: float = 0.05
    failed_risk: float = 2.0
    partial_risk: float = 1.5
    destructive_risk: float = 3.0
    wide_risk: float = 1.5
    wide_threshold: int = 3
    max_listed: int = 100
    rollout_end_weight: float = 0.5


def rank(changes: Iterable[Change], graph: DependencyGraph, incident: Incident,
         settings: EngineSettings | None = None) -> Ranking:
    """Rank every candidate change of the incident's environment and window.

    Two passes: every candidate gets its number (cheap arithmetic, the whole window feeds the
    normalisation), then only the ``max_listed`` best live ones and every after-onset one are
    explained in words, which is where the time goes on a busy day.
    """
    settings = settings or EngineSettings()
    target = graph.resolve(incident.target)
    onset = incident.started_at
    earliest = onset - settings.window
    latest = onset + settings.list_after_onset
    reach = graph.reach_from(target)
    callers = graph.dependants_of(target)
    scored: list[tuple[tuple[object, ...], Change, float]] = []
    warnings: list[str] = []
    live_total = 0.0
    for change in changes:
        if change.environment != incident.environment:
            continue
        if change.at < earliest or change.effective_start > latest:
            continue
        time_weight, after_onset = _time_weight(change, onset, settings)
        fit = _graph_fit(change, graph, reach, callers, settings)
        if fit.unknown:
            warnings.append(f"{change.id} names {', '.join(fit.unknown)}, not in the "
                            "dependency graph: ranked with a low graph weight")
        score = (settings.kind_prior.get(change.kind, 1.0) * _risk_product(change, settings)
                 * time_weight * fit.weight)
        if not after_onset:
            live_total += score
        # live first, by score; ties by time (closer to onset first), then id
        scored.append(((after_onset, -score, -change.at.timestamp(), change.id), change, score))
    scored.sort(key=lambda item: item[0])
    live = [item for item in scored if not item[0][0]]
    listed = live[: settings.max_listed] + [item for item in scored if item[0][0]]
    denominator = settings.no_change_score + live_total
    suspects = []
    for i, (_, change, score) in enumerate(listed):
        item = _score(change, graph, target, reach, callers, onset, settings)
        suspects.append(Suspect(
            change=change, rank=i + 1, score=score,
            probability=0.0 if item.after_onset else score / denominator, hops=item.hops,
            path=item.path, after_onset=item.after_onset, unknown_service=bool(item.unknown),
            reasons=item.reasons))
    return Ranking(incident=incident, suspects=tuple(suspects),
                   no_change_probability=settings.no_change_score / denominator,
                   window=settings.window, warnings=tuple(warnings), candidates=len(scored),
                   unlisted_probability=sum(score for _, _, score in live[settings.max_listed:])
                   / denominator)


@dataclass
class _Scored:
    change: Change
    score: float
    after_onset: bool
    hops: int | None
    path: tuple[str, ...]
    unknown: list[str]
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class _GraphFit:
    """Where a change sits relative to the target; ``relation`` picks the words."""

    weight: float
    hops: int | None
    path: tuple[str, ...]
    unknown: tuple[str, ...]
    relation: str  # global | reach | unknown | caller | unrelated


def _score(change: Change, graph: DependencyGraph, target: str, reach: Mapping[str, Reach],
           callers: frozenset[str], onset: datetime, settings: EngineSettings) -> _Scored:
    reasons: list[Reason] = []
    prior = settings.kind_prior.get(change.kind, 1.0)
    reasons.append(Reason("prior", f"{change.kind.value.replace('_', ' ')}: base risk {prior:g}",
                          prior))
    time_weight, after_onset = _time_weight(change, onset, settings)
    reasons.append(Reason("time", _time_text(change, onset, settings), time_weight))
    fit = _graph_fit(change, graph, reach, callers, settings)
    reasons.append(Reason("graph", _graph_text(fit, change, graph, target), fit.weight))
    risk = 1.0
    for factor, text in _risks(change, settings):
        risk *= factor
        reasons.append(Reason("risk", text, factor))
    score = prior * risk * time_weight * fit.weight
    return _Scored(change, score, after_onset, fit.hops, fit.path, list(fit.unknown),
                   tuple(reasons))


def time_density(lag_hours: float, kind: ChangeKind, settings: EngineSettings) -> float:
    """f_time: per-hour density of a culprit taking effect ``lag_hours`` before the onset."""
    lo, hi = settings.tail_min.total_seconds() / HOUR, settings.tail_max.total_seconds() / HOUR
    lag = min(max(lag_hours, lo), hi)
    tau = settings.kind_time_scale_minutes.get(kind, 30.0) / 60.0
    near = (1 - settings.tail_weight) * math.exp(-lag / tau) / tau
    tail = settings.tail_weight / (lag * math.log(hi / lo))
    return near + tail


def time_mass(lag_hours: float, kind: ChangeKind, settings: EngineSettings) -> float:
    """F_time: the integral of ``time_density`` from 0 to ``lag_hours`` (closed form)."""
    lo, hi = settings.tail_min.total_seconds() / HOUR, settings.tail_max.total_seconds() / HOUR
    tau = settings.kind_time_scale_minutes.get(kind, 30.0) / 60.0
    w = settings.tail_weight
    x = max(lag_hours, 0.0)
    mass = time_density(lo, kind, settings) * min(x, lo)  # the density is flat below lo
    if x > lo:
        top = min(x, hi)
        mass += (1 - w) * (math.exp(-lo / tau) - math.exp(-top / tau))
        mass += w * math.log(top / lo) / math.log(hi / lo)
    if x > hi:
        mass += time_density(hi, kind, settings) * (x - hi)
    return mass


def _lags(change: Change, onset: datetime, settings: EngineSettings
          ) -> tuple[timedelta, timedelta, bool]:
    """The range of lags at which the change's effect may have reached the target, and
    whether it began after the onset.

    A rollout reaches the failing part at an unknown moment between its start and its end; one
    still in progress (or ending after the onset) may reach it up to the onset itself.
    """
    start = change.effective_start
    if start > onset + settings.clock_skew:
        return timedelta(0), timedelta(0), True
    end = change.at
    if change.status is ChangeStatus.IN_PROGRESS or end > onset:
        end = min(max(end, start), onset) if start <= onset else start
    zero = timedelta(0)
    return max(onset - end, zero), max(onset - start, zero), False


def _time_weight(change: Change, onset: datetime, settings: EngineSettings
                 ) -> tuple[float, bool]:
    """f_time at the change's lag. Over a rollout the effect reached the target either with
    its last stage (often the largest, or the one that tips a shared limit) or at a uniform
    moment of its span: a mixture, weighted by ``rollout_end_weight``."""
    low, high, after = _lags(change, onset, settings)
    lo_h, hi_h = low.total_seconds() / HOUR, high.total_seconds() / HOUR
    at_end = time_density(lo_h, change.kind, settings)
    if hi_h - lo_h < 1 / 60:
        return at_end, after
    mass = time_mass(hi_h, change.kind, settings) - time_mass(lo_h, change.kind, settings)
    w = settings.rollout_end_weight
    return w * at_end + (1 - w) * mass / (hi_h - lo_h), after


def _time_text(change: Change, onset: datetime, settings: EngineSettings) -> str:
    verb = _VERBS.get(change.kind, "took effect")
    low, high, after = _lags(change, onset, settings)
    if after:
        return (f"{verb} {humanize(change.effective_start - onset)} after onset: cannot have "
                "caused it (a mitigation?)")
    if change.status is ChangeStatus.IN_PROGRESS or (change.at > onset
                                                     and change.started_at is not None):
        end = (f"finished {humanize(change.at - onset)} after" if change.at > onset
               else "still in progress")
        return (f"rollout in progress at onset: started {humanize(high)} before, {end}; "
                "it may have reached the target at any point since")
    if change.at > onset:
        return (f"{verb} {humanize(change.at - onset)} after onset, within the "
                f"{humanize(settings.clock_skew)} clock-skew allowance")
    if high - low >= timedelta(minutes=1):
        return f"{verb} {humanize(low)} before onset (rollout began {humanize(high)} before)"
    return f"{verb} {humanize(low)} before onset"


_VERBS = {ChangeKind.DEPLOY: "deployed", ChangeKind.ROLLBACK: "rolled back",
          ChangeKind.MIGRATION: "migration applied", ChangeKind.CONFIG: "config applied",
          ChangeKind.FEATURE_FLAG: "flag changed", ChangeKind.INFRASTRUCTURE: "infrastructure "
          "changed", ChangeKind.PROVIDER: "provider change effective",
          ChangeKind.CERTIFICATE: "certificate expired"}


def hop_weight(hops: int, settings: EngineSettings) -> float:
    """g for a node the target reaches in ``hops``: strictly falling, above every off-path g."""
    return settings.hop_floor + (1 - settings.hop_floor) * settings.hop_decay ** hops


def _graph_fit(change: Change, graph: DependencyGraph, reach: Mapping[str, Reach],
               callers: frozenset[str], settings: EngineSettings) -> _GraphFit:
    """g: reachable by hops > unknown node > caller of the target > unrelated."""
    if change.is_global or not graph.global_nodes.isdisjoint(change.services):
        return _GraphFit(hop_weight(1, settings), 1, (), (), "global")
    best: Reach | None = None
    for service in change.services:
        r = reach.get(service)
        if r is not None and (best is None or r.hops < best.hops):
            best = r
    unknown = tuple(s for s in change.services if s not in graph.declared)
    if best is not None:
        return _GraphFit(hop_weight(best.hops, settings), best.hops, best.path, unknown,
                         "reach")
    if unknown and len(unknown) == len(change.services):
        return _GraphFit(settings.unknown_node_weight, None, (), unknown, "unknown")
    if not callers.isdisjoint(change.services):
        return _GraphFit(settings.caller_weight, None, (), unknown, "caller")
    return _GraphFit(settings.unrelated_weight, None, (), unknown, "unrelated")


def _graph_text(fit: _GraphFit, change: Change, graph: DependencyGraph, target: str) -> str:
    if fit.relation == "global":
        what = "every service" if change.is_global else ", ".join(
            s for s in change.services if s in graph.global_nodes) + " (shared infrastructure)"
        return f"global change: reaches {what}, so the target too (counted as 1 hop)"
    if fit.relation == "reach":
        if fit.hops == 0:
            return f"changes {graph.owner(target)}, the target's own service"
        return f"{fit.hops} hop{'s' if fit.hops != 1 else ''}: {' -> '.join(fit.path)}"
    names = ", ".join(fit.unknown if fit.relation == "unknown" else change.services)
    if fit.relation == "unknown":
        return f"{names} not in the dependency graph: distance unknown"
    if fit.relation == "caller":
        return f"{names} calls the target: a dependant, not a dependency"
    return f"the target does not depend on {names}"


def _risk_product(change: Change, settings: EngineSettings) -> float:
    """The risk factors' product without their words; only risky changes pay for _risks."""
    if (change.status is ChangeStatus.SUCCEEDED and change.kind in _PLAIN_KINDS
            and "rollout_percentage" not in change.details):
        return 1.0
    product = 1.0
    for factor, _ in _risks(change, settings):
        product *= factor
    return product


_PLAIN_KINDS = frozenset({ChangeKind.DEPLOY, ChangeKind.ROLLBACK, ChangeKind.PROVIDER,
                          ChangeKind.CERTIFICATE})


def _risks(change: Change, settings: EngineSettings) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    if change.status is ChangeStatus.FAILED:
        out.append((settings.failed_risk, "rollout failed: a partial or broken state"))
    else:
        pct = change.details.get("rollout_percentage")
        partial = isinstance(pct, int | float) and 0 < pct < 100
        if change.status is ChangeStatus.IN_PROGRESS or partial:
            what = f"at {pct:g}%" if partial else "still in progress"
            out.append((settings.partial_risk, f"partial rollout ({what}): mixed versions live"))
    if change.kind is ChangeKind.MIGRATION:
        ops = destructive_operations(change_text(change.summary, change.details))
        if ops:
            out.append((settings.destructive_risk,
                        f"migration {', '.join(ops)}: destructive, irreversible"))
        elif change.reversible is False:
            out.append((settings.destructive_risk, "migration marked irreversible"))
    breadth = len(change.services)
    if change.kind in (ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.INFRASTRUCTURE) \
            and (change.is_global or breadth >= settings.wide_threshold):
        scope = "every service" if change.is_global else f"{breadth} services"
        out.append((settings.wide_risk, f"wide {change.kind.value.replace('_', ' ')} push: "
                                        f"{scope} at once"))
    return out

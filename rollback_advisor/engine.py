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

from .graph import DependencyGraph
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
    tail_weight: float = 0.25
    tail_min: timedelta = timedelta(minutes=1)
    tail_max: timedelta = timedelta(days=30)
    hop_decay: float = 0.55
    hop_floor: float = 0.03
    caller_weight: float = 0.02
    unrelated_weight: float = 0.01
    unknown_node_weight: float = 0.05
    failed_risk: float = 2.0
    partial_risk: float = 1.5
    destructive_risk: float = 3.0
    wide_risk: float = 1.5
    wide_threshold: int = 3


def rank(changes: Iterable[Change], graph: DependencyGraph, incident: Incident,
         settings: EngineSettings | None = None) -> Ranking:
    """Rank every candidate change of the incident's environment and window."""
    settings = settings or EngineSettings()
    target = graph.resolve(incident.target)
    onset = incident.started_at
    earliest = onset - settings.window
    latest = onset + settings.list_after_onset
    reach = graph.reach_from(target)
    callers = graph.dependants_of(target)
    scored: list[tuple[tuple[object, ...], _Scored]] = []
    warnings: list[str] = []
    for change in changes:
        if change.environment != incident.environment:
            continue
        if change.at < earliest or change.effective_start > latest:
            continue
        item = _score(change, graph, target, reach, callers, onset, settings)
        if item.unknown:
            warnings.append(f"{change.id} names {', '.join(item.unknown)}, not in the "
                            "dependency graph: ranked with a low graph weight")
        # live first, by score; ties by time (closer to onset first), then id
        key = (item.after_onset, -item.score, -change.at.timestamp(), change.id)
        scored.append((key, item))
    scored.sort(key=lambda pair: pair[0])
    live_total = sum(item.score for _, item in scored if not item.after_onset)
    denominator = settings.no_change_score + live_total
    suspects = tuple(
        Suspect(change=item.change, rank=i + 1, score=item.score,
                probability=0.0 if item.after_onset else item.score / denominator,
                hops=item.hops, path=item.path, after_onset=item.after_onset,
                unknown_service=bool(item.unknown), reasons=item.reasons)
        for i, (_, item) in enumerate(scored)
    )
    return Ranking(incident=incident, suspects=suspects,
                   no_change_probability=settings.no_change_score / denominator,
                   window=settings.window, warnings=tuple(warnings))


@dataclass
class _Scored:
    change: Change
    score: float
    after_onset: bool
    hops: int | None
    path: tuple[str, ...]
    unknown: list[str]
    reasons: tuple[Reason, ...]


def _score(change: Change, graph: DependencyGraph, target: str, reach: Mapping[str, object],
           callers: frozenset[str], onset: datetime, settings: EngineSettings) -> _Scored:
    reasons: list[Reason] = []
    prior = settings.kind_prior.get(change.kind, 1.0)
    reasons.append(Reason("prior", f"{change.kind.value.replace('_', ' ')}: base risk {prior:g}",
                          prior))
    time_weight, after_onset, time_text = _time(change, onset, settings)
    reasons.append(Reason("time", time_text, time_weight))
    graph_weight, hops, path, unknown, graph_text = _graph(change, graph, target, reach, callers,
                                                           settings)
    reasons.append(Reason("graph", graph_text, graph_weight))
    risk = 1.0
    for factor, text in _risks(change, settings):
        risk *= factor
        reasons.append(Reason("risk", text, factor))
    score = prior * risk * time_weight * graph_weight
    return _Scored(change, score, after_onset, hops, path, unknown, tuple(reasons))


def time_density(lag_hours: float, kind: ChangeKind, settings: EngineSettings) -> float:
    """f_time: per-hour density of a culprit taking effect ``lag_hours`` before the onset."""
    lo, hi = settings.tail_min.total_seconds() / HOUR, settings.tail_max.total_seconds() / HOUR
    lag = min(max(lag_hours, lo), hi)
    tau = settings.kind_time_scale_minutes.get(kind, 30.0) / 60.0
    near = (1 - settings.tail_weight) * math.exp(-lag / tau) / tau
    tail = settings.tail_weight / (lag * math.log(hi / lo))
    return near + tail


def _time(change: Change, onset: datetime, settings: EngineSettings) -> tuple[float, bool, str]:
    verb = _VERBS.get(change.kind, "took effect")
    start = change.effective_start
    if start > onset + settings.clock_skew:
        after = humanize(start - onset)
        return (time_density(0.0, change.kind, settings), True,
                f"{verb} {after} after onset: cannot have caused it (a mitigation?)")
    if change.at > onset and change.started_at is not None:
        lag = max(onset - start, timedelta(0))
        return (time_density(lag.total_seconds() / HOUR, change.kind, settings), False,
                f"rollout in progress at onset: started {humanize(lag)} before, finished "
                f"{humanize(change.at - onset)} after")
    lag = onset - change.at
    if lag < timedelta(0):
        text = f"{verb} {humanize(lag)} after onset, within the {humanize(settings.clock_skew)}" \
               " clock-skew allowance"
        lag = timedelta(0)
    else:
        text = f"{verb} {humanize(lag)} before onset"
    return time_density(lag.total_seconds() / HOUR, change.kind, settings), False, text


_VERBS = {ChangeKind.DEPLOY: "deployed", ChangeKind.ROLLBACK: "rolled back",
          ChangeKind.MIGRATION: "migration applied", ChangeKind.CONFIG: "config applied",
          ChangeKind.FEATURE_FLAG: "flag changed", ChangeKind.INFRASTRUCTURE: "infrastructure "
          "changed", ChangeKind.PROVIDER: "provider change effective",
          ChangeKind.CERTIFICATE: "certificate expired"}


def hop_weight(hops: int, settings: EngineSettings) -> float:
    """g for a node the target reaches in ``hops``: strictly falling, above every off-path g."""
    return settings.hop_floor + (1 - settings.hop_floor) * settings.hop_decay ** hops


def _graph(change: Change, graph: DependencyGraph, target: str, reach: Mapping[str, object],
           callers: frozenset[str], settings: EngineSettings
           ) -> tuple[float, int | None, tuple[str, ...], list[str], str]:
    if change.is_global or any(s in graph.global_nodes for s in change.services):
        what = "every service" if change.is_global else ", ".join(
            s for s in change.services if s in graph.global_nodes) + " (shared infrastructure)"
        return (hop_weight(1, settings), 1, (target, "*"), [],
                f"global change: reaches {what}, so the target too (counted as 1 hop)")
    best: tuple[int, tuple[str, ...]] | None = None
    for service in change.services:
        r = reach.get(service)
        if r is not None and (best is None or r.hops < best[0]):  # type: ignore[attr-defined]
            best = (r.hops, r.path)  # type: ignore[attr-defined]
    unknown = [s for s in change.services if not graph.is_declared(s)]
    if best is not None:
        hops, path = best
        if hops == 0:
            text = f"changes {graph.owner(target)}, the target's own service"
        else:
            text = f"{hops} hop{'s' if hops > 1 else ''}: {' -> '.join(path)}"
        return hop_weight(hops, settings), hops, path, unknown, text
    if unknown and len(unknown) == len(change.services):
        return (settings.unknown_node_weight, None, (), unknown,
                f"{', '.join(unknown)} not in the dependency graph: distance unknown")
    if any(s in callers for s in change.services):
        return (settings.caller_weight, None, (), unknown,
                f"{', '.join(change.services)} calls the target: a dependant, not a dependency")
    return (settings.unrelated_weight, None, (), unknown,
            f"the target does not depend on {', '.join(change.services)}")


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

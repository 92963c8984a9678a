"""The correlation engine: rank candidate changes as hypotheses for an incident's cause.

Each candidate change ``c`` is a hypothesis with a score

    s_c = prior(kind) x m(kind, source) x risk(status, destructiveness, breadth)
          x f_time(Δ | kind) x g(graph) x common_cause(c) x scope(c)

beside a "no change explains this" hypothesis with its own score
``s_0 = no_change_score x E_0``. Normalising ``s_c / (s_0 + Σ s)`` gives each suspect's
probability; the policy thresholds it.

* ``f_time`` is a density over the lag Δ between a change taking effect and the onset: a
  short exponential (most culprits land minutes before) mixed with a log-uniform tail (capacity
  additions and slow propagation land hours or weeks before). Both parts fall with Δ, so closer
  always ranks higher, yet a change from yesterday is not written off.
* ``g`` falls with dependency hops from the failing endpoint and is small, not zero, for changes
  off the path (graphs are never complete): reachable > unknown node > caller > unrelated.
* ``m`` is the multiplier responders' verdicts taught the change's (kind, source)
  (learning.py: conjugate, shrunk towards x1, bounded); x1 with no verdicts or with
  ``learn_priors`` off, so the configured priors then hold exactly.
* ``common_cause``, ``scope`` and ``E_0`` weigh the other failing nodes and where it fails
  (evidence.py): all 1 for the target alone and no scope. The lag Δ runs to the earliest onset
  among the failing nodes that depend on the change.
* A change that began after the onset (beyond the clock-skew allowance) cannot have caused it:
  it is listed after every live change, marked, and holds no probability.

Scores depend only on the change, the incident and the graph, never on the other candidates, so
adding an unrelated change cannot reorder the rest. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress
from typing import NamedTuple

from .errors import InvalidInput
from .evidence import Evidence, failing_services
from .graph import DependencyGraph, Reach
from .learning import LearntPrior, LearntPriors, check_bounds
from .models import (
    GLOBAL,
    Change,
    ChangeKind,
    ChangeStatus,
    Incident,
    Ranking,
    Reason,
    Scope,
    Suspect,
    scope_to_dict,
)
from .sqlrisk import change_text, destructive_operations
from .timeutil import humanize

HOUR = 3600.0
_exp = math.exp


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
    off_path_nodes: int = 50
    unknown_node_weight: float = 0.05
    failed_risk: float = 2.0
    partial_risk: float = 1.5
    destructive_risk: float = 3.0
    wide_risk: float = 1.5
    wide_threshold: int = 3
    max_listed: int = 25
    rollout_end_weight: float = 0.5
    symptom_leak: float = 0.05
    scope_disjoint: float = 0.02
    scope_match: float = 3.0
    learn_priors: bool = True
    learned_prior_bounds: tuple[float, float] = (0.25, 4.0)
    learned_prior_strength: float = 5.0

    def __post_init__(self) -> None:
        """Refuse learning settings no verdict history could honour (named like the config)."""
        object.__setattr__(self, "learned_prior_bounds", check_bounds(self.learned_prior_bounds))
        if not self.learned_prior_strength > 0:
            raise InvalidInput("engine.learned_prior_strength", self.learned_prior_strength,
                               "a number > 0 (pseudo-verdicts of the configured prior)")


class Candidate(NamedTuple):
    """What the numeric pass reads of a change.

    A store row yields one without decoding the whole change, and ``candidate_of`` derives one
    from a Change; only the suspects that get listed are materialised as Changes.
    """

    id: str
    kind: ChangeKind
    services: tuple[str, ...]
    environment: str
    at: float  # epoch seconds: when it took effect
    start: float  # epoch seconds: when it began to (started_at, else at)
    status: ChangeStatus
    rollout_percentage: float | None
    destructive: bool  # a migration that loses data or is marked irreversible
    scope: str | None = None  # compact JSON of the change's scope; None = unknown
    source: str | None = None  # where it was reported from: learnt priors are per source


def candidate_of(change: Change) -> Candidate:
    pct = change.details.get("rollout_percentage")
    return Candidate(change.id, change.kind, change.services, change.environment,
                     change.at.timestamp(), change.effective_start.timestamp(), change.status,
                     float(pct) if isinstance(pct, int | float) else None,
                     is_destructive(change), scope_key(change.scope), change.source)


def scope_key(scope: Scope | None) -> str | None:
    """A scope as the compact JSON the store keeps (equal scopes, equal keys)."""
    if scope is None:
        return None
    return _SCOPE_JSON(scope_to_dict(scope))


# json.dumps builds an encoder per call when given options: one, built once
_SCOPE_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def is_destructive(change: Change) -> bool:
    """A migration whose SQL drops or rewrites data, or that its source calls irreversible."""
    return change.kind is ChangeKind.MIGRATION and (
        change.reversible is False
        or bool(destructive_operations(change_text(change.summary, change.details))))


Fetch = Callable[[list[str]], Mapping[str, Change]]


def rank(changes: Iterable[Change], graph: DependencyGraph, incident: Incident,
         settings: EngineSettings | None = None, priors: LearntPriors | None = None) -> Ranking:
    """Rank every candidate change of the incident's environment and window; ``priors`` are
    the multipliers verdicts taught (``learning.learn_priors``)."""
    by_id = {c.id: c for c in changes}
    return rank_candidates((candidate_of(c) for c in by_id.values()),
                           lambda ids: {i: by_id[i] for i in ids}, graph, incident, settings,
                           priors)


def rank_candidates(candidates: Iterable[Candidate], fetch: Fetch, graph: DependencyGraph,
                    incident: Incident, settings: EngineSettings | None = None,
                    priors: LearntPriors | None = None,
                    bounds: CandidateFilter | None = None) -> Ranking:
    """Rank candidates; ``fetch`` materialises the changes that get listed; ``bounds``: the
    incident's CandidateFilter when the caller built it already (for the store's queries).

    Two passes: every candidate gets its number (cheap arithmetic; the whole window feeds the
    normalisation), then only the ``max_listed`` best live ones and as many after-onset ones
    are fetched and explained in words, which is where the time goes on a busy day.
    """
    settings = settings or EngineSettings()
    target = graph.resolve(incident.target)
    reach = graph.reach_from(target)
    evidence = Evidence(graph, incident, target, reach, settings,
                        lambda hops: hop_weight(hops, settings))
    bounds = bounds or CandidateFilter(graph, incident, settings)
    callers = graph.dependants_of(target)
    # live candidates as two parallel lists, -score and the candidate: only the few listed
    # become sort tuples (``_best``); after-onset ones, a small minority, are tuples at once
    negatives: list[float] = []
    kept: list[Candidate] = []
    after: list[_Sorted] = []
    warnings = [f"symptom {name} is not in the dependency graph: kept, but it cannot tell "
                "the changes apart" for name in evidence.unknown_symptoms]
    live_total = 0.0
    model = _TimeModel(settings)
    prior = {k: settings.kind_prior.get(k, 1.0) for k in ChangeKind}
    learnt = (priors or {}) if settings.learn_priors else {}
    learnt_factor = {key: p.factor for key, p in learnt.items()}
    fits = _Fits(graph, reach, callers, settings)
    # The common case on a busy day, a change to one known node that no failing node depends
    # on and that calls none of them, is answered by one set lookup: shared answers for g and
    # the common cause. The rest go through ``fits.of`` and ``evidence.common_cause``.
    on_path = frozenset(reach) | callers | graph.global_nodes | {GLOBAL} | evidence.reached_by_any
    declared = graph.declared
    off_path = (fits.unrelated.weight, evidence.unrelated.factor, evidence.unrelated.onset)
    scope_cache = evidence.scope_cache
    learnt_get = learnt_factor.get
    time_of, skew, taus = model.weight, model.skew, model.tau
    lo, hi, head, w, log_span = model.lo, model.hi, model.head, model.w, model.log_span
    at_lo = {k: model.density(0.0, k) for k in ChangeKind}  # after the onset: lag 0
    env, start_at, history_at, end_at, failing = (bounds.environment, bounds.start,
                                                  bounds.history, bounds.end, bounds.failing)
    in_progress, succeeded = ChangeStatus.IN_PROGRESS, ChangeStatus.SUCCEEDED
    wide, push_kinds = settings.wide_threshold, _PUSH_KINDS
    add_negative, keep = negatives.append, kept.append
    for c in candidates:
        # the hot loop of a busy day: fields unpacked once, CandidateFilter.admits inlined
        _, kind, services, environment, at, start, status, pct, destructive, scope, source = c
        if environment != env or start > end_at or (
                at < start_at and (at < history_at or failing.isdisjoint(services))):
            continue
        if len(services) == 1 and (node := services[0]) not in on_path and node in declared:
            g, common, onset = off_path
        else:
            fit = fits.of(services)
            cause = evidence.common_cause(services, fit.hops)
            g, common, onset = fit.weight, cause.factor, cause.onset
            if fit.unknown:
                warnings.append(f"{c.id} names {', '.join(fit.unknown)}, not in the "
                                "dependency graph: ranked with a low graph weight")
        if start == at and pct is None and status is not in_progress:  # at once: most of them
            # _TimeModel.weight's first case and its density, inlined: the same arithmetic
            if at > onset + skew:
                after_onset, time_weight = True, at_lo[kind]
            else:
                after_onset = False
                lag = (onset - at if onset > at else 0.0) / HOUR
                lag = lo if lag < lo else hi if lag > hi else lag
                tau = taus[kind]
                time_weight = head * _exp(-lag / tau) / tau + w / (lag * log_span)
        else:
            time_weight, after_onset = time_of(c, onset)
        score = prior[kind] * time_weight * g * common
        if learnt_factor:
            score *= learnt_get((kind, source), 1.0)
        if scope is not None:
            score *= scope_cache[scope][0]
        if not (status is succeeded and pct is None and not destructive and (
                kind not in push_kinds or len(services) < wide and GLOBAL not in services)):
            for factor, _ in _risk_factors(c, settings):
                score *= factor
        if after_onset:
            after.append((True, -score, -at, c.id, c))
        else:
            live_total += score
            add_negative(-score)
            keep(c)
    ordered = sorted(negatives)  # floats sort several times faster than tuples
    after.sort()  # by score too: on-path ones first
    listed = _best(ordered, negatives, kept, settings.max_listed) + after[: settings.max_listed]
    changes = fetch([item[3] for item in listed])
    no_change = settings.no_change_score * evidence.no_change_factor
    denominator = no_change + live_total
    suspects = []
    for i, (after_onset, negative, _, _, c) in enumerate(listed):
        score = -negative
        change = changes[c.id]
        fit = fits.of(c.services)
        suspects.append(Suspect(
            change=change, rank=i + 1, score=score,
            probability=0.0 if after_onset else score / denominator, hops=fit.hops,
            path=fit.path, after_onset=after_onset, unknown_service=bool(fit.unknown),
            reasons=_reasons(change, c, fit, graph, target, model, evidence,
                             learnt.get((c.kind, c.source)))))
    return Ranking(incident=incident, suspects=tuple(suspects),
                   no_change_probability=no_change / denominator,
                   window=settings.window, warnings=tuple(warnings),
                   candidates=len(kept) + len(after),
                   # by falling score, as the listed ones (negated: the same sum, exactly)
                   unlisted_probability=(0.0 - sum(ordered[settings.max_listed:]))
                   / denominator, no_change_reason=evidence.no_change_text)


# (after onset, -score, -at, id, candidate): sorts live first, by score, then closer to the
# onset, then id; ids are unique, so a candidate is never compared
_Sorted = tuple[bool, float, float, str, Candidate]


def _best(ordered: list[float], negatives: list[float], kept: list[Candidate],
          n: int) -> list[_Sorted]:
    """The first ``n`` live candidates in ``_Sorted`` order, as sorting them all would give,
    from their -scores (``negatives``, and the same ascending in ``ordered``): every candidate
    scoring at least the n-th score is taken (ties included) and only those are sorted."""
    if not ordered or n <= 0:
        return []
    cut = ordered[min(n, len(ordered)) - 1]
    # the indices at or above the cut, found in C (compress over a map), not a Python loop
    chosen = [(False, negatives[i], -kept[i].at, kept[i].id, kept[i])
              for i in compress(range(len(negatives)), map(cut.__ge__, negatives))]
    chosen.sort()
    return chosen[:n]


class CandidateFilter:
    """Which changes are candidates: the incident's environment, from ``window`` before the
    earliest onset to ``list_after_onset`` after the target's, and, whatever their age up to
    ``tail_max``, changes to the failing nodes themselves (a downsized database weeks ago).

    One definition for the engine, the store's queries (``Advisor``) and the baselines."""

    def __init__(self, graph: DependencyGraph, incident: Incident,
                 settings: EngineSettings) -> None:
        earliest = incident.earliest_onset
        self.environment = incident.environment
        self.start_at = earliest - settings.window
        self.history_at = earliest - settings.tail_max
        self.end_at = incident.started_at + settings.list_after_onset
        self.failing = failing_services(graph, incident)
        # the same bounds in epoch seconds, as candidates carry their times
        self.start, self.history = self.start_at.timestamp(), self.history_at.timestamp()
        self.end = self.end_at.timestamp()

    def admits(self, c: Candidate) -> bool:
        if c.environment != self.environment or c.start > self.end:
            return False
        return c.at >= self.start or (c.at >= self.history
                                      and not self.failing.isdisjoint(c.services))


@dataclass(frozen=True, slots=True)
class _GraphFit:
    """Where a change sits relative to the target; ``relation`` picks the words."""

    weight: float
    hops: int | None
    path: tuple[str, ...]
    unknown: tuple[str, ...]
    relation: str  # global | reach | unknown | caller | unrelated


def _reasons(change: Change, c: Candidate, fit: _GraphFit, graph: DependencyGraph, target: str,
             model: _TimeModel, evidence: Evidence,
             learnt: LearntPrior | None = None) -> tuple[Reason, ...]:
    """Each factor of the score in words, with the figure behind it."""
    settings = model.settings
    prior = settings.kind_prior.get(change.kind, 1.0)
    cause = evidence.common_cause(c.services, fit.hops)
    onset = datetime.fromtimestamp(cause.onset, UTC)
    time_weight, _ = model.weight(c, cause.onset)
    reasons = [Reason("prior", f"{change.kind.value.replace('_', ' ')}: base risk {prior:g}",
                      prior),
               Reason("time", _time_text(change, c, onset, model) + evidence.onset_text(cause),
                      time_weight),
               Reason("graph", _graph_text(fit, change, graph, target), fit.weight)]
    if evidence.known:
        reasons.append(Reason("common_cause", evidence.cause_text(cause), cause.factor))
    if evidence.scope is not None:
        factor, text = evidence.scope_of(c.scope)
        reasons.append(Reason("scope", text or "scope not recorded: counted as everywhere",
                              factor))
    reasons += [Reason("risk", _risk_text(key, change, settings), factor)
                for factor, key in _risk_factors(c, settings)]
    if learnt is not None:
        reasons.append(Reason("learnt_prior", f"{learnt.describe()}: prior x{learnt.factor:.3g}",
                              learnt.factor))
    return tuple(reasons)


class _TimeModel:
    """f_time and its integral for one settings object, with each kind's constants computed
    once per ranking instead of once per candidate."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.lo = settings.tail_min.total_seconds() / HOUR
        self.hi = settings.tail_max.total_seconds() / HOUR
        self.log_span = math.log(self.hi / self.lo)
        self.w = settings.tail_weight
        self.head = 1 - self.w  # the exponential's share
        self.skew = settings.clock_skew.total_seconds()
        self.end_weight = settings.rollout_end_weight
        self.tau = {k: settings.kind_time_scale_minutes.get(k, 30.0) / 60.0 for k in ChangeKind}

    def density(self, lag_hours: float, kind: ChangeKind) -> float:
        # comparisons instead of min/max calls; rank_candidates inlines the same arithmetic
        # (tests/core/test_engine_properties.py holds the two to the reasons' figures)
        lag = self.lo if lag_hours < self.lo else self.hi if lag_hours > self.hi else lag_hours
        tau = self.tau[kind]
        return (self.head * _exp(-lag / tau) / tau + self.w / (lag * self.log_span))

    def mass(self, lag_hours: float, kind: ChangeKind) -> float:
        lo, hi, tau = self.lo, self.hi, self.tau[kind]
        x = max(lag_hours, 0.0)
        mass = self.density(lo, kind) * min(x, lo)  # the density is flat below lo
        if x > lo:
            top = min(x, hi)
            mass += (1 - self.w) * (math.exp(-lo / tau) - math.exp(-top / tau))
            mass += self.w * math.log(top / lo) / self.log_span
        if x > hi:
            mass += self.density(hi, kind) * (x - hi)
        return mass

    def lags(self, start: float, at: float, in_progress: bool, onset: float
             ) -> tuple[float, float, bool]:
        """The range of lags (hours) at which the change's effect may have reached the target,
        and whether it began after the onset (times in epoch seconds).

        A rollout reaches the failing part at an unknown moment between its start and its end;
        one still in progress (or ending after the onset) may reach it up to the onset itself.
        """
        if start > onset + self.skew:
            return 0.0, 0.0, True
        end = onset if in_progress or at > onset else at  # still reaching new parts at onset
        return max(onset - end, 0.0) / HOUR, max(onset - start, 0.0) / HOUR, False

    def weight(self, c: Candidate, onset: float) -> tuple[float, bool]:
        """f_time at the change's lag. Over a rollout the effect reached the target either with
        its last stage (often the largest, or the one that tips a shared limit) or at a uniform
        moment of its span: a mixture, weighted by ``rollout_end_weight``."""
        if (c.start == c.at and c.rollout_percentage is None
                and c.status is not ChangeStatus.IN_PROGRESS):  # most of a window, at once
            if c.at > onset + self.skew:
                return self.density(0.0, c.kind), True
            return self.density(max(onset - c.at, 0.0) / HOUR, c.kind), False
        lo_h, hi_h, after = self.lags(c.start, c.at, _still_open(c), onset)
        at_end = self.density(lo_h, c.kind)
        if hi_h - lo_h < 1 / 60:
            return at_end, after
        mean = (self.mass(hi_h, c.kind) - self.mass(lo_h, c.kind)) / (hi_h - lo_h)
        return self.end_weight * at_end + (1 - self.end_weight) * mean, after


def _still_open(c: Candidate) -> bool:
    """Mixed versions are still live at the onset: a rollout in progress, or a deploy that
    stopped part-way (``rollout_percentage`` < 100), whose old part can meet the new one at any
    moment until it completes or is reverted. (A flag or config at a percentage is a chosen
    audience, not a rollout left half-done: its lag counts from when it was set.)"""
    return c.status is ChangeStatus.IN_PROGRESS or (
        c.kind in _CODE_KINDS and c.rollout_percentage is not None
        and 0 < c.rollout_percentage < 100)


_CODE_KINDS = frozenset({ChangeKind.DEPLOY, ChangeKind.ROLLBACK})


def time_density(lag_hours: float, kind: ChangeKind, settings: EngineSettings) -> float:
    """f_time: per-hour density of a culprit taking effect ``lag_hours`` before the onset."""
    return _TimeModel(settings).density(lag_hours, kind)


def time_mass(lag_hours: float, kind: ChangeKind, settings: EngineSettings) -> float:
    """F_time: the integral of ``time_density`` from 0 to ``lag_hours`` (closed form)."""
    return _TimeModel(settings).mass(lag_hours, kind)


def _time_text(change: Change, c: Candidate, onset: datetime, model: _TimeModel) -> str:
    settings = model.settings
    verb = _VERBS.get(change.kind, "took effect")
    lo_h, hi_h, after = model.lags(c.start, c.at, _still_open(c), onset.timestamp())
    low, high = timedelta(hours=lo_h), timedelta(hours=hi_h)
    if after:
        return (f"{verb} {humanize(change.effective_start - onset)} after onset: cannot have "
                "caused it (a mitigation?)")
    if _still_open(c) and c.status is not ChangeStatus.IN_PROGRESS and change.at <= onset:
        return (f"{verb} {humanize(onset - change.at)} before onset, but only to "
                f"{c.rollout_percentage:g}% (began {humanize(high)} before): mixed versions "
                "live since, so it may have bitten at any point up to the onset")
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


def unrelated_weight(graph: DependencyGraph, settings: EngineSettings) -> float:
    """g for a node the target neither depends on nor is called by.

    Such a change could break any of the graph's nodes through a path nobody recorded; the
    chance that it broke this one falls with how many there are. So the configured weight holds
    up to ``off_path_nodes`` nodes and shrinks as 1/N beyond: the probability that *some*
    unrelated change did it stays the same in a company ten times larger, with ten times the
    unrelated changes.
    """
    n = len(graph.declared)
    return settings.unrelated_weight * min(1.0, settings.off_path_nodes / max(n, 1))


def hop_weight(hops: int, settings: EngineSettings) -> float:
    """g for a node the target reaches in ``hops``: strictly falling, above every off-path g."""
    return settings.hop_floor + (1 - settings.hop_floor) * settings.hop_decay ** hops


class _Fits:
    """g for one target: reachable by hops > unknown node > caller of the target > unrelated.

    Off-path answers are shared constants, so the common case (a change the target does not
    depend on) costs a few set lookups and no allocation.
    """

    def __init__(self, graph: DependencyGraph, reach: Mapping[str, Reach],
                 callers: frozenset[str], settings: EngineSettings) -> None:
        self.graph, self.reach, self.callers, self.settings = graph, reach, callers, settings
        self.global_fit = _GraphFit(hop_weight(1, settings), 1, (), (), "global")
        self.caller = _GraphFit(settings.caller_weight, None, (), (), "caller")
        self.unrelated = _GraphFit(unrelated_weight(graph, settings), None, (), (), "unrelated")
        self._reach_fits: dict[str, _GraphFit] = {}

    def _reached(self, node: str, r: Reach) -> _GraphFit:
        fit = self._reach_fits.get(node)
        if fit is None:
            fit = _GraphFit(hop_weight(r.hops, self.settings), r.hops, r.path, (), "reach")
            self._reach_fits[node] = fit
        return fit

    def of(self, services: tuple[str, ...]) -> _GraphFit:
        graph, reach = self.graph, self.reach
        if len(services) == 1:  # the common case, in a few set lookups
            node = services[0]
            r = reach.get(node)
            if node != GLOBAL and node not in graph.global_nodes and node in graph.declared:
                if r is not None:
                    return self._reached(node, r)
                return self.caller if node in self.callers else self.unrelated
        if GLOBAL in services or not graph.global_nodes.isdisjoint(services):
            return self.global_fit
        best: Reach | None = None
        for service in services:
            r = reach.get(service)
            if r is not None and (best is None or r.hops < best.hops):
                best = r
        unknown = () if graph.declared.issuperset(services) else tuple(
            s for s in services if s not in graph.declared)
        if best is not None:
            fit = self._reached(best.path[-1], best)
            return fit if not unknown else _GraphFit(fit.weight, fit.hops, fit.path, unknown,
                                                     "reach")
        if unknown and len(unknown) == len(services):
            return _GraphFit(self.settings.unknown_node_weight, None, (), unknown, "unknown")
        fit = self.caller if not self.callers.isdisjoint(services) else self.unrelated
        return fit if not unknown else _GraphFit(fit.weight, None, (), unknown, fit.relation)


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


def _risk_factors(c: Candidate, settings: EngineSettings) -> list[tuple[float, str]]:
    """The risk multipliers that apply, each with a key that ``_risk_text`` puts in words."""
    out: list[tuple[float, str]] = []
    if c.status is ChangeStatus.FAILED:
        out.append((settings.failed_risk, "failed"))
    elif c.status is ChangeStatus.IN_PROGRESS or (
            c.rollout_percentage is not None and 0 < c.rollout_percentage < 100):
        out.append((settings.partial_risk, "partial"))
    if c.destructive:
        out.append((settings.destructive_risk, "destructive"))
    if c.kind in _PUSH_KINDS and (GLOBAL in c.services
                                  or len(c.services) >= settings.wide_threshold):
        out.append((settings.wide_risk, "wide"))
    return out


_PUSH_KINDS = frozenset({ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.INFRASTRUCTURE})


def _risk_text(key: str, change: Change, settings: EngineSettings) -> str:
    if key == "failed":
        return "rollout failed: a partial or broken state"
    if key == "partial":
        pct = change.details.get("rollout_percentage")
        partial = isinstance(pct, int | float) and 0 < pct < 100
        what = f"at {pct:g}%" if partial else "still in progress"
        return f"partial rollout ({what}): mixed versions live"
    if key == "destructive":
        ops = destructive_operations(change_text(change.summary, change.details))
        return (f"migration {', '.join(ops)}: destructive, irreversible" if ops
                else "migration marked irreversible")
    scope = "every service" if change.is_global else f"{len(change.services)} services"
    return f"wide {change.kind.value.replace('_', ' ')} push: {scope} at once"

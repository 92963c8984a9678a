"""The application service: one call from an incident to a ranking and a recommendation.

CLI, web and eval all come through here so that they answer the same question the same way.
The in-memory form (``advise``) serves case files; ``Advisor`` adds the store and a cached graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import Settings
from .engine import CandidateFilter, rank, rank_candidates
from .errors import NotFound
from .graph import DependencyGraph
from .learning import LearntPriors, learn_priors
from .models import Change, ChangeStatus, Incident, Ranking, Recommendation
from .policy import recommend
from .timeutil import format_utc

PreviousLookup = Callable[[Change], "Change | None"]


@dataclass(frozen=True)
class SourceFreshness:
    """How current one connector source was when the advice was given, so a reader knows
    whether the culprit could be missing ("gitlab: last sync failed 4 min ago: 401"). Filled
    by the surfaces that sync before advising (the service); the core only carries it."""

    source: str
    status: str  # ok | failed | paused | syncing | never
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    pulled: bool = False  # synced (or tried) for this very question
    line: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status,
                "last_success": format_utc(self.last_success) if self.last_success else None,
                "last_error": self.last_error,
                "last_error_at": format_utc(self.last_error_at) if self.last_error_at
                else None,
                "pulled": self.pulled, "text": self.line}


@dataclass(frozen=True)
class Advice:
    ranking: Ranking
    recommendation: Recommendation
    # connector sources' freshness, when the surface synced before advising (else empty)
    sources: tuple[SourceFreshness, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {"recommendation": self.recommendation.to_dict(), **self.ranking.to_dict()}
        if self.sources:
            out["sources"] = [s.to_dict() for s in self.sources]
        return out


def previous_in(changes: Sequence[Change]) -> PreviousLookup:
    """A lookup of the change that preceded another on its service, over a list in memory."""

    def lookup(change: Change) -> Change | None:
        earlier = [c for c in changes
                   if c.kind is change.kind and c.services == change.services
                   and c.environment == change.environment and c.at < change.at
                   and c.status is ChangeStatus.SUCCEEDED]
        return max(earlier, key=lambda c: (c.at, c.id), default=None)

    return lookup


def advise(changes: Iterable[Change], graph: DependencyGraph, incident: Incident,
           settings: Settings, previous: PreviousLookup | None = None,
           priors: LearntPriors | None = None) -> Advice:
    """Rank the changes and decide; ``previous`` finds a rollback target when one is missing,
    ``priors`` are what verdicts taught."""
    return decide(rank(changes, graph, incident, settings.engine, priors), graph, settings,
                  previous)


def decide(ranking: Ranking, graph: DependencyGraph, settings: Settings,
           previous: PreviousLookup | None = None) -> Advice:
    """Apply the policy to a ranking; ``previous`` finds a rollback target when one is missing."""
    top = next((s for s in ranking.suspects if not s.after_onset), None)
    before = None
    if top is not None and not top.change.previous_version and previous is not None:
        before = previous(top.change)
    return Advice(ranking, recommend(ranking, graph, previous=before, settings=settings.policy))


class Advisor:
    """Answers for incidents from what the store holds; keeps the built graph, and the priors
    learnt from the stored verdicts, between calls (learnt again when the verdicts change)."""

    def __init__(self, store: Any, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._graph: DependencyGraph | None = None
        self._priors: tuple[int, LearntPriors] | None = None

    def graph(self) -> DependencyGraph:
        if self._graph is None:
            document = self.store.load_graph()
            if document is None:
                raise NotFound("no dependency graph is stored: run 'rollback-advisor graph load "
                               "FILE' (or 'rollback-advisor demo')")
            self._graph = DependencyGraph.from_document(document)
        return self._graph

    def save_graph(self, document: dict[str, Any]) -> DependencyGraph:
        graph = DependencyGraph.from_document(document)
        self.store.save_graph(document)
        self._graph = graph
        return graph

    def priors(self, reads: Any = None) -> LearntPriors:
        """The priors the stored verdicts teach (none when ``engine.learn_priors`` is off);
        one integer read per call while the verdicts stay as they were. ``reads``: the store
        or one of its sessions."""
        engine = self.settings.engine
        if not engine.learn_priors:
            return {}
        reads = reads or self.store
        version = reads.verdicts_version()
        if self._priors is None or self._priors[0] != version:
            self._priors = (version, learn_priors(reads.verdicts(),
                                                  engine.learned_prior_bounds,
                                                  engine.learned_prior_strength))
        return self._priors[1]

    def advise(self, incident: Incident) -> Advice:
        graph = self.graph()
        graph.resolve(incident.target)  # fail on a bad target before touching the store
        with self.store.session() as reads:  # one connection for the answer's reads
            return self._advise(reads, graph, incident)

    def _advise(self, reads: Any, graph: DependencyGraph, incident: Incident) -> Advice:
        engine = self.settings.engine
        bounds = CandidateFilter(graph, incident, engine)  # the engine's own bounds
        candidates = reads.window_candidates(
            start=bounds.start_at, end=bounds.end_at, environment=incident.environment)
        history = reads.history_candidates(
            services=bounds.failing, start=bounds.history_at, end=bounds.start_at,
            environment=incident.environment)
        ranking = rank_candidates([*candidates, *history], reads.get_changes, graph,
                                  incident, engine, self.priors(reads), bounds=bounds)

        def lookup(change: Change) -> Change | None:
            return reads.previous_change(service=change.services[0], kind=change.kind.value,
                                         before=change.at, environment=change.environment)

        return decide(ranking, graph, self.settings, lookup)

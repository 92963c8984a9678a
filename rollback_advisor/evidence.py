"""What responders see besides the target: other failing nodes and where it fails (DESIGN §4).

Both are observations with a likelihood under each hypothesis, multiplied into the score:

* **Common cause.** Under "change c caused it", a failing node that depends on c's node is
  expected, likelier the fewer hops (``hop_weight``; the changed node itself counts 0 hops); a
  failing node that does not depend on it needs another explanation, a small ``symptom_leak``.
  Under "no change", the failures spread from one unrecorded fault: a node ``u`` among those the
  target depends on (or shared infrastructure), each equally likely a priori, so

      E_0 = mean over u of  prod over symptoms s of  (hop_weight(d(s, u)) if s depends on u
                                                      else symptom_leak)

  A change to the node every failing node shares scores what E_0's best node scores, without
  having to be guessed among |U|; a routine deploy that explains only the target pays the leak
  once per symptom it cannot explain, while "no change" does not: evidence that all failing
  nodes share a dependency with no recent change in it is evidence for no change.
  The target's own term is the engine's ``g``; with no symptoms every factor here is 1, so the
  ranking and the probabilities are exactly those of the target alone.
* **Onset.** A change must precede the earliest onset among the failing nodes that depend on
  it; its lag is measured to that onset (to the earliest of all when none depends on it).
* **Scope.** Per label named by both the incident and the change: disjoint values are
  near-impossible (``scope_disjoint``); overlapping values are evidence in proportion to how
  narrow the change was, ``1 + (scope_match - 1) x |overlap| / |change's values|``, so an
  overlap never weighs less than an unknown scope (1). Under "no change" the scope is neutral.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .errors import NotFound
from .graph import DependencyGraph, Reach
from .models import GLOBAL, Incident, Scope, scope_text
from .timeutil import format_utc

if TYPE_CHECKING:
    from .engine import EngineSettings


@dataclass(frozen=True, slots=True)
class FailingNode:
    """A node seen failing (the target or a symptom), resolved in the graph when possible."""

    name: str  # as given
    node: str | None  # resolved graph node; None when the graph does not know it
    onset: float  # epoch seconds
    reach: Mapping[str, Reach]


@dataclass(frozen=True, slots=True)
class CommonCause:
    """How one change explains the failing nodes."""

    factor: float  # the product over symptoms (1.0 without symptoms)
    onset: float  # epoch seconds: the earliest onset among failing nodes that depend on it
    explained: tuple[tuple[str, int], ...]  # (failing node, hops) for those that depend on it
    unexplained: tuple[str, ...]  # symptoms that do not


def failing_services(graph: DependencyGraph, incident: Incident) -> frozenset[str]:
    """The services of the failing nodes the graph knows: their changes count at any age."""
    out = set()
    for node in [incident.target, *(s.node for s in incident.symptoms)]:
        try:
            out.add(graph.owner(graph.resolve(node)))
        except NotFound:
            continue
    return frozenset(out)


class Evidence:
    """The symptom and scope evidence of one incident, computed once per ranking."""

    def __init__(self, graph: DependencyGraph, incident: Incident, target: str,
                 target_reach: Mapping[str, Reach], settings: EngineSettings,
                 hop_weight: Callable[[int], float]) -> None:
        self.graph, self.settings = graph, settings
        self._hop_weight = hop_weight  # the engine's g by hops, shared so both agree
        self._hop = {h: hop_weight(h) for h in range(64)}
        self.leak = settings.symptom_leak
        self.target = FailingNode(incident.target, target, incident.started_at.timestamp(),
                                  target_reach)
        symptoms: list[FailingNode] = []
        self.unknown_symptoms: list[str] = []
        for s in incident.symptoms:
            try:
                node = graph.resolve(s.node)
            except NotFound:
                self.unknown_symptoms.append(s.node)
                node = None
            if node == target:  # the target again: only its onset can teach anything
                self.target = FailingNode(self.target.name, target,
                                          min(self.target.onset, s.started_at.timestamp()),
                                          target_reach)
                continue
            symptoms.append(FailingNode(s.node, node, s.started_at.timestamp(),
                                        graph.reach_from(node) if node else {}))
        self.symptoms = tuple(symptoms)
        self.known = tuple(s for s in symptoms if s.node is not None)
        self.earliest = min([self.target.onset, *(s.onset for s in symptoms)])
        self.scope = incident.scope
        # scope key -> (factor, words), filled on first use; the engine's loop subscripts it
        # directly, a hit per candidate
        self.scope_cache = _ScopeCache(self._scope)
        self._cause_cache: dict[tuple[str, ...], CommonCause] = {}
        # The common case on a busy day: a change no failing node depends on. One shared
        # answer, found with one set lookup.
        self.reached_by_any = frozenset().union(*(fn.reach for fn in self.known))
        self.unrelated = CommonCause(self.leak ** len(self.known), self.earliest, (),
                                     tuple(fn.name for fn in self.known))
        self.no_change_factor, self.no_change_text = self._no_change(target_reach)

    # -- common cause -----------------------------------------------------------------------

    def _hops(self, fn: FailingNode, services: tuple[str, ...]) -> int | None:
        """Hops from a failing node to the nearest of the changed nodes, or None."""
        if GLOBAL in services or not self.graph.global_nodes.isdisjoint(services):
            return 1 if fn.node is not None else None
        best: int | None = None
        for s in services:
            r = fn.reach.get(s)
            if r is not None and (best is None or r.hops < best):
                best = r.hops
        return best

    def common_cause(self, services: tuple[str, ...], target_hops: int | None) -> CommonCause:
        """The change's likelihood of the symptoms and the onset its lag is measured to.

        ``target_hops`` is the target's distance to the change (None off the path): the target
        is counted in the words and the onset, its weight is the engine's ``g``.
        """
        if target_hops is None and len(services) == 1:
            node = services[0]
            if (node not in self.reached_by_any and node != GLOBAL
                    and node not in self.graph.global_nodes):
                return self.unrelated
        cached = self._cause_cache.get(services)  # target_hops follows from services
        if cached is not None:
            return cached
        factor = 1.0
        explained: list[tuple[str, int]] = []
        unexplained: list[str] = []
        onsets: list[float] = []
        if target_hops is not None:
            explained.append((self.target.name, target_hops))
            onsets.append(self.target.onset)
        for fn in self.known:
            hops = self._hops(fn, services)
            if hops is None:
                factor *= self.leak
                unexplained.append(fn.name)
            else:
                factor *= self._hop.get(hops) or self._hop_weight(hops)
                explained.append((fn.name, hops))
                onsets.append(fn.onset)
        cause = CommonCause(factor, min(onsets) if onsets else self.earliest,
                            tuple(explained), tuple(unexplained))
        self._cause_cache[services] = cause
        return cause

    def _no_change(self, target_reach: Mapping[str, Reach]) -> tuple[float, str]:
        """E_0 and its words: how well one unrecorded fault explains every failing node.

        The fault may sit in any node the target depends on, in shared infrastructure, or,
        when the incident says where it fails, in that place itself (power, network, a cell:
        what graphs do not model), which every node failing there depends on.
        """
        if not self.known:
            return 1.0, ""
        places: list[tuple[str, float, int]] = []
        nodes = [n for n in target_reach if n != self.target.node] + sorted(
            self.graph.global_nodes - set(target_reach))
        for u in nodes:
            product, count = 1.0, 0
            for fn in self.known:
                r = fn.reach.get(u)
                hops = r.hops if r is not None else 1 if u in self.graph.global_nodes else None
                if hops is None:
                    product *= self.leak
                else:
                    product *= self._hop.get(hops) or self._hop_weight(hops)
                    count += 1
            places.append((u, product, count))
        if self.scope is not None:
            places.append((f"the place where it fails ({scope_text(self.scope)})",
                           self._hop[1] ** len(self.known), len(self.known)))
        if not places:
            return self.leak ** len(self.known), ""
        factor = sum(product for _, product, _ in places) / len(places)
        where, _, count = max(places, key=lambda p: p[1])
        text = (f"an unrecorded fault in {where} would explain {count + 1} of "
                f"{len(self.known) + 1} failing nodes (x{factor:.2g} over {len(places)} "
                "possible places)")
        return factor, text

    def cause_text(self, cause: CommonCause) -> str:
        """``3 of 4 failing nodes depend on it: vault (1 hop), ...; nomad does not``."""
        n = len(self.known) + 1
        parts = ", ".join(f"{name} ({'the changed node' if hops == 0 else f'{hops} hop'}"
                          f"{'s' if hops > 1 else ''})" for name, hops in cause.explained)
        text = f"{len(cause.explained)} of {n} failing nodes depend on it"
        text += f": {parts}" if parts else ""
        if cause.unexplained:
            verb = "does" if len(cause.unexplained) == 1 else "do"
            text += (f"; {', '.join(cause.unexplained)} {verb} not (another explanation "
                     f"needed: x{self.leak:g} each)")
        return text

    def onset_text(self, cause: CommonCause) -> str:
        """Which onset the lag is measured to, when it is not the target's."""
        if cause.onset == self.target.onset:
            return ""
        for fn in self.known:
            if fn.onset == cause.onset:
                when = format_utc(datetime.fromtimestamp(cause.onset, UTC))
                return (f"; measured to {fn.name}'s onset ({when}), the first failing node it "
                        "reaches")
        return ""

    # -- scope ------------------------------------------------------------------------------

    def scope_of(self, key: str | None) -> tuple[float, str]:
        """The scope factor of a change's stored scope key, and its words ("" when neutral)."""
        return self.scope_cache[key]

    def _scope(self, key: str | None) -> tuple[float, str]:
        if self.scope is not None and key is not None:
            return scope_factor(json.loads(key), self.scope, self.settings)
        return 1.0, ""


class _ScopeCache(dict[str | None, tuple[float, str]]):
    """A dict that computes what it misses: a hit is a plain subscript (no method call)."""

    def __init__(self, compute: Callable[[str | None], tuple[float, str]]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str | None) -> tuple[float, str]:
        value = self[key] = self._compute(key)
        return value


def scope_factor(change: Mapping[str, list[str] | tuple[str, ...]], incident: Scope,
                 settings: EngineSettings) -> tuple[float, str]:
    """The scope likelihood ratio of a change against an incident's scope, and its words."""
    factor, words = 1.0, []
    for label, failing in incident.items():
        values = change.get(label)
        if not values or GLOBAL in values:
            continue
        overlap = set(values) & set(failing)
        shown = ", ".join(values)
        where = ", ".join(failing)
        if not overlap:
            factor *= settings.scope_disjoint
            words.append(f"{label} {shown} only; failing in {where}: x{settings.scope_disjoint:g}")
        else:
            f = 1 + (settings.scope_match - 1) * len(overlap) / len(values)
            factor *= f
            narrow = ("only" if len(values) == len(overlap)
                      else f"and {len(values) - len(overlap)} more")
            words.append(f"{label} {shown} ({narrow}), where it fails: x{f:.3g}")
    return factor, "; ".join(words)

"""The dependency graph: who needs whom, with endpoints as nodes of their own.

Edges point from a dependant to what it depends on (``A -> B``: A calls B, so a change to B can
break A). A breadth-first walk from the failing endpoint along those edges yields each node's hop
count and the path to show a person. Pure: built from a DESIGN §2 document, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from .errors import NotFound

ENDPOINT = "endpoint"
SERVICE = "service"
INFRASTRUCTURE = "infrastructure"


@dataclass(frozen=True, slots=True)
class Reach:
    """How a target reaches a node: hops along depends_on edges and the path walked."""

    hops: int
    path: tuple[str, ...]


@dataclass(frozen=True)
class GraphReport:
    """What ``graph check`` tells: references to undeclared nodes, cycles, isolated nodes."""

    nodes: int
    edges: int
    endpoints: int
    unknown_nodes: dict[str, list[str]] = field(default_factory=dict)  # node -> referenced by
    cycles: list[list[str]] = field(default_factory=list)
    isolated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unknown_nodes and not self.cycles


class DependencyGraph:
    """A networkx DiGraph of services, datastores, providers and endpoints, with lookups."""

    def __init__(self, digraph: nx.DiGraph, document: Mapping[str, Any] | None = None) -> None:
        self.g = digraph
        self.document = dict(document or {"services": {}})
        self._repo_map: Mapping[str, str] | None = None
        self._endpoint_names: dict[str, list[str]] = {}
        for node, data in digraph.nodes(data=True):
            if data.get("type") == ENDPOINT:
                self._endpoint_names.setdefault(data["endpoint"], []).append(node)
        self.declared = frozenset(n for n, d in digraph.nodes(data=True) if d.get("declared"))
        # Bounded so a long-running service does not grow with every target ever asked about.
        self._reach_cache: OrderedDict[str, dict[str, Reach]] = OrderedDict()
        self._dependants_cache: OrderedDict[str, frozenset[str]] = OrderedDict()
        self.global_nodes = frozenset(
            n for n, d in digraph.nodes(data=True)
            if d.get("type") == INFRASTRUCTURE and d.get("declared") and not any(
                digraph.nodes[p].get("type") != ENDPOINT for p in digraph.predecessors(n))
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DependencyGraph:
        """Build from a DESIGN §2 document; endpoints fall back to their service's depends_on."""
        g: nx.DiGraph[str] = nx.DiGraph()
        services: Mapping[str, Any] = document.get("services") or {}
        for name, spec in services.items():
            spec = spec or {}
            g.add_node(name, type=spec.get("type", SERVICE), declared=True,
                       repo=spec.get("repo"))
        for name, spec in services.items():
            spec = spec or {}
            deps = list(spec.get("depends_on") or [])
            for dep in deps:
                _add_edge(g, name, dep)
            for ep_name, ep_spec in (spec.get("endpoints") or {}).items():
                node = endpoint_id(name, ep_name)
                g.add_node(node, type=ENDPOINT, declared=True, service=name, endpoint=ep_name)
                ep_deps = (ep_spec or {}).get("depends_on")
                for dep in deps if ep_deps is None else ep_deps:
                    _add_edge(g, node, dep)
        return cls(g, document)

    # -- lookups ------------------------------------------------------------------------------

    def __contains__(self, node: object) -> bool:
        return node in self.g

    def is_declared(self, node: str) -> bool:
        return node in self.declared

    def node_type(self, node: str) -> str:
        return str(self.g.nodes[node].get("type", SERVICE)) if node in self.g else "unknown"

    def owner(self, node: str) -> str:
        """The service an endpoint belongs to (a service owns itself)."""
        return str(self.g.nodes[node].get("service", node)) if node in self.g else node

    def services(self) -> list[str]:
        return sorted(n for n, d in self.g.nodes(data=True) if d.get("type") != ENDPOINT)

    def repo_map(self) -> Mapping[str, str]:
        """``repo:`` annotations, so connectors and webhooks can map a repository to its node:
        keys casefolded (``github:acme/frontend``: vendors compare repository names without
        case), built once per graph since every GitHub or GitLab delivery asks."""
        if self._repo_map is None:
            self._repo_map = MappingProxyType({str(d["repo"]).casefold(): n for n, d
                                               in self.g.nodes(data=True) if d.get("repo")})
        return self._repo_map

    def resolve(self, target: str) -> str:
        """Find the node a person means: ``svc:GET /x``, a unique endpoint name, or a service."""
        if target in self.g:
            return target
        matches = self._endpoint_names.get(target, [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"endpoint {target!r} is ambiguous: name one of "
                           + ", ".join(sorted(matches)), target=target)
        hint = _closest(target, self.g.nodes)
        raise NotFound(f"{target!r} is not a node of the dependency graph"
                       + (f"; did you mean {hint!r}?" if hint else
                          "; load a graph with 'rollback-advisor graph load FILE'"),
                       target=target)

    def dependencies(self, node: str) -> list[str]:
        return sorted(self.g.successors(node))

    def dependants(self, node: str) -> list[str]:
        return sorted(self.g.predecessors(node))

    # -- reachability -------------------------------------------------------------------------

    def reach_from(self, target: str) -> dict[str, Reach]:
        """Every node the target depends on, directly or not, with hops and path (cached).

        An endpoint's own service counts as 0 hops (its code is the endpoint's code) but is not
        walked through: the endpoint depends only on what it lists.
        """
        cached = self._reach_cache.get(target)
        if cached is not None:
            self._reach_cache.move_to_end(target)
            return cached
        reach: dict[str, Reach] = {target: Reach(0, (target,))}
        owner = self.owner(target)
        if owner != target:
            reach[owner] = Reach(0, (target, owner))
        queue = deque([target])
        # networkx's own adjacency dicts: avoid view objects on the hot path
        succ = self.g._succ  # type: ignore[attr-defined]
        while queue:
            node = queue.popleft()
            here = reach[node]
            for nxt in succ[node]:
                if nxt not in reach:
                    reach[nxt] = Reach(here.hops + 1, here.path + (nxt,))
                    queue.append(nxt)
        _remember(self._reach_cache, target, reach)
        return reach

    def dependants_of(self, target: str) -> frozenset[str]:
        """Nodes that (transitively) depend on the target's service: its callers."""
        cached = self._dependants_cache.get(target)
        if cached is not None:
            self._dependants_cache.move_to_end(target)
            return cached
        start = self.owner(target)
        seen = {start, target}
        stack = [start, target]
        pred = self.g._pred  # type: ignore[attr-defined]
        while stack:
            for p in pred[stack.pop()]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        result = frozenset(seen - {start, target})
        _remember(self._dependants_cache, target, result)
        return result

    # -- checks -------------------------------------------------------------------------------

    def check(self, referenced: Iterable[str] = ()) -> GraphReport:
        """Report undeclared nodes (also those named by changes), cycles and isolated nodes."""
        unknown: dict[str, list[str]] = {}
        for node, data in self.g.nodes(data=True):
            if not data.get("declared"):
                unknown[node] = sorted(self.owner(p) for p in self.g.predecessors(node))
        for name in referenced:
            if name not in self.g and name != "*":
                unknown.setdefault(name, []).append("(a stored change)")
        services_only = self.g.subgraph(n for n, d in self.g.nodes(data=True)
                                        if d.get("type") != ENDPOINT)
        cycles = sorted(sorted(c) for c in nx.strongly_connected_components(services_only)
                        if len(c) > 1)
        isolated = sorted(n for n in services_only if services_only.degree(n) == 0
                          and not any(True for _ in self.g.predecessors(n)))
        endpoints = sum(1 for _, d in self.g.nodes(data=True) if d.get("type") == ENDPOINT)
        return GraphReport(nodes=self.g.number_of_nodes() - endpoints,
                           edges=self.g.number_of_edges(), endpoints=endpoints,
                           unknown_nodes=unknown, cycles=cycles, isolated=isolated)


CACHE_SIZE = 256


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    cache[key] = value
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def endpoint_id(service: str, endpoint: str) -> str:
    return f"{service}:{endpoint}"


def _add_edge(g: nx.DiGraph, src: str, dst: str) -> None:
    if dst not in g:
        g.add_node(dst, type=SERVICE, declared=False)
    if src != dst:
        g.add_edge(src, dst)


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, [str(c) for c in candidates], n=1, cutoff=0.6)
    return found[0] if found else None

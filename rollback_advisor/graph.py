"""The dependency graph: who needs whom, with endpoints as nodes of their own.

Edges point from a dependant to what it depends on (``A -> B``: A calls B, so a change to B can
break A). A breadth-first walk from the failing endpoint along those edges yields each node's hop
count and the path to show a person. Pure: built from a DESIGN §2 document, no I/O.

The graph is held in plain adjacency dicts, in networkx's own layout and insertion order:
answering an incident needs only lookups and a walk, and importing networkx costs a command line
more than the whole answer (issue 11). networkx is imported for what needs its algorithms
(``check``) and for callers that want a ``DiGraph`` (``g``).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import NotFound

if TYPE_CHECKING:
    import networkx as nx

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
    """Services, datastores, providers and endpoints with their depends_on edges, and lookups.

    ``nodes`` maps each node to its attributes (type, declared, repo, service, endpoint);
    ``succ``/``pred`` map it to what it depends on / what depends on it, in insertion order
    (the walk's tie-breaks follow it, as they followed networkx's).
    """

    def __init__(self, nodes: dict[str, dict[str, Any]], succ: dict[str, dict[str, None]],
                 pred: dict[str, dict[str, None]],
                 document: Mapping[str, Any] | None = None) -> None:
        self.nodes = nodes
        self.succ = succ
        self.pred = pred
        self.document = dict(document or {"services": {}})
        self._nx: nx.DiGraph[str] | None = None
        self._repo_map: Mapping[str, str] | None = None
        self._endpoint_names: dict[str, list[str]] = {}
        for node, data in nodes.items():
            if data.get("type") == ENDPOINT:
                self._endpoint_names.setdefault(data["endpoint"], []).append(node)
        self.declared = frozenset(n for n, d in nodes.items() if d.get("declared"))
        # Bounded so a long-running service does not grow with every target ever asked about.
        self._reach_cache: OrderedDict[str, dict[str, Reach]] = OrderedDict()
        self._dependants_cache: OrderedDict[str, frozenset[str]] = OrderedDict()
        self.global_nodes = frozenset(
            n for n, d in nodes.items()
            if d.get("type") == INFRASTRUCTURE and d.get("declared") and not any(
                nodes[p].get("type") != ENDPOINT for p in pred[n])
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DependencyGraph:
        """Build from a DESIGN §2 document; endpoints fall back to their service's depends_on."""
        g = _Builder()
        services: Mapping[str, Any] = document.get("services") or {}
        for name, spec in services.items():
            spec = spec or {}
            g.add_node(name, type=spec.get("type", SERVICE), declared=True,
                       repo=spec.get("repo"))
        for name, spec in services.items():
            spec = spec or {}
            deps = list(spec.get("depends_on") or [])
            for dep in deps:
                g.add_dependency(name, dep)
            for ep_name, ep_spec in (spec.get("endpoints") or {}).items():
                node = endpoint_id(name, ep_name)
                g.add_node(node, type=ENDPOINT, declared=True, service=name, endpoint=ep_name)
                ep_deps = (ep_spec or {}).get("depends_on")
                for dep in deps if ep_deps is None else ep_deps:
                    g.add_dependency(node, dep)
        return cls(g.nodes, g.succ, g.pred, document)

    @property
    def g(self) -> nx.DiGraph[str]:
        """The graph as a networkx DiGraph (built on first use), for its algorithms."""
        if self._nx is None:
            import networkx as nx

            digraph: nx.DiGraph[str] = nx.DiGraph()
            for node, data in self.nodes.items():
                digraph.add_node(node, **data)
            for node, deps in self.succ.items():
                for dep in deps:
                    digraph.add_edge(node, dep)
            self._nx = digraph
        return self._nx

    # -- lookups ------------------------------------------------------------------------------

    def __contains__(self, node: object) -> bool:
        return node in self.nodes

    def is_declared(self, node: str) -> bool:
        return node in self.declared

    def node_type(self, node: str) -> str:
        return str(self.nodes[node].get("type", SERVICE)) if node in self.nodes else "unknown"

    def owner(self, node: str) -> str:
        """The service an endpoint belongs to (a service owns itself)."""
        return str(self.nodes[node].get("service", node)) if node in self.nodes else node

    def services(self) -> list[str]:
        return sorted(n for n, d in self.nodes.items() if d.get("type") != ENDPOINT)

    def repo_map(self) -> Mapping[str, str]:
        """``repo:`` annotations, so connectors and webhooks can map a repository to its node:
        keys casefolded (``github:acme/frontend``: vendors compare repository names without
        case), built once per graph since every GitHub or GitLab delivery asks."""
        if self._repo_map is None:
            self._repo_map = MappingProxyType({str(d["repo"]).casefold(): n for n, d
                                               in self.nodes.items() if d.get("repo")})
        return self._repo_map

    def resolve(self, target: str) -> str:
        """Find the node a person means: ``svc:GET /x``, a unique endpoint name, or a service."""
        if target in self.nodes:
            return target
        matches = self._endpoint_names.get(target, [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"endpoint {target!r} is ambiguous: name one of "
                           + ", ".join(sorted(matches)), target=target)
        hint = _closest(target, self.nodes)
        raise NotFound(f"{target!r} is not a node of the dependency graph"
                       + (f"; did you mean {hint!r}?" if hint else
                          "; load a graph with 'rollback-advisor graph load FILE'"),
                       target=target)

    def dependencies(self, node: str) -> list[str]:
        return sorted(self.succ[node])

    def dependants(self, node: str) -> list[str]:
        return sorted(self.pred[node])

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
        succ = self.succ
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
        pred = self.pred
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
        import networkx as nx

        unknown: dict[str, list[str]] = {}
        for node, data in self.nodes.items():
            if not data.get("declared"):
                unknown[node] = sorted(self.owner(p) for p in self.pred[node])
        for name in referenced:
            if name not in self.nodes and name != "*":
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


class _Builder:
    """Adds nodes and edges as networkx's DiGraph does (attributes of a node added again are
    updated in place; order is insertion order), into plain dicts."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.succ: dict[str, dict[str, None]] = {}
        self.pred: dict[str, dict[str, None]] = {}

    def add_node(self, node: str, **attrs: Any) -> None:
        if node in self.nodes:
            self.nodes[node].update(attrs)
            return
        self.nodes[node] = attrs
        self.succ[node] = {}
        self.pred[node] = {}

    def add_dependency(self, src: str, dst: str) -> None:
        """``src`` depends on ``dst``; an undeclared ``dst`` is added as an unknown service."""
        if dst not in self.nodes:
            self.add_node(dst, type=SERVICE, declared=False)
        if src != dst:
            self.add_node(src)
            self.succ[src][dst] = None
            self.pred[dst][src] = None


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, [str(c) for c in candidates], n=1, cutoff=0.6)
    return found[0] if found else None

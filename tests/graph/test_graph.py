"""The dependency graph: endpoints as nodes, directed reach, checks and lookups."""

from __future__ import annotations

import pytest

from rollback_advisor.errors import NotFound
from rollback_advisor.graph import DependencyGraph

DOC = {"services": {
    "frontend": {
        "endpoints": {"GET /": {"depends_on": ["catalog"]},
                      "POST /checkout": {"depends_on": ["checkout"]},
                      "GET /health": {}},
        "depends_on": ["catalog", "checkout", "ads"], "repo": "github:acme/frontend"},
    "checkout": {"depends_on": ["payment", "cart"]},
    "payment": {"depends_on": ["stripe"]}, "stripe": {"type": "provider"},
    "cart": {"depends_on": ["redis", "ghost"]}, "redis": {"type": "datastore"},
    "catalog": {}, "ads": {}, "a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]},
    "island": {}, "mesh": {"type": "infrastructure"},
}}


@pytest.fixture
def g() -> DependencyGraph:
    return DependencyGraph.from_document(DOC)


def test_endpoint_reach_is_its_own(g: DependencyGraph) -> None:
    """An endpoint reaches what it lists, not every dependency of its service."""
    reach = g.reach_from("frontend:POST /checkout")
    assert reach["frontend"].hops == 0
    assert reach["checkout"].hops == 1
    assert reach["stripe"].hops == 3
    assert reach["stripe"].path == ("frontend:POST /checkout", "checkout", "payment", "stripe")
    assert "ads" not in reach and "catalog" not in reach


def test_endpoint_without_depends_on_falls_back_to_service(g: DependencyGraph) -> None:
    """An endpoint with no depends_on of its own depends on its service's list."""
    assert set(g.dependencies("frontend:GET /health")) == {"catalog", "checkout", "ads"}


def test_resolve_names(g: DependencyGraph) -> None:
    """Targets resolve as node ids, unique endpoint names; unknown ones suggest a near name."""
    assert g.resolve("POST /checkout") == "frontend:POST /checkout"
    assert g.resolve("payment") == "payment"
    with pytest.raises(NotFound, match="did you mean 'checkout'"):
        g.resolve("checkuot")


def test_dependants_and_global_nodes(g: DependencyGraph) -> None:
    """Callers are found transitively; an infrastructure node nobody lists is global."""
    assert g.dependants_of("payment") >= {"checkout", "frontend", "frontend:POST /checkout"}
    assert g.global_nodes == frozenset({"mesh"})
    assert g.repo_map() == {"github:acme/frontend": "frontend"}


def test_check_reports_unknown_cycles_isolated(g: DependencyGraph) -> None:
    """graph check names undeclared nodes and who references them, cycles and islands."""
    report = g.check(referenced=["payment", "new-svc", "*"])
    assert report.unknown_nodes == {"ghost": ["cart"], "new-svc": ["(a stored change)"]}
    assert report.cycles == [["a", "b"]]
    assert "island" in report.isolated and "mesh" in report.isolated
    assert not report.ok
    assert report.endpoints == 3

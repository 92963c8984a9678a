"""Graph import from DESIGN §2 documents, shared Backstage examples and real topologies."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollback_advisor.errors import InvalidInput
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.graph_import import (
    from_design,
    from_edge_lines,
    from_pairs,
    load_graph_file,
    parse_graph_text,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "graphs"


def test_backstage_catalog_folder() -> None:
    """A Backstage folder: dependsOn/dependencyOf and consumesApis -> providesApis edges,
    Resources as datastores (examples from backstage/backstage, Apache-2.0)."""
    doc = load_graph_file(FIXTURES / "backstage")
    g = DependencyGraph.from_document(doc)
    assert g.dependencies("artist-web") == ["artists-db"]
    assert g.node_type("artists-db") == "datastore"
    assert g.dependencies("wayback-search") == ["wayback-archive"]  # via the API it consumes
    assert "artist-web" in g.dependencies("artist-web-lookup")  # from dependencyOf


def test_train_ticket_edge_list() -> None:
    """The Train-Ticket call graph (an edge list derived from its sources) imports whole."""
    g = DependencyGraph.from_document(load_graph_file(FIXTURES / "train-ticket.json"))
    assert len(g.services()) == 43
    assert g.reach_from("ts-preserve-service")["ts-config-service"].hops == 2
    # seat-service and travel-service call each other in the real code: check reports it
    assert g.check().cycles == [["ts-seat-service", "ts-travel-service", "ts-travel2-service"]]


def test_jaeger_pairs_and_text_edges() -> None:
    """Tracing exports ([{parent, child}]) and plain 'a -> b' lines become depends_on."""
    doc = from_pairs([{"parent": "web", "child": "api", "callCount": 3},
                      {"parent": "api", "child": "db", "callCount": 1}])
    assert doc["services"]["web"]["depends_on"] == ["api"] and "db" in doc["services"]
    text = from_edge_lines(["# comment", "web -> api", "api,db", "api cache", ""])
    assert text["services"]["api"]["depends_on"] == ["db", "cache"]


def test_design_yaml_text() -> None:
    """A DESIGN §2 YAML text is recognised and validated."""
    doc = parse_graph_text("services:\n  a: {depends_on: [b]}\n  b: {type: datastore}\n")
    assert doc["services"]["a"]["depends_on"] == ["b"]


@pytest.mark.parametrize(("doc", "message"), [
    ({"services": {"a": {"depends_on": "b"}}}, "graph.services.a.depends_on"),
    ({"services": {"a": {"type": "database"}}}, "graph.services.a.type"),
    ({"services": {"a": {"dependson": ["b"]}}}, "graph.services.a.dependson"),
    ({"nodes": []}, "graph.services"),
])
def test_design_errors_name_the_field(doc: dict, message: str) -> None:
    """Bad graph documents are rejected with the path of the offending field."""
    with pytest.raises(InvalidInput, match=message.replace(".", r"\.")):
        from_design(doc)


def test_unreadable_edge_line() -> None:
    """An edge list line that is not an edge names its line number."""
    with pytest.raises(InvalidInput, match="line 2"):
        from_edge_lines(["a -> b", "a -> b -> c"])

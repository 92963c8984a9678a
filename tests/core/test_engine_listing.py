"""Listing: every candidate counts towards the probabilities, only the best are explained."""

from __future__ import annotations

from rollback_advisor.engine import EngineSettings, rank
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.models import Incident

from .factories import CHAIN, ONSET, make_change

GRAPH = DependencyGraph.from_document(CHAIN)
INCIDENT = Incident(target="web:GET /x", started_at=ONSET)


def test_max_listed_keeps_best_live_and_after_onset() -> None:
    """With max_listed=2 the two best live changes and the (single) after-onset one are listed; the
    others still hold probability, reported as unlisted."""
    changes = [make_change(id=f"c{i}", service=s, minutes_before=m) for i, (s, m) in
               enumerate([("a", 5), ("b", 30), ("side", 10), ("lonely", 50), ("a", -30)])]
    full = rank(changes, GRAPH, INCIDENT)
    short = rank(changes, GRAPH, INCIDENT, EngineSettings(max_listed=2))
    assert [s.change.id for s in short.suspects] == [s.change.id for s in full.suspects
                                                     if not s.after_onset][:2] + ["c4"]
    assert short.candidates == full.candidates == 5
    assert short.no_change_probability == full.no_change_probability
    listed = {s.change.id: s.probability for s in short.suspects}
    assert all(abs(listed[s.change.id] - s.probability) < 1e-12 for s in full.suspects
               if s.change.id in listed)
    total = sum(listed.values()) + short.unlisted_probability + short.no_change_probability
    assert abs(total - 1.0) < 1e-9
    assert all(s.reasons for s in short.suspects)

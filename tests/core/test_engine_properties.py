"""DESIGN §4, one property test each: what the ranking must respect, on generated inputs."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollback_advisor.engine import (
    CandidateFilter,
    EngineSettings,
    _best,
    candidate_of,
    rank,
)
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.models import ChangeKind, Incident, Symptom

from .factories import CHAIN, ONSET, make_change

GRAPH = DependencyGraph.from_document(CHAIN)
INCIDENT = Incident(target="web:GET /x", started_at=ONSET)
NODES = ["web", "a", "b", "c", "d", "side", "lonely", "caller", "mesh", "ghost"]
KINDS = [k.value for k in ChangeKind]
minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
fast = settings(max_examples=60, deadline=None)


def ids(ranking):
    return [s.change.id for s in ranking.suspects]


@st.composite
def changes(draw, low=1, high=8):
    count = draw(st.integers(low, high))
    out = []
    for i in range(count):
        out.append(make_change(
            id=f"c{i}", kind=draw(st.sampled_from(KINDS)),
            service=draw(st.sampled_from(NODES)),
            minutes_before=draw(st.integers(-110, 24 * 60 - 1)),
            status=draw(st.sampled_from(["succeeded", "failed", "in_progress"]))))
    return out


@fast
@given(changes())
def test_after_onset_never_outranks_live(cs) -> None:
    """A change that began after the onset (beyond the skew) never outranks a live one."""
    ranking = rank(cs, GRAPH, INCIDENT)
    flags = [s.after_onset for s in ranking.suspects]
    assert flags == sorted(flags)
    for s in ranking.suspects:
        began_after = s.change.effective_start > ONSET + EngineSettings().clock_skew
        assert s.after_onset == began_after
        if s.after_onset:
            assert s.probability == 0 and "after onset" in s.reasons[1].text


@fast
@given(st.sampled_from(KINDS), st.sampled_from(NODES), minutes, minutes)
def test_closer_in_time_ranks_higher(kind, node, m1, m2) -> None:
    """Other things equal, the change closer to the onset ranks higher."""
    if m1 == m2:
        return
    x = make_change(id="x", kind=kind, service=node, minutes_before=m1)
    y = make_change(id="y", kind=kind, service=node, minutes_before=m2)
    first = "x" if m1 < m2 else "y"
    assert ids(rank([x, y], GRAPH, INCIDENT))[0] == first


@fast
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(KINDS), minutes)
def test_fewer_hops_ranks_higher(h1, h2, kind, m) -> None:
    """Other things equal, fewer dependency hops from the target rank higher."""
    if h1 == h2:
        return
    n = max(h1, h2)
    doc = {"services": {f"s{i}": {"depends_on": [f"s{i + 1}"]} for i in range(n)}}
    doc["services"][f"s{n}"] = {}
    graph = DependencyGraph.from_document(doc)
    inc = Incident(target="s0", started_at=ONSET)
    x = make_change(id="x", kind=kind, service=f"s{h1}", minutes_before=m)
    y = make_change(id="y", kind=kind, service=f"s{h2}", minutes_before=m)
    ranking = rank([x, y], graph, inc)
    assert ids(ranking)[0] == ("x" if h1 < h2 else "y")
    assert {s.change.id: s.hops for s in ranking.suspects} == {"x": h1, "y": h2}


@fast
@given(st.sampled_from(["a", "b", "c", "d", "web"]), st.sampled_from(["side", "lonely",
                                                                      "caller", "ghost"]),
       st.sampled_from(KINDS), minutes)
def test_dependency_outranks_non_dependency(dep, other, kind, m) -> None:
    """A change to something the target depends on outranks one to something it does not."""
    x = make_change(id="x", kind=kind, service=dep, minutes_before=m)
    y = make_change(id="y", kind=kind, service=other, minutes_before=m)
    assert ids(rank([y, x], GRAPH, INCIDENT)) == ["x", "y"]


@fast
@given(st.sampled_from(["web:GET /x", "a", "b", "d", "side", "lonely", "caller"]),
       st.sampled_from(["config", "infrastructure", "feature_flag"]), minutes)
def test_global_change_reaches_every_target(target, kind, m) -> None:
    """A global change (services ["*"] or a shared infrastructure node) reaches any target."""
    inc = Incident(target=target, started_at=ONSET)
    glob = make_change(id="g", kind=kind, services=["*"], minutes_before=m)
    mesh = make_change(id="m", kind=kind, service="mesh", minutes_before=m)
    unrelated = make_change(id="u", kind=kind, service="ghost-free", minutes_before=m)
    ranking = rank([glob, mesh, unrelated], GRAPH, inc)
    by_id = {s.change.id: s for s in ranking.suspects}
    assert by_id["g"].hops == 1 and by_id["m"].hops == 1
    assert ids(ranking)[-1] == "u"


@fast
@given(st.sampled_from(NODES[:-1]), minutes, st.sampled_from([
    {"status": "failed"}, {"status": "in_progress"},
    {"details": {"rollout_percentage": 25}},
]))
def test_failed_or_partial_rollouts_carry_more_risk(node, m, risky) -> None:
    """A failed or partial rollout outranks the same change that succeeded."""
    safe = make_change(id="a-safe", service=node, minutes_before=m)
    bad = make_change(id="z-risky", service=node, minutes_before=m, **risky)
    assert ids(rank([safe, bad], GRAPH, INCIDENT))[0] == "z-risky"


@fast
@given(st.sampled_from(NODES[:-1]), minutes, st.sampled_from([
    "ALTER TABLE orders DROP COLUMN coupon", "DROP TABLE sessions", "TRUNCATE carts",
    "ALTER TABLE t ALTER COLUMN price TYPE numeric(12,2)", "DELETE FROM events"]))
def test_destructive_migrations_carry_more_risk(node, m, sql) -> None:
    """A destructive migration outranks a harmless one, and its reason names the operation."""
    harmless = make_change(id="a", kind="migration", service=node, minutes_before=m,
                           summary="CREATE INDEX idx ON orders(created_at)")
    destructive = make_change(id="z", kind="migration", service=node, minutes_before=m,
                              details={"sql": sql})
    ranking = rank([harmless, destructive], GRAPH, INCIDENT)
    assert ids(ranking)[0] == "z"
    assert any("destructive" in r.text for r in ranking.suspects[0].reasons)


@fast
@given(st.sampled_from(["config", "feature_flag", "infrastructure"]), minutes,
       st.integers(3, 6))
def test_wide_config_carries_more_risk(kind, m, width) -> None:
    """A config push to many services outranks the same push to one (on the same path)."""
    narrow = make_change(id="a", kind=kind, services=["a"], minutes_before=m)
    wide = make_change(id="z", kind=kind, minutes_before=m,
                       services=["a"] + [f"extra{i}" for i in range(width - 1)])
    assert ids(rank([narrow, wide], GRAPH, INCIDENT))[0] == "z"


@fast
@given(st.sampled_from(["certificate", "provider"]), minutes, st.integers(5, 600))
def test_expiry_and_provider_change_count_at_their_effective_time(kind, m, earlier) -> None:
    """A certificate expiry or provider change is placed at `at`, not at when it was noticed."""
    c = make_change(id="x", kind=kind, service="d", minutes_before=m,
                    started_at=(ONSET - timedelta(minutes=m + earlier)).isoformat())
    (s,) = rank([c], GRAPH, INCIDENT).suspects
    minutes_shown = re.search(r"(\d+) (min|h|s)", s.reasons[1].text)
    assert minutes_shown is not None
    assert ("expired" in s.reasons[1].text) == (kind == "certificate")


@fast
@given(changes(2, 8), st.sampled_from(NODES), minutes)
def test_deterministic_and_unrelated_additions_do_not_reorder(cs, node, m) -> None:
    """Same input, same ranking; adding an unrelated change keeps the others' order."""
    first = ids(rank(cs, GRAPH, INCIDENT))
    assert ids(rank(list(reversed(cs)), GRAPH, INCIDENT)) == first
    extra = make_change(id="zz-unrelated", service="lonely", minutes_before=m)
    with_extra = [i for i in ids(rank(cs + [extra], GRAPH, INCIDENT)) if i != "zz-unrelated"]
    assert with_extra == first


def test_ties_break_by_time_then_id() -> None:
    """Equal scores order by time (closer to onset first), then by id."""
    a = make_change(id="b-id", service="a", minutes_before=10)
    b = make_change(id="a-id", service="a", minutes_before=10)
    assert ids(rank([a, b], GRAPH, INCIDENT)) == ["a-id", "b-id"]


@fast
@given(changes())
def test_every_suspect_carries_reasons_with_figures(cs) -> None:
    """Each suspect has prior, time and graph reasons, the time one with its figure."""
    for s in rank(cs, GRAPH, INCIDENT).suspects:
        factors = [r.factor for r in s.reasons]
        assert factors[:3] == ["prior", "time", "graph"]
        assert re.search(r"\d", s.reasons[0].text) and re.search(r"\d", s.reasons[1].text)
        if s.hops:
            assert f"{s.hops} hop" in s.reasons[2].text
            assert "->" in s.reasons[2].text or "global change" in s.reasons[2].text


@fast
@given(st.lists(st.tuples(st.sampled_from(["lonely", "side", "caller"]),
                          st.integers(0, 24 * 60 - 1)), max_size=4))
def test_engine_can_say_no_change_explains_it(unrelated) -> None:
    """With only off-path changes, the no-change hypothesis outweighs every suspect."""
    cs = [make_change(id=f"u{i}", service=s, minutes_before=m)
          for i, (s, m) in enumerate(unrelated)]
    ranking = rank(cs, GRAPH, INCIDENT)
    assert all(ranking.no_change_probability > s.probability for s in ranking.suspects)
    total = ranking.no_change_probability + sum(s.probability for s in ranking.suspects)
    assert abs(total - 1.0) < 1e-9


@fast
@given(st.lists(st.tuples(st.sampled_from(NODES), st.integers(-200, 40 * 24 * 60),
                          st.sampled_from(["production", "staging"]), st.integers(0, 90)),
                min_size=1, max_size=12),
       st.lists(st.sampled_from(NODES), max_size=2))
def test_engine_ranks_exactly_what_the_candidate_filter_admits(drafts, symptoms) -> None:
    """The engine's loop applies the bounds inline for speed; it must agree with the one
    definition (CandidateFilter) that the store's queries and the baselines use."""
    cs = [make_change(id=f"c{i}", service=node, minutes_before=m, environment=env,
                      **({"started_at": (ONSET - timedelta(minutes=m + span)).isoformat()}
                         if span else {}))
          for i, (node, m, env, span) in enumerate(drafts)]
    incident = Incident(target="web:GET /x", started_at=ONSET,
                        symptoms=tuple(Symptom(n, ONSET - timedelta(minutes=3))
                                       for n in symptoms))
    settings_ = EngineSettings(max_listed=len(cs))
    admits = CandidateFilter(GRAPH, incident, settings_).admits
    ranking = rank(cs, GRAPH, incident, settings_)
    assert sorted(ids(ranking)) == sorted(c.id for c in cs if admits(candidate_of(c)))
    assert ranking.candidates == sum(admits(candidate_of(c)) for c in cs)


@fast
@given(changes(1, 10), st.lists(st.sampled_from(NODES), max_size=2),
       st.sampled_from([None, {"region": ("us-east-1",)}]))
def test_every_score_is_the_product_of_its_reasons(cs, symptoms, scope) -> None:
    """One account for score and words: the engine's loop computes the score with inlined
    twins of the time model and the filter (speed), and each suspect's reasons are worked out
    apart from it; the reasons' figures must multiply to the score."""
    incident = Incident(target="web:GET /x", started_at=ONSET, scope=scope,
                        symptoms=tuple(Symptom(n, ONSET - timedelta(minutes=3))
                                       for n in symptoms))
    for s in rank(cs, GRAPH, incident).suspects:
        assert math.prod(r.weight for r in s.reasons) == pytest.approx(s.score, rel=1e-9)


@fast
@given(st.lists(st.tuples(st.sampled_from([-0.5, -0.25, -0.125, -1e-9, 0.0]),
                          st.sampled_from([1.0, 2.0, 3.0])), max_size=40),
       st.integers(0, 45))
def test_the_listed_are_what_sorting_every_candidate_gives(rows, n) -> None:
    """The engine sorts the -scores as floats and only the best few as tuples: the first
    ``n`` must be those a sort of every candidate gives, ties on score broken the same way."""
    kept = [candidate_of(make_change(id=f"c{i}", minutes_before=m))
            for i, (_, m) in enumerate(rows)]
    negatives = [x for x, _ in rows]
    every = sorted((False, x, -c.at, c.id, c) for x, c in zip(negatives, kept, strict=True))
    assert _best(sorted(negatives), negatives, kept, n) == every[:n]

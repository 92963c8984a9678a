"""DESIGN §4 for incidents with several symptoms and a scope, one property test each."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rollback_advisor.engine import rank
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.models import ChangeKind, Incident, Symptom

from .factories import CHAIN, ONSET, make_change

GRAPH = DependencyGraph.from_document(CHAIN)
INCIDENT = Incident(target="web:GET /x", started_at=ONSET)
NODES = ["web", "a", "b", "c", "d", "side", "lonely", "caller", "mesh", "ghost"]
KNOWN = ["web", "a", "b", "c", "d", "side", "lonely", "caller"]
KINDS = [k.value for k in ChangeKind]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]
minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
fast = settings(max_examples=60, deadline=None)


def ids(ranking):
    return [s.change.id for s in ranking.suspects]


def scores(ranking):
    return {s.change.id: s.score for s in ranking.suspects}


def symptom(node: str, minutes_after: int = 0) -> Symptom:
    return Symptom(node, ONSET + timedelta(minutes=minutes_after))


@st.composite
def changes(draw, low=1, high=8):
    count = draw(st.integers(low, high))
    return [make_change(id=f"c{i}", kind=draw(st.sampled_from(KINDS)),
                        service=draw(st.sampled_from(NODES)),
                        minutes_before=draw(st.integers(-110, 24 * 60 - 1)),
                        status=draw(st.sampled_from(["succeeded", "failed", "in_progress"])))
            for i in range(count)]


@fast
@given(changes())
def test_one_symptom_and_no_scope_rank_exactly_as_before(cs) -> None:
    """With the target as the only failing node and no scope, ranking and probabilities are
    exactly those of the bare incident."""
    bare = rank(cs, GRAPH, INCIDENT)
    again = rank(cs, GRAPH, replace(INCIDENT, symptoms=(Symptom("web:GET /x", ONSET),)))
    assert ids(again) == ids(bare)
    assert [s.probability for s in again.suspects] == [s.probability for s in bare.suspects]
    assert again.no_change_probability == bare.no_change_probability


@fast
@given(st.sampled_from(NODES), st.sampled_from(NODES), st.sampled_from(KNOWN),
       st.sampled_from(KINDS), minutes, minutes, st.integers(0, 30),
       st.lists(st.sampled_from(KNOWN), max_size=2))
def test_a_symptom_depending_on_a_but_not_b_never_lowers_a_against_b(
        node_a, node_b, extra, kind, m_a, m_b, later, base) -> None:
    """Common cause: adding a failing node that depends on A's node but not on B's never lowers
    A relative to B (its onset at or after the target's, so neither loses liveness)."""
    reach = GRAPH.reach_from(extra)
    if node_a not in reach or node_b in reach or node_b == "mesh":
        return
    a = make_change(id="a", kind=kind, service=node_a, minutes_before=m_a)
    b = make_change(id="b", kind=kind, service=node_b, minutes_before=m_b)
    before_inc = replace(INCIDENT, symptoms=tuple(symptom(n) for n in base))
    after_inc = replace(before_inc, symptoms=(*before_inc.symptoms, symptom(extra, later)))
    before, after = scores(rank([a, b], GRAPH, before_inc)), scores(rank([a, b], GRAPH, after_inc))
    if before["b"] == 0 or after["b"] == 0:
        return
    assert after["a"] / after["b"] >= before["a"] / before["b"] * (1 - 1e-9)


@fast
@given(st.sampled_from(KINDS), minutes, st.lists(st.sampled_from(["b", "c", "d"]), min_size=1,
                                                  max_size=3, unique=True))
def test_more_failing_nodes_depending_on_a_change_rank_it_higher(kind, m, failing) -> None:
    """Other things equal (same kind, time and distance from the target), the change to the
    node more of the failing nodes depend on ranks first."""
    graph = DependencyGraph.from_document({"services": {
        "web": {"depends_on": ["x", "y"]}, "x": {}, "y": {},
        "b": {"depends_on": ["x"]}, "c": {"depends_on": ["x"]}, "d": {"depends_on": ["x"]}}})
    inc = Incident(target="web", started_at=ONSET, symptoms=tuple(symptom(n) for n in failing))
    x = make_change(id="z-x", kind=kind, service="x", minutes_before=m)
    y = make_change(id="a-y", kind=kind, service="y", minutes_before=m)
    ranking = rank([x, y], graph, inc)
    assert ids(ranking) == ["z-x", "a-y"]
    cause = {s.change.id: s.reasons[3] for s in ranking.suspects}
    assert cause["z-x"].factor == "common_cause"
    assert cause["z-x"].text.startswith(f"{len(failing) + 1} of {len(failing) + 1} failing")
    assert cause["a-y"].text.startswith(f"1 of {len(failing) + 1} failing")


@fast
@given(st.sampled_from(["a", "b", "c", "d", "side"]), st.sampled_from(KINDS), minutes)
def test_a_failing_node_that_is_the_changed_node_counts_zero_hops(node, kind, m) -> None:
    """The changed node itself failing is explained at 0 hops, the strongest evidence."""
    inc = replace(INCIDENT, symptoms=(symptom(node),))
    (s,) = rank([make_change(id="x", kind=kind, service=node, minutes_before=m)],
                GRAPH, inc).suspects
    (cause,) = [r for r in s.reasons if r.factor == "common_cause"]
    assert f"{node} (the changed node)" in cause.text
    assert cause.weight == 1.0


@fast
@given(st.sampled_from(["b", "c", "d"]), st.integers(3, 60), st.sampled_from(KINDS))
def test_a_change_must_precede_the_earliest_onset_of_the_failing_nodes_it_reaches(
        node, gap, kind) -> None:
    """A change after a symptom's onset cannot have caused that symptom's node to fail first: a
    change to what the symptom depends on is after onset; one only the target reaches is not."""
    inc = replace(INCIDENT, symptoms=(symptom(node, -gap - 5),))
    reached = make_change(id="r", kind=kind, service=node, minutes_before=gap)
    only_target = make_change(id="t", kind=kind, service="web", minutes_before=gap)
    by_id = {s.change.id: s for s in rank([reached, only_target], GRAPH, inc).suspects}
    assert by_id["r"].after_onset and by_id["r"].probability == 0
    assert not by_id["t"].after_onset
    assert "after onset" in by_id["r"].reasons[1].text


@fast
@given(st.sampled_from(KINDS), minutes, st.sets(st.sampled_from(REGIONS), min_size=1),
       st.sets(st.sampled_from(REGIONS), min_size=1), st.sampled_from(["a", "b", "web"]))
def test_scope_disjoint_below_overlap_or_unknown_and_overlap_never_below_unknown(
        kind, m, failing, changed, node) -> None:
    """Where both name a label: disjoint ranks below an otherwise equal change whose values
    overlap or whose scope is unknown; overlap never ranks below unknown; the reasons say."""
    inc = replace(INCIDENT, scope={"region": tuple(sorted(failing))})
    scoped = make_change(id="s", kind=kind, service=node, minutes_before=m,
                         scope={"region": sorted(changed)})
    unknown = make_change(id="u", kind=kind, service=node, minutes_before=m)
    ranking = rank([scoped, unknown], GRAPH, inc)
    got = scores(ranking)
    text = {s.change.id: next(r.text for r in s.reasons if r.factor == "scope")
            for s in ranking.suspects}
    if failing & changed:
        assert got["s"] >= got["u"]
        assert "where it fails" in text["s"]
    else:
        assert got["s"] < got["u"]
        assert f"failing in {', '.join(sorted(failing))}" in text["s"]
    assert "not recorded" in text["u"]


@fast
@given(st.sampled_from(KINDS), minutes)
def test_narrow_matching_scope_is_stronger_than_a_wide_one(kind, m) -> None:
    """A change to the failing region alone is stronger evidence than one to every region."""
    inc = replace(INCIDENT, scope={"region": ("us-east-1",)})
    narrow = make_change(id="n", kind=kind, service="a", minutes_before=m,
                         scope={"region": ["us-east-1"]})
    wide = make_change(id="w", kind=kind, service="a", minutes_before=m,
                       scope={"region": REGIONS})
    got = scores(rank([narrow, wide], GRAPH, inc))
    assert got["n"] > got["w"]


@fast
@given(st.integers(2, 25), st.sampled_from(["b", "c", "d", "side"]), st.sampled_from(KINDS))
def test_changes_to_the_failing_nodes_count_whatever_their_age(days, node, kind) -> None:
    """A change weeks old to a failing node itself stays a candidate beyond the window; one as
    old to a node that is not failing does not."""
    inc = replace(INCIDENT, symptoms=(symptom(node),))
    old = make_change(id="old", kind=kind, service=node, minutes_before=days * 24 * 60)
    other = make_change(id="other", kind=kind, service="lonely",
                        minutes_before=days * 24 * 60)
    ranking = rank([old, other], GRAPH, inc)
    assert ids(ranking) == ["old"]
    assert ranking.suspects[0].probability > 0
    assert ids(rank([old, other], GRAPH, INCIDENT)) == []  # without the symptom: window only


@fast
@given(st.integers(1, 60), st.sampled_from(["deploy", "config"]))
def test_failing_nodes_sharing_an_unchanged_dependency_favour_no_change(m, kind) -> None:
    """All failing nodes share a dependency with no recent change: that is evidence for "no
    change", not for the nearest deploy, which only the target depends on."""
    graph = DependencyGraph.from_document({"services": {
        "web": {"depends_on": ["api", "db"]}, "api": {},
        "jobs": {"depends_on": ["db"]}, "admin": {"depends_on": ["db"]},
        "db": {"type": "datastore"}}})
    deploy = make_change(id="d", kind=kind, service="api", minutes_before=m)
    alone = rank([deploy], graph, Incident(target="web", started_at=ONSET))
    spread = rank([deploy], graph, Incident(target="web", started_at=ONSET,
                                            symptoms=(symptom("jobs"), symptom("admin"))))
    assert spread.no_change_probability > alone.no_change_probability
    assert spread.suspects[0].probability < alone.suspects[0].probability
    assert "db" in spread.no_change_reason and "3 of 3 failing nodes" in spread.no_change_reason


def test_a_symptom_missing_from_the_graph_is_kept_and_flagged() -> None:
    """An alarm naming a node the graph does not know is neither dropped nor an error."""
    inc = replace(INCIDENT, symptoms=(symptom("nowhere"),))
    ranking = rank([make_change(id="x", service="a")], GRAPH, inc)
    assert ranking.incident.symptoms == inc.symptoms
    assert any("symptom nowhere is not in the dependency graph" in w for w in ranking.warnings)
    assert ranking.suspects[0].probability == rank([make_change(id="x", service="a")], GRAPH,
                                                   INCIDENT).suspects[0].probability


def test_an_unrelated_change_weighs_less_in_a_larger_organisation() -> None:
    """The chance that a change to an unrelated node broke this target falls as 1/N beyond
    off_path_nodes, so a company ten times larger (with ten times the unrelated changes) does
    not drown its real suspects; on-path weights do not move."""
    small = DependencyGraph.from_document(CHAIN)
    big = DependencyGraph.from_document({"services": {
        **CHAIN["services"], **{f"bg{i}": {} for i in range(490)}}})
    assert len(big.declared) == 500
    unrelated = make_change(id="u", service="lonely")
    onpath = make_change(id="a", service="a")
    s_small = scores(rank([unrelated, onpath], small, INCIDENT))
    s_big = scores(rank([unrelated, onpath], big, INCIDENT))
    assert s_big["a"] == s_small["a"]
    assert abs(s_big["u"] / s_small["u"] - 50 / 500) < 1e-9


def test_a_deploy_left_part_way_keeps_mixed_versions_live_up_to_the_onset() -> None:
    """A deploy that stopped at 87.5% can bite at any moment until it is completed or reverted,
    so its lag is not only its last stage's; a flag set to a percentage is a chosen audience
    and keeps its own lag. The words say which."""
    kw = {"service": "a", "minutes_before": 15 * 60,
          "started_at": (ONSET - timedelta(days=4)).isoformat()}
    full = make_change(id="full", **kw)
    part = make_change(id="part", details={"rollout_percentage": 87.5}, **kw)
    got = {s.change.id: s for s in rank([full, part], GRAPH, INCIDENT).suspects}
    time = {i: next(r for r in s.reasons if r.factor == "time") for i, s in got.items()}
    assert time["part"].weight > 10 * time["full"].weight
    assert "only to 87.5%" in time["part"].text and "mixed versions" in time["part"].text
    flag = make_change(id="flag", kind="feature_flag", service="a", minutes_before=15 * 60,
                       details={"rollout_percentage": 25})
    plain_flag = make_change(id="flag0", kind="feature_flag", service="a",
                             minutes_before=15 * 60)
    ft = {s.change.id: next(r for r in s.reasons if r.factor == "time").weight
          for s in rank([flag, plain_flag], GRAPH, INCIDENT).suspects}
    assert ft["flag"] == ft["flag0"]

"""Learnt priors: the conjugate model, and DESIGN §4's properties of a ranking that learns
(no verdicts -> the configured ranking; within bounds; the same history -> the same ranking)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollback_advisor.config import settings_from_dict
from rollback_advisor.engine import EngineSettings, rank
from rollback_advisor.errors import InvalidInput
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.learning import learn_priors
from rollback_advisor.models import ChangeKind, Incident
from rollback_advisor.verdicts import Verdict, VerdictKind

from .factories import CHAIN, ONSET, make_change

GRAPH = DependencyGraph.from_document(CHAIN)
INCIDENT = Incident(target="web:GET /x", started_at=ONSET)
NODES = ["web", "a", "b", "c", "side", "mesh", "ghost"]
SOURCES = ["github", "gitlab", None]
KINDS = list(ChangeKind)
CULPRIT, NOT, NONE = VerdictKind.CULPRIT, VerdictKind.NOT_CULPRIT, VerdictKind.NO_CHANGE
fast = settings(max_examples=60, deadline=None)


def judged(incident: str, said: VerdictKind, kind: ChangeKind | None = ChangeKind.DEPLOY,
           source: str | None = "github", change: str | None = "c", minute: int = 0,
           by: str = "alice") -> Verdict:
    if said is NONE:
        change, kind, source = None, None, None
    return Verdict(incident, change, said, by, ONSET + timedelta(minutes=minute), None, kind,
                   source)


def history(culprit: int, not_culprit: int, kind: ChangeKind = ChangeKind.DEPLOY,
            source: str | None = "github", tag: str = "") -> list[Verdict]:
    return ([judged(f"{tag}c{i}", CULPRIT, kind, source) for i in range(culprit)]
            + [judged(f"{tag}n{i}", NOT, kind, source) for i in range(not_culprit)])


def test_no_verdicts_no_factors() -> None:
    assert learn_priors([]) == {}
    assert learn_priors([judged("i", NONE)]) == {}  # no_change names no (kind, source)


def test_groups_above_the_pooled_rate_gain_and_below_lose() -> None:
    """Deploys from github, the culprit 9 times in 10, gain against configs from argocd, the
    culprit 2 times in 10; both stay between the configured prior and their raw rate ratio."""
    learnt = learn_priors(history(9, 1) + history(2, 8, ChangeKind.CONFIG, "argocd", "x"))
    github = learnt[(ChangeKind.DEPLOY, "github")]
    argocd = learnt[(ChangeKind.CONFIG, "argocd")]
    assert (github.culprit, github.not_culprit) == (9, 1)
    pooled = (11 + 1) / (20 + 2)
    assert 1 < github.factor < 0.9 / pooled
    assert 0.2 / pooled < argocd.factor < 1
    assert github.describe() == "deploys from github: the culprit in 9 of 10 past verdicts"
    assert (ChangeKind.DEPLOY, "gitlab") not in learnt  # x1: the configured prior


def test_more_verdicts_move_further_and_shrinkage_holds_few_near_one() -> None:
    """At the same rates, ten times the verdicts move a prior further from x1."""
    few = learn_priors(history(1, 0) + history(0, 1, tag="x", source="gitlab"))
    many = learn_priors(history(10, 0) + history(0, 10, tag="x", source="gitlab"))
    key = (ChangeKind.DEPLOY, "github")
    assert 1 < few[key].factor < many[key].factor
    assert few[key].factor < 1.2  # one verdict against five pseudo-verdicts
    strong = learn_priors(history(1, 0) + history(0, 1, tag="x", source="gitlab"),
                          strength=1.0)
    assert strong[key].factor > few[key].factor


def test_bounded_whatever_the_history() -> None:
    learnt = learn_priors(history(0, 500) + history(500, 0, ChangeKind.CONFIG, tag="x"),
                          bounds=(0.5, 1.5))
    assert learnt[(ChangeKind.DEPLOY, "github")].factor == 0.5
    assert learnt[(ChangeKind.CONFIG, "github")].factor <= 1.5


def test_the_latest_verdict_on_a_pair_counts_whatever_the_order() -> None:
    first = judged("inc", CULPRIT, minute=1)
    later = judged("inc", NOT, minute=5, by="bob")
    other = history(3, 1, ChangeKind.CONFIG, tag="x")
    a, b = learn_priors([first, later, *other]), learn_priors([later, *other, first])
    assert a == b and a[(ChangeKind.DEPLOY, "github")].not_culprit == 1
    assert a[(ChangeKind.DEPLOY, "github")].culprit == 0


@pytest.mark.parametrize("bounds", [(0, 4), (1.5, 4), (0.25, 0.5), (1,), "wide", (0.2, True)])
def test_bad_bounds_are_refused_by_name(bounds: object) -> None:
    with pytest.raises(InvalidInput, match="engine.learned_prior_bounds"):
        learn_priors(history(1, 1), bounds=bounds)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="engine.learned_prior_bounds"):
        settings_from_dict({"engine": {"learned_prior_bounds": bounds}})


def test_bounds_from_the_config() -> None:
    engine = settings_from_dict({"engine": {"learned_prior_bounds": [0.5, 2]}}).engine
    assert engine.learned_prior_bounds == (0.5, 2.0)


# -- the ranking (DESIGN §4, learned priors) ---------------------------------------------------

@st.composite
def changes(draw):
    out = []
    for i in range(draw(st.integers(1, 8))):
        out.append(make_change(
            id=f"c{i}", kind=draw(st.sampled_from(KINDS)).value,
            service=draw(st.sampled_from(NODES)), source=draw(st.sampled_from(SOURCES)),
            minutes_before=draw(st.integers(-110, 24 * 60 - 1)),
            status=draw(st.sampled_from(["succeeded", "failed", "in_progress"]))))
    return out


@st.composite
def verdicts(draw, high=40):
    out = []
    for i in range(draw(st.integers(0, high))):
        said = draw(st.sampled_from(list(VerdictKind)))
        out.append(judged(f"inc-{draw(st.integers(0, 15))}", said,
                          draw(st.sampled_from(KINDS)), draw(st.sampled_from(SOURCES)),
                          change=f"x{i % 5}", minute=draw(st.integers(0, 50))))
    return out


def scored(ranking) -> list[tuple[str, float]]:
    return [(s.change.id, s.score) for s in ranking.suspects]


@fast
@given(changes(), verdicts())
def test_no_verdicts_or_learning_off_gives_exactly_the_configured_ranking(cs, vs) -> None:
    """With no verdicts, or learning switched off whatever the verdicts, every score and the
    order are exactly what the configured priors give."""
    configured = rank(cs, GRAPH, INCIDENT)
    assert scored(rank(cs, GRAPH, INCIDENT, priors=learn_priors([]))) == scored(configured)
    off = EngineSettings(learn_priors=False)
    assert scored(rank(cs, GRAPH, INCIDENT, off, learn_priors(vs))) == scored(configured)


@fast
@given(changes(), verdicts(), st.sampled_from([(0.25, 4.0), (0.5, 2.0), (0.9, 1.0)]))
def test_verdicts_move_a_prior_only_within_the_bounds(cs, vs, bounds) -> None:
    """Each suspect's score moves by at most the bounds, and its reasons show the factor."""
    lo, hi = bounds
    base = dict(scored(rank(cs, GRAPH, INCIDENT)))
    learnt = rank(cs, GRAPH, INCIDENT, priors=learn_priors(vs, bounds))
    for s in learnt.suspects:
        ratio = s.score / base[s.change.id]
        assert lo * (1 - 1e-12) <= ratio <= hi * (1 + 1e-12)
        learnt_reasons = [r for r in s.reasons if r.factor == "learnt_prior"]
        if ratio != 1.0:
            (reason,) = learnt_reasons
            assert "past verdict" in reason.text and reason.weight == pytest.approx(ratio)


@fast
@given(changes(), verdicts(), st.randoms(use_true_random=False))
def test_the_same_history_in_any_order_gives_the_same_ranking(cs, vs, rnd) -> None:
    shuffled = list(vs)
    rnd.shuffle(shuffled)
    a = rank(cs, GRAPH, INCIDENT, priors=learn_priors(vs))
    b = rank(cs, GRAPH, INCIDENT, priors=learn_priors(shuffled))
    assert scored(a) == scored(b)
    assert [s.reasons for s in a.suspects] == [s.reasons for s in b.suspects]


def test_the_reasons_say_what_was_learnt() -> None:
    """A reason names the group, its record and the factor the score used; the configured
    prior's reason is as it was; a change of a group no verdict names gets no such reason."""
    x = make_change(id="x", source="github")
    y = make_change(id="y", source="jenkins", minutes_before=30)
    learnt = learn_priors(history(3, 0) + history(0, 8, source="gitlab", tag="g"))
    s, other = rank([x, y], GRAPH, INCIDENT, priors=learnt).suspects
    factor = learnt[(ChangeKind.DEPLOY, "github")].factor
    assert s.reasons[0].text == "deploy: base risk 1"
    assert s.reasons[-1].factor == "learnt_prior"
    assert s.reasons[-1].text == ("deploys from github: the culprit in 3 of 3 past verdicts: "
                                  f"prior x{factor:.3g}")
    assert s.reasons[-1].weight == pytest.approx(factor) and factor > 1
    assert all(r.factor != "learnt_prior" for r in other.reasons)


@pytest.mark.parametrize(("text", "key"), [
    ("engine: {learned_prior_strength: 0}", "engine.learned_prior_strength"),
    ("engine: {learned_prior_bounds: [2, 3]}", "engine.learned_prior_bounds"),
    ("engine: {learned_prior_bounds: 4}", "engine.learned_prior_bounds"),
    ("engine: {learn_priors: sometimes}", "engine.learn_priors"),
])
def test_bad_learning_settings_fail_at_load(tmp_path, text: str, key: str) -> None:
    """A learning setting no history could honour is refused when the config loads, by key."""
    from rollback_advisor.config import load_settings
    from rollback_advisor.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key):
        load_settings(path, environ={})

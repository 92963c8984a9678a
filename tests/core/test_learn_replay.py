"""The learning replay: date order, each case ranked before its own verdicts, what it feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rollback_advisor.cases import Case, case_from_dict
from rollback_advisor.config import Settings
from rollback_advisor.engine import EngineSettings
from rollback_advisor.learn_replay import replay
from rollback_advisor.models import ChangeKind
from rollback_advisor.verdicts import VerdictKind

DAY0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
GRAPH = {"services": {"web": {"depends_on": ["api", "db"]}, "api": {}, "db": {}}}


def case(i: int, culprit: bool = True) -> Case:
    """A deploy from ``noisy`` to api lands 3 min before the onset; the culprit, a config from
    ``chef`` to db, 25 min before (or, with ``culprit`` false, nothing caused it)."""
    onset = DAY0 + timedelta(days=i)

    def at(minutes: int) -> str:
        return (onset - timedelta(minutes=minutes)).isoformat()

    data: dict[str, Any] = {
        "name": f"case-{i:02d}", "graph": GRAPH,
        "changes": [{"id": f"noise-{i}", "kind": "deploy", "service": "api", "at": at(3),
                     "source": "noisy", "version": "v2", "previous_version": "v1"},
                    {"id": f"cfg-{i}", "kind": "config", "service": "db", "at": at(25),
                     "source": "chef"}],
        "incident": {"target": "web", "started_at": onset.isoformat()},
        "expect": {"culprit": f"cfg-{i}" if culprit else None,
                   "decision": "rollback" if culprit else "investigate"}}
    return case_from_dict(data)


def test_walks_in_date_order_and_ranks_before_feeding() -> None:
    """Whatever order the cases come in, they are replayed by onset; the first sees no
    verdict; each feeds the culprit and, when the top suspect was wrong, a not_culprit."""
    cases = [case(i) for i in range(8)]
    result = replay(list(reversed(cases)), Settings())
    names = [p["name"] for p in result["per_case"]]
    assert names == [c.name for c in cases]
    assert result["per_case"][0]["verdicts_before"] == 0
    assert result["per_case"][0]["with"] == result["per_case"][0]["without"]
    fed = [p["verdicts_before"] for p in result["per_case"]]
    assert fed == sorted(fed) and fed[1] in (1, 2)
    priors = {(p["kind"], p["source"]): p for p in result["priors"]}
    chef, noisy = priors[("config", "chef")], priors[("deploy", "noisy")]
    assert chef["culprit"] == 8 and chef["not_culprit"] == 0 and chef["factor"] > 1
    assert noisy["culprit"] == 0 and noisy["not_culprit"] >= 1 and noisy["factor"] < 1


def test_learning_turns_a_repeated_mistake_around() -> None:
    """The noisy deploy, closer to the onset, is blamed at first; after a few verdicts the
    culprit's kind and source rank first, where the configured priors still rank it second."""
    result = replay([case(i) for i in range(12)], Settings())
    first, last = result["per_case"][0], result["per_case"][-1]
    assert first["without"]["rank"] == 2 and last["without"]["rank"] == 2
    assert last["with"]["rank"] == 1
    assert result["with"]["top1"] > result["without"]["top1"]
    assert result["decisions_worse"] == []


def test_tighter_bounds_hold_the_ranking() -> None:
    """With the bounds at x1 learning cannot move anything, whatever the verdicts."""
    settings = Settings(engine=EngineSettings(learned_prior_bounds=(1.0, 1.0)))
    result = replay([case(i) for i in range(12)], settings)
    assert all(p["with"] == p["without"] for p in result["per_case"])


def test_a_no_change_case_feeds_no_change_and_clears_the_top_suspect() -> None:
    result = replay([case(0, culprit=False), case(1)], Settings())
    """no_change names no change (it teaches no (kind, source)); the blamed top suspect gets
    its not_culprit."""
    from rollback_advisor.advisor import advise
    from rollback_advisor.learn_replay import case_verdicts

    quiet = case(0, culprit=False)
    fed = case_verdicts(quiet, advise(quiet.changes, quiet.graph, quiet.incident, Settings()))
    assert [(v.verdict, v.change, v.kind, v.source) for v in fed] == [
        (VerdictKind.NO_CHANGE, None, None, None),
        (VerdictKind.NOT_CULPRIT, "noise-0", ChangeKind.DEPLOY, "noisy")]
    result = replay([quiet, case(1)], Settings())
    assert result["verdicts"] == 2 + 2  # then the culprit and the blamed noisy deploy
    priors = {(p["kind"], p["source"]): p for p in result["priors"]}
    assert priors[("deploy", "noisy")]["not_culprit"] == 2

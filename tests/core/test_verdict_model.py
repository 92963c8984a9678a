"""The verdict model: validated, each bad input named by its field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind
from rollback_advisor.verdicts import Verdict, VerdictKind, verdict_from_dict

GOOD = {"incident": "inc-7", "change": "d-142", "verdict": "culprit", "by": "alice",
        "at": "2026-11-20T14:30:00Z", "note": "pool size halved"}


def test_round_trip() -> None:
    v = verdict_from_dict(GOOD)
    assert (v.incident, v.change, v.verdict, v.by, v.note) == (
        "inc-7", "d-142", VerdictKind.CULPRIT, "alice", "pool size halved")
    assert v.at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert verdict_from_dict(v.to_dict()) == v
    assert verdict_from_dict({**GOOD, "kind": "config", "source": "argocd"}).kind is \
        ChangeKind.CONFIG


@pytest.mark.parametrize(("change", "field"), [
    ({"verdict": "guilty"}, "verdict"),
    ({"verdict": None}, "verdict"),
    ({"incident": ""}, "incident"),
    ({"incident": 7}, "incident"),
    ({"incident": "x" * 257}, "incident"),
    ({"by": None}, "by"),
    ({"by": "  "}, "by"),
    ({"at": "yesterday"}, "at"),
    ({"at": "2026-11-20T14:30:00"}, "at"),
    ({"note": 3}, "note"),
    ({"note": "a\x00b"}, "note"),
    ({"change": None}, "change"),  # culprit names a change
    ({"verdict": "not_culprit", "change": None}, "change"),
    ({"verdict": "no_change"}, "change"),  # no_change names none
    ({"change": ""}, "change"),
    ({"kind": "release"}, "kind"),
    ({"source": 5}, "source"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        verdict_from_dict({**GOOD, **change})
    assert err.value.field == field


def test_missing_time_and_non_object() -> None:
    with pytest.raises(InvalidInput, match="^at:"):
        verdict_from_dict({k: v for k, v in GOOD.items() if k != "at"})
    with pytest.raises(InvalidInput, match="^verdict:"):
        verdict_from_dict(["culprit"])


def test_constructed_directly_is_checked_too() -> None:
    with pytest.raises(InvalidInput, match="^at:"):
        Verdict("i", "c", VerdictKind.CULPRIT, "a", datetime(2026, 11, 20))
    no_change = Verdict("i", None, VerdictKind.NO_CHANGE, "a", datetime(2026, 11, 20, tzinfo=UTC))
    assert no_change.key == ("i", None)

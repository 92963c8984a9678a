"""Change-event validation: bad input is rejected with the field, the value and what is expected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import (
    ChangeKind,
    ChangeStatus,
    Symptom,
    change_from_dict,
    changes_from_dicts,
    symptoms_from_list,
)

GOOD = {"id": "github:acme/pay/1", "kind": "deploy", "service": "payment",
        "at": "2026-11-20T13:59:10+01:00", "version": "v1.4.2", "previous_version": "v1.4.1"}


def test_valid_event_is_normalised_to_utc() -> None:
    """A valid event parses, its time converted to UTC and its defaults filled in."""
    change = change_from_dict(GOOD)
    assert change.at == datetime(2026, 11, 20, 12, 59, 10, tzinfo=UTC)
    assert change.kind is ChangeKind.DEPLOY
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.environment == "production"
    assert change.services == ("payment",)
    assert change_from_dict(change.to_dict()) == change


@pytest.mark.parametrize(
    ("patch", "field", "expected"),
    [
        ({"at": "2026-11-20T13:59:10"}, "at", "offset"),
        ({"at": "yesterday"}, "at", "RFC 3339"),
        ({"kind": "release"}, "kind", "deploy"),
        ({"started_at": "2026-11-20T14:30:00+01:00"}, "started_at", "no later than at"),
        ({"service": None}, "service", "exactly one of service"),
        ({"services": ["a"]}, "service", "exactly one of service"),
        ({"version": 142}, "version", "a string"),
        ({"status": "done"}, "status", "succeeded"),
        ({"reversible": "no"}, "reversible", "true, false or null"),
        ({"sevice": "x"}, "sevice", "no such field"),
        ({"details": []}, "details", "JSON object"),
        ({"id": ""}, "id", "non-empty"),
    ],
)
def test_bad_fields_are_named(patch: dict, field: str, expected: str) -> None:
    """Each kind of bad input names the field and says what was expected."""
    data = {**GOOD, **patch}
    data = {k: v for k, v in data.items() if not (k == "service" and v is None)}
    with pytest.raises(InvalidInput) as info:
        change_from_dict(data)
    assert info.value.field == field
    assert expected in info.value.message


def test_missing_at_is_rejected() -> None:
    """An event without `at` is rejected: the engine cannot place it in time."""
    data = {k: v for k, v in GOOD.items() if k != "at"}
    with pytest.raises(InvalidInput, match="^at: "):
        change_from_dict(data)


def test_global_change_and_duplicate_services() -> None:
    """`services: ["*"]` is a global change; repeated names are folded."""
    change = change_from_dict({**{k: v for k, v in GOOD.items() if k != "service"},
                               "kind": "config", "services": ["*"]})
    assert change.is_global
    two = change_from_dict({**{k: v for k, v in GOOD.items() if k != "service"},
                            "services": ["a", "b", "a"]})
    assert two.services == ("a", "b")


def test_batch_rejection_points_at_the_item() -> None:
    """A bad item in a batch rejects the batch and says which item."""
    with pytest.raises(InvalidInput) as info:
        changes_from_dicts([GOOD, {**GOOD, "id": "x", "kind": "nope"}])
    assert info.value.field == "changes[1].kind"
    with pytest.raises(InvalidInput, match="not repeated"):
        changes_from_dicts([GOOD, GOOD])


def test_scope_is_validated_normalised_and_round_trips() -> None:
    """Scope values are kept sorted and unique, so equal scopes compare and store equal."""
    change = change_from_dict({**GOOD, "scope": {"region": ["us-east-1", "eu-west-1",
                                                             "us-east-1"], "cell": ["7"]}})
    assert change.scope == {"cell": ("7",), "region": ("eu-west-1", "us-east-1")}
    assert change.to_dict()["scope"] == {"cell": ["7"], "region": ["eu-west-1", "us-east-1"]}
    assert change_from_dict(change.to_dict()) == change
    assert change_from_dict({**GOOD, "scope": {}}).scope is None  # empty: unknown


@pytest.mark.parametrize(
    ("scope", "field"),
    [(["us-east-1"], "scope"), ({"region": []}, "scope.region"), ({"region": [1]}, "scope.region"),
     ({"region": [""]}, "scope.region"), ({"": ["x"]}, "scope"),
     ({"region": {"a": 1}}, "scope.region"), ({"region": "us-east-1"}, "scope.region")],
)
def test_bad_scope_names_the_field(scope: object, field: str) -> None:
    """A scope that is not label -> list of strings is refused, naming where it went wrong."""
    with pytest.raises(InvalidInput) as err:
        change_from_dict({**GOOD, "scope": scope})
    assert err.value.field == field


def test_symptoms_are_validated_and_keep_the_earliest_onset() -> None:
    """A symptom needs a node and an offset-carrying time; a node given twice keeps its first
    onset; a missing time takes the incident's when one is offered."""
    onset = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    got = symptoms_from_list([{"node": "cart", "started_at": "2026-11-20T14:04:00Z"},
                              {"node": "cart", "started_at": "2026-11-20T14:01:00+00:00"},
                              {"node": "db"}], default_onset=onset)
    assert got == (Symptom("cart", datetime(2026, 11, 20, 14, 1, tzinfo=UTC)),
                   Symptom("db", onset))
    for bad, field in [([{"started_at": "2026-11-20T14:04:00Z"}], "symptoms[0].node"),
                       ([{"node": "cart", "started_at": "2026-11-20T14:04:00"}],
                        "symptoms[0].started_at"),
                       ([{"node": "cart"}], "symptoms[0].started_at"),
                       ([{"node": "cart", "at": "x"}], "symptoms[0].at"),
                       ({"node": "cart"}, "symptoms"), (["cart"], "symptoms[0]")]:
        with pytest.raises(InvalidInput) as err:
            symptoms_from_list(bad)
        assert err.value.field == field, bad

"""Change-event validation: bad input is rejected with the field, the value and what is expected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind, ChangeStatus, change_from_dict, changes_from_dicts

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

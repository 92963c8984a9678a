"""Canonical DESIGN §1 events posted to a generic hook."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.hooks.base import content_hash
from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind

from .helpers import assert_valid, parse

EVENT: dict[str, Any] = {"kind": "deploy", "service": "checkout", "at": "2026-11-20T14:01:00Z",
                         "version": "v1.4.2", "previous_version": "v1.4.1"}


def gen(body: Any, headers: dict[str, str] | None = None, **context: Any):
    parsed = parse("generic", body, headers, **context)
    assert_valid(parsed, "generic")
    return parsed


def test_single_event_with_its_own_id() -> None:
    (change,) = gen({**EVENT, "id": "ci:build-42", "source": "jenkins"}).changes
    assert change.id == "ci:build-42"
    assert change.source == "jenkins"


def test_id_derived_from_canonical_json_is_stable() -> None:
    """Key order and whitespace do not change the derived id; content does."""
    (change,) = gen(EVENT).changes
    assert change.id.startswith("generic:") and len(change.id) == len("generic:") + 16
    assert change.source == "generic"
    reordered = json.dumps(dict(reversed(list(EVENT.items()))), indent=4).encode()
    again = gen(reordered)
    assert again.changes == [change]
    assert again.delivery_key == gen(EVENT).delivery_key
    assert gen({**EVENT, "version": "v1.4.3"}).changes[0].id != change.id


@pytest.mark.parametrize("wrap", [lambda items: items, lambda items: {"changes": items}])
def test_batches(wrap: Any) -> None:
    items = [EVENT, {**EVENT, "id": "x:2", "kind": "config", "service": "cart"}]
    changes = gen(wrap(items)).changes
    assert [c.kind for c in changes] == [ChangeKind.DEPLOY, ChangeKind.CONFIG]


def test_one_bad_item_rejects_the_whole_batch_naming_its_index() -> None:
    items = [EVENT, {**EVENT, "at": "2026-11-20T14:01:00"}]  # no offset
    with pytest.raises(InvalidInput) as err:
        gen(items)
    assert err.value.field == "changes[1].at"
    with pytest.raises(InvalidInput) as err:
        gen({"changes": [EVENT, "nope"]})
    assert err.value.field == "changes[1]"


def test_changes_envelope_takes_no_other_field() -> None:
    with pytest.raises(InvalidInput) as err:
        gen({"changes": [EVENT], "source": "ci"})
    assert err.value.field == "source"


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="not repeated"):
        gen([{**EVENT, "id": "a"}, {**EVENT, "id": "a", "service": "cart"}])


def test_environment_default_and_filter() -> None:
    """An event without environment takes the hook's; other environments are dropped."""
    (change,) = gen(EVENT, environment="prod-eu").changes
    assert change.environment == "prod-eu"
    parsed = gen([{**EVENT, "environment": "staging"}, {**EVENT, "id": "x:2"}],
                 environment="production")
    assert [c.id for c in parsed.changes] == ["x:2"]
    only_staging = gen({**EVENT, "environment": "staging"}, environment="production")
    assert "environment staging is filtered out" in (only_staging.ignored or "")


def test_empty_batch_and_delivery_header() -> None:
    assert gen([]).ignored == "the delivery holds no change event"
    parsed = gen(EVENT, {"x-rollback-advisor-delivery": "ci-run-7"})
    assert parsed.delivery_key == "ci-run-7#" + content_hash([EVENT])[:16]
    # the same key with other content (a later status of the change) is another delivery
    later = gen({**EVENT, "status": "failed"}, {"x-rollback-advisor-delivery": "ci-run-7"})
    assert later.delivery_key.startswith("ci-run-7#")
    assert later.delivery_key != parsed.delivery_key


@pytest.mark.parametrize("body", [b"{oops", b"", b"42", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        gen(body)

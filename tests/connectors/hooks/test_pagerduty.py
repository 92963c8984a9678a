"""PagerDuty Events API v2 change events (bodies built here in the documented shape)."""

from __future__ import annotations

import copy
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.hooks import parser_for, sign
from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind, ChangeStatus

from .helpers import assert_valid, parse

BUILD_EVENT: dict[str, Any] = {
    "routing_key": "0123456789abcdef0123456789abcdef",
    "payload": {
        "summary": "Build passed: raise checkout timeout to 30 s",
        "timestamp": "2026-11-20T14:01:02.315+0000",
        "source": "prod-build-agent-7",
        "custom_details": {"build_state": "passed", "build_number": "220",
                           "service": "checkout", "version": "v1.4.2"},
    },
    "links": [{"href": "https://ci.example.com/builds/220", "text": "View build"}],
}


def pd(body: Any, **context: Any):
    parsed = parse("pagerduty", body, {}, **context)
    assert_valid(parsed, "pagerduty")
    return parsed


def event(**details: Any) -> dict[str, Any]:
    out = copy.deepcopy(BUILD_EVENT)
    out["payload"]["custom_details"].update(details)
    return out


def test_change_event() -> None:
    parsed = pd(BUILD_EVENT)
    (change,) = parsed.changes
    assert change.id.startswith("pagerduty:") and len(change.id) == len("pagerduty:") + 16
    assert change.kind is ChangeKind.DEPLOY
    assert change.services == ("checkout",)
    assert change.at == datetime(2026, 11, 20, 14, 1, 2, tzinfo=UTC)
    assert change.version == "v1.4.2"
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.url == "https://ci.example.com/builds/220"
    assert change.summary == "Build passed: raise checkout timeout to 30 s"
    assert "routing_key" not in str(change.details)
    assert parsed.event == "change_event"


def test_id_is_stable_across_redelivery_and_routing_keys() -> None:
    first = pd(BUILD_EVENT)
    other_key = {**BUILD_EVENT, "routing_key": "ffffffffffffffffffffffffffffffff"}
    again = pd(other_key)
    assert again.changes == first.changes
    assert again.delivery_key == first.delivery_key
    assert pd(event(build_number="221")).changes[0].id != first.changes[0].id


def test_service_from_the_mapped_source() -> None:
    body = copy.deepcopy(BUILD_EVENT)
    del body["payload"]["custom_details"]["service"]
    (change,) = pd(body, mapping={"prod-build-agent-7": "payments"}).changes
    assert change.services == ("payments",)
    (unmapped,) = pd(body).changes
    assert unmapped.services == ("prod-build-agent-7",)


@pytest.mark.parametrize(("details", "kind", "status"), [
    ({"kind": "config"}, ChangeKind.CONFIG, ChangeStatus.SUCCEEDED),
    ({"build_state": "failed"}, ChangeKind.DEPLOY, ChangeStatus.FAILED),
    ({"status": "running"}, ChangeKind.DEPLOY, ChangeStatus.IN_PROGRESS),
    ({"kind": "feature_flag", "build_state": "weird"}, ChangeKind.FEATURE_FLAG,
     ChangeStatus.SUCCEEDED)])
def test_custom_details_refine_the_change(details: dict[str, str], kind: ChangeKind,
                                          status: ChangeStatus) -> None:
    (change,) = pd(event(**details)).changes
    assert (change.kind, change.status) == (kind, status)


def test_environment_from_details_and_filter() -> None:
    assert pd(event(environment="staging")).changes[0].environment == "staging"
    parsed = pd(event(environment="staging"), environment="production")
    assert "environment staging is filtered out" in (parsed.ignored or "")
    assert pd(BUILD_EVENT, environment="prod").changes[0].environment == "prod"


def test_alert_and_webhook_v3_events_are_ignored() -> None:
    alert = {"routing_key": "k", "event_action": "trigger", "dedup_key": "srv01/mysql",
             "payload": {"summary": "DISK at 99%", "source": "db1", "severity": "critical"}}
    assert "not a change event" in (pd(alert).ignored or "")
    v3 = {"event": {"id": "01ABC", "event_type": "incident.triggered", "data": {}}}
    parsed = pd(v3)
    assert parsed.ignored == "PagerDuty webhook event incident.triggered is not a change event"
    assert parsed.delivery_key == "01ABC"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b["payload"].pop("timestamp"), "payload.timestamp"),
    (lambda b: b["payload"].update(timestamp="2026-11-20 14:01:02"), "payload.timestamp"),
    (lambda b: b.pop("payload"), "payload"),
    (lambda b: b["payload"].pop("summary"), "payload.summary"),
    (lambda b: b["payload"]["custom_details"].update(kind="deploys"), "kind")])
def test_bad_change_events_are_invalid_input(mutate: Any, field: str) -> None:
    body = copy.deepcopy(BUILD_EVENT)
    mutate(body)
    with pytest.raises(InvalidInput) as err:
        pd(body)
    assert err.value.field == field


def test_verify_accepts_our_signature_or_pagerduty_v1_signatures() -> None:
    parser, body, secret = parser_for("pagerduty"), b'{"payload": {}}', "whsec"
    good = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert parser.verify({"X-Rollback-Advisor-Signature": sign(body, secret)}, body, secret)
    assert parser.verify({"x-pagerduty-signature": f"v1=deadbeef, v1={good}"}, body, secret)
    assert not parser.verify({"X-PagerDuty-Signature": "v1=deadbeef,v1=cafe"}, body, secret)
    assert not parser.verify({"X-PagerDuty-Signature": f"v2={good}"}, body, secret)
    assert not parser.verify({}, body, secret)

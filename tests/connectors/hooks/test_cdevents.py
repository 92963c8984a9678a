"""CDEvents: the spec's v0.5.1 conformance events, plain and over CloudEvents HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind

from .helpers import assert_valid, fixture, fixture_json, parse

EXAMPLES = "cdevents-spec-v0.5.1/examples"
EVENT_ID = "271069a8-fc18-44f1-b38f-9d70a1695819"
CHANGE_ID = f"cdevents:/event/source/123:{EVENT_ID}"
DIGEST = "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"


def cd(body: bytes | Any, headers: dict[str, str] | None = None, **context: Any):
    parsed = parse("cdevents", body, headers, **context)
    assert_valid(parsed, "cdevents")
    return parsed


def test_service_deployed() -> None:
    """The purl names the service (myapp) and its version; the environment id is kept."""
    parsed = cd(fixture(f"{EXAMPLES}/service_deployed.json"))
    (change,) = parsed.changes
    assert change.id == CHANGE_ID
    assert change.kind is ChangeKind.DEPLOY
    assert change.services == ("myapp",)
    assert change.environment == "test123"
    assert change.version == DIGEST
    assert change.at == datetime(2023, 3, 20, 14, 27, 5, tzinfo=UTC)
    assert change.details["subject_id"] == "mySubject123"
    assert parsed.event == "dev.cdevents.service.deployed.0.3.0"
    assert parsed.delivery_key == f"/event/source/123:{EVENT_ID}"


def test_service_rolledback_is_a_rollback_and_upgraded_a_deploy() -> None:
    (rolled,) = cd(fixture(f"{EXAMPLES}/service_rolledback.json")).changes
    assert rolled.kind is ChangeKind.ROLLBACK
    (upgraded,) = cd(fixture(f"{EXAMPLES}/service_upgraded.json")).changes
    assert upgraded.kind is ChangeKind.DEPLOY


@pytest.mark.parametrize("key", ["mySubject123", "myapp", "pkg:oci/myapp@sha256%3A0b31b1c02ff458a"
                                 "d9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"])
def test_mapping_by_subject_or_artifact(key: str) -> None:
    (change,) = cd(fixture(f"{EXAMPLES}/service_deployed.json"),
                   mapping={key: "checkout"}).changes
    assert change.services == ("checkout",)


def test_subject_id_path_names_the_service_without_an_artifact() -> None:
    event = fixture_json(f"{EXAMPLES}/service_deployed.json")
    event["subject"]["id"] = "service/payment"
    del event["subject"]["content"]["artifactId"]
    (change,) = cd(event).changes
    assert change.services == ("payment",)
    assert change.version is None


@pytest.mark.parametrize("name", ["service_removed.json", "incident_detected.json"])
def test_other_cdevents_are_ignored_with_a_reason(name: str) -> None:
    parsed = cd(fixture(f"{EXAMPLES}/{name}"))
    assert "is not a service deployment" in (parsed.ignored or "")


def _binary_headers(event: dict[str, Any]) -> dict[str, str]:
    context = event["context"]
    return {"ce-specversion": "1.0", "ce-id": context["id"], "ce-source": context["source"],
            "ce-type": context["type"], "ce-time": context["timestamp"],
            "ce-subject": event["subject"]["id"], "Content-Type": "application/json"}


def test_binary_mode_with_the_whole_cdevent() -> None:
    event = fixture_json(f"{EXAMPLES}/service_deployed.json")
    plain = cd(event).changes
    assert cd(event, _binary_headers(event)).changes == plain


def test_binary_mode_with_only_the_subject() -> None:
    """When the body is just the data, the ce-* headers supply id, source, type and time."""
    event = fixture_json(f"{EXAMPLES}/service_rolledback.json")
    (change,) = cd(event["subject"], _binary_headers(event)).changes
    assert change.id == CHANGE_ID
    assert change.kind is ChangeKind.ROLLBACK
    assert change.services == ("myapp",)


def test_structured_mode_with_data_and_data_base64() -> None:
    event = fixture_json(f"{EXAMPLES}/service_deployed.json")
    envelope = {"specversion": "1.0", "id": event["context"]["id"],
                "source": event["context"]["source"], "type": event["context"]["type"],
                "time": event["context"]["timestamp"], "datacontenttype": "application/json"}
    headers = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
    (change,) = cd({**envelope, "data": event}, headers).changes
    assert change.id == CHANGE_ID
    encoded = base64.b64encode(json.dumps(event).encode()).decode()
    assert cd({**envelope, "data_base64": encoded}, headers).changes == [change]


def test_batch_mode() -> None:
    deployed = fixture_json(f"{EXAMPLES}/service_deployed.json")
    rolled = fixture_json(f"{EXAMPLES}/service_rolledback.json")
    rolled["context"]["id"] = "second"
    batch = [{"specversion": "1.0", "id": e["context"]["id"], "source": "/event/source/123",
              "type": e["context"]["type"], "data": e} for e in (deployed, rolled)]
    parsed = cd(batch, {"Content-Type": "application/cloudevents-batch+json"})
    assert [c.kind for c in parsed.changes] == [ChangeKind.DEPLOY, ChangeKind.ROLLBACK]


def test_environment_filter() -> None:
    parsed = cd(fixture(f"{EXAMPLES}/service_deployed.json"), environment="production")
    assert parsed.ignored == ("environment test123 is filtered out (this hook stores production "
                              "only)")


def test_go_sdk_nanosecond_timestamps() -> None:
    event = fixture_json(f"{EXAMPLES}/service_deployed.json")
    event["context"]["timestamp"] = "2023-03-20T16:27:05.315384123+02:00"
    assert cd(event).changes[0].at == datetime(2023, 3, 20, 14, 27, 5, tzinfo=UTC)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e["context"].pop("type"), "context.type"),
    (lambda e: e["context"].pop("id"), "context.id"),
    (lambda e: e["context"].update(timestamp="2023-03-20T14:27:05"), "context.timestamp"),
    (lambda e: e.update(subject="oops"), "subject")])
def test_bad_events_are_invalid_input(mutate: Any, field: str) -> None:
    event = fixture_json(f"{EXAMPLES}/service_deployed.json")
    mutate(event)
    with pytest.raises(InvalidInput) as err:
        cd(event)
    assert err.value.field == field


def test_environment_id_goes_through_the_environment_map() -> None:
    """Issue #7: an environment id naming a region (``production/us-east-1``) gives the
    environment and the scope the ``environment_map`` rules say; without rules it is kept."""
    from rollback_advisor.environments import environment_rules

    event = fixture_json(f"{EXAMPLES}/service_deployed.json")
    event["subject"]["content"]["environment"]["id"] = "production/us-east-1"
    rules = environment_rules([{"match": "(?P<environment>[a-z]+)/(?P<region>[a-z0-9-]+)"}])
    (change,) = cd(event, environments=rules).changes
    assert (change.environment, change.scope) == ("production", {"region": ("us-east-1",)})
    assert change.details["environment_name"] == "production/us-east-1"
    (plain,) = cd(event).changes
    assert (plain.environment, plain.scope) == ("production/us-east-1", None)

"""GitLab deliveries: values taken from the go-gitlab and go-playground payloads."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.hooks import parser_for
from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind, ChangeStatus

from .helpers import assert_valid, ctx, fixture, fixture_json, parse

DEPLOYMENT = "gitlab-webhooks-go-gitlab/deployment.json"
PIPELINE = "gitlab-webhooks-go-gitlab/pipeline.json"
RELEASE = "gitlab-webhooks-go-gitlab/release.json"
EVENT_UUID = "6d6f5a4e-1b9e-4b39-8c69-2a7c8f3f9d10"


def gl(event: str, body: bytes | Any, headers: dict[str, str] | None = None, **context: Any):
    parsed = parse("gitlab", body, {"X-Gitlab-Event": event, **(headers or {})}, **context)
    assert_valid(parsed, "gitlab")
    return parsed


def test_deployment_success() -> None:
    """GitLab's '2021-04-28 21:50:00 +0200' becomes 19:50 UTC; the full sha comes from the URL."""
    parsed = gl("Deployment Hook", fixture(DEPLOYMENT), {"X-Gitlab-Event-UUID": EVENT_UUID},
                mapping={"root/test-deployment-webhooks": "checkout"})
    (change,) = parsed.changes
    assert change.id == "gitlab:root/test-deployment-webhooks:deployment:15"
    assert change.services == ("checkout",)
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.at == datetime(2021, 4, 28, 19, 50, tzinfo=UTC)
    assert change.environment == "staging"
    assert change.version == "279484c09fbe69ededfced8c1bb6e6d24616b468"
    assert change.author == "user1"
    assert change.url == "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796"
    assert change.details["ref"] == "1.0.0"
    assert parsed.delivery_key == EVENT_UUID
    assert parsed.event == "Deployment Hook"


def test_go_playground_deployment_without_ref() -> None:
    (change,) = gl("Deployment Hook",
                   fixture("gitlab-webhooks-go-playground/deployment-event.json")).changes
    assert change.services == ("test-deployment-webhooks",)  # unmapped: the project path's tail
    assert change.author == "root"
    assert "ref" not in change.details


@pytest.mark.parametrize(("status", "expected"), [
    ("running", ChangeStatus.IN_PROGRESS), ("failed", ChangeStatus.FAILED),
    ("canceled", ChangeStatus.FAILED)])
def test_deployment_statuses(status: str, expected: ChangeStatus) -> None:
    payload = fixture_json(DEPLOYMENT)
    payload["status"] = status
    (change,) = gl("Deployment Hook", payload).changes
    assert change.status is expected
    assert change.id == "gitlab:root/test-deployment-webhooks:deployment:15"
    assert change.details["state"] == status
    if status == "running":
        assert change.started_at == change.at


def test_unknown_deployment_status_is_ignored() -> None:
    payload = fixture_json(DEPLOYMENT)
    payload["status"] = "skipped"
    assert "skipped" in (gl("Deployment Hook", payload).ignored or "")


def test_environment_filter() -> None:
    parsed = gl("Deployment Hook", fixture(DEPLOYMENT), environment="production")
    assert parsed.ignored == ("environment staging is filtered out (this hook stores production "
                              "only)")
    assert gl("Deployment Hook", fixture(DEPLOYMENT), environment="staging").changes


def test_delivery_key_prefers_idempotency_key_then_uuid_then_a_stable_hash() -> None:
    body = fixture(DEPLOYMENT)
    both = {"Idempotency-Key": "idem-1", "X-Gitlab-Event-UUID": EVENT_UUID}
    assert gl("Deployment Hook", body, both).delivery_key == "idem-1"
    first, again = gl("Deployment Hook", body), gl("Deployment Hook", body)
    assert first.delivery_key == again.delivery_key
    assert first.changes == again.changes
    other = fixture_json(DEPLOYMENT)
    other["status"] = "failed"
    assert gl("Deployment Hook", other).delivery_key != first.delivery_key


def test_pipeline_whose_deploy_jobs_did_not_run_is_ignored() -> None:
    """The example pipeline passed, but its deploy jobs were skipped / never started."""
    parsed = gl("Pipeline Hook", fixture(PIPELINE))
    assert parsed.ignored == ("pipeline 31 ran no deploy job (production: skipped, "
                              "staging: created)")


def _pipeline(**job_changes: dict[str, Any]) -> dict[str, Any]:
    payload = copy.deepcopy(fixture_json(PIPELINE))
    for job in payload["builds"]:
        job.update(job_changes.get(job["name"], {}))
    return payload


def test_pipeline_with_a_finished_deploy_job_is_a_deploy() -> None:
    payload = _pipeline(production={"status": "success", "started_at": "2016-08-12 15:26:30 UTC",
                                    "finished_at": "2016-08-12 15:27:40 UTC"})
    (change,) = gl("Pipeline Hook", payload, mapping={"gitlab-org/gitlab-test": "web"}).changes
    assert change.id == "gitlab:gitlab-org/gitlab-test:pipeline:31:production"
    assert change.services == ("web",)
    assert change.environment == "production"
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.at == datetime(2016, 8, 12, 15, 27, 40, tzinfo=UTC)
    assert change.started_at == datetime(2016, 8, 12, 15, 26, 30, tzinfo=UTC)
    assert change.version == "bcbb5ec396a2c0f828686f14fac9b80b780504f2"


def test_pipeline_job_environment_goes_through_the_environment_map() -> None:
    """Issue #7: a deploy job's environment ``production/us-east-1`` gives environment
    production and scope region us-east-1 under the ``environment_map`` rules."""
    from rollback_advisor.environments import environment_rules

    payload = _pipeline(production={"status": "success", "started_at": "2016-08-12 15:26:30 UTC",
                                    "finished_at": "2016-08-12 15:27:40 UTC",
                                    "environment": {"name": "production/us-east-1",
                                                    "action": "start"}})
    rules = environment_rules([{"match": "production/(?P<region>.+)",
                                "environment": "production"}])
    (change,) = gl("Pipeline Hook", payload, environments=rules).changes
    assert (change.environment, change.scope) == ("production", {"region": ("us-east-1",)})


def test_pipeline_failed_deploy_without_environment_takes_the_hooks() -> None:
    """The staging job has no environment object: its stage marks it; the hook's env applies."""
    payload = _pipeline(staging={"status": "failed", "started_at": "2016-08-12 15:26:30 UTC",
                                 "finished_at": "2016-08-12 15:26:50 UTC"})
    payload["object_attributes"]["status"] = "failed"
    (change,) = gl("Pipeline Hook", payload, environment="staging").changes
    assert change.id == "gitlab:gitlab-org/gitlab-test:pipeline:31"
    assert change.environment == "staging"
    assert change.status is ChangeStatus.FAILED


def test_running_pipeline_is_ignored() -> None:
    payload = _pipeline()
    payload["object_attributes"]["status"] = "running"
    assert "only finished pipelines" in (gl("Pipeline Hook", payload).ignored or "")


def test_pipeline_without_deploy_jobs_is_ignored() -> None:
    payload = _pipeline()
    payload["builds"] = [b for b in payload["builds"] if b["stage"] != "deploy"]
    payload["object_attributes"]["stages"] = ["build", "test"]
    assert (gl("Pipeline Hook", payload).ignored
            == "pipeline 31 has no deploy job (stages: build, test)")


def test_release_create_is_a_deploy_of_the_tag() -> None:
    """'2021-02-25 21:23:34 UTC' is parsed as UTC."""
    (change,) = gl("Release Hook", fixture(RELEASE)).changes
    assert change.id == "gitlab:exm-namespace/example-project:release:1.0.0"  # as sync's
    assert change.kind is ChangeKind.DEPLOY
    assert change.version == "1.0.0"
    assert change.at == datetime(2021, 2, 25, 21, 23, 34, tzinfo=UTC)
    assert change.details["release"] == {"tag": "1.0.0", "name": "1.0.0",
                                         "commit": "2626dbdb936782b5c54816b1c6d45b1279303c6d"}


def test_release_update_is_ignored() -> None:
    payload = fixture_json(RELEASE)
    payload["action"] = "update"
    assert gl("Release Hook", payload).ignored == "release action update does not deploy anything"


def test_unhandled_event_and_object_kind_fallback() -> None:
    assert gl("Push Hook", {"object_kind": "push"}).ignored == "event type Push Hook is not handled"
    parsed = parse("gitlab", fixture(DEPLOYMENT), {})  # no header: the body's object_kind
    assert parsed.event == "Deployment Hook" and parsed.changes
    system = parse("gitlab", fixture(DEPLOYMENT), {"X-Gitlab-Event": "System Hook"})
    assert system.changes == parsed.changes


def test_bad_payloads_are_invalid_input() -> None:
    payload = fixture_json(DEPLOYMENT)
    payload["status_changed_at"] = "2021-04-28 21:50:00"  # no offset: never guessed
    with pytest.raises(InvalidInput, match="status_changed_at"):
        gl("Deployment Hook", payload)
    del payload["project"]
    with pytest.raises(InvalidInput, match="project"):
        gl("Deployment Hook", payload)
    with pytest.raises(InvalidInput, match="valid JSON"):
        parser_for("gitlab").parse({"X-Gitlab-Event": "Deployment Hook"}, b"{", ctx("gitlab"))
    with pytest.raises(InvalidInput, match="X-Gitlab-Event"):
        parse("gitlab", {"no": "kind"}, {})

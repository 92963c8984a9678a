"""GitHub deliveries: values taken from real octokit / go-playground payloads."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.hooks import parser_for
from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import ChangeKind, ChangeStatus

from .helpers import assert_valid, ctx, fixture, fixture_json, parse

OCTOKIT = "github-webhooks-octokit"
DEPLOYMENT_ID = "github:Codertocat/Hello-World:deployment:145988746"
SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def gh(event: str, body: bytes | Any, **context: Any):
    parsed = parse("github", body, {"X-GitHub-Event": event, "X-GitHub-Delivery": GUID},
                   **context)
    assert_valid(parsed, "github")
    return parsed


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_deployment_created_is_an_in_progress_deploy() -> None:
    """A new deployment is a rollout starting: in_progress, started_at = at = created_at."""
    parsed = gh("deployment", fixture(f"{OCTOKIT}/deployment/payload.json"),
                mapping={"Codertocat/Hello-World": "checkout"})
    (change,) = parsed.changes
    assert change.id == DEPLOYMENT_ID
    assert change.services == ("checkout",)
    assert change.kind is ChangeKind.DEPLOY
    assert change.status is ChangeStatus.IN_PROGRESS
    assert change.at == change.started_at == utc(2019, 5, 15, 15, 20, 53)
    assert change.environment == "production"
    assert change.version == SHA
    assert change.author == "Codertocat"
    assert change.details["ref"] == "master"
    assert parsed.delivery_key == GUID
    assert parsed.event == "deployment"


def test_deployment_status_success_updates_the_same_change() -> None:
    """A success status keeps the deployment's id (the store upserts) and marks it succeeded."""
    (change,) = gh("deployment_status",
                   fixture(f"{OCTOKIT}/deployment_status/payload.json")).changes
    assert change.id == DEPLOYMENT_ID
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.at == utc(2019, 5, 15, 15, 20, 55)
    assert change.started_at == utc(2019, 5, 15, 15, 20, 53)
    assert change.services == ("Hello-World",)  # unmapped: the repository name
    assert change.details["state"] == "success"


def test_deployment_status_in_progress_of_github_pages() -> None:
    """A Pages deployment status in_progress keeps its environment and links the run's log."""
    (change,) = gh("deployment_status",
                   fixture(f"{OCTOKIT}/deployment_status/gh-pages.payload.json")).changes
    assert change.status is ChangeStatus.IN_PROGRESS
    assert change.environment == "github-pages"
    assert change.author == "github-pages[bot]"
    assert change.url == "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true"


def test_go_playground_deployment_status() -> None:
    """A second, independent payload: baxterthehacker's deployment 710692 succeeded."""
    (change,) = gh("deployment_status",
                   fixture("github-webhooks-go-playground/deployment-status.json")).changes
    assert change.id == "github:baxterthehacker/public-repo:deployment:710692"
    assert change.services == ("public-repo",)
    assert change.at == utc(2015, 5, 5, 23, 40, 39)
    assert change.version == "9049f1265b7d61be4a8904a9a27120d2064dab3b"


@pytest.mark.parametrize(("state", "status"), [
    ("failure", ChangeStatus.FAILED), ("error", ChangeStatus.FAILED),
    ("queued", ChangeStatus.IN_PROGRESS), ("pending", ChangeStatus.IN_PROGRESS)])
def test_deployment_status_states(state: str, status: ChangeStatus) -> None:
    payload = fixture_json(f"{OCTOKIT}/deployment_status/payload.json")
    payload["deployment_status"]["state"] = state
    (change,) = gh("deployment_status", payload).changes
    assert change.status is status


def test_inactive_deployment_status_is_ignored() -> None:
    """inactive means a newer deployment superseded this one: nothing new happened."""
    payload = fixture_json(f"{OCTOKIT}/deployment_status/payload.json")
    payload["deployment_status"]["state"] = "inactive"
    parsed = gh("deployment_status", payload)
    assert "inactive" in (parsed.ignored or "")


def test_migration_task_is_a_migration() -> None:
    payload = fixture_json(f"{OCTOKIT}/deployment/payload.json")
    payload["deployment"]["task"] = "deploy:migrations"
    (change,) = gh("deployment", payload).changes
    assert change.kind is ChangeKind.MIGRATION


def test_environment_filter_and_mapping_variants() -> None:
    """Only the hook's environment is stored; mapping keys match case-insensitively or prefixed."""
    body = fixture(f"{OCTOKIT}/deployment_status/gh-pages.payload.json")
    parsed = gh("deployment_status", body, environment="production")
    assert parsed.ignored == ("environment github-pages is filtered out (this hook stores "
                              "production only)")
    (change,) = gh("deployment_status", body, environment="GitHub-Pages",
                   mapping={"github:codertocat/hello-world": "docs-site"}).changes
    assert change.services == ("docs-site",)


def test_release_published_is_a_deploy_of_the_tag() -> None:
    parsed = gh("release", fixture(f"{OCTOKIT}/release/published.payload.json"),
                environment="prod")
    (change,) = parsed.changes
    assert change.id == "github:Codertocat/Hello-World:release:17372790"
    assert change.kind is ChangeKind.DEPLOY
    assert change.version == "0.0.1"
    assert change.at == utc(2019, 5, 15, 15, 20, 53)
    assert change.details["release"]["tag"] == "0.0.1"
    assert change.environment == "prod"  # a release names no environment: the hook's applies
    assert change.url == "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1"


@pytest.mark.parametrize(("path", "reason"), [
    ("release/prereleased.payload.json", "prerelease"),
    ("release/deleted.payload.json", "release action deleted does not deploy anything")])
def test_release_actions_that_are_not_deploys(path: str, reason: str) -> None:
    assert reason in (gh("release", fixture(f"{OCTOKIT}/{path}")).ignored or "")


def test_draft_release_is_ignored() -> None:
    payload = fixture_json(f"{OCTOKIT}/release/published.payload.json")
    payload["release"]["draft"] = True
    assert "draft" in (gh("release", payload).ignored or "")


def _deploy_run(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(fixture_json(f"{OCTOKIT}/workflow_run/completed.payload.json"))
    payload["workflow_run"]["path"] = ".github/workflows/deploy.yml"
    payload["workflow_run"].update(changes)
    return payload


def test_workflow_run_of_a_test_workflow_is_ignored() -> None:
    parsed = gh("workflow_run", fixture(f"{OCTOKIT}/workflow_run/completed.payload.json"))
    assert "does not look like a deploy" in (parsed.ignored or "")


def test_requested_workflow_run_is_ignored() -> None:
    parsed = gh("workflow_run", fixture(f"{OCTOKIT}/workflow_run/requested.payload.json"))
    assert "only completed runs" in (parsed.ignored or "")


def test_completed_deploy_workflow_is_a_deploy() -> None:
    (change,) = gh("workflow_run", _deploy_run(),
                   mapping={"octo-org/octo-repo": "checkout"}).changes
    assert change.id == "github:octo-org/octo-repo:workflow_run:289782451"
    assert change.services == ("checkout",)
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.at == utc(2020, 10, 5, 16, 33, 49)
    assert change.version == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert change.details["conclusion"] == "success"


@pytest.mark.parametrize(("conclusion", "status"), [
    ("failure", ChangeStatus.FAILED), ("cancelled", ChangeStatus.FAILED),
    ("timed_out", ChangeStatus.FAILED), ("skipped", None), ("neutral", None)])
def test_workflow_run_conclusions(conclusion: str, status: ChangeStatus | None) -> None:
    parsed = gh("workflow_run", _deploy_run(conclusion=conclusion))
    if status is None:
        assert "nothing was deployed" in (parsed.ignored or "")
    else:
        assert parsed.changes[0].status is status


@pytest.mark.parametrize("name", ["CD", "Release to prod", "ci-cd", "Deploy"])
def test_deployish_workflow_names(name: str) -> None:
    payload = fixture_json(f"{OCTOKIT}/workflow_run/completed.payload.json")
    payload["workflow_run"]["name"] = name
    assert gh("workflow_run", payload).changes


def test_ping_and_unhandled_events_are_acknowledged() -> None:
    assert gh("ping", fixture(f"{OCTOKIT}/ping/payload.json")).ignored == "ping"
    assert (gh("push", fixture(f"{OCTOKIT}/push/payload.json")).ignored
            == "event type push is not handled")


def test_missing_event_header_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="X-GitHub-Event"):
        parser_for("github").parse({}, fixture(f"{OCTOKIT}/deployment/payload.json"),
                                   ctx("github"))


def test_missing_repository_is_invalid_input() -> None:
    payload = fixture_json(f"{OCTOKIT}/deployment/payload.json")
    del payload["repository"]
    with pytest.raises(InvalidInput, match="repository"):
        parse("github", payload, {"X-GitHub-Event": "deployment"})


def test_malformed_json_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="valid JSON"):
        parse("github", b'{"deployment": ', {"X-GitHub-Event": "deployment"})


def test_form_encoded_delivery() -> None:
    """GitHub hooks configured as application/x-www-form-urlencoded send JSON in payload=."""
    raw = fixture(f"{OCTOKIT}/deployment/payload.json")
    body = urlencode({"payload": raw.decode()}).encode()
    parsed = parse("github", body, {"X-GitHub-Event": "deployment",
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert parsed.changes[0].id == DEPLOYMENT_ID
    assert parsed.raw == json.loads(raw)


def test_redelivery_gives_the_same_ids_and_key() -> None:
    body = fixture(f"{OCTOKIT}/deployment_status/payload.json")
    first, again = gh("deployment_status", body), gh("deployment_status", body)
    assert first.changes == again.changes
    assert first.delivery_key == again.delivery_key == GUID

"""Every real vendor example in shared/external parses into valid changes or an explicit ignore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.hooks import parser_for
from rollback_advisor.errors import InvalidInput

from .helpers import EXTERNAL, EXTERNAL_ABSENT, assert_valid, ctx, strip_jsonc

_GITHUB_EVENTS = ("deployment", "deployment_status", "release", "workflow_run", "ping")
_GO_PLAYGROUND_GITHUB = {"deployment.json": "deployment",
                         "deployment-status.json": "deployment_status",
                         "release.json": "release", "workflow_run.json": "workflow_run",
                         "ping.json": "ping"}
_GITLAB_HEADER = {"deployment": "Deployment Hook", "pipeline": "Pipeline Hook",
                  "release": "Release Hook", "push": "Push Hook", "tag_push": "Tag Push Hook",
                  "build": "Job Hook", "merge_request": "Merge Request Hook",
                  "feature_flag": "Feature Flag Hook"}
_CDEVENTS_STORED = {"service_deployed.json", "service_upgraded.json", "service_rolledback.json"}


def _case(source: str, label: str, headers: dict[str, str], body: bytes, stored: bool
          ) -> object:
    return pytest.param(source, headers, body, stored, id=f"{source}:{label}")


def _cases() -> list[object]:
    if not EXTERNAL.is_dir():
        return [pytest.param(None, {}, b"", False, id="shared-external-absent",
                             marks=pytest.mark.skip(reason=EXTERNAL_ABSENT))]
    cases = []
    for event in _GITHUB_EVENTS:
        for path in sorted((EXTERNAL / "github-webhooks-octokit" / event).glob("*.json")):
            action = json.loads(path.read_bytes()).get("action")
            stored = event in ("deployment", "deployment_status") or (
                event == "release" and action in ("created", "published", "released"))
            headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": f"d-{event}-{path.stem}"}
            cases.append(_case("github", f"octokit/{event}/{path.name}", headers,
                               path.read_bytes(), stored))
    for name, event in _GO_PLAYGROUND_GITHUB.items():
        path = EXTERNAL / "github-webhooks-go-playground" / name
        stored = event in ("deployment", "deployment_status", "release")
        cases.append(_case("github", f"go-playground/{name}", {"x-github-event": event},
                           path.read_bytes(), stored))
    for path in sorted(EXTERNAL.glob("gitlab-webhooks-*/*.json*")):
        text = path.read_text()
        if path.suffix == ".jsonc":
            text = strip_jsonc(text)
        kind = json.loads(text).get("object_kind")
        headers = {"X-Gitlab-Event": _GITLAB_HEADER[kind]} if kind in _GITLAB_HEADER else {}
        # The example pipelines' deploy jobs were skipped or never started: nothing deployed.
        stored = kind in ("deployment", "release")
        cases.append(_case("gitlab", f"{path.parent.name}/{path.name}", headers,
                           text.encode(), stored))
    for path in sorted((EXTERNAL / "cdevents-spec-v0.5.1" / "examples").glob("*.json")):
        cases.append(_case("cdevents", path.name, {}, path.read_bytes(),
                           path.name in _CDEVENTS_STORED))
    spec = json.loads((EXTERNAL / "pagerduty-events-v2" / "events-v2.openapiv3.json")
                      .read_bytes())
    for route, stored in (("/change/enqueue", True), ("/enqueue", False)):
        content = spec["paths"][route]["post"]["requestBody"]["content"]["application/json"]
        for name, example in content["examples"].items():
            cases.append(_case("pagerduty", f"{route}#{name}", {},
                               json.dumps(example["value"]).encode(), stored))
    return cases


@pytest.mark.parametrize(("source", "headers", "body", "stored"), _cases())
def test_every_example_parses_or_is_ignored_with_a_reason(
        source: str, headers: dict[str, str], body: bytes, stored: bool) -> None:
    """Each real payload yields DESIGN §1 changes or a reason, and redelivery changes nothing."""
    parser = parser_for(source)
    first = parser.parse(headers, body, ctx(source))
    assert_valid(first, source)
    assert (first.ignored is None) is stored, first.ignored
    # kept as sent, but for PagerDuty's routing key (the integration key: a secret)
    assert first.raw == {k: v for k, v in json.loads(body).items()
                         if not (source == "pagerduty" and k == "routing_key")}
    again = parser.parse(headers, body, ctx(source))
    assert [c.id for c in again.changes] == [c.id for c in first.changes]
    assert again.changes == first.changes
    assert again.delivery_key == first.delivery_key


def test_gitlab_docs_release_with_comment_is_rejected_by_the_strict_parser() -> None:
    """The GitLab docs' release example has a // comment: not JSON, so InvalidInput, not a crash."""
    path: Path = EXTERNAL / "gitlab-webhooks-docs" / "release_hook.from-doc.jsonc"
    if not path.is_file():
        pytest.skip(EXTERNAL_ABSENT)
    with pytest.raises(InvalidInput, match="valid JSON"):
        parser_for("gitlab").parse({"X-Gitlab-Event": "Release Hook"}, path.read_bytes(),
                                   ctx("gitlab"))

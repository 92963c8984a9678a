"""One vendor object, two paths: a webhook delivery and a ``sync`` make the same change.

Each test sends one real payload (octokit / go-gitlab, tests/fixtures/hooks) through the webhook
parser and, served by ``responses`` in the REST API's shape, through the connector; the two
changes must agree on the id and every field, apart from what only one path knows (the hook id
of the delivery; what sync adds from its history and the job it reads).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

import responses

from connectors import ConnectorContext
from connectors.github import GitHubConnector
from connectors.gitlab import GitLabConnector
from connectors.hooks import HookContext, parser_for
from rollback_advisor.environments import environment_rules
from rollback_advisor.models import Change

from .hooks.helpers import fixture_json
from .vcs_fixtures import Sleeps, payload

GITHUB = "https://api.github.com"
GRAPH = {"github:codertocat/hello-world": "hello-svc",
         "gitlab:root/test-deployment-webhooks": "deploy-svc",
         "gitlab:exm-namespace/example-project": "example-svc"}


def hook_change(source: str, headers: dict[str, str], body: Any) -> Change:
    context = HookContext(hook_id="hk_1", source=source, repo_map=GRAPH)
    parsed = parser_for(source).parse(headers, json.dumps(body).encode(), context)
    (change,) = parsed.changes
    assert change.details["hook_id"] == "hk_1"
    return dataclasses.replace(change, details={k: v for k, v in change.details.items()
                                                if k != "hook_id"})


def sync_changes(connector: Any) -> list[Change]:
    return [c for b in connector.fetch(None, lambda message: None) for c in b.changes]


def at(*args: int) -> ConnectorContext:
    """A sync context whose clock is a day after the payload, so the look-back includes it."""
    return ConnectorContext(sleep=Sleeps(), now=lambda: datetime(*args, tzinfo=UTC),
                            repo_map=GRAPH)


# -- GitHub: the objects are the same JSON in the API and in webhooks ----------------------


def github_sync(mock: responses.RequestsMock, **section: Any) -> list[Change]:
    raw = {"base_url": GITHUB, "repos": ["Codertocat/Hello-World"], **section}
    return sync_changes(GitHubConnector.from_config(raw, at(2019, 5, 16), name="github"))


def test_github_deployment_status_by_hook_and_by_sync(mock: responses.RequestsMock) -> None:
    """The octokit ``deployment_status`` delivery, and its deployment and status listed by the
    API, make one change: same id, service (the graph's ``repo:``), status, times and details.
    The status lacks ``log_url`` and ``environment_url``, as a webhook status does: sync must
    not fetch the status to complete it (two requests in all)."""
    body = fixture_json("github-webhooks-octokit/deployment_status/payload.json")
    hooked = hook_change("github", {"X-GitHub-Event": "deployment_status"}, body)
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments\?.*"),
             json=[body["deployment"]])
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments/"
                        r"145988746/statuses.*"), json=[body["deployment_status"]])
    (synced,) = github_sync(mock)
    assert synced == hooked
    assert synced.id == "github:Codertocat/Hello-World:deployment:145988746"
    assert synced.services == ("hello-svc",)
    assert synced.status.value == "succeeded"
    assert len(mock.calls) == 2


def test_github_deployment_created_by_hook_and_by_sync(mock: responses.RequestsMock) -> None:
    """A deployment with no status yet is in progress since it was created, either way."""
    body = fixture_json("github-webhooks-octokit/deployment/payload.json")
    hooked = hook_change("github", {"X-GitHub-Event": "deployment"}, body)
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments\?.*"),
             json=[body["deployment"]])
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments/"
                        r"145988746/statuses.*"), json=[])
    (synced,) = github_sync(mock)
    assert synced == hooked
    assert synced.status.value == "in_progress" and synced.at == synced.started_at


def test_github_release_by_hook_and_by_sync(mock: responses.RequestsMock) -> None:
    """The octokit ``release`` published delivery and the same release listed by the API."""
    body = fixture_json("github-webhooks-octokit/release/published.payload.json")
    hooked = hook_change("github", {"X-GitHub-Event": "release"}, body)
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments\?.*"),
             json=[])
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/releases.*"),
             json=[body["release"]])
    (synced,) = github_sync(mock, releases=True)
    assert synced == hooked
    assert synced.id == "github:Codertocat/Hello-World:release:17372790"


# -- GitLab: the same release and deployment in the API's shape ------------------------------

GITLAB = "https://gitlab.example.test"


def gitlab_sync(mock: responses.RequestsMock, path: str, project_id: int,
                **section: Any) -> list[Change]:
    project = dict(payload("gitlab/project.json"), id=project_id, path_with_namespace=path)
    mock.get(f"{GITLAB}/api/v4/projects/{path.replace('/', '%2F')}", json=project)
    raw = {"url": GITLAB, "projects": [path], "compare": False, "merge_requests": False,
           **section}
    return sync_changes(GitLabConnector.from_config(raw, at(2021, 4, 29), name="gitlab"))


def test_gitlab_release_by_hook_and_by_sync(mock: responses.RequestsMock) -> None:
    """The go-gitlab Release Hook and the same release as ``GET /projects/:id/releases`` lists
    it: one id, ``...:release:<tag>`` (the API has no numeric release id), one change. Only
    the API names the release's author."""
    body = fixture_json("gitlab-webhooks-go-gitlab/release.json")
    hooked = hook_change("gitlab", {"X-Gitlab-Event": "Release Hook"}, body)
    listed = {"tag_name": body["tag"], "name": body["name"],
              "description": body["description"], "created_at": "2021-02-25T21:23:34.000Z",
              "released_at": "2021-02-25T21:23:34.000Z", "upcoming_release": False,
              "author": {"username": "user1"}, "commit": copy.deepcopy(body["commit"]),
              "_links": {"self": body["url"]}}
    mock.get(re.compile(rf"{GITLAB}/api/v4/projects/7/deployments.*"), json=[])
    mock.get(re.compile(rf"{GITLAB}/api/v4/projects/7/releases.*"), json=[listed])
    (synced,) = gitlab_sync(mock, "exm-namespace/example-project", 7, releases=True,
                            lookback="90d")
    assert synced.id == hooked.id == "gitlab:exm-namespace/example-project:release:1.0.0"
    assert synced.author == "user1" and hooked.author is None
    assert dataclasses.replace(synced, author=None) == hooked
    assert synced.services == ("example-svc",)


def test_gitlab_deployment_by_hook_and_by_sync(mock: responses.RequestsMock) -> None:
    """The go-gitlab Deployment Hook and the same deployment as the API lists it. Sync adds
    what only the API tells (the job, when it started, the deployment's iid)."""
    body = fixture_json("gitlab-webhooks-go-gitlab/deployment.json")
    hooked = hook_change("gitlab", {"X-Gitlab-Event": "Deployment Hook"}, body)
    sha = body["commit_url"].rsplit("/", 1)[-1]
    listed = {
        "id": body["deployment_id"], "iid": 3, "ref": body["ref"], "sha": sha,
        "status": body["status"], "created_at": "2021-04-28T19:45:00.000Z",
        "updated_at": "2021-04-28T19:50:00.000Z", "user": copy.deepcopy(body["user"]),
        "environment": {"id": 5, "name": body["environment"],
                        "external_url": body["environment_external_url"]},
        "deployable": {"id": body["deployable_id"], "name": "deploy", "stage": "deploy",
                       "status": "success", "started_at": "2021-04-28T19:46:00.000Z",
                       "finished_at": "2021-04-28T19:50:00.000Z",
                       "web_url": body["deployable_url"],
                       "commit": {"id": sha, "title": body["commit_title"]}},
    }
    mock.get(re.compile(rf"{GITLAB}/api/v4/projects/30/deployments.*"), json=[listed])
    (synced,) = gitlab_sync(mock, "root/test-deployment-webhooks", 30,
                            environments=["staging"])
    assert synced.started_at == datetime(2021, 4, 28, 19, 46, tzinfo=UTC)
    assert hooked.started_at is None
    sync_only = {"iid": 3, "job": {"id": 796, "name": "deploy", "stage": "deploy",
                                   "status": "success"}}
    assert {k: v for k, v in synced.details.items() if k not in hooked.details} == sync_only
    assert dataclasses.replace(synced, started_at=None, details=hooked.details) == hooked
    assert synced.id == "gitlab:root/test-deployment-webhooks:deployment:15"
    assert synced.services == ("deploy-svc",) and synced.version == sha


# -- environment_map: the one normaliser applies it, so both paths agree on scope ------------

RULES = environment_rules([{"match": "production/(?P<region>[a-z0-9-]+)",
                            "environment": "production"}])


def test_environment_map_gives_the_same_environment_and_scope_by_hook_and_by_sync(
        mock: responses.RequestsMock) -> None:
    """Issue #7: a GitHub environment ``production/us-east-1`` becomes environment production
    with scope region us-east-1, from the delivery and from sync alike; sync still selects
    deployments by the vendor's name."""
    body = fixture_json("github-webhooks-octokit/deployment_status/payload.json")
    for obj in (body["deployment"], body["deployment_status"]):
        obj["environment"] = "production/us-east-1"
    context = HookContext(hook_id="hk_1", source="github", repo_map=GRAPH, environments=RULES)
    (hooked,) = parser_for("github").parse({"X-GitHub-Event": "deployment_status"},
                                           json.dumps(body).encode(), context).changes
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments\?.*"),
             json=[body["deployment"]])
    mock.get(re.compile(rf"{GITHUB}(:443)?/repos/Codertocat/Hello-World/deployments/"
                        r"145988746/statuses.*"), json=[body["deployment_status"]])
    raw = {"base_url": GITHUB, "repos": ["Codertocat/Hello-World"],
           "environments": ["production/us-east-1"]}
    ctx = dataclasses.replace(at(2019, 5, 16), environments=RULES)
    (synced,) = sync_changes(GitHubConnector.from_config(raw, ctx, name="github"))
    assert synced.environment == hooked.environment == "production"
    assert synced.scope == hooked.scope == {"region": ("us-east-1",)}
    assert synced.details["environment_name"] == "production/us-east-1"
    assert synced == dataclasses.replace(hooked, details={
        k: v for k, v in hooked.details.items() if k != "hook_id"})


def test_gitlab_environment_map_by_hook() -> None:
    """The Deployment Hook's environment goes through the same rules."""
    body = fixture_json("gitlab-webhooks-go-gitlab/deployment.json")
    body["environment"] = "production/eu-west-1"
    context = HookContext(hook_id="hk_1", source="gitlab", environments=RULES)
    (change,) = parser_for("gitlab").parse({"X-Gitlab-Event": "Deployment Hook"},
                                           json.dumps(body).encode(), context).changes
    assert (change.environment, change.scope) == ("production", {"region": ("eu-west-1",)})
    unmapped = HookContext(hook_id="hk_1", source="gitlab")  # the default: no rule
    (plain,) = parser_for("gitlab").parse({"X-Gitlab-Event": "Deployment Hook"},
                                          json.dumps(body).encode(), unmapped).changes
    assert (plain.environment, plain.scope) == ("production/eu-west-1", None)

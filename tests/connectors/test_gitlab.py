"""The GitLab connector against documented-shape API answers served by ``responses``."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.base import Batch, ConnectorError
from connectors.gitlab import GitLabConnector
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import ChangeStatus

from .gitlab_api import (
    API,
    COMPARE,
    DEPLOYMENTS,
    PROJECT,
    URL,
    merge_requests_url,
    serve_history,
)
from .vcs_fixtures import Sleeps, context, payload


def connector(sleeps: Sleeps | None = None, **section: Any) -> GitLabConnector:
    raw = {"url": URL, "token": "test-token", "projects": ["shop/checkout"], **section}
    return GitLabConnector.from_config(raw, context(sleeps), name="gitlab")


def run(source: GitLabConnector, cursor: dict[str, Any] | None = None) -> list[Batch]:
    return list(source.fetch(cursor, lambda message: None))


def test_first_sync_follows_pagination_and_maps_every_field(mock: responses.RequestsMock) -> None:
    """Pages are followed by their Link header; each deployment becomes one change whose id
    matches the deployment hook's."""
    serve_history(mock, per_page=2)
    batches = run(connector(per_page=2))
    changes = [c for b in batches for c in b.changes]
    assert [c.id for c in changes] == [f"gitlab:shop/checkout:deployment:{n}"
                                      for n in (801, 802, 803)]
    first, second, running = changes
    assert first.status is ChangeStatus.SUCCEEDED and first.previous_version is None
    assert first.at.isoformat() == "2026-11-19T09:07:29+00:00"  # the job's finished_at
    assert first.started_at.isoformat() == "2026-11-19T09:00:05+00:00"
    assert first.services == ("checkout",) and first.author == "deploy-bot"
    assert first.url == f"{URL}/shop/checkout/-/jobs/9901"
    assert second.previous_version == "11aa" * 10 and second.version == "22bb" * 10
    assert second.details["merge_requests"][0]["iid"] == 42
    assert second.details["migration_files"] == ["db/migrate/20261120120000_drop_coupon.rb"]
    assert second.details["merge_request_iids"] == [42]
    assert running.status is ChangeStatus.IN_PROGRESS
    assert running.previous_version == "22bb" * 10
    project = batches[-1].cursor["projects"]["shop/checkout"]
    assert project["id"] == 4242 and project["updated_after"] == "2026-11-20T14:00:06.000Z"
    # project + 2 pages + merge requests of the 2 successes + 2 compares
    assert len(mock.calls) == 7


def test_nothing_new_costs_one_request_per_project(mock: responses.RequestsMock) -> None:
    """The second sync names the project by its cached id and asks only for deployments
    updated after the cursor; the boundary deployment the server repeats is not re-emitted."""
    serve_history(mock)
    cursor = json.loads(json.dumps(run(connector())[-1].cursor))
    mock.reset()
    mock.get(DEPLOYMENTS, json=[payload("gitlab/deployments.json")[2]],
             match=[matchers.query_param_matcher(
                 {"updated_after": "2026-11-20T14:00:06.000Z", "order_by": "updated_at",
                  "sort": "asc", "environment": "production"}, strict_match=False)])
    assert run(connector(), cursor) == []
    assert len(mock.calls) == 1


def test_a_finished_deployment_is_updated(mock: responses.RequestsMock) -> None:
    """A running deployment that succeeds later comes back through updated_after and is
    upserted with its finish time and merge requests."""
    serve_history(mock)
    cursor = run(connector())[-1].cursor
    done = payload("gitlab/deployments.json")[2]
    done.update(status="success", updated_at="2026-11-20T14:09:00.000Z")
    done["deployable"].update(status="success", finished_at="2026-11-20T14:08:59.000Z")
    mock.reset()
    mock.get(DEPLOYMENTS, json=[done])
    mock.get(merge_requests_url(803), json=[])
    mock.get(COMPARE, json=payload("gitlab/compare.json"))
    (batch,) = run(connector(), cursor)
    (change,) = batch.changes
    assert change.id == "gitlab:shop/checkout:deployment:803"
    assert change.status is ChangeStatus.SUCCEEDED
    assert change.at.isoformat() == "2026-11-20T14:08:59+00:00"
    assert batch.cursor["projects"]["shop/checkout"]["updated_after"] == done["updated_at"]


def test_canceled_before_running_is_skipped(mock: responses.RequestsMock) -> None:
    """A deployment canceled before its job started reached nothing: skipped, not blamed."""
    mock.get(PROJECT, json=payload("gitlab/project.json"))
    canceled = payload("gitlab/deployments.json")[0]
    canceled["status"] = "canceled"
    canceled["deployable"]["started_at"] = None
    mock.get(DEPLOYMENTS, json=[canceled])
    (batch,) = run(connector())
    assert batch.changes == [] and batch.skipped == 1


def test_releases_are_deploys_when_enabled(mock: responses.RequestsMock) -> None:
    """``releases: true`` adds releases, keyed by tag, at their release time."""
    mock.get(PROJECT, json=payload("gitlab/project.json"))
    mock.get(DEPLOYMENTS, json=[])
    mock.get(f"{API}/projects/4242/releases", json=payload("gitlab/releases.json"))
    (batch,) = run(connector(releases=True))
    (release,) = batch.changes
    assert release.id == "gitlab:shop/checkout:release:v2.0.1"
    assert release.at.isoformat() == "2026-11-20T12:55:00+00:00"
    assert batch.cursor["projects"]["shop/checkout"]["release_tags"] == ["v2.0.1"]


# -- rate limits, retries and errors ------------------------------------------------------


def test_429_honours_retry_after_then_rate_limit_reset(mock: responses.RequestsMock) -> None:
    """429 waits Retry-After when given, else until RateLimit-Reset, through the injected
    sleep (python-gitlab's own sleeping loop is off)."""
    mock.get(PROJECT, status=429, json={"message": "Retry later"},
             headers={"Retry-After": "3"})
    mock.get(PROJECT, status=429, json={"message": "Retry later"},
             headers={"RateLimit-Reset": str(int(time.time()) + 20)})
    mock.get(PROJECT, json=payload("gitlab/project.json"))
    mock.get(DEPLOYMENTS, json=[])
    sleeps = Sleeps()
    run(connector(sleeps))
    assert sleeps[0] == 3.0 and 18 < sleeps[1] <= 22
    assert len(mock.calls) == 4


def test_transient_errors_are_retried(mock: responses.RequestsMock) -> None:
    """500 and 502 are retried with backoff; the third answer counts."""
    mock.get(PROJECT, status=500, json={"message": "500 Internal Server Error"})
    mock.get(PROJECT, status=502, body="<html>bad gateway</html>")
    mock.get(PROJECT, json=payload("gitlab/project.json"))
    mock.get(DEPLOYMENTS, json=[])
    sleeps = Sleeps()
    run(connector(sleeps))
    assert len(sleeps) == 2 and all(s >= 0.5 for s in sleeps)


def test_retries_give_up_with_one_line(mock: responses.RequestsMock) -> None:
    """After ``retries`` attempts the last status is reported, not slept on forever."""
    mock.get(PROJECT, status=503, json={"message": "503 Service Unavailable"})
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as err:
        run(connector(sleeps, retries=2))
    assert err.value.message == "gitlab shop/checkout: HTTP 503: 503 Service Unavailable"
    assert len(sleeps) == 2


@pytest.mark.parametrize(("answer", "expected"), [
    ({"status": 401, "json": payload("gitlab/error_unauthorized.json")},
     "gitlab shop/checkout: bad credentials (HTTP 401): check connectors.gitlab.token"),
    ({"status": 404, "json": payload("gitlab/error_not_found.json")},
     "gitlab shop/checkout: not found (HTTP 404)"),
    ({"status": 200, "body": "<html>maintenance</html>"},
     "gitlab shop/checkout: malformed response"),
    ({"body": requests.exceptions.ReadTimeout("read timeout")},
     "gitlab shop/checkout: timed out after 30 s talking to https://gitlab.example.test"),
])
def test_errors_become_one_line(mock: responses.RequestsMock, answer: dict[str, Any],
                                expected: str) -> None:
    """Vendor and transport errors become one ConnectorError line naming the project."""
    mock.get(PROJECT, **answer)
    with pytest.raises(ConnectorError) as err:
        run(connector())
    assert err.value.message.startswith(expected), err.value.message
    assert "\n" not in err.value.message and "test-token" not in err.value.message


def test_malformed_deployment_is_reported(mock: responses.RequestsMock) -> None:
    """A deployment without the documented fields fails the project with one line."""
    mock.get(PROJECT, json=payload("gitlab/project.json"))
    mock.get(DEPLOYMENTS, json=[{"id": 1, "status": "success"}])
    with pytest.raises(ConnectorError, match=r"^gitlab shop/checkout: malformed response"):
        run(connector())


@pytest.mark.parametrize(("section", "message"), [
    ({"projects": ["shop/checkout"], "project": "x"}, "connectors.gitlab.project: no such"),
    ({}, "connectors.gitlab.projects: required"),
    ({"projects": ["shop/checkout"], "retries": -1}, "connectors.gitlab.retries"),
    ({"projects": ["shop/checkout"], "ssl_verify": 3}, "connectors.gitlab.ssl_verify"),
])
def test_invalid_sections_name_the_key(section: dict[str, Any], message: str) -> None:
    """Each bad key is refused with its full path."""
    with pytest.raises(ConfigError) as err:
        GitLabConnector.from_config(section, context(), name="gitlab")
    assert message in err.value.message


def test_canonical_path_comes_from_the_api(mock: responses.RequestsMock) -> None:
    """Ids use the project's path_with_namespace as GitLab spells it, like the hook payload."""
    project = payload("gitlab/project.json")
    project["path_with_namespace"] = "Shop/Checkout"
    mock.get(re.compile(rf"{API}/projects/shop%2Fcheckout"), json=project)
    mock.get(DEPLOYMENTS, json=[payload("gitlab/deployments.json")[0]])
    mock.get(merge_requests_url(801), json=[])
    (batch,) = run(connector())
    assert batch.changes[0].id == "gitlab:Shop/Checkout:deployment:801"

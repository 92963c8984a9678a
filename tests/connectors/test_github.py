"""The GitHub connector against recorded-shape API answers served by ``responses``."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.base import Batch, ConnectorError
from connectors.github import GitHubConnector
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import ChangeStatus

from .github_api import API, DEPLOYMENTS, REPO, WIRE, serve_history, statuses_url
from .vcs_fixtures import Sleeps, context, payload


def connector(sleeps: Sleeps | None = None, **section: Any) -> GitHubConnector:
    raw = {"base_url": API, "token": "test-token", "repos": ["acme/checkout"], **section}
    return GitHubConnector.from_config(raw, context(sleeps), name="github")


def run(source: GitHubConnector, cursor: dict[str, Any] | None = None) -> list[Batch]:
    return list(source.fetch(cursor, lambda message: None))


def test_first_sync_follows_pagination_and_maps_every_field(mock: responses.RequestsMock) -> None:
    """Pages are followed by their Link header and each deployment becomes one DESIGN §1 change."""
    serve_history(mock, per_page=2)
    batches = run(connector(per_page=2))
    changes = [c for b in batches for c in b.changes]
    assert [c.id for c in changes] == [f"github:Acme/Checkout:deployment:{n}"
                                      for n in (5001, 5002, 5003)]
    first, failed, rolling = changes
    assert first.status is ChangeStatus.SUCCEEDED
    assert first.at.isoformat() == "2026-11-19T09:06:00+00:00"  # the success status time
    assert first.started_at.isoformat() == "2026-11-19T09:00:00+00:00"  # created_at
    assert first.previous_version is None and first.version == "a1" * 20
    assert first.services == ("Checkout",) and first.source == "github"
    assert first.author == "octo-deployer" and first.url.endswith("/deploys/5001/log")
    assert failed.status is ChangeStatus.FAILED
    assert failed.previous_version == "a1" * 20  # what was live: the last success
    assert failed.details["migration_files"] == ["db/migrations/0042_drop_coupon.py"]
    assert failed.details["pull_requests"] == [481, 482]
    assert [c["author"] for c in failed.details["commits"]] == ["bo", "cy"]
    assert "checkout/payment.py" in failed.details["files"]
    assert rolling.status is ChangeStatus.IN_PROGRESS
    assert rolling.previous_version == "a1" * 20
    cursor = batches[-1].cursor
    assert cursor["repos"]["acme/checkout"]["last_deployment_id"] == 5003
    assert list(cursor["repos"]["acme/checkout"]["pending"]) == ["5003"]
    # 2 pages + 3 status lists + 2 compares (none for the first: no predecessor known)
    assert len(mock.calls) == 7


def test_map_and_graph_repo_annotations_choose_the_service(mock: responses.RequestsMock) -> None:
    """``map`` wins over the graph's ``repo:`` annotation, which wins over the repo name."""
    graph = {"github:acme/checkout": "checkout-svc"}
    for section, expected in (({}, "checkout-svc"), ({"map": {"Acme/Checkout": "web"}}, "web")):
        mock.reset()
        serve_history(mock, last="statuses_success.json", compare=False)
        source = GitHubConnector.from_config(
            {"base_url": API, "repos": ["acme/checkout"], "compare": False, **section},
            context(repo_map=graph), name="github")
        changes = [c for b in run(source) for c in b.changes]
        assert {c.services for c in changes} == {(expected,)}


def test_nothing_new_costs_one_request_per_repository(mock: responses.RequestsMock) -> None:
    """A second sync with nothing new asks one page of deployments and stops at the cursor."""
    serve_history(mock, last="statuses_success.json")
    batches = run(connector())
    cursor = batches[-1].cursor
    assert "pending" not in cursor["repos"]["acme/checkout"] or not cursor["repos"][
        "acme/checkout"]["pending"]
    mock.calls.reset()
    again = run(connector(), cursor)
    assert again == []
    assert len(mock.calls) == 1
    assert mock.calls[0].request.url.startswith(DEPLOYMENTS)


def test_cursor_round_trip_picks_up_only_new_deployments(mock: responses.RequestsMock) -> None:
    """A JSON-serialised cursor resumes after the newest deployment seen; the new one gets the
    last success as previous_version."""
    import json

    serve_history(mock, last="statuses_success.json")
    cursor = json.loads(json.dumps(run(connector())[-1].cursor))
    deployments = payload("github/deployments.json")
    newer = dict(deployments[0], id=5004, sha="e5" * 20, ref="v1.4.4",
                 url=f"{API}/repos/Acme/Checkout/deployments/5004",
                 created_at="2026-11-20T14:30:00Z", updated_at="2026-11-20T14:30:00Z")
    mock.replace(responses.GET, DEPLOYMENTS, json=[newer, *deployments])
    success = payload("github/statuses_success.json")
    for s in success:
        s["created_at"] = "2026-11-20T14:36:00Z"
    mock.get(statuses_url(5004), json=success)
    mock.calls.reset()
    (batch,) = run(connector(), cursor)
    (change,) = batch.changes
    assert change.id == "github:Acme/Checkout:deployment:5004"
    assert change.previous_version == "c3" * 20  # 5003 succeeded in the first sync
    assert batch.cursor["repos"]["acme/checkout"]["last_deployment_id"] == 5004
    assert len(mock.calls) == 3  # list, statuses, compare


def test_pending_deployment_is_updated_when_it_finishes(mock: responses.RequestsMock) -> None:
    """An in-progress deployment is re-checked (one request) and upserted once it finished."""
    serve_history(mock)
    cursor = run(connector())[-1].cursor
    done = payload("github/statuses_success.json")
    done[0]["created_at"] = "2026-11-20T14:07:00Z"
    mock.replace(responses.GET, statuses_url(5003), json=done)
    mock.calls.reset()
    (batch,) = run(connector(), cursor)
    (change,) = batch.changes
    assert change.id.endswith(":5003") and change.status is ChangeStatus.SUCCEEDED
    assert change.at.isoformat() == "2026-11-20T14:07:00+00:00"
    assert change.summary.startswith("deployed v1.4.3")
    assert batch.cursor["repos"]["acme/checkout"]["pending"] == {}
    assert batch.cursor["repos"]["acme/checkout"]["environments"]["production"][
        "success_sha"] == "c3" * 20
    assert len(mock.calls) == 2  # statuses of 5003 + the deployments page


def test_other_environments_and_old_deployments_are_left_out(
        mock: responses.RequestsMock) -> None:
    """Several environments list deployments unfiltered; others are skipped; the look-back
    window ends the first sync."""
    deployments = payload("github/deployments.json")
    deployments[1]["environment"] = "staging"
    deployments[2]["created_at"] = "2026-09-01T00:00:00Z"  # older than the 30d look-back
    mock.get(DEPLOYMENTS, json=deployments,
             match=[matchers.query_param_matcher({"per_page": "100"})])
    mock.get(statuses_url(5003), json=payload("github/statuses_success.json"))
    batches = run(connector(environments=["production", "canary"]))
    assert [c.id[-4:] for b in batches for c in b.changes] == ["5003"]
    assert sum(b.skipped for b in batches) == 1


def test_releases_are_deploys_when_enabled(mock: responses.RequestsMock) -> None:
    """``releases: true`` adds published releases (drafts skipped) at their publish time."""
    mock.get(DEPLOYMENTS, json=[])
    mock.get(f"{REPO}/releases", json=payload("github/releases.json"))
    (batch,) = run(connector(releases=True))
    (release,) = batch.changes
    assert release.id == "github:Acme/Checkout:release:9101"
    assert release.version == "v1.4.2" and release.details["release"]["tag"] == "v1.4.2"
    assert release.at.isoformat() == "2026-11-20T12:55:00+00:00"
    assert batch.skipped == 1
    assert batch.cursor["repos"]["acme/checkout"]["last_release_id"] == 9102


# -- rate limits, retries and errors ------------------------------------------------------


def test_primary_rate_limit_waits_until_reset(mock: responses.RequestsMock) -> None:
    """403 with X-RateLimit-Remaining: 0 waits until X-RateLimit-Reset (through the injected
    sleep), then retries."""
    reset = int(time.time()) + 30
    mock.get(DEPLOYMENTS, status=403, json=payload("github/error_rate_limit.json"),
             headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    mock.get(DEPLOYMENTS, json=[])
    sleeps = Sleeps()
    assert run(connector(sleeps)) == []
    (wait,) = sleeps
    assert 28 < wait <= 32
    assert len(mock.calls) == 2


def test_secondary_rate_limit_and_429_honour_retry_after(mock: responses.RequestsMock) -> None:
    """A secondary limit (403 + Retry-After) and a 429 + Retry-After wait what they say."""
    mock.get(DEPLOYMENTS, status=403, json=payload("github/error_secondary_rate_limit.json"),
             headers={"Retry-After": "60"})
    mock.get(DEPLOYMENTS, status=429, json={"message": "Too many requests"},
             headers={"Retry-After": "7"})
    mock.get(DEPLOYMENTS, json=[])
    sleeps = Sleeps()
    assert run(connector(sleeps)) == []
    assert sleeps == [60.0, 7.0]


def test_server_errors_are_retried_with_backoff(mock: responses.RequestsMock) -> None:
    """502 and 503 are retried; the third answer counts."""
    mock.get(DEPLOYMENTS, status=502, body="Bad gateway")
    mock.get(DEPLOYMENTS, status=503, json={"message": "unavailable"})
    mock.get(DEPLOYMENTS, json=[])
    sleeps = Sleeps()
    assert run(connector(sleeps)) == []
    assert len(sleeps) == 2 and all(s >= 1.0 for s in sleeps)


def test_rate_limit_reset_beyond_max_wait_fails_at_once(mock: responses.RequestsMock) -> None:
    """A reset an hour away is not slept through: one line says when to sync again."""
    mock.get(DEPLOYMENTS, status=403, json=payload("github/error_rate_limit.json"),
             headers={"X-RateLimit-Remaining": "0",
                      "X-RateLimit-Reset": str(int(time.time()) + 3600)})
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as err:
        run(connector(sleeps, max_wait="10m"))
    assert sleeps == []
    assert err.value.message.startswith("github acme/checkout: rate limited")
    assert "max_wait" in err.value.message and "\n" not in err.value.message


@pytest.mark.parametrize(("answer", "expected"), [
    ({"status": 401, "json": payload("github/error_bad_credentials.json")},
     "github acme/checkout: bad credentials (HTTP 401): check connectors.github.token"),
    ({"status": 404, "json": payload("github/error_not_found.json")},
     "github acme/checkout: not found (HTTP 404)"),
    ({"status": 403, "json": {"message": "Resource not accessible by integration"}},
     "github acme/checkout: HTTP 403: Resource not accessible by integration"),
    ({"status": 200, "body": '{"truncated": '}, "github acme/checkout: malformed response"),
    ({"status": 200, "json": [{"id": "x"}]}, "github acme/checkout: malformed response"),
    ({"body": requests.exceptions.ConnectTimeout("connect timeout")},
     "github acme/checkout: timed out after 30 s talking to https://github.example.test"),
    ({"body": requests.exceptions.ConnectionError("refused")},
     "github acme/checkout: cannot reach https://github.example.test/api/v3"),
])
def test_errors_become_one_line(mock: responses.RequestsMock, answer: dict[str, Any],
                                expected: str) -> None:
    """Vendor and transport errors become one ConnectorError line naming the repository."""
    mock.get(DEPLOYMENTS, **answer)
    with pytest.raises(ConnectorError) as err:
        run(connector())
    assert err.value.message.startswith(expected), err.value.message
    assert "\n" not in err.value.message and "test-token" not in err.value.message


def test_a_failing_repository_does_not_hide_the_others(mock: responses.RequestsMock) -> None:
    """The next repository is still synced; the failure is raised at the end, naming the repo."""
    mock.get(f"{WIRE}/repos/acme/gone/deployments", status=404,
             json=payload("github/error_not_found.json"))
    mock.get(DEPLOYMENTS, json=[payload("github/deployments.json")[2]])
    mock.get(statuses_url(5001), json=payload("github/statuses_success.json"))
    got: list[Batch] = []
    with pytest.raises(ConnectorError, match="^github acme/gone: not found"):
        for batch in connector(repos=["acme/gone", "acme/checkout"]).fetch(None, print):
            got.append(batch)
    assert [c.id for b in got for c in b.changes] == ["github:Acme/Checkout:deployment:5001"]


@pytest.mark.parametrize(("section", "message"), [
    ({"repos": ["acme/checkout"], "enviroments": ["production"]},
     "connectors.github.enviroments: no such setting"),
    ({}, "connectors.github.repos: required"),
    ({"repos": ["not a repo"]}, "connectors.github.repos[0]"),
    ({"repos": ["a/b"], "per_page": 500}, "connectors.github.per_page"),
    ({"repos": ["a/b"], "token": 12345}, "connectors.github.token: got (hidden)"),
    ({"repos": ["a/b"], "lookback": "forever"}, "connectors.github.lookback"),
])
def test_invalid_sections_name_the_key(section: dict[str, Any], message: str) -> None:
    """Each bad key is refused with its full path; a token is never echoed."""
    with pytest.raises(ConfigError) as err:
        GitHubConnector.from_config(section, context(), name="github")
    assert message in err.value.message


def test_every_batch_cursor_covers_its_changes(mock: responses.RequestsMock) -> None:
    """With one change per batch, each batch's cursor already counts its own deployment, so a
    crash after storing it never fetches it again."""
    serve_history(mock, last="statuses_success.json")
    batches = run(connector(batch_size=1))
    assert len(batches) == 3
    for batch in batches:
        (change,) = batch.changes
        seen = batch.cursor["repos"]["acme/checkout"]["last_deployment_id"]
        assert seen == int(change.id.rsplit(":", 1)[1])


def test_list_items_are_read_as_listed_without_completion(
        mock: responses.RequestsMock) -> None:
    """Issue #10 item 11: a status as webhooks shape it (no ``log_url``, no
    ``environment_url``) and a release without ``author`` are read as listed. PyGithub would
    complete each such object with a request to its own ``url`` (a 404 here, as from a fake
    or proxy serving lists only), failing the sync; one request per list is all it costs."""
    webhook_status = {k: v for k, v in payload("github/statuses_success.json")[0].items()
                      if k not in ("log_url", "environment_url")}
    deployment = payload("github/deployments.json")[2]  # 5001
    (published,) = [r for r in payload("github/releases.json") if not r["draft"]]
    release = {k: v for k, v in published.items() if k != "author"}
    mock.get(DEPLOYMENTS, json=[deployment])
    mock.get(statuses_url(5001), json=[webhook_status])
    mock.get(f"{REPO}/releases", json=[release])
    (batch,) = run(connector(releases=True))
    deploy, released = batch.changes
    assert deploy.status is ChangeStatus.SUCCEEDED
    assert deploy.url == webhook_status["target_url"]
    assert released.version == release["tag_name"] and released.author is None
    assert [c.request.url.split("?")[0].rsplit("/", 1)[-1] for c in mock.calls] == [
        "deployments", "statuses", "releases"]


def test_pending_entry_of_an_older_cursor_is_still_followed(
        mock: responses.RequestsMock) -> None:
    """A cursor written before the shared normaliser kept a pending deployment as a change
    document: it is still followed, at the cost of one request for the deployment, once, and
    keeps the previous version and the compare it recorded."""
    serve_history(mock)
    batches = run(connector())
    cursor = batches[-1].cursor
    rolling = batches[-1].changes[-1]
    assert rolling.status is ChangeStatus.IN_PROGRESS
    cursor["repos"]["acme/checkout"]["pending"] = {"5003": rolling.to_dict()}  # the old form
    done = payload("github/statuses_success.json")
    done[0]["created_at"] = "2026-11-20T14:07:00Z"
    mock.replace(responses.GET, statuses_url(5003), json=done)
    mock.get(f"{DEPLOYMENTS}/5003", json=payload("github/deployments.json")[0])
    mock.calls.reset()
    (batch,) = run(connector(), cursor)
    (change,) = batch.changes
    assert change.id.endswith(":5003") and change.status is ChangeStatus.SUCCEEDED
    assert change.previous_version == rolling.previous_version == "a1" * 20
    assert change.details["files"] == rolling.details["files"]
    assert [c.request.url.split("?")[0].rsplit("/", 2)[-2:] for c in mock.calls] == [
        ["deployments", "5003"], ["5003", "statuses"], ["checkout", "deployments"]]
    again = run(connector(), batch.cursor)  # followed no longer: nothing pending
    assert again == [] and batch.cursor["repos"]["acme/checkout"]["pending"] == {}

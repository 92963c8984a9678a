"""The pull before advice (issue #12), through the service's API and the Slack command path
(``Services.advise_request``): a deploy the scheduler has not seen yet is found; a vendor that
hangs does not hold the advice; each source's freshness is in the answer.

The vendor is the recorded GitHub API on ``responses``; nothing was synced beforehand.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml
from flask import Flask

from rollback_advisor.config import ServerSettings, Settings, SyncSettings
from rollback_advisor.web import create_app
from rollback_advisor.web.services import services

from . import github_api
from .test_sync_end_to_end import GRAPH

TARGET = "checkout:POST /pay"
# deployment 5003 began at 14:00 and was rolling out from 14:01: the question comes 30 s later
AT = "2026-11-20T14:01:30Z"
DEPLOY = "github:Acme/Checkout:deployment:5003"


def _settings(tmp_path: Path, deadline: float = 3.0, **extra: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'web.db'}", data_dir=str(tmp_path),
        server=ServerSettings(read_auth=False, secret_key="k" * 32),
        sync=SyncSettings(pull_deadline=timedelta(seconds=deadline)),
        connectors={"github": {"base_url": github_api.API, "token": "test-token",
                               "repos": ["acme/checkout"], "lookback": "3650d",
                               "retries": 0, **extra}})


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    apps: list[Flask] = []

    def build(**kw: Any) -> Flask:
        app = create_app(_settings(tmp_path, **kw))
        with app.app_context():
            services().store.save_graph(yaml.safe_load(GRAPH))
        apps.append(app)
        return app

    yield build
    for app in apps:
        svc = app.extensions["rollback_advisor"]
        if svc._freshness is not None and svc._freshness._puller is not None:
            svc._freshness._puller.close()
        svc.store.close()


def test_advice_pulls_a_deploy_that_finished_seconds_before_the_question(
        make_app: Any, mock: responses.RequestsMock) -> None:
    app = make_app()
    github_api.serve_history(mock)
    with app.app_context():
        assert services().store.count_changes() == 0  # no sync has run
    answer = app.test_client().post("/api/v1/recommendations",
                                    json={"target": TARGET, "at": AT})
    assert answer.status_code == 200, answer.json
    body = answer.json
    ids = [s["change"]["id"] for s in body["suspects"]]
    assert DEPLOY in ids
    assert body["recommendation"]["change_id"] == DEPLOY
    [source] = body["sources"]
    assert source["source"] == "github" and source["status"] == "ok" and source["pulled"]
    assert source["text"].startswith("github: synced ") and source["text"].endswith(" s ago")


def test_a_hanging_vendor_does_not_hold_the_advice_past_the_deadline(
        make_app: Any) -> None:
    """GitHub accepts the request and never answers (until the test ends): the advice comes
    back while the pull is still waiting on it, says so, and advises on what is stored."""
    app = make_app(deadline=0.3)
    release, asked = threading.Event(), threading.Event()

    def hang(request: Any) -> tuple[int, dict[str, str], str]:
        asked.set()
        release.wait(30)
        return 200, {}, "[]"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, github_api.DEPLOYMENTS, callback=hang)
        try:
            answer = app.test_client().get("/api/v1/suspects",
                                           query_string={"target": TARGET, "at": AT})
            still_hanging = asked.is_set() and not release.is_set()
        finally:
            release.set()
    assert still_hanging
    assert answer.status_code == 200
    [source] = answer.json["sources"]
    assert source["pulled"] is False and source["status"] in ("syncing", "never")
    assert "past the deadline" in source["text"]
    assert answer.json["suspects"] == []


def test_text_and_slack_forms_say_how_fresh_each_source_is(make_app: Any) -> None:
    """A failing source: the text answer has the line, and a source the incident's paths do
    not reach is not pulled (only reported)."""
    app = make_app()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(github_api.DEPLOYMENTS, status=401, json={"message": "Bad credentials"})
        text = app.test_client().get("/api/v1/suspects", query_string={
            "target": TARGET, "at": AT, "format": "text"})
    assert text.status_code == 200
    assert "sources:\n  github: last sync failed 0 s ago: " in text.text
    assert "bad credentials (HTTP 401)" in text.text
    # cart's deploys come from GitLab, not from this GitHub repository: no pull
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        answer = app.test_client().get("/api/v1/suspects", query_string={
            "target": "cart", "at": AT})
        assert len(rsps.calls) == 0
    assert answer.json["sources"][0]["pulled"] is False


def test_sources_endpoint_and_healthz(make_app: Any, mock: responses.RequestsMock) -> None:
    app = make_app()
    client = app.test_client()
    before = client.get("/api/v1/sources").json["sources"]
    assert [(s["source"], s["status"], s["lag_seconds"]) for s in before] == [
        ("github", "never", None)]
    assert client.get("/healthz").json == {"status": "ok"}  # never tried: not degraded
    github_api.serve_history(mock)
    client.post("/api/v1/recommendations", json={"target": TARGET, "at": AT})
    [after] = client.get("/api/v1/sources").json["sources"]
    assert after["status"] == "ok" and after["lag_seconds"] >= 0 and not after["stale"]
    assert after["last_changes"] == 3 and after["interval_seconds"] == 60
    metrics = client.get("/metrics").text
    assert 'rollback_advisor_sync_lag_seconds{source="github"}' in metrics
    assert 'rollback_advisor_sync_changes_total{source="github"} 3.0' in metrics


def test_slack_blocks_carry_the_freshness_line(make_app: Any,
                                               mock: responses.RequestsMock) -> None:
    app = make_app()
    github_api.serve_history(mock)
    blocks = app.test_client().get("/api/v1/suspects/blocks", query_string={
        "target": TARGET, "at": AT}).json["blocks"]
    assert blocks[-1]["type"] == "context"
    assert blocks[-1]["elements"][0]["text"].startswith("github: synced ")


def test_healthz_is_degraded_when_a_source_is_stale(make_app: Any) -> None:
    """A last success older than sync.stale_after (15 min; the interval is 1 min): still
    200, status degraded, with the reason; `sync status` shows it too."""
    import time

    from click.testing import CliRunner

    from connectors.cli import sync_command
    from rollback_advisor.store.sync_state import SyncStates

    app = make_app()
    with app.app_context():
        svc = services()
        states = SyncStates(svc.store)
        long_ago = time.time() - 3600
        states.ensure("github", first_run=long_ago)
        assert states.acquire("github", "test", now=long_ago, ttl=60, due_only=True)
        states.succeeded("github", "test", now=long_ago, next_run=long_ago + 60, seconds=0.1,
                         changes=0)
        assert states.acquire("github", "test", now=long_ago + 60, ttl=60, due_only=True)
        states.failed("github", "test", now=long_ago + 61, next_run=long_ago + 120,
                      error="cannot reach github.example.test", auth=False, pause_after=3,
                      seconds=0.1)
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "degraded", "reasons": [
        "github: last success 60 min ago (last error: cannot reach github.example.test)"]}

    class Obj:
        settings = app.extensions["rollback_advisor"].settings

        def store(self) -> Any:
            return app.extensions["rollback_advisor"].store

    out = CliRunner().invoke(sync_command, ["status"], obj=Obj())
    assert out.exit_code == 0, out.output
    assert re.match(r"github: failed; lag 36\d\d s; next run 20\d\d-", out.output)
    assert "STALE" in out.output.splitlines()[0]
    assert "last error" in out.output


def test_an_incident_opened_by_hand_pulls_first_too(make_app: Any,
                                                    mock: responses.RequestsMock) -> None:
    """Incidents get their advice through the same pull: the deploy no sync has stored is
    found, and the stored advice says how fresh each source was."""
    from datetime import datetime

    from rollback_advisor.models import Incident

    app = make_app()
    github_api.serve_history(mock)
    with app.app_context():
        desk = services().incidents()
        record = desk.open(Incident(target=TARGET, started_at=datetime.fromisoformat(AT)))
        (entry,) = desk.tables.advice_history(record.id)
    assert entry.change_id == DEPLOY
    assert [s["source"] for s in entry.advice["sources"]] == ["github"]

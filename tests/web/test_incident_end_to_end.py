"""Issue #8 end to end, as docs/incidents.md walks through it, on SQLite and PostgreSQL: a graph
is loaded, a deploy hook and an alert hook are registered, a deploy is delivered, an
Alertmanager alert opens an incident, its advice is posted to a fake Slack Web API (loopback)
with the culprit first, a button click gives the verdict, the learnt prior moves, the alert
resolves and the incident closes. Redeliveries change nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask

from rollback_advisor.config import Settings
from rollback_advisor.learning import factors, learn_priors
from rollback_advisor.models import ChangeKind
from rollback_advisor.store.verdicts import VerdictStore
from rollback_advisor.web import create_app
from rollback_advisor.web.services import services
from rollback_advisor.web.slack_poster import SlackPoster
from rollback_advisor.web.verdict_actions import decode

from .conftest import GRAPH, SLACK_SECRET, make_settings
from .fake_slack import FakeSlack, fake_slack
from .test_hooks import post_generic
from .test_incidents import alert, am_payload, hook, incident, post

ONSET = "2026-11-20T14:05:00Z"
FRONT = {"service": "frontend", "route": "POST /cart/checkout"}
DEPLOY = {"id": "ci:payment:142", "kind": "deploy", "service": "payment",
          "at": "2026-11-20T14:01:00Z", "version": "v142", "previous_version": "v141",
          "source": "ci"}


@pytest.fixture
def slack() -> Any:
    with fake_slack() as fake:
        yield fake


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path, slack: FakeSlack) -> Settings:
    base = make_settings(tmp_path, slack_bot_token="xoxb-test", slack_channel="C0INCIDENT",
                         slack_api_url=slack.url + "/api/")
    if request.param == "postgres":
        return replace(base, database_url=request.getfixturevalue("postgres_url"))
    return base


@pytest.fixture
def app(settings: Settings) -> Any:
    app = create_app(settings)
    with app.app_context():
        services().store.save_graph(GRAPH)  # the graph, and no change yet
    yield app
    app.extensions["rollback_advisor"].store.close()


def drain(app: Flask) -> int:
    svc = app.extensions["rollback_advisor"]
    return SlackPoster(svc.store, svc.settings, observe=svc.metrics.observe_slack).drain().sent


def click(app: Flask, value: str, user: str = "alice") -> Any:
    """A signed Slack block_actions request for the button carrying ``value``."""
    payload = {"type": "block_actions", "user": {"id": "U1", "username": user},
               "actions": [{"action_id": "verdict", "value": value, "type": "button"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body,
                      hashlib.sha256).hexdigest()
    return app.test_client().post(
        "/slack/interactions", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"})


def priors(app: Flask) -> dict[tuple[ChangeKind, str | None], float]:
    with app.app_context():
        return factors(learn_priors(VerdictStore(services().store).list()))


def test_alert_to_posted_advice_to_verdict_to_resolution(app: Flask, slack: FakeSlack) -> None:
    client = app.test_client()
    deploys = hook(app, source="generic")
    alerts = hook(app)
    assert post_generic(client, deploys, DEPLOY).status_code == 201

    firing = am_payload(alert("f1", FRONT, ONSET))
    opened = post(client, alerts, firing)
    assert opened.status_code == 201, opened.get_json()
    incident_id = opened.get_json()["incident"]["id"]
    assert opened.get_json()["incident"]["opened"]
    assert post(client, alerts, firing).get_json()["status"] == "duplicate"  # redelivered

    record = incident(app, incident_id)
    assert record["status"] == "open" and record["advice"][0]["change_id"] == DEPLOY["id"]

    assert drain(app) == 1 and drain(app) == 0  # posted once, then nothing left
    ((method, message),) = slack.calls
    assert method == "chat.postMessage" and DEPLOY["id"] in str(message["blocks"])
    values = [e["value"] for b in message["blocks"] if b["type"] == "actions"
              for e in b["elements"]]
    culprit = next(v for v in values if decode(v).change == DEPLOY["id"]
                   and decode(v).verdict.value == "culprit")

    before = priors(app)
    answer = click(app, culprit)
    assert answer.status_code == 200, answer.get_data()
    after = priors(app)
    assert before == {} and after[(ChangeKind.DEPLOY, "ci")] > 1.0  # the learnt prior moved
    assert drain(app) == 1 and slack.calls[-1][0] == "chat.update"  # the message shows it

    resolved = am_payload(alert("f1", FRONT, ONSET, status="resolved",
                                ends="2026-11-20T14:40:00Z"))
    assert post(client, alerts, resolved).get_json()["incident"]["resolved"]
    assert incident(app, incident_id)["status"] == "resolved"

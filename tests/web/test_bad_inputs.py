"""Every bad input of the reliability campaign (issue #10, item 5) is a 4xx in the one error
shape naming the field, on SQLite and on PostgreSQL alike, and stores nothing: dates out of
range, huge durations and integers, lone surrogates, NUL bytes, deep nesting, values longer
than the store's columns, NaN and Infinity."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask.testing import FlaskClient

from rollback_advisor.config import ServerSettings, Settings
from rollback_advisor.web import create_app
from rollback_advisor.web.app import services
from rollback_advisor.web.credentials import create_token, register_hook

from .conftest import GRAPH, SERVER_KEY, SLACK_SECRET, assert_canonical_error, sign_own

EVENT = {"id": "e1", "kind": "deploy", "service": "checkout", "at": "2026-11-20T14:00:00Z"}
BIG = "9" * 5000
EARLY, LATE = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"


def _raw(text: str) -> bytes:
    """A JSON document written by hand: NaN, 5000-digit numbers and \\ud800 as sent."""
    return text.encode()


def _event_with(fragment: str) -> bytes:
    return _raw('{"id": "bad", "kind": "deploy", "service": "checkout", '
                '"at": "2026-11-20T14:00:00Z", ' + fragment + "}")


# (name, what is sent, the field the error must name)
HOOK_CASES: list[tuple[str, Any, str]] = [
    ("at before 1970", {**EVENT, "at": EARLY}, "at"),
    ("at after 2999", {**EVENT, "at": LATE}, "at"),
    ("started_at out of range", {**EVENT, "started_at": EARLY}, "started_at"),
    ("5000-digit integer", _event_with('"details": {"n": ' + BIG + "}"), "body"),
    ("lone surrogate in id", _event_with('"source": "x"').replace(b'"bad"', b'"b\\ud800"'),
     "id"),
    ("lone surrogate in service", {**EVENT, "service": "\ud800"}, "service"),
    ("lone surrogate in details", _event_with('"details": {"a": "\\ud800"}'), "details.a"),
    ("600-character id", {**EVENT, "id": "i" * 600}, "id"),
    ("600-character service", {**EVENT, "service": "s" * 600}, "service"),
    ("200-character environment", {**EVENT, "environment": "e" * 200}, "environment"),
    ("200-character source", {**EVENT, "source": "s" * 200}, "source"),
    ("NUL in id", {**EVENT, "id": "a\x00b"}, "id"),
    ("NUL in summary", {**EVENT, "summary": "a\x00b"}, "summary"),
    ("NUL in scope", {**EVENT, "scope": {"region": ["a\x00"]}}, "scope.region"),
    ("NaN in details", _event_with('"details": {"x": NaN}'), "details.x"),
    ("Infinity in details", _event_with('"details": {"x": [-Infinity]}'), "details.x[0]"),
    ("details nested 900 deep", _event_with('"details": {"a": ' + "[" * 900 + "]" * 900 + "}"),
     "details"),
    ("body nested 100000 deep", _raw("[" * 100_000 + "]" * 100_000), "body"),
]

API_CASES: list[tuple[str, str, str, Any, str]] = [
    ("recommend at before 1970", "POST", "/api/v1/recommendations",
     {"target": "checkout", "at": EARLY}, "at"),
    ("recommend at after 2999", "POST", "/api/v1/recommendations",
     {"target": "checkout", "at": LATE}, "at"),
    ("recommend at -999999999d", "POST", "/api/v1/recommendations",
     {"target": "checkout", "at": "-999999999d"}, "at"),
    ("recommend window 999999999d", "POST", "/api/v1/recommendations",
     {"target": "checkout", "window": "999999999d"}, "window"),
    ("recommend 5000-digit limit", "POST", "/api/v1/recommendations",
     _raw('{"target": "checkout", "limit": ' + BIG + "}"), "body"),
    ("recommend lone surrogate", "POST", "/api/v1/recommendations",
     _raw('{"target": "\\ud800"}'), "target"),
    ("recommend surrogate environment", "POST", "/api/v1/recommendations",
     _raw('{"target": "checkout", "environment": "\\ud800"}'), "environment"),
    ("recommend nested 100000 deep", "POST", "/api/v1/recommendations",
     _raw("[" * 100_000 + "]" * 100_000), "body"),
    ("recommend NUL environment", "POST", "/api/v1/recommendations",
     {"target": "checkout", "environment": "a\x00b"}, "environment"),
    ("recommend 600-character target", "POST", "/api/v1/recommendations",
     {"target": "t" * 600}, "target"),
    ("recommend 200-character environment", "POST", "/api/v1/recommendations",
     {"target": "checkout", "environment": "e" * 200}, "environment"),
    ("recommend symptom onset before 1970", "POST", "/api/v1/recommendations",
     {"target": "checkout", "symptoms": [{"node": "payment", "started_at": EARLY}]},
     "symptoms[0].started_at"),
    ("recommend NUL symptom", "POST", "/api/v1/recommendations",
     {"target": "checkout", "symptoms": [{"node": "a\x00b"}]}, "symptoms[0].node"),
    ("recommend surrogate symptom", "POST", "/api/v1/recommendations",
     _raw('{"target": "checkout", "symptoms": [{"node": "\\ud800"}]}'), "symptoms[0].node"),
    ("recommend NUL scope", "POST", "/api/v1/recommendations",
     {"target": "checkout", "scope": {"region": ["a\x00"]}}, "scope.region"),
    ("suspects symptom -999999999d", "GET",
     "/api/v1/suspects?target=checkout&symptom=payment@-999999999d", None, "symptom"),
    ("suspects NUL scope", "GET", "/api/v1/suspects?target=checkout&scope=region=a%00", None,
     "scope.region"),
    ("suspects at before 1970", "GET", "/api/v1/suspects?target=checkout&at=" + quote(EARLY),
     None, "at"),
    ("suspects window", "GET", "/api/v1/suspects?target=checkout&window=999999999d", None,
     "window"),
    ("suspects 5000-digit limit", "GET", "/api/v1/suspects?target=checkout&limit=" + BIG,
     None, "limit"),
    ("blocks at -999999999d", "GET", "/api/v1/suspects/blocks?target=checkout&at=-999999999d",
     None, "at"),
    ("changes since before 1970", "GET", "/api/v1/changes?since=" + quote(EARLY), None,
     "since"),
    ("changes until -999999999d", "GET", "/api/v1/changes?until=-999999999d", None, "until"),
    ("changes NUL service", "GET", "/api/v1/changes?service=a%00b", None, "service"),
    ("changes NUL environment", "GET", "/api/v1/changes?environment=a%00b", None,
     "environment"),
    ("hook registration 300-character name", "POST", "/api/v1/hooks",
     {"name": "n" * 300, "source": "generic"}, "name"),
    ("hook registration NUL name", "POST", "/api/v1/hooks",
     {"name": "a\x00b", "source": "generic"}, "name"),
    ("hook registration 200-character environment", "POST", "/api/v1/hooks",
     {"name": "ci", "source": "generic", "environment": "e" * 200}, "environment"),
]


@pytest.fixture
def service(store_url: str, tmp_path: Any) -> Iterator[dict[str, Any]]:
    settings = Settings(database_url=store_url, data_dir=str(tmp_path), server=replace(
        ServerSettings(secret_key=SERVER_KEY, slack_signing_secret=SLACK_SECRET)))
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.test_request_context():
        svc = services()
        svc.store.save_graph(GRAPH)
        hook = register_hook(tables=svc.tables, server_key=SERVER_KEY, base_url="http://x",
                             name="ci", source="generic", mapping={}, environment=None)
        admin = create_token(tables=svc.tables, scope="admin")["token"]
    yield {"app": app, "client": app.test_client(), "hook": hook,
           "auth": {"Authorization": f"Bearer {admin}"}}
    app.extensions["rollback_advisor"].store.close()


def _stored(service: dict[str, Any]) -> tuple[int, int]:
    with service["app"].app_context():
        svc = services()
        return svc.store.count_changes(), svc.tables.delivery_count()


@pytest.mark.parametrize("sent, field", [c[1:] for c in HOOK_CASES],
                         ids=[c[0] for c in HOOK_CASES])
def test_hook_refuses(service: dict[str, Any], sent: Any, field: str) -> None:
    body = sent if isinstance(sent, bytes) else json.dumps(sent).encode()
    client: FlaskClient = service["client"]
    r = client.post(f"/hooks/{service['hook']['id']}", data=body, headers={
        "Content-Type": "application/json",
        "X-Rollback-Advisor-Signature": sign_own(body, service["hook"]["secret"])})
    err = assert_canonical_error(r, 400, "InvalidInput")
    assert err["details"]["field"] == field, err
    assert _stored(service) == (0, 0)


@pytest.mark.parametrize("method, path, sent, field", [c[1:] for c in API_CASES],
                         ids=[c[0] for c in API_CASES])
def test_api_refuses(service: dict[str, Any], method: str, path: str, sent: Any,
                     field: str) -> None:
    client: FlaskClient = service["client"]
    kwargs: dict[str, Any] = {"headers": dict(service["auth"])}
    if sent is not None:
        kwargs["data"] = sent if isinstance(sent, bytes) else json.dumps(sent).encode()
        kwargs["headers"]["Content-Type"] = "application/json"
    r = client.open(path, method=method, **kwargs)
    err = assert_canonical_error(r, 400, "InvalidInput")
    assert err["details"]["field"] == field, err


@pytest.mark.parametrize("text, field", [
    ("checkout -999999999d", "time"), (f"checkout {EARLY}", "time"),
    (f"checkout {LATE}", "time"), ("a\x00b", "target"), ("t" * 600, "target")])
def test_slash_command_answers_the_field(service: dict[str, Any], text: str,
                                         field: str) -> None:
    """Slack shows a user only 200 answers: the error is an ephemeral message naming the
    field (a 5xx before)."""
    body = urlencode({"text": text, "command": "/rollback-advisor"}).encode()
    stamp = str(int(time.time()))
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body,
                           hashlib.sha256).hexdigest()
    r = service["client"].post("/slack/commands", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig})
    assert r.status_code == 200
    answer = r.get_json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f":warning: {field}: "), answer


def test_refused_details_never_reach_the_json_out(service: dict[str, Any]) -> None:
    """What is stored is emitted as valid JSON: a finite detail goes in and comes out."""
    client: FlaskClient = service["client"]
    body = json.dumps({**EVENT, "details": {"x": 1.5}}).encode()
    r = client.post(f"/hooks/{service['hook']['id']}", data=body, headers={
        "Content-Type": "application/json",
        "X-Rollback-Advisor-Signature": sign_own(body, service["hook"]["secret"])})
    assert r.status_code == 201
    listed = client.get("/api/v1/changes", headers=service["auth"])
    strict = json.loads(listed.get_data(as_text=True), parse_constant=_no_constant)
    assert strict["changes"][0]["details"]["x"] == 1.5


def _no_constant(name: str) -> Any:
    raise AssertionError(f"{name} in a JSON answer: not JSON")

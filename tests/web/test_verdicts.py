"""Responders' verdicts on incidents (issue #8, item 4): the API, Slack's verdict buttons through
``/slack/interactions``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from flask import Flask

from rollback_advisor.cli import cli
from rollback_advisor.verdicts import VerdictKind
from rollback_advisor.web import incident_posting
from rollback_advisor.web.credentials import create_token
from rollback_advisor.web.services import services
from rollback_advisor.web.slack import slack_signature
from rollback_advisor.web.verdict_actions import VerdictAction, encode

from .conftest import ONSET, SLACK_SECRET, assert_canonical_error, make_settings
from .test_incidents import settings, token  # noqa: F401 - settings: SQLite and PostgreSQL

SLACK = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
BOLT = SLACK / ("slack-interactivity-bolt-python/"
                "block_actions.org-wide-install.from-test_request.json")
JAVA = SLACK / ("slack-interactivity-java-slack-sdk/"
                "block_actions.docs-example.from-BlockActionPayloadTest.json")
TOP = "d-payment-142"  # the top suspect for the checkout endpoint (conftest's changes)


def open_incident(app: Flask) -> int:
    r = app.test_client().post("/api/v1/incidents", headers=token(app, "admin"), json={
        "target": "frontend:POST /cart/checkout", "at": ONSET})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["advice"][0]["change_id"] == TOP
    return int(r.get_json()["id"])


def named_admin(app: Flask, name: str) -> dict[str, str]:
    with app.app_context():
        made = create_token(tables=services().tables, scope="admin", name=name)
    return {"Authorization": f"Bearer {made['token']}"}


def verdicts(app: Flask, incident: int) -> list[dict[str, Any]]:
    r = app.test_client().get(f"/api/v1/incidents/{incident}/verdicts", headers=token(app))
    assert r.status_code == 200, r.get_json()
    return list(r.get_json()["verdicts"])


def test_verdict_is_stored_with_who_and_when_and_a_later_one_replaces(app: Flask) -> None:
    client, incident = app.test_client(), open_incident(app)
    ana = named_admin(app, "ana")
    r = client.post(f"/api/v1/incidents/{incident}/verdicts", headers=ana,
                    json={"change": TOP, "verdict": "culprit", "note": "rolled back, fixed"})
    assert r.status_code == 201, r.get_json()
    (stored,) = r.get_json()["verdicts"]
    assert (stored["incident"], stored["change"], stored["verdict"], stored["by"]) == (
        str(incident), TOP, "culprit", "ana")
    assert stored["kind"] == "deploy" and stored["note"] == "rolled back, fixed"
    assert verdicts(app, incident) == [stored]

    r = client.post(f"/api/v1/incidents/{incident}/verdicts", headers=token(app, "admin"),
                    json={"change": TOP, "verdict": "not_culprit"})
    assert r.status_code == 201, r.get_json()
    (later,) = verdicts(app, incident)
    assert later["verdict"] == "not_culprit" and later["at"] >= stored["at"]
    assert later["by"].startswith("token:") and later["note"] is None  # unnamed token: its id


def test_no_change_also_clears_the_top_suspect(app: Flask) -> None:
    incident = open_incident(app)
    r = app.test_client().post(f"/api/v1/incidents/{incident}/verdicts",
                               headers=named_admin(app, "bo"), json={"verdict": "no_change"})
    assert r.status_code == 201, r.get_json()
    given, implied = r.get_json()["verdicts"]
    assert (given["change"], given["verdict"]) == (None, "no_change")
    assert (implied["change"], implied["verdict"], implied["by"]) == (TOP, "not_culprit", "bo")
    assert "no_change" in implied["note"]
    assert sorted((v["change"] or "", v["verdict"]) for v in verdicts(app, incident)) == [
        ("", "no_change"), (TOP, "not_culprit")]


def test_errors_name_what_is_missing_and_store_nothing(app: Flask) -> None:
    client, incident = app.test_client(), open_incident(app)
    admin = token(app, "admin")
    url = f"/api/v1/incidents/{incident}/verdicts"
    err = assert_canonical_error(client.post("/api/v1/incidents/999/verdicts", headers=admin,
                                             json={"verdict": "no_change"}), 404, "NotFound")
    assert "999" in err["message"]
    assert_canonical_error(client.get("/api/v1/incidents/999/verdicts", headers=admin), 404)
    err = assert_canonical_error(client.post(url, headers=admin, json={
        "change": "d-nope", "verdict": "culprit"}), 404, "NotFound")
    assert "d-nope" in err["message"] and err["details"]["field"] == "change"
    # stored, but in staging: never among this incident's suspects
    err = assert_canonical_error(client.post(url, headers=admin, json={
        "change": "d-checkout-staging", "verdict": "culprit"}), 409, "Conflict")
    assert "not among" in err["message"] and TOP in err["message"]
    for body, field in [({"verdict": "guilty", "change": TOP}, "verdict"),
                        ({"change": TOP}, "verdict"),
                        ({"verdict": "no_change", "change": TOP}, "change"),
                        ({"verdict": "culprit"}, "change"),
                        ({"verdict": "culprit", "change": TOP, "by": "me"}, "by"),
                        ({"verdict": "culprit", "change": TOP, "note": 7}, "note")]:
        err = assert_canonical_error(client.post(url, headers=admin, json=body), 400)
        assert err["details"]["field"] == field, (body, err)
    assert verdicts(app, incident) == []


def test_recording_needs_an_admin_token(app: Flask) -> None:
    client, incident = app.test_client(), open_incident(app)
    url = f"/api/v1/incidents/{incident}/verdicts"
    body = {"change": TOP, "verdict": "culprit"}
    assert_canonical_error(client.post(url, json=body), 401)
    assert_canonical_error(client.post(url, json=body, headers=token(app, "read")), 403)
    assert verdicts(app, incident) == []


def test_each_recorded_verdict_is_announced(app: Flask, monkeypatch: Any) -> None:
    seen: list[tuple[int, str | None, str]] = []

    def on_verdict(incident: Any, verdict: Any, **_: Any) -> None:
        seen.append((incident.id, verdict.change, verdict.verdict.value))
        raise RuntimeError("Slack is down")  # must not fail the request

    monkeypatch.setattr(incident_posting, "on_verdict", on_verdict)
    incident = open_incident(app)
    r = app.test_client().post(f"/api/v1/incidents/{incident}/verdicts",
                               headers=token(app, "admin"), json={"verdict": "no_change"})
    assert r.status_code == 201, r.get_json()
    assert seen == [(incident, None, "no_change"), (incident, TOP, "not_culprit")]


# -- Slack ---------------------------------------------------------------------------------------

def click(path: Path, action_id: str, value: str) -> dict[str, Any]:
    """A real block_actions payload with its first action turned into the given button."""
    payload = json.loads(path.read_text())
    payload["actions"][0].update(action_id=action_id, value=value)
    return dict(payload)


def slack_post(app: Flask, payload: Any, *, secret: str = SLACK_SECRET, age: int = 0) -> Any:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()) - age)
    return app.test_client().post("/slack/interactions", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(secret, stamp, body)})


def priors(db_url: str) -> list[dict[str, Any]]:
    r = CliRunner().invoke(cli, ["--database", db_url, "priors", "show", "--format", "json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return list(json.loads(r.output)["priors"])


def test_a_verdict_button_click_records_the_verdict_and_moves_the_priors(
        app: Flask, settings: Any) -> None:  # noqa: F811
    incident = open_incident(app)
    assert priors(settings.database_url) == []
    value = encode(VerdictAction(str(incident), TOP, VerdictKind.CULPRIT))
    r = slack_post(app, click(BOLT, "verdict", value))
    assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    (stored,) = verdicts(app, incident)
    assert (stored["change"], stored["verdict"], stored["by"]) == (TOP, "culprit",
                                                                   "primary-owner")
    (learnt,) = priors(settings.database_url)
    assert (learnt["kind"], learnt["culprit"], learnt["not_culprit"]) == ("deploy", 1, 0)

    # a second responder (the Java SDK's documented payload) says no change: replaces nothing
    # of the culprit's row but its own, and the top suspect becomes not_culprit
    value = encode(VerdictAction(str(incident), None, VerdictKind.NO_CHANGE))
    r = slack_post(app, click(JAVA, "verdict", value))
    assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    assert {(v["change"], v["verdict"], v["by"]) for v in verdicts(app, incident)} == {
        (None, "no_change", "jtorrance"), (TOP, "not_culprit", "jtorrance")}
    (learnt,) = priors(settings.database_url)
    assert (learnt["culprit"], learnt["not_culprit"]) == (0, 1)


def test_slack_signature_good_bad_and_stale(app: Flask) -> None:
    incident = open_incident(app)
    payload = click(BOLT, "verdict", encode(VerdictAction(str(incident), TOP,
                                                          VerdictKind.CULPRIT)))
    assert_canonical_error(slack_post(app, payload, secret="not-the-secret"), 401)
    assert_canonical_error(slack_post(app, payload, age=301), 401)
    assert verdicts(app, incident) == []
    assert slack_post(app, payload, age=240).status_code == 200  # within the window
    assert len(verdicts(app, incident)) == 1


def test_other_interactions_are_acknowledged_and_do_nothing(app: Flask) -> None:
    incident = open_incident(app)
    untouched = json.loads(BOLT.read_text())  # its own action "a", value "click_me_123"
    for payload in [untouched, {"type": "view_submission", "view": {"id": "V1"}},
                    {"type": "shortcut", "callback_id": "x"}]:
        r = slack_post(app, payload)
        assert r.status_code == 200 and r.get_json() == {"ok": True, "recorded": []}
    # a forged value or a vanished incident: acknowledged (Slack shows no body), not stored
    for value in ["click_me_123", encode(VerdictAction("999", TOP, VerdictKind.CULPRIT))]:
        r = slack_post(app, click(BOLT, "verdict", value))
        assert r.status_code == 200 and not r.get_json()["ok"], r.get_json()
    assert verdicts(app, incident) == []


def test_interactions_are_off_without_a_signing_secret(tmp_path: Path) -> None:
    from rollback_advisor.web import create_app

    app = create_app(make_settings(tmp_path, slack_signing_secret=None))
    try:
        assert_canonical_error(slack_post(app, {"type": "block_actions"}), 404,
                               "NotConfigured")
    finally:
        app.extensions["rollback_advisor"].store.close()


def test_a_signed_body_without_a_json_payload_is_refused(app: Flask) -> None:
    body, stamp = b"payload=%7Bnot+json", str(int(time.time()))
    r = app.test_client().post("/slack/interactions", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(SLACK_SECRET, stamp, body)})
    assert assert_canonical_error(r, 400)["details"]["field"] == "payload"


@pytest.mark.parametrize("value", ["", "{}", '{"i": "1", "c": null, "v": "maybe"}'])
def test_forged_values_never_store(app: Flask, value: str) -> None:
    incident = open_incident(app)
    r = slack_post(app, click(JAVA, "verdict", value))
    assert r.status_code == 200 and "actions[0].value" in r.get_json()["error"]
    assert verdicts(app, incident) == []


# -- CLI -----------------------------------------------------------------------------------------

def run_cli(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--database", db_url, *args], catch_exceptions=False)


def test_cli_verdict_records_and_replaces(app: Flask, settings: Any) -> None:  # noqa: F811
    incident, db = open_incident(app), settings.database_url
    r = run_cli(db, "verdict", str(incident), "--culprit", TOP, "--note", "the retry change",
                "--by", "ana", "--format", "json")
    assert r.exit_code == 0, r.output
    (stored,) = json.loads(r.stdout)
    assert (stored["change"], stored["verdict"], stored["by"], stored["note"]) == (
        TOP, "culprit", "ana", "the retry change")
    r = run_cli(db, "verdict", str(incident), "--no-change")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and "(no change) no_change" in lines[0]
    assert f"{TOP} not_culprit" in lines[1]
    assert {(v["change"], v["verdict"]) for v in verdicts(app, incident)} == {
        (None, "no_change"), (TOP, "not_culprit")}


@pytest.mark.parametrize("args, code, words", [
    ((), 2, "exactly one of --culprit"),
    (("--culprit", TOP, "--no-change"), 2, "(2 given)"),
    (("--not", "d-nope"), 1, "'d-nope' is not stored"),
    (("--culprit", "d-checkout-staging"), 1, "not among incident"),
])
def test_cli_verdict_errors_are_one_line(app: Flask, settings: Any, args: tuple[str, ...],  # noqa: F811
                                         code: int, words: str) -> None:
    incident = open_incident(app)
    r = run_cli(settings.database_url, "verdict", str(incident), *args)
    assert r.exit_code == code and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("error: ") and words in line, line
    r = run_cli(settings.database_url, "verdict", "999", "--no-change")
    assert r.exit_code == 1 and r.stderr.startswith("error: no incident 999")
    assert verdicts(app, incident) == []


def test_the_document_links_an_opened_incident_to_its_verdicts(app: Flask) -> None:
    doc = app.test_client().get("/openapi.json").get_json()
    links = doc["paths"]["/api/v1/incidents"]["post"]["responses"]["201"]["links"]
    verdict_ops = {op["operationId"] for op in
                   doc["paths"]["/api/v1/incidents/{incident_id}/verdicts"].values()}
    assert {link["operationId"] for link in links.values()} == verdict_ops == {
        "recordVerdict", "listVerdicts"}
    assert all(link["parameters"] == {"incident_id": "$response.body#/id"}
               for link in links.values())


def test_a_click_queues_the_slack_update_for_each_verdict(tmp_path: Path) -> None:
    """With Slack configured, on_verdict (main's poster) queues one outbox message per verdict
    the click recorded: the no_change and the implied not_culprit."""
    from rollback_advisor.models import change_from_dict
    from rollback_advisor.store.outbox import SlackOutbox
    from rollback_advisor.web import create_app

    from .conftest import CHANGES, GRAPH

    app = create_app(make_settings(tmp_path, slack_webhook_url="http://127.0.0.1:9/hook"))
    try:
        with app.app_context():
            services().store.save_graph(GRAPH)
            services().store.add_changes(change_from_dict(c) for c in CHANGES)
        incident = open_incident(app)
        value = encode(VerdictAction(str(incident), None, VerdictKind.NO_CHANGE))
        r = slack_post(app, click(BOLT, "verdict", value))
        assert r.status_code == 200 and len(r.get_json()["recorded"]) == 2, r.get_json()
        store = app.extensions["rollback_advisor"].store
        kinds = [m["kind"] for m in SlackOutbox(store).rows(incident)]
        assert kinds.count("verdict") == 2 and kinds.count("advice") == 1
    finally:
        app.extensions["rollback_advisor"].store.close()

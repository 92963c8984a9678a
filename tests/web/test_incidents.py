"""Alerts open incidents through hooks, and incidents keep their advice (issue #8), through HTTP
on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from rollback_advisor.config import Settings
from rollback_advisor.web.credentials import create_token, register_hook
from rollback_advisor.web.services import services

from .conftest import SERVER_KEY, assert_canonical_error, make_settings

ALERTS = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
GROUP = '{}/{alertname="HighErrorRate"}:{}'


def am_payload(*alerts: dict[str, Any], group: str = GROUP) -> dict[str, Any]:
    """An Alertmanager v4 notification shaped like the real ones in tests/fixtures/alerts."""
    base = json.loads((ALERTS / "alertmanager-webhook-zulip/alert.json").read_text())
    base["groupKey"] = group
    base["alerts"] = [dict(copy.deepcopy(base["alerts"][0]), **a) for a in alerts]
    base["status"] = "firing" if any(a["status"] == "firing" for a in base["alerts"]) \
        else "resolved"
    return base


def alert(fingerprint: str, labels: dict[str, str], starts: str, status: str = "firing",
          ends: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
    return {"fingerprint": fingerprint, "status": status, "startsAt": starts, "endsAt": ends,
            "labels": {"alertname": "HighErrorRate", **labels}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """conftest's app (graph and changes stored) on each backend."""
    base = make_settings(tmp_path)
    if request.param == "postgres":
        return replace(base, database_url=request.getfixturevalue("postgres_url"))
    return base


def hook(app: Flask, source: str = "alertmanager", **kw: Any) -> dict[str, Any]:
    with app.test_request_context():
        return register_hook(tables=services().tables, server_key=SERVER_KEY,
                             base_url="http://localhost", name="alerts", source=source,
                             mapping=kw.pop("mapping", {}), environment=None, **kw)


def post(client: Any, h: dict[str, Any], payload: Any, secret: str | None = None,
         headers: dict[str, str] | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hdrs = {"Content-Type": "application/json"}
    if headers is None:
        hdrs["Authorization"] = f"Bearer {secret or h['secret']}"
    else:
        hdrs.update(headers)
    return client.post(f"/hooks/{h['id']}", data=body, headers=hdrs)


def token(app: Flask, scope: str = "read") -> dict[str, str]:
    with app.app_context():
        return {"Authorization": "Bearer "
                + create_token(tables=services().tables, scope=scope)["token"]}


def incident(app: Flask, incident_id: int) -> dict[str, Any]:
    r = app.test_client().get(f"/api/v1/incidents/{incident_id}", headers=token(app))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def count(app: Flask) -> int:
    with app.app_context():
        return services().incidents().tables.count()


def test_alert_opens_incident_with_advice_naming_the_deploy(app: Flask) -> None:
    h = hook(app)
    client = app.test_client()
    first = am_payload(alert("f1", {"service": "frontend", "route": "POST /cart/checkout"},
                             "2026-11-20T14:05:00Z"))
    r = post(client, h, first)
    assert r.status_code == 201, r.get_json()
    opened = r.get_json()["incident"]
    assert opened["opened"] and opened["advised"] and opened["status"] == "open"
    shown = incident(app, opened["id"])
    assert shown["target"] == "frontend:POST /cart/checkout"
    assert shown["started_at"] == "2026-11-20T14:05:00Z" and shown["external_id"] == GROUP
    assert shown["source"] == "alertmanager" and shown["symptoms"] == []
    (advice,) = shown["advice"]
    assert advice["trigger"] == "opened" and advice["change_id"] == "d-payment-142"
    assert advice["advice"]["suspects"][0]["change"]["id"] == "d-payment-142"

    # the same notification again: a duplicate delivery, nothing changes
    again = post(client, h, first)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    # the same alert in a new notification (another body): no new advice, no new incident
    repeat = am_payload(alert("f1", {"service": "frontend", "route": "POST /cart/checkout"},
                              "2026-11-20T14:05:00Z"))
    repeat["receiver"] = "again"
    r = post(client, h, repeat)
    assert r.status_code == 201 and not r.get_json()["incident"]["advised"]
    assert len(incident(app, opened["id"])["advice"]) == 1 and count(app) == 1

    # a second alert of the group on another node adds a symptom and moves the advice
    second = am_payload(
        alert("f1", {"service": "frontend", "route": "POST /cart/checkout"},
              "2026-11-20T14:05:00Z"),
        alert("f2", {"service": "checkout", "region": "eu-west-1"}, "2026-11-20T14:03:00Z"))
    r = post(client, h, second)
    body = r.get_json()["incident"]
    assert body["symptoms_added"] == ["checkout"] and body["advised"] and not body["opened"]
    shown = incident(app, opened["id"])
    assert shown["symptoms"] == [{"node": "checkout", "started_at": "2026-11-20T14:03:00Z",
                                  "status": "firing"}]
    assert shown["started_at"] == "2026-11-20T14:03:00Z"  # the earliest onset
    assert shown["scope"] == {"region": ["eu-west-1"]}
    assert [a["trigger"] for a in shown["advice"]] == ["opened", "symptom_added"]
    moved = shown["advice"][1]["advice"]["incident"]
    assert [s["node"] for s in moved["symptoms"]] == ["checkout"]

    # one alert resolves: its symptom resolves, the incident stays open
    part = am_payload(
        alert("f2", {"service": "checkout", "region": "eu-west-1"}, "2026-11-20T14:03:00Z",
              "resolved", "2026-11-20T14:30:00Z"))
    r = post(client, h, part)
    assert r.get_json()["incident"]["status"] == "open"
    assert incident(app, opened["id"])["symptoms"][0]["status"] == "resolved"
    # the last one resolves: the incident resolves
    last = am_payload(
        alert("f1", {"service": "frontend", "route": "POST /cart/checkout"},
              "2026-11-20T14:05:00Z", "resolved", "2026-11-20T14:40:00Z"))
    r = post(client, h, last)
    assert r.get_json()["incident"]["resolved"]
    shown = incident(app, opened["id"])
    assert shown["status"] == "resolved" and shown["resolved_at"] == "2026-11-20T14:40:00Z"
    assert len(shown["advice"]) == 2 and count(app) == 1


def test_unknown_node_is_kept_and_flagged_and_no_graph_never_fails(app: Flask) -> None:
    h = hook(app)
    client = app.test_client()
    r = post(client, h, am_payload(alert("g1", {"service": "ghost"}, "2026-11-20T14:05:00Z")))
    assert r.status_code == 201
    shown = incident(app, r.get_json()["incident"]["id"])
    assert shown["target"] == "ghost" and shown["unknown_nodes"] == ["ghost"]
    (advice,) = shown["advice"]
    assert advice["decision"] is None and "ghost" in advice["error"]
    # a known node arrives later: it becomes the target and the advice is computed
    r = post(client, h, am_payload(alert("g1", {"service": "ghost"}, "2026-11-20T14:05:00Z"),
                                   alert("g2", {"job": "payment"}, "2026-11-20T14:04:00Z")))
    shown = incident(app, r.get_json()["incident"]["id"])
    assert shown["target"] == "payment" and len(shown["alerts"]) == 2
    assert shown["advice"][-1]["trigger"] == "target_known"
    assert shown["advice"][-1]["change_id"] == "d-payment-142"


@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic x"}, {}])
def test_alertmanager_needs_its_bearer_credential(app: Flask, headers: Any) -> None:
    h = hook(app)
    payload = am_payload(alert("f1", {"service": "payment"}, "2026-11-20T14:05:00Z"))
    r = post(app.test_client(), h, payload, secret="whsec_wrong" if headers is None else None,
             headers=headers)
    assert_canonical_error(r, 401)
    assert count(app) == 0
    with app.app_context():
        assert services().tables.delivery_count(h["id"]) == 0


def test_old_alertmanager_payload_is_a_400(app: Flask) -> None:
    h = hook(app)
    r = post(app.test_client(), h,
             (ALERTS / "alertmanager-webhook-prometheus-bot/simpe.json").read_bytes())
    body = assert_canonical_error(r, 400)
    assert body["details"]["field"] == "version" and count(app) == 0


def test_grafana_signed_and_pagerduty_signed(app: Flask) -> None:
    client = app.test_client()
    g = hook(app, "grafana", labels={"service": "job"}, mapping={"rabbitmq": "checkout"})
    raw = (ALERTS / "grafana-alerting-webhook-zulip/alert-9-mixed.json").read_bytes()
    sig = hmac.new(g["secret"].encode(), b"1700000000:" + raw, hashlib.sha256).hexdigest()
    bad = post(client, g, raw, headers={"X-Grafana-Alerting-Signature": sig})
    assert_canonical_error(bad, 401)
    r = post(client, g, raw, headers={"X-Grafana-Alerting-Signature": sig,
                                      "X-Grafana-Alerting-Signature-Timestamp": "1700000000"})
    assert r.status_code == 201, r.get_json()
    shown = incident(app, r.get_json()["incident"]["id"])
    assert shown["target"] == "checkout" and shown["status"] == "open"
    flagged = [a for a in shown["alerts"] if not a["known_node"]]
    assert [a["name"] for a in flagged] == ["Second webhook test"]  # no node label: kept
    assert flagged[0]["node"] is None and shown["unknown_nodes"] == []

    p = hook(app, "pagerduty-incidents", mapping={"pig208": "payment"})
    raw = (ALERTS / "pagerduty-webhooks-v3-zulip/triggered_v3.json").read_bytes()
    sig = "v1=" + hmac.new(p["secret"].encode(), raw, hashlib.sha256).hexdigest()
    assert_canonical_error(post(client, p, raw, headers={"X-PagerDuty-Signature": "v1=00"}), 401)
    r = post(client, p, raw, headers={"X-PagerDuty-Signature": f"v1=00, {sig}"})
    assert r.status_code == 201, r.get_json()
    shown = incident(app, r.get_json()["incident"]["id"])
    assert shown["target"] == "payment" and shown["external_id"] == "PFQZPSY"
    assert shown["url"] == "https://pig208.pagerduty.com/incidents/PFQZPSY"


def test_open_by_hand_list_filter_and_paging(app: Flask) -> None:
    client = app.test_client()
    body = {"target": "frontend:POST /cart/checkout", "at": "2026-11-20T14:05:00Z",
            "symptoms": [{"node": "checkout", "started_at": "2026-11-20T14:04:00Z"}],
            "scope": {"region": ["eu-west-1"]}, "title": "checkout failing"}
    assert_canonical_error(client.post("/api/v1/incidents", json=body, headers=token(app)), 403)
    r = client.post("/api/v1/incidents", json=body, headers=token(app, "admin"))
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert made["source"] == "manual" and made["symptoms"][0]["node"] == "checkout"
    assert made["advice"][0]["change_id"] == "d-payment-142"
    bad = client.post("/api/v1/incidents", json={"target": "x", "colour": 1},
                      headers=token(app, "admin"))
    assert assert_canonical_error(bad, 400)["details"]["field"] == "colour"
    h = hook(app)
    post(client, h, am_payload(alert("f1", {"service": "payment"}, "2026-11-20T15:00:00Z",
                                     "resolved", "2026-11-20T15:10:00Z")))
    read = token(app)
    listed = client.get("/api/v1/incidents?limit=1", headers=read).get_json()
    assert [i["target"] for i in listed["incidents"]] == ["payment"]  # latest onset first
    assert listed["next_offset"] == 1 and "advice" not in listed["incidents"][0]
    page2 = client.get("/api/v1/incidents?limit=1&offset=1", headers=read).get_json()
    assert [i["id"] for i in page2["incidents"]] == [made["id"]]
    opened = client.get("/api/v1/incidents?status=open", headers=read).get_json()
    assert [i["id"] for i in opened["incidents"]] == [made["id"]]
    assert_canonical_error(client.get("/api/v1/incidents?status=maybe", headers=read), 400)
    assert_canonical_error(client.get("/api/v1/incidents/99", headers=read), 404)
    assert_canonical_error(client.get("/api/v1/incidents/x1", headers=read), 404)


@pytest.mark.parametrize("bad", ["pay\x00ment", "\ud800"])
def test_text_the_store_cannot_hold_is_a_400(app: Flask, bad: str) -> None:
    h = hook(app)
    payload = am_payload(alert("f1", {"service": bad}, "2026-11-20T14:05:00Z"))
    body = json.dumps(payload).encode()  # ASCII escapes: the lone surrogate survives encoding
    r = post(app.test_client(), h, body)
    assert assert_canonical_error(r, 400)["details"]["field"].startswith("alerts[0]")
    assert count(app) == 0


def test_pagerduty_vendor_secret_verifies_the_published_vector(app: Flask) -> None:
    """PagerDuty generates the subscription's secret: stored sealed, it verifies PagerDuty's
    own signature (the published go-pagerduty vector)."""
    from rollback_advisor.web.credentials import open_vendor_secret, seal_vendor_secret

    vector = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
    signature = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
    raw = (ALERTS / "pagerduty-webhooks-v3-go-pagerduty/"
                    "incident.priority_updated.signed-body.json").read_bytes()
    p = hook(app, "pagerduty-incidents", mapping={"API Service": "payment"})
    client = app.test_client()
    assert_canonical_error(post(client, p, raw, headers={"X-PagerDuty-Signature": signature}),
                           401)  # no vendor secret stored yet
    sealed = seal_vendor_secret(SERVER_KEY, p["id"], vector)
    assert vector not in sealed and open_vendor_secret(SERVER_KEY, p["id"], sealed) == vector
    assert open_vendor_secret("another-key", p["id"], sealed) is None
    with app.app_context():
        services().tables.set_vendor_secret(p["id"], sealed)
        services().forget_hook(p["id"])
    r = post(client, p, raw, headers={"X-PagerDuty-Signature": signature})
    assert r.status_code == 201, r.get_json()
    shown = incident(app, r.get_json()["incident"]["id"])
    assert shown["target"] == "payment" and shown["external_id"] == "PGR0VU2"
    wrong = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"
    assert_canonical_error(post(client, p, raw, headers={"X-PagerDuty-Signature": wrong}), 401)


def test_advice_a_killed_worker_owed_is_made_good_once(app: Flask, monkeypatch) -> None:
    """A worker killed after storing the alert but before storing its advice: the incident
    owes the advice, and the next delivery of the group (even a duplicate) stores it, once."""
    from rollback_advisor.incidents import IncidentDesk

    h = hook(app)
    client = app.test_client()
    first = am_payload(alert("f1", {"service": "frontend", "route": "POST /cart/checkout"},
                             "2026-11-20T14:05:00Z"))
    real = IncidentDesk.advise
    monkeypatch.setattr(IncidentDesk, "advise", lambda *a, **k: None)  # dies before advising
    opened = post(client, h, first)
    assert opened.status_code == 201
    incident_id = opened.get_json()["incident"]["id"]
    assert incident(app, incident_id)["advice"] == []
    monkeypatch.setattr(IncidentDesk, "advise", real)
    assert post(client, h, first).get_json()["status"] == "duplicate"  # Alertmanager retries
    (advice,) = incident(app, incident_id)["advice"]
    assert advice["trigger"] == "opened" and advice["change_id"] == "d-payment-142"
    assert post(client, h, first).get_json()["status"] == "duplicate"
    assert len(incident(app, incident_id)["advice"]) == 1

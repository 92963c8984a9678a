"""Symptoms and scope through the API: the recommendation body, the suspects query string, and
a 400 naming the field for each bad one."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest

from .conftest import ONSET, assert_canonical_error


def recommend(client, auth, **body):
    return client.post("/api/v1/recommendations", json={"target": "checkout", "at": ONSET,
                                                         **body}, headers=auth)


def test_recommendation_body_takes_symptoms_and_scope(client, auth):
    """``symptoms`` and ``scope`` make the incident the answer echoes; a symptom without a time
    takes the onset, a repeated node keeps its earliest, relative times count from now."""
    r = recommend(client, auth, symptoms=[
        {"node": "payment", "started_at": "2026-11-20T14:03:00Z"}, {"node": "orders-db"},
        {"node": "payment", "started_at": "2026-11-20T14:04:00+00:00"},
        {"node": "stripe", "started_at": "-10m"}],
        scope={"region": ["us-east-1", "eu-west-1"], "cell": ["7"]})
    assert r.status_code == 200, r.get_json()
    incident = r.get_json()["incident"]
    got = {s["node"]: s["started_at"] for s in incident["symptoms"]}
    assert got["payment"] == "2026-11-20T14:03:00Z" and got["orders-db"] == ONSET
    assert datetime.fromisoformat(got["stripe"]) > datetime.fromisoformat(ONSET) + \
        timedelta(days=1)  # -10m is ten minutes before now, as ``at`` reads it
    assert incident["scope"] == {"cell": ["7"], "region": ["eu-west-1", "us-east-1"]}
    plain = recommend(client, auth).get_json()["incident"]
    assert "symptoms" not in plain and "scope" not in plain


@pytest.mark.parametrize("body, field", [
    ({"symptoms": "payment"}, "symptoms"),
    ({"symptoms": ["payment"]}, "symptoms[0]"),
    ({"symptoms": [{"node": "payment"}, {"node": ""}]}, "symptoms[1].node"),
    ({"symptoms": [{"node": "payment"}, {"node": "stripe", "started_at": "soon"}]},
     "symptoms[1].started_at"),
    ({"symptoms": [{"node": "stripe", "started_at": "2026-11-20T14:00:00"}]},
     "symptoms[0].started_at"),
    ({"symptoms": [{"node": "stripe", "started_at": 5}]}, "symptoms[0].started_at"),
    ({"symptoms": [{"node": "stripe", "since": ONSET}]}, "symptoms[0].since"),
    ({"symptoms": [{"node": f"n{i}"} for i in range(101)]}, "symptoms"),
    ({"scope": ["us-east-1"]}, "scope"),
    ({"scope": {"region": []}}, "scope.region"),
    ({"scope": {"region": [1]}}, "scope.region"),
    ({"scope": {"": ["x"]}}, "scope"),
])
def test_recommendation_rejects_bad_symptoms_and_scope(client, auth, body, field):
    err = assert_canonical_error(recommend(client, auth, **body), 400, "InvalidInput")
    assert err["details"]["field"] == field


def query(**params):
    return "/api/v1/suspects?" + urlencode(params, doseq=True)


def test_suspects_query_takes_repeated_symptom_and_scope(client, auth):
    """``symptom=NODE[@TIME]`` and ``scope=LABEL=VALUE``, each repeatable, like the CLI."""
    r = client.get(query(target="checkout", at=ONSET,
                         symptom=["payment@2026-11-20T14:03:00Z", "orders-db"],
                         scope=["region=us-east-1", "region=eu-west-1"]), headers=auth)
    assert r.status_code == 200, r.get_json()
    incident = r.get_json()["incident"]
    assert incident["symptoms"] == [{"node": "payment", "started_at": "2026-11-20T14:03:00Z"},
                                    {"node": "orders-db", "started_at": ONSET}]
    assert incident["scope"] == {"region": ["eu-west-1", "us-east-1"]}
    blocks = client.get(query(target="checkout", at=ONSET, symptom="payment",
                              scope="region=us-east-1").replace("suspects", "suspects/blocks"),
                        headers=auth)
    assert blocks.status_code == 200


@pytest.mark.parametrize("params, field, value", [
    ({"symptom": ["payment", "stripe@-5x"]}, "symptom", "stripe@-5x"),
    ({"symptom": "@now"}, "symptom", "@now"),
    ({"scope": "region"}, "scope", "region"),
    ({"scope": "region="}, "scope", "region="),
])
def test_suspects_query_rejects_bad_words(client, auth, params, field, value):
    err = assert_canonical_error(client.get(query(target="checkout", at=ONSET, **params),
                                            headers=auth), 400, "InvalidInput")
    assert err["details"]["field"] == field and repr(value) in err["message"]


def test_every_format_shows_symptoms_and_scope(client, auth):
    """text, paste-ready Slack and Block Kit headers carry the symptoms and the scope."""
    params = {"target": "checkout", "at": ONSET, "symptom": "payment@2026-11-20T14:03:00Z",
              "scope": "region=us-east-1"}
    text = client.get(query(**params, format="text"), headers=auth).get_data(as_text=True)
    assert text.splitlines()[:3] == [
        f"incident: checkout since {ONSET} (production)",
        "also failing: payment since 2026-11-20T14:03:00Z, 2 min before onset",
        "failing in: region us-east-1"]
    slack = client.get(query(**params, format="slack"), headers=auth).get_data(as_text=True)
    assert "*Also failing:* `payment` since 2026-11-20T14:03:00Z, 2 min before onset" in slack
    assert "*Failing in:* region us-east-1" in slack
    blocks = client.get(query(**params).replace("suspects", "suspects/blocks"),
                        headers=auth).get_json()["blocks"]
    assert "*Also failing:* `payment`" in blocks[1]["text"]["text"]
    assert "*Failing in:* region us-east-1" in blocks[1]["text"]["text"]


def test_block_kit_context_carries_the_no_change_reason(client, auth):
    """With symptoms the engine says how they bear on "no change"; the blocks show it."""
    params = {"target": "checkout", "at": ONSET, "symptom": ["payment", "orders-db"]}
    reason = client.get(query(**params), headers=auth).get_json()["no_change_reason"]
    assert reason
    blocks = client.get(query(**params).replace("suspects", "suspects/blocks"),
                        headers=auth).get_json()["blocks"]
    context = blocks[-1]["elements"][0]["text"]
    assert context.startswith("no-change hypothesis") and context.endswith(
        reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

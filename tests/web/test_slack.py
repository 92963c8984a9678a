"""The signed slash command, its Block Kit answer and posting to an incoming webhook."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
import responses
from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock, SectionBlock

from rollback_advisor.errors import InvalidInput
from rollback_advisor.timeutil import format_utc
from rollback_advisor.web.slack import parse_command, slack_signature, split_command

from .conftest import ONSET, SLACK_SECRET, assert_canonical_error


def slack_post(client, text, *, secret=SLACK_SECRET, stamp=None, signature=None):
    body = urlencode({"command": "/rollback-advisor", "text": text, "user_id": "U1"}).encode()
    ts = str(int(time.time()) if stamp is None else stamp)
    sig = signature or slack_signature(secret, ts, body)
    return client.post("/slack/commands", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})


def test_slack_documented_signature_example():
    """Slack's docs example: this secret, timestamp and body give this v0= signature."""
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
            b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
            b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
            b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
            b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body) == \
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_command_answers_with_valid_blocks(client):
    r = slack_post(client, f"checkout {ONSET}")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["response_type"] == "in_channel"
    assert "*Top suspects*" in body["text"] and "d-payment-142" in body["text"]
    blocks = [Block.parse(b) for b in body["blocks"]]
    for block in blocks:
        block.validate_json()  # slack_sdk's own limits (lengths, required fields)
    assert isinstance(blocks[0], HeaderBlock)
    assert any(isinstance(b, DividerBlock) for b in blocks)
    sections = [b for b in blocks if isinstance(b, SectionBlock)]
    assert any("d-payment-142" in b.text.text for b in sections)


@pytest.mark.parametrize("text, expected", [
    ("checkout", ("checkout", "now")), ("checkout -15m", ("checkout", "-15m")),
    ("frontend:POST /cart/checkout 2h ago", ("frontend:POST /cart/checkout", "2h ago")),
    ("frontend:POST /cart/checkout", ("frontend:POST /cart/checkout", "now")),
    (f"checkout {ONSET}", ("checkout", ONSET))])
def test_split_command(text, expected):
    assert split_command(text) == expected


def test_usage_and_unknown_target_are_ephemeral(client):
    r = slack_post(client, "")
    assert r.status_code == 200 and r.get_json()["response_type"] == "ephemeral"
    assert "usage" in r.get_json()["text"]
    r = slack_post(client, "no-such-service")
    assert r.get_json()["response_type"] == "ephemeral"


def test_bad_signature_and_stale_timestamp(client):
    assert_canonical_error(slack_post(client, "checkout", secret="wrong"), 401)
    assert_canonical_error(slack_post(client, "checkout", signature="v0=00"), 401)
    assert_canonical_error(slack_post(client, "checkout", stamp=int(time.time()) - 301), 401)
    assert_canonical_error(slack_post(client, "checkout", stamp="soon"), 401)
    r = client.post("/slack/commands", data={"text": "checkout"})
    err = assert_canonical_error(r, 401)
    assert SLACK_SECRET not in json.dumps(err)


def test_command_off_without_signing_secret(tmp_path):
    from rollback_advisor.web import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path, slack_signing_secret=None))
    err = assert_canonical_error(slack_post(app.test_client(), "checkout"), 404,
                                 "NotConfigured")
    assert "server.slack_signing_secret" in err["message"]


def test_recommendation_posts_to_incoming_webhook(tmp_path):
    from rollback_advisor.models import change_from_dict
    from rollback_advisor.web import create_app
    from rollback_advisor.web.services import services

    from .conftest import CHANGES, GRAPH, make_settings

    hook_url = "https://hooks.slack.example/services/T0/B0/XYZ"
    app = create_app(make_settings(tmp_path, slack_webhook_url=hook_url, read_auth=False))
    with app.app_context():
        services().store.save_graph(GRAPH)
        services().store.add_changes(change_from_dict(c) for c in CHANGES)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(hook_url, body="ok")
        r = app.test_client().post("/api/v1/recommendations", json={
            "target": "checkout", "at": ONSET, "notify_slack": True})
        assert r.status_code == 200 and r.get_json()["notified_slack"] is True
        posted = json.loads(mock.calls[0].request.body)
    assert "d-payment-142" in posted["text"]
    for block in posted["blocks"]:
        Block.parse(block).validate_json()
    with responses.RequestsMock() as mock:
        mock.post(hook_url, status=500)
        r = app.test_client().post("/api/v1/recommendations", json={
            "target": "checkout", "at": ONSET, "notify_slack": True})
        err = assert_canonical_error(r, 502, "SlackUnreachable")
        assert "XYZ" not in err["message"]


T1 = "2026-11-20T14:03:00Z"


@pytest.mark.parametrize("text, expected", [
    ("checkout", {"target": "checkout", "at": "now"}),
    (f"checkout {ONSET} symptom=payment@{T1} symptom=orders-db scope=region=us-east-1 "
     "scope=region=eu-west-1 scope=cell=7",
     {"target": "checkout", "at": ONSET,
      "symptoms": [("payment", T1), ("orders-db", None)],
      "scope": {"cell": ["7"], "region": ["eu-west-1", "us-east-1"]}}),
    (f"frontend:POST /cart/checkout at={ONSET} window=2h env=staging",
     {"target": "frontend:POST /cart/checkout", "at": ONSET, "window": "2h",
      "environment": "staging"}),
    ("checkout at=2h ago symptom=payment", {"target": "checkout", "at": "2h ago",
                                           "symptoms": [("payment", None)]}),
    (f'checkout symptom="frontend:POST /cart/checkout@{T1}"',
     {"target": "checkout", "at": "now", "symptoms": [("frontend:POST /cart/checkout", T1)]}),
    (f"checkout symptom=\u201cfrontend:POST /cart/checkout\u201d AT={ONSET}",
     {"target": "checkout", "at": ONSET, "symptoms": [("frontend:POST /cart/checkout", None)]}),
    ("frontend:GET /x?a=b scope=cluster=a&amp;b",
     {"target": "frontend:GET /x?a=b", "at": "now", "scope": {"cluster": ["a&b"]}}),
])
def test_parse_command(text, expected):
    """key=value words are options; the rest is the target and an optional last time."""
    body = parse_command(text)
    symptoms = [(s["node"], s["started_at"] and format_utc(s["started_at"]))
                for s in body.pop("symptoms")]
    assert symptoms == expected.pop("symptoms", [])
    assert body == expected


@pytest.mark.parametrize("text, message", [
    ("checkout sympton=payment", "sympton=: got 'sympton=payment', expected one of at="),
    ("checkout symptom=payment@-5x", "symptom: got 'payment@-5x'"),
    ("checkout scope=region", "scope: got 'region', expected LABEL=VALUE"),
    ("checkout -5m at=-10m", "the time given once"),
    ("checkout at=-5m at=-10m", "given once"),
    ('checkout symptom="payment', "balanced quotes"),
    ("at=-5m", "usage: /rollback-advisor <target>"),
])
def test_parse_command_refuses_with_the_option_named(text, message):
    with pytest.raises(InvalidInput) as caught:
        parse_command(text)
    assert message in caught.value.message


def test_command_with_symptoms_and_scope(client):
    """The answer's header carries the symptoms and scope; a bad option answers privately."""
    r = slack_post(client, f"checkout at={ONSET} symptom=payment@{T1} scope=region=us-east-1")
    body = r.get_json()
    assert body["response_type"] == "in_channel", body
    header = body["blocks"][1]["text"]["text"]
    assert "*Also failing:* `payment` since 2026-11-20T14:03:00Z, 2 min before onset" in header
    assert "*Failing in:* region us-east-1" in header
    bad = slack_post(client, "checkout symptom=@-5m").get_json()
    assert bad["response_type"] == "ephemeral" and "symptom" in bad["text"]


def test_verdict_button_values_round_trip_and_refuse_forgeries():
    """One encoding for the buttons a message shows and the clicks the endpoint receives."""
    from rollback_advisor.errors import InvalidInput
    from rollback_advisor.verdicts import VerdictKind
    from rollback_advisor.web.verdict_actions import VerdictAction, decode, encode

    for action in (VerdictAction("12", "d-payment-142", VerdictKind.CULPRIT),
                   VerdictAction("12", None, VerdictKind.NO_CHANGE)):
        assert decode(encode(action)) == action
    for forged in ("", "{}", '{"i": 1, "v": "culprit"}', '{"i": "1", "v": "maybe"}', None,
                   '["i"]', '{"i": "1", "c": 3, "v": "culprit"}'):
        with pytest.raises(InvalidInput):
            decode(forged)

"""Incident advice posts itself to Slack through the store's outbox (issue #8 item 3): queued
once by the hooks, sent by the poster to a fake Slack Web API on loopback, retried through
outages, never twice; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock
from sqlalchemy import insert

from rollback_advisor.config import Settings
from rollback_advisor.errors import StoreError
from rollback_advisor.store import open_store
from rollback_advisor.store.outbox import SlackOutbox
from rollback_advisor.store.schema import incidents
from rollback_advisor.store.verdicts import VerdictStore
from rollback_advisor.verdicts import Verdict, VerdictKind
from rollback_advisor.web.incident_posting import on_verdict
from rollback_advisor.web.services import services
from rollback_advisor.web.slack_poster import Drained, SlackPoster, backoff
from rollback_advisor.web.verdict_actions import ACTION_ID, VerdictAction, decode

from .conftest import make_settings
from .fake_slack import FakeSlack, closed_port, fake_slack
from .test_incidents import alert, am_payload, hook, post

FRONT = {"service": "frontend", "route": "POST /cart/checkout"}
ONSET = "2026-11-20T14:05:00Z"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack() -> Any:
    with fake_slack() as fake:
        yield fake


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'web.db'}"


@pytest.fixture
def settings(tmp_path: Path, backend: str, slack: FakeSlack) -> Settings:
    """A bot token and channel, the Web API at the fake."""
    base = make_settings(tmp_path, slack_bot_token="xoxb-test", slack_channel="C0INCIDENT",
                         slack_api_url=slack.url + "/api/")
    return replace(base, database_url=backend)


def poster(app: Flask, clock: Clock | None = None) -> SlackPoster:
    svc = app.extensions["rollback_advisor"]
    return SlackPoster(svc.store, svc.settings, observe=svc.metrics.observe_slack,
                       clock=clock or Clock())


def outbox(app: Flask) -> SlackOutbox:
    return SlackOutbox(app.extensions["rollback_advisor"].store)


def open_incident(app: Flask) -> tuple[dict[str, Any], int]:
    h = hook(app)
    r = post(app.test_client(), h, am_payload(alert("f1", FRONT, ONSET)))
    assert r.status_code == 201, r.get_json()
    return h, r.get_json()["incident"]["id"]


def add_symptom(app: Flask, h: dict[str, Any]) -> None:
    r = post(app.test_client(), h, am_payload(
        alert("f1", FRONT, ONSET), alert("f2", {"service": "checkout"}, "2026-11-20T14:03:00Z")))
    assert r.get_json()["incident"]["advised"], r.get_json()


def give_verdict(app: Flask, incident_id: int, change: str | None, kind: VerdictKind,
                 by: str = "alice") -> Verdict:
    with app.app_context():
        svc = services()
        verdict = VerdictStore(svc.store).record(Verdict(str(incident_id), change, kind, by,
                                                         datetime.now(UTC)))
        record = svc.incidents().tables.get(incident_id)
        on_verdict(record, verdict, settings=svc.settings, store=svc.store)
    return verdict


def valid_blocks(blocks: list[dict[str, Any]]) -> list[Block]:
    parsed = [Block.parse(b) for b in blocks]
    for block in parsed:
        block.validate_json()  # slack_sdk's own limits
    assert len(blocks) <= 50
    return parsed


def test_advice_is_queued_once_per_advice_not_on_repeats(app: Flask, slack: FakeSlack) -> None:
    h, incident_id = open_incident(app)
    rows = outbox(app).rows()
    assert [(r["incident_id"], r["kind"], r["sent_us"]) for r in rows] == \
        [(incident_id, "advice", None)]
    client = app.test_client()
    # the same notification (a duplicate delivery) and the same alert in a new notification
    # (no new advice): nothing more to post
    assert post(client, h, am_payload(alert("f1", FRONT, ONSET))).status_code == 200
    repeat = am_payload(alert("f1", FRONT, ONSET))
    repeat["receiver"] = "again"
    assert not post(client, h, repeat).get_json()["incident"]["advised"]
    assert len(outbox(app).rows()) == 1
    add_symptom(app, h)
    assert [r["kind"] for r in outbox(app).rows()] == ["advice", "advice"]
    # a verdict recorded twice (a redelivered click at the same time) is queued once
    v = give_verdict(app, incident_id, "d-payment-142", VerdictKind.CULPRIT)
    with app.app_context():
        svc = services()
        on_verdict(svc.incidents().tables.get(incident_id), v, settings=svc.settings,
                   store=svc.store)
    assert [r["kind"] for r in outbox(app).rows()] == ["advice", "advice", "verdict"]
    assert slack.attempts == 0  # the hooks only queue: Slack is called by the poster alone


def test_nothing_is_queued_without_slack(tmp_path: Path) -> None:
    from rollback_advisor.web import create_app

    from .conftest import CHANGES, GRAPH

    app = create_app(make_settings(tmp_path))
    with app.app_context():
        services().store.save_graph(GRAPH)
        from rollback_advisor.models import change_from_dict

        services().store.add_changes(change_from_dict(c) for c in CHANGES)
    try:
        open_incident(app)
        assert outbox(app).rows() == []
    finally:
        app.extensions["rollback_advisor"].store.close()


def test_bot_posts_once_then_replies_in_thread_then_updates_on_verdict(
        app: Flask, slack: FakeSlack) -> None:
    h, incident_id = open_incident(app)
    assert poster(app).drain().sent == 1
    ((method, first),) = slack.calls
    assert method == "chat.postMessage" and first["channel"] == "C0INCIDENT"
    assert "thread_ts" not in first
    # the text fallback is the posted (escaped) mrkdwn, the blocks valid Block Kit
    assert f"Incident #{incident_id}" in first["text"] and "*Top suspects*" in first["text"]
    blocks = valid_blocks(first["blocks"])
    assert any(isinstance(b, HeaderBlock) and "confidence" in b.text.text for b in blocks)
    assert "d-payment-142" in str(first["blocks"])  # the culprit, with its reasons
    buttons = [e for b in blocks if isinstance(b, ActionsBlock) for e in b.elements]
    assert all(isinstance(e, ButtonElement) and e.action_id == ACTION_ID for e in buttons)
    actions = [decode(e.value) for e in buttons]
    assert VerdictAction(str(incident_id), "d-payment-142", VerdictKind.CULPRIT) in actions
    assert VerdictAction(str(incident_id), "d-payment-142", VerdictKind.NOT_CULPRIT) in actions
    assert actions[-1] == VerdictAction(str(incident_id), None, VerdictKind.NO_CHANGE)
    posting = outbox(app).posting(incident_id)
    assert posting is not None and posting.channel == "C0INCIDENT"
    assert posting.ts == "1700000000.000001"
    assert outbox(app).rows()[0]["ts"] == posting.ts

    add_symptom(app, h)
    assert poster(app).drain().sent == 1
    method, reply = slack.calls[1]
    assert method == "chat.postMessage" and reply["thread_ts"] == posting.ts
    assert reply["channel"] == "C0INCIDENT" and "symptom added" in str(reply["blocks"])
    valid_blocks(reply["blocks"])

    give_verdict(app, incident_id, "d-payment-142", VerdictKind.CULPRIT, by="alice")
    assert poster(app).drain().sent == 1
    method, update = slack.calls[2]
    assert method == "chat.update" and update["ts"] == posting.ts
    assert update["channel"] == "C0INCIDENT"
    valid_blocks(update["blocks"])
    assert update["blocks"][:-1] == first["blocks"]  # the first message, the verdicts below
    shown = update["blocks"][-1]["text"]["text"]
    assert "*Verdicts:*" in shown and "`d-payment-142` is the culprit (alice)" in shown
    # a second verdict: the update shows both
    give_verdict(app, incident_id, "d-catalog-9", VerdictKind.NOT_CULPRIT, by="bob")
    assert poster(app).drain().sent == 1
    shown = slack.calls[3][1]["blocks"][-1]["text"]["text"]
    assert "is the culprit (alice)" in shown and "`d-catalog-9` is not it (bob)" in shown
    # a later no_change replaces the culprit verdict: the update says so
    give_verdict(app, incident_id, None, VerdictKind.NO_CHANGE, by="carol")
    assert poster(app).drain().sent == 1
    shown = slack.calls[4][1]["blocks"][-1]["text"]["text"]
    assert "no change caused this (carol)" in shown and "(bob)" in shown
    assert "is the culprit" not in shown
    assert poster(app).drain().sent == 0 and len(slack.calls) == 5
    assert outbox(app).depth() == 0


def test_outage_is_retried_with_backoff_and_posted_exactly_once(
        app: Flask, slack: FakeSlack) -> None:
    _, incident_id = open_incident(app)
    clock = Clock()
    p = poster(app, clock)
    slack.fail(500)
    assert p.drain().failed == 1
    (row,) = outbox(app).rows()
    assert row["sent_us"] is None and row["attempts"] == 1 and "500" in row["last_error"]
    assert p.drain() == p.drain().__class__()  # backing off: not tried again yet
    assert slack.attempts == 1
    clock.now += 6  # past the first back-off (5 s)
    slack.fail(429, {"Retry-After": "30"})
    assert p.drain().failed == 1
    assert "429" in outbox(app).rows()[0]["last_error"]
    clock.now += 20  # the second back-off would be 10 s, but Slack said 30
    assert p.drain().sent == 0 and slack.attempts == 2
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "rollback_advisor_slack_outbox_depth 1.0" in metrics
    assert 'rollback_advisor_slack_posts_total{outcome="failed"} 2.0' in metrics
    clock.now += 11
    assert p.drain().sent == 1 and p.drain().sent == 0
    assert slack.methods() == ["chat.postMessage"] and slack.attempts == 3
    assert outbox(app).posting(incident_id) is not None
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "rollback_advisor_slack_outbox_depth 0.0" in metrics
    assert 'rollback_advisor_slack_posts_total{outcome="sent"} 1.0' in metrics


def test_backoff_is_capped_at_a_minute_and_a_starting_poster_tries_at_once(
        app: Flask, slack: FakeSlack) -> None:
    """A long Slack outage costs at most a minute after it ends; a poster that starts (a
    restart after the channel was put right) tries a backing-off message at once."""
    assert [backoff(n, None) for n in (1, 2, 5, 30)] == [5.0, 10.0, 60.0, 60.0]
    assert backoff(30, 300.0) == 300.0  # Slack's Retry-After still rules
    open_incident(app)
    clock = Clock()
    for _ in range(6):
        slack.fail(500)
        assert poster(app, clock).drain().failed == 1
        clock.now += 61
    clock.now -= 61  # just failed: backing off for a minute
    assert poster(app, clock).drain() == Drained()
    stopped = threading.Event()
    restarted = SlackPoster(app.extensions["rollback_advisor"].store,
                            app.extensions["rollback_advisor"].settings, clock=clock,
                            observe=lambda outcome: stopped.set())
    runner = threading.Thread(target=restarted.run, args=(stopped, 0.05))
    runner.start()
    runner.join(timeout=10)
    assert not runner.is_alive() and slack.attempts == 7
    assert slack.methods() == ["chat.postMessage"] and outbox(app).rows()[0]["sent_us"]


def test_connection_refused_keeps_the_message(app: Flask, slack: FakeSlack) -> None:
    open_incident(app)
    svc = app.extensions["rollback_advisor"]
    down = replace(svc.settings, server=replace(
        svc.settings.server, slack_api_url=f"http://127.0.0.1:{closed_port()}/api/"))
    clock = Clock()
    assert SlackPoster(svc.store, down, clock=clock).drain().failed == 1
    (row,) = outbox(app).rows()
    assert row["sent_us"] is None and "failed" in row["last_error"]
    clock.now += 10
    assert SlackPoster(svc.store, svc.settings, clock=clock).drain().sent == 1
    assert slack.methods() == ["chat.postMessage"]


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_blocks_too_long"])
def test_blocks_slack_refuses_go_again_as_text_and_the_queue_moves_on(
        app: Flask, slack: FakeSlack, error: str) -> None:
    """Blocks Slack will never take would fail forever and hold the incident's later
    messages: each message is sent again at once as its text alone (a post, a reply, the
    verdict update); an outage is still retried, never turned into text."""
    h, incident_id = open_incident(app)
    slack.refuse_blocks = error
    add_symptom(app, h)
    give_verdict(app, incident_id, "d-payment-142", VerdictKind.CULPRIT)
    assert poster(app).drain() == Drained(sent=3)
    assert slack.methods() == ["chat.postMessage", "chat.postMessage", "chat.update"]
    first, reply, update = (body for _, body in slack.calls)
    assert all("blocks" not in body for body in (first, reply, update))
    assert first["text"] and reply["thread_ts"] == outbox(app).posting(incident_id).ts
    assert "`d-payment-142` is the culprit (alice)" in update["text"]
    assert outbox(app).depth() == 0
    slack.refuse_blocks = None
    slack.fail(500)
    give_verdict(app, incident_id, "d-payment-142", VerdictKind.NOT_CULPRIT, by="bo")
    assert poster(app).drain().failed == 1 and len(slack.calls) == 3


def webhook_app(tmp_path: Path, slack: FakeSlack, database_url: str | None = None) -> Flask:
    """The service posting through an incoming webhook only, with the test graph and changes."""
    from rollback_advisor.models import change_from_dict
    from rollback_advisor.web import create_app

    from .conftest import CHANGES, GRAPH

    settings = make_settings(tmp_path, slack_webhook_url=slack.url + "/webhook")
    app = create_app(replace(settings, database_url=database_url or settings.database_url))
    with app.app_context():
        services().store.save_graph(GRAPH)
        services().store.add_changes(change_from_dict(c) for c in CHANGES)
    return app


def test_a_webhook_refusing_blocks_gets_the_text(tmp_path: Path, slack: FakeSlack) -> None:
    app = webhook_app(tmp_path, slack)
    try:
        open_incident(app)
        slack.refuse_blocks = "invalid_blocks"
        assert poster(app).drain().sent == 1
        ((method, body),) = slack.calls
        assert method == "webhook" and "blocks" not in body and "ROLL BACK" in body["text"]
    finally:
        app.extensions["rollback_advisor"].store.close()


def test_delivery_answers_2xx_when_slack_is_down_or_the_outbox_fails(
        app: Flask, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    slack.fail(500)
    h, incident_id = open_incident(app)  # 201: the hook queued, it never called Slack
    assert slack.attempts == 0 and len(outbox(app).rows()) == 1

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise StoreError("store: slack outbox: disk full")

    monkeypatch.setattr(SlackOutbox, "enqueue", broken)
    r = post(app.test_client(), h, am_payload(
        alert("f1", FRONT, ONSET), alert("f2", {"service": "checkout"}, "2026-11-20T14:03:00Z")))
    assert r.status_code == 201 and r.get_json()["incident"]["advised"]


def test_webhook_only_posts_one_message_per_update(tmp_path: Path, backend: str,
                                                   slack: FakeSlack) -> None:
    app = webhook_app(tmp_path, slack, backend)
    try:
        h, incident_id = open_incident(app)
        add_symptom(app, h)
        give_verdict(app, incident_id, "d-payment-142", VerdictKind.NOT_CULPRIT)
        assert poster(app).drain().sent == 3
        assert slack.methods() == ["webhook"] * 3
        first, second, third = (body for _, body in slack.calls)
        assert "opened" in str(first["blocks"]) and "symptom added" in str(second["blocks"])
        assert "`d-payment-142` is not it (alice)" in third["text"]
        for body in (first, second, third):
            valid_blocks(body["blocks"])
            assert "thread_ts" not in body and "channel" not in body
        assert outbox(app).posting(incident_id) is None
    finally:
        app.extensions["rollback_advisor"].store.close()


def _incident_rows(store: Any, n: int) -> list[int]:
    ids = []
    with store.engine.begin() as conn:
        for i in range(n):
            ids.append(int(conn.execute(insert(incidents).values(
                target=f"svc-{i}", environment="production", started_us=0, status="open",
                source="manual", created_us=0, updated_us=0).returning(incidents.c.id))
                .scalar_one()))
    return ids


def test_two_claims_of_one_row_one_wins(store_url: str) -> None:
    store = open_store(store_url)
    try:
        (incident_id,) = _incident_rows(store, 1)
        box = SlackOutbox(store)
        now = time.time()
        payload = {"text": "t", "blocks": []}
        assert box.enqueue(incident_id=incident_id, key="advice:1", kind="advice",
                           payload=payload, now=now)
        assert not box.enqueue(incident_id=incident_id, key="advice:1", kind="advice",
                               payload=payload, now=now)
        assert box.enqueue(incident_id=incident_id, key="advice:2", kind="advice",
                           payload=payload, now=now)
        first = box.claim("a", now=now, ttl=60)
        assert [m.key for m in first] == ["advice:1"]  # an incident's oldest only
        assert box.claim("b", now=now, ttl=60) == []  # leased, and it blocks the reply
        assert [m.key for m in box.claim("b", now=now + 61, ttl=60)] == ["advice:1"]
        box.sent(first[0], "a", now=now + 62)  # the expired holder cannot mark it sent
        assert box.depth() == 2
    finally:
        store.close()


def test_two_posters_racing_post_each_message_once(store_url: str, tmp_path: Path) -> None:
    with fake_slack() as slack:
        slack.delay = 0.02
        settings = replace(make_settings(tmp_path, slack_bot_token="xoxb-test",
                                         slack_channel="C1", slack_api_url=slack.url + "/api/"),
                           database_url=store_url)
        stores = [open_store(store_url) for _ in range(2)]
        try:
            ids = _incident_rows(stores[0], 4)
            box = SlackOutbox(stores[0])
            for n, incident_id in enumerate(ids * 3):
                box.enqueue(incident_id=incident_id, key=f"advice:{n}", kind="advice",
                            payload={"text": f"message {n}", "blocks": []}, now=time.time())
            posters = [SlackPoster(s, settings) for s in stores]
            done: list[Any] = []
            threads = [threading.Thread(target=lambda p=p: done.append(p.drain()))
                       for p in posters]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            while box.depth():  # what one poster saw blocked behind the other's claim
                posters[0].drain()
            texts = [body["text"] for _, body in slack.calls]
            assert sorted(texts) == sorted(f"message {n}" for n in range(12))
            assert sum(d.sent for d in done) >= 1
            # each incident: one top-level message, its later ones in that message's thread
            for incident_id in ids:
                posting = box.posting(incident_id)
                assert posting is not None
                rows = box.rows(incident_id)
                assert [r["ts"] == posting.ts for r in rows] == [True, False, False]
            threaded = [b for _, b in slack.calls if "thread_ts" in b]
            assert len(threaded) == 8
        finally:
            for s in stores:
                s.close()


def test_the_process_serve_starts_posts_on_its_own(tmp_path: Path, slack: FakeSlack) -> None:
    """No connectors, only Slack: ``serve``'s background process (web/sync_process.py) still
    starts, drains the outbox to Slack, and stops on SIGTERM."""
    import yaml

    from rollback_advisor.config import load_settings
    from rollback_advisor.web import sync_process

    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "rollback-advisor.yaml"
    config.write_text(yaml.safe_dump({"database_url": url, "server": {
        "slack_bot_token": "xoxb-test", "slack_channel": "C1",
        "slack_api_url": slack.url + "/api/"}}), encoding="utf-8")
    store = open_store(url)
    try:
        (incident_id,) = _incident_rows(store, 1)
        SlackOutbox(store).enqueue(incident_id=incident_id, key="advice:1", kind="advice",
                                   payload={"text": "hello", "blocks": []}, now=time.time())
        child = sync_process.start(load_settings(config))
        assert child is not None
        try:
            for _ in range(300):  # bounded: 30 s
                if SlackOutbox(store).depth() == 0:
                    break
                time.sleep(0.1)
        finally:
            sync_process.stop(child)
        assert [b["text"] for _, b in slack.calls] == ["hello"]
        assert SlackOutbox(store).posting(incident_id) is not None
        assert child.returncode is not None
    finally:
        store.close()


def test_the_shipped_app_manifest_names_what_the_service_serves(tmp_path: Path) -> None:
    """docs/slack-app-manifest.yaml: the slash command, the interactivity URL and the scopes
    the poster and the command need, on the routes the service really has."""
    import yaml

    from rollback_advisor.web import create_app

    root = Path(__file__).resolve().parents[2]
    manifest = yaml.safe_load((root / "docs" / "slack-app-manifest.yaml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/rollback-advisor"
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"chat:write", "commands"}
    paths = {command["url"].split("example.com", 1)[1],
             interactivity["request_url"].split("example.com", 1)[1]}
    assert paths == {"/slack/commands", "/slack/interactions"}
    app = create_app(make_settings(tmp_path))
    try:
        assert "/slack/commands" in {r.rule for r in app.url_map.iter_rules()}
    finally:
        app.extensions["rollback_advisor"].store.close()


def test_no_advice_is_said_and_a_long_list_stays_within_slacks_block_limit(
        tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """An incident whose advice failed (no graph stored) still posts, saying why; a large
    output.max_suspects is cut to Slack's block limit with the buttons kept (the limit made
    20 here: the engine lists fewer suspects than 50 blocks would need)."""
    from rollback_advisor.models import change_from_dict
    from rollback_advisor.web import create_app, incident_message

    monkeypatch.setattr(incident_message, "MAX_BLOCKS", 20)

    settings = make_settings(tmp_path, slack_webhook_url=slack.url + "/webhook")
    app = create_app(replace(settings, output=replace(settings.output, max_suspects=80)))
    try:
        open_incident(app)  # no graph: the advice is an error
        with app.app_context():
            services().store.save_graph({"services": {
                "frontend": {"depends_on": [f"s{i}" for i in range(60)]},
                **{f"s{i}": {} for i in range(60)}}})
            services().store.add_changes(change_from_dict(
                {"id": f"d-{i}", "kind": "deploy", "service": f"s{i}",
                 "at": "2026-11-20T14:00:00Z"}) for i in range(60))
        r = post(app.test_client(), hook(app), am_payload(alert("f9", {"service": "frontend"},
                                                                ONSET), group="other"))
        assert r.status_code == 201
        assert poster(app).drain().sent == 2
        (_, failed), (_, long) = slack.calls
        assert "no advice" in failed["text"] and "graph" in failed["text"]
        valid_blocks(failed["blocks"])
        assert len(long["blocks"]) == 20 and "*5. deploy of" in str(long["blocks"])
        valid_blocks(long["blocks"])
        assert long["blocks"][-1]["block_id"] == "verdict-no-change"
    finally:
        app.extensions["rollback_advisor"].store.close()

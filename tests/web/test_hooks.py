"""POST /hooks/<id> end to end: signatures, de-dup, ignored events, raw payload, every shared
vendor example through HTTP."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest

from rollback_advisor.web.services import services

from ..connectors.hooks.helpers import EXTERNAL
from .conftest import SERVER_KEY, assert_canonical_error, dumps, sign_own

EVENT = {"id": "ci:checkout:42", "kind": "deploy", "service": "checkout",
         "at": "2026-11-20T14:00:00Z", "version": "v42", "previous_version": "v41"}


def post_generic(client, hook, payload, *, secret=None, headers=None):
    body = payload if isinstance(payload, bytes) else dumps(payload)
    h = {"Content-Type": "application/json",
         "X-Rollback-Advisor-Signature": sign_own(body, secret or hook["secret"])}
    h.update(headers or {})
    return client.post(f"/hooks/{hook['id']}", data=body, headers=h)


def deliveries(app, hook_id):
    with app.app_context():
        return services().tables.list_deliveries(hook_id)


def test_github_published_hmac_vector():
    """GitHub's documented vector: secret "It's a Secret to Everybody", body "Hello, World!"."""
    from connectors.hooks import parser_for

    sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    secret = "It's a Secret to Everybody"
    assert "sha256=" + hmac.new(secret.encode(), b"Hello, World!",
                                hashlib.sha256).hexdigest() == sig
    gh = parser_for("github")
    assert gh.verify({"X-Hub-Signature-256": sig}, b"Hello, World!", secret)
    assert not gh.verify({"X-Hub-Signature-256": sig}, b"Hello, World?", secret)


def test_canonical_event_is_stored_once(app, client, make_hook):
    hook = make_hook()
    r = post_generic(client, hook, EVENT)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "stored" and r.get_json()["changes"] == [EVENT["id"]]
    again = post_generic(client, hook, EVENT)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    (stored,) = deliveries(app, hook["id"])
    assert stored["change_ids"] == [EVENT["id"]]
    assert json.loads(stored["body"]) == EVENT  # the raw payload, byte for byte
    assert "X-Rollback-Advisor-Signature" not in stored["headers"]
    with app.app_context():
        change = services().store.get_change(EVENT["id"])
    assert change.details["delivery"] == {"hook": hook["id"],
                                          "delivery_key": stored["delivery_key"]}


def test_batch_and_delivery_header(app, client, make_hook):
    hook = make_hook()
    batch = [EVENT, {**EVENT, "id": "ci:payment:7", "service": "payment"}]
    r = post_generic(client, hook, batch, headers={"X-Rollback-Advisor-Delivery": "run-1"})
    assert r.status_code == 201 and r.get_json()["delivery_key"].startswith("run-1#")
    assert sorted(r.get_json()["changes"]) == ["ci:checkout:42", "ci:payment:7"]
    r = post_generic(client, hook, {"changes": batch},
                     headers={"X-Rollback-Advisor-Delivery": "run-1"})
    assert r.get_json()["status"] == "duplicate"
    assert len(deliveries(app, hook["id"])) == 1


@pytest.mark.parametrize("headers", [{}, {"X-Rollback-Advisor-Signature": "sha256=00"},
                                     {"X-Rollback-Advisor-Signature": "garbage"}])
def test_bad_or_missing_signature_stores_nothing(app, client, make_hook, headers):
    hook = make_hook()
    body = dumps(EVENT)
    r = client.post(f"/hooks/{hook['id']}", data=body,
                    headers={"Content-Type": "application/json", **headers})
    err = assert_canonical_error(r, 401, "Unauthorized")
    assert hook["secret"] not in r.get_data(as_text=True)
    assert "X-Rollback-Advisor-Signature" in err["message"]
    assert deliveries(app, hook["id"]) == []
    with app.app_context():
        assert services().store.get_change(EVENT["id"]) is None


def test_signed_with_another_hooks_secret(client, make_hook):
    a, b = make_hook(name="a"), make_hook(name="b")
    assert_canonical_error(post_generic(client, a, EVENT, secret=b["secret"]), 401)


def test_malformed_json_is_400_with_reason(app, client, make_hook):
    hook = make_hook()
    err = assert_canonical_error(post_generic(client, hook, b"{nope"), 400, "InvalidInput")
    assert "valid JSON" in err["message"]
    bad = {**EVENT, "at": "2026-11-20T14:00:00"}  # no offset
    err = assert_canonical_error(post_generic(client, hook, bad), 400)
    assert "offset" in err["message"]
    assert deliveries(app, hook["id"]) == []


def test_unknown_and_revoked_hooks_are_404(app, client, make_hook):
    assert_canonical_error(client.post("/hooks/h_missing", data=b"{}"), 404)
    hook = make_hook()
    with app.app_context():
        services().tables.revoke_hook(hook["id"])
    assert_canonical_error(post_generic(client, hook, EVENT), 404)


def test_secrets_never_logged(client, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook()
    post_generic(client, hook, EVENT)
    post_generic(client, hook, EVENT, secret="wrong")
    client.get("/api/v1/changes", headers={"Authorization": "Bearer ra_0123456789ab_sekrit"})
    assert hook["secret"] not in caplog.text and "sekrit" not in caplog.text


def test_hook_secret_is_not_stored(app, make_hook):
    from sqlalchemy import select

    from rollback_advisor.store.schema import hooks

    hook = make_hook()
    with app.app_context(), services().store.engine.connect() as conn:
        row = conn.execute(select(hooks)).one()
    assert hook["secret"] not in str(tuple(row))
    assert SERVER_KEY not in str(tuple(row))


# -- vendors -------------------------------------------------------------------------------------

def github_headers(body: bytes, secret: str, event: str, delivery: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery, "User-Agent": "GitHub-Hookshot/abc",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body,
                                                        hashlib.sha256).hexdigest()}


GITHUB_EXAMPLES = sorted((EXTERNAL / "github-webhooks-octokit").glob("*/*.json"))


@pytest.mark.skipif(not GITHUB_EXAMPLES, reason="shared GitHub examples are not present")
def test_every_github_example_over_http(app, client, make_hook):
    """Each octokit example is acknowledged: stored (2xx) or ignored with a reason; a
    redelivery with the same X-GitHub-Delivery stores nothing more."""
    hook = make_hook("github")
    stored = 0
    for i, path in enumerate(GITHUB_EXAMPLES):
        body = path.read_bytes()
        event = path.parent.name
        h = github_headers(body, hook["secret"], event, f"delivery-{i}")
        r = client.post(f"/hooks/{hook['id']}", data=body, headers=h)
        assert r.status_code in (200, 201), (path, r.get_json())
        answer = r.get_json()
        if answer["status"] == "ignored":
            assert answer["reason"], path
            continue
        stored += 1
        again = client.post(f"/hooks/{hook['id']}", data=body, headers=h)
        assert again.get_json()["status"] == "duplicate", path
    assert stored == len(deliveries(app, hook["id"])) > 0


def test_github_ping_is_acknowledged_and_stored_nowhere(app, client, make_hook):
    hook = make_hook("github")
    body = (EXTERNAL / "github-webhooks-octokit/ping/payload.json").read_bytes()
    r = client.post(f"/hooks/{hook['id']}", data=body,
                    headers=github_headers(body, hook["secret"], "ping", "p-1"))
    assert r.status_code == 200 and r.get_json()["status"] == "ignored"
    assert deliveries(app, hook["id"]) == []


def test_github_bad_signature(client, make_hook):
    hook = make_hook("github")
    body = (EXTERNAL / "github-webhooks-octokit/deployment/payload.json").read_bytes()
    h = github_headers(body, "not-the-secret", "deployment", "d-1")
    assert_canonical_error(client.post(f"/hooks/{hook['id']}", data=body, headers=h), 401)


GITLAB_EXAMPLES = [p for d in ("gitlab-webhooks-go-gitlab", "gitlab-webhooks-go-playground",
                               "gitlab-webhooks-docs")
                   for p in sorted((EXTERNAL / d).glob("*.json"))]
_GITLAB_EVENT = {"deployment": "Deployment Hook", "pipeline": "Pipeline Hook",
                 "release": "Release Hook", "push": "Push Hook", "tag": "Tag Push Hook",
                 "merge": "Merge Request Hook", "build": "Job Hook", "job": "Job Hook",
                 "feature": "Feature Flag Hook"}


def _gitlab_event(path: Path) -> str:
    return next((v for k, v in _GITLAB_EVENT.items() if path.name.startswith(k)),
                "System Hook")


@pytest.mark.skipif(not GITLAB_EXAMPLES, reason="shared GitLab examples are not present")
def test_every_gitlab_example_over_http(app, client, make_hook):
    hook = make_hook("gitlab")
    stored = 0
    for i, path in enumerate(GITLAB_EXAMPLES):
        body = path.read_bytes()
        h = {"Content-Type": "application/json", "X-Gitlab-Event": _gitlab_event(path),
             "X-Gitlab-Token": hook["secret"], "X-Gitlab-Event-UUID": f"uuid-{i}"}
        r = client.post(f"/hooks/{hook['id']}", data=body, headers=h)
        assert r.status_code in (200, 201), (path, r.get_json())
        if r.status_code == 201:
            stored += 1
            assert client.post(f"/hooks/{hook['id']}", data=body,
                               headers=h).get_json()["status"] == "duplicate"
        else:
            assert r.get_json()["reason"], path
        wrong = client.post(f"/hooks/{hook['id']}", data=body,
                            headers={**h, "X-Gitlab-Token": "nope"})
        assert wrong.status_code == 401
    assert stored == len(deliveries(app, hook["id"])) > 0
    assert all("X-Gitlab-Token" not in d["headers"] for d in deliveries(app, hook["id"]))


CDEVENTS = sorted((EXTERNAL / "cdevents-spec-v0.5.1/examples").glob("*.json"))


@pytest.mark.skipif(not CDEVENTS, reason="shared CDEvents examples are not present")
def test_every_cdevents_example_structured_and_binary(app, client, make_hook):
    stored = 0
    for path in CDEVENTS:
        # the spec's examples share one source + id, hence one change id, which only the
        # hook that created it may update: each gets a hook and an id of its own
        hook = make_hook("cdevents", name=path.stem)
        event = json.loads(path.read_bytes())
        ctx = event["context"]
        ctx["id"] = f"{ctx['id']}-{path.stem}"
        # structured mode: the CloudEvent envelope carries the CDEvent as data
        envelope = {"specversion": "1.0", "id": ctx["id"], "source": ctx["source"],
                    "type": ctx["type"], "time": ctx["timestamp"],
                    "datacontenttype": "application/json", "data": event}
        body = dumps(envelope)
        r = client.post(f"/hooks/{hook['id']}", data=body, headers={
            "Content-Type": "application/cloudevents+json",
            "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"])})
        assert r.status_code in (200, 201), (path, r.get_json())
        if r.status_code == 201:
            stored += 1
            # binary mode, same source + id: the same event, so a duplicate
            raw = dumps(event)
            b = client.post(f"/hooks/{hook['id']}", data=raw, headers={
                "Content-Type": "application/json", "ce-specversion": "1.0",
                "ce-id": ctx["id"], "ce-source": ctx["source"], "ce-type": ctx["type"],
                "ce-time": ctx["timestamp"],
                "X-Rollback-Advisor-Signature": sign_own(raw, hook["secret"])})
            assert b.status_code == 200 and b.get_json()["status"] == "duplicate", path
        else:
            assert r.get_json()["reason"]
    assert stored >= 3  # deployed, upgraded, rolledback


def test_pagerduty_change_event(app, client, make_hook):
    hook = make_hook("pagerduty", mapping={"checkout-ci": "checkout"})
    event = {"routing_key": "R0UT1NGKEY", "payload": {
        "summary": "Deploy checkout v43", "timestamp": "2026-11-20T14:02:00.000+0000",
        "source": "checkout-ci", "custom_details": {"version": "v43"}},
        "links": [{"href": "https://ci.example/43", "text": "run"}]}
    body = dumps(event)
    pd_signature = "v1=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    r = client.post(f"/hooks/{hook['id']}", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": pd_signature})
    assert r.status_code == 201, r.get_json()
    (change_id,) = r.get_json()["changes"]
    with app.app_context():
        change = services().store.get_change(change_id)
    assert change.services == ("checkout",) and change.version == "v43"
    assert post_generic(client, hook, event).get_json()["status"] == "duplicate"
    (stored,) = deliveries(app, hook["id"])
    # neither the integration key nor the signature is kept; the rest of the event is
    assert b"R0UT1NGKEY" not in stored["body"]
    assert json.loads(stored["body"]) == {k: v for k, v in event.items() if k != "routing_key"}
    assert not any(h.lower() == "x-pagerduty-signature" for h in stored["headers"])
    assert pd_signature not in json.dumps(stored["headers"])
    from connectors.hooks import HookContext, parser_for

    again = parser_for("pagerduty").parse({}, stored["body"], HookContext(
        hook_id=hook["id"], source="pagerduty", mapping={"checkout-ci": "checkout"}))
    assert again.changes == [dataclasses.replace(change, details={
        k: v for k, v in change.details.items() if k != "delivery"})]


def test_metrics_count_ingestion_and_rejections(client, make_hook):
    hook = make_hook()
    post_generic(client, hook, EVENT)
    post_generic(client, hook, EVENT, secret="bad")
    post_generic(client, hook, b"[")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'rollback_advisor_ingested_events_total{source="generic"} 1.0' in text
    assert 'rollback_advisor_rejected_deliveries_total{reason="signature"} 1.0' in text
    assert 'rollback_advisor_rejected_deliveries_total{reason="malformed"} 1.0' in text


def test_github_delivery_maps_the_repository_by_the_graphs_repo_annotation(app, client,
                                                                            make_hook):
    """Issue #10 item 9: a hook delivery names the node the graph's ``repo:`` annotation gives,
    as ``sync`` does (it used to keep the repository name, ``Hello-World``)."""
    graph = json.loads(json.dumps(GRAPH_WITH_REPO))
    with app.app_context():
        services().store.save_graph(graph)
    hook = make_hook("github")
    body = (Path(__file__).resolve().parents[1] / "fixtures" / "hooks" /
            "github-webhooks-octokit" / "deployment" / "payload.json").read_bytes()
    r = client.post(f"/hooks/{hook['id']}", data=body,
                    headers=github_headers(body, hook["secret"], "deployment", "repo-1"))
    assert r.status_code == 201, r.get_json()
    (change_id,) = r.get_json()["changes"]
    with app.app_context():
        assert services().store.get_change(change_id).services == ("checkout",)


GRAPH_WITH_REPO = {"services": {
    "checkout": {"depends_on": ["payment"], "repo": "github:CODERTOCAT/hello-world"},  # any case
    "payment": {},
}}


def test_canonical_event_with_scope_is_stored_with_it(app, client, make_hook):
    """Issue #7: a canonical (generic) hook event's ``scope`` is kept, values sorted."""
    hook = make_hook()
    event = {**EVENT, "id": "ci:checkout:43", "scope": {"region": ["us-east-1", "eu-west-1"],
                                                       "cell": ["7"]}}
    r = post_generic(client, hook, event)
    assert r.status_code == 201, r.get_json()
    with app.app_context():
        change = services().store.get_change("ci:checkout:43")
    assert change.scope == {"cell": ("7",), "region": ("eu-west-1", "us-east-1")}
    bad = post_generic(client, hook, {**event, "id": "ci:checkout:44", "scope": {"region": 1}})
    assert_canonical_error(bad, 400)
    assert "scope.region" in bad.get_json()["error"]["message"]


def test_environment_map_applies_to_github_deliveries(tmp_path):
    """Issue #7: the service's ``environment_map`` turns a GitHub environment
    ``production/us-east-1`` into environment production with scope region us-east-1."""
    from dataclasses import replace

    from rollback_advisor.environments import environment_rules
    from rollback_advisor.web import create_app
    from rollback_advisor.web.credentials import register_hook

    from .conftest import make_settings

    settings = replace(make_settings(tmp_path), environment_map=environment_rules(
        [{"match": "production/(?P<region>[a-z0-9-]+)", "environment": "production"}]))
    app = create_app(settings)
    try:
        with app.test_request_context():
            hook = register_hook(tables=services().tables, server_key=SERVER_KEY,
                                 base_url="http://localhost", name="gh", source="github",
                                 mapping={}, environment=None)
        payload = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "hooks" /
                              "github-webhooks-octokit" / "deployment" /
                              "payload.json").read_text())
        payload["deployment"]["environment"] = "production/us-east-1"
        body = dumps(payload)
        r = app.test_client().post(f"/hooks/{hook['id']}", data=body, headers=github_headers(
            body, hook["secret"], "deployment", "env-1"))
        assert r.status_code == 201, r.get_json()
        with app.app_context():
            change = services().store.get_change(r.get_json()["changes"][0])
        assert (change.environment, change.scope) == ("production",
                                                      {"region": ("us-east-1",)})
    finally:
        app.extensions["rollback_advisor"].store.close()

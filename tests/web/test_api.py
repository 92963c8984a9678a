"""The read API, hook registration over HTTP, auth paths and the one error shape."""

from __future__ import annotations

import pytest

from .conftest import ONSET, assert_canonical_error


def test_recommendation_names_the_payment_deploy(client, auth):
    """POST /recommendations answers the decision and ranked suspects with reasons."""
    r = client.post("/api/v1/recommendations", json={"target": "frontend:POST /cart/checkout",
                                                      "at": ONSET}, headers=auth)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["recommendation"]["decision"] in ("rollback", "forward_fix", "investigate")
    assert body["suspects"][0]["change"]["id"] == "d-payment-142"
    assert body["suspects"][0]["reasons"]
    assert body["incident"]["target"] == "frontend:POST /cart/checkout"
    ids = {s["change"]["id"] for s in body["suspects"]}
    assert "d-checkout-staging" not in ids  # another environment


def test_recommendation_limit_and_window(client, auth):
    r = client.post("/api/v1/recommendations", json={"target": "frontend", "at": ONSET,
                                                      "window": "1h", "limit": 1},
                    headers=auth)
    body = r.get_json()
    assert r.status_code == 200
    assert [s["change"]["id"] for s in body["suspects"]] == ["d-payment-142"]
    assert body["window_hours"] == 1


def test_recommendation_lists_limit_suspects_and_counts_every_candidate(app, client, auth):
    """The answer renders only the suspects it lists (``limit``, default
    ``output.max_suspects``), and is otherwise what rendering every one and cutting gives."""
    from rollback_advisor.models import change_from_dict
    from rollback_advisor.web.api import advise
    from rollback_advisor.web.services import services

    with app.app_context():
        services().store.add_changes(change_from_dict(
            {"id": f"cfg-payment-{i}", "kind": "config", "service": "payment",
             "at": f"2026-11-20T13:{i:02d}:00Z"}) for i in range(12))
    default = client.post("/api/v1/recommendations", json={"target": "frontend", "at": ONSET},
                          headers=auth).get_json()
    with app.test_request_context():
        full = advise({"target": "frontend", "at": ONSET}).to_dict()
        assert len(default["suspects"]) == services().settings.output.max_suspects == 5
    assert full["candidates"] == default["candidates"] >= 14 and len(full["suspects"]) >= 14
    assert default == {**full, "suspects": full["suspects"][:5]}
    many = client.post("/api/v1/recommendations", json={"target": "frontend", "at": ONSET,
                                                         "limit": 1000}, headers=auth).get_json()
    assert many["suspects"] == full["suspects"]
    suspects = client.get(f"/api/v1/suspects?target=frontend&at={ONSET}&limit=3",
                          headers=auth).get_json()
    assert suspects["suspects"] == full["suspects"][:3]
    assert suspects["candidates"] == full["candidates"]


@pytest.mark.parametrize("payload, field", [
    ({}, "target"), ({"target": ""}, "target"), ({"target": "frontend", "at": "yesterday-ish"},
                                                "at"),
    ({"target": "frontend", "window": "forever"}, "window"),
    ({"target": "frontend", "bogus": 1}, "bogus"), ({"target": "frontend", "limit": 0}, "limit"),
    ({"target": "frontend", "notify_slack": "yes"}, "notify_slack"),
    ({"target": "frontend", "notify_slack": True}, "notify_slack"),  # no webhook configured
])
def test_recommendation_rejects_bad_fields(client, auth, payload, field):
    err = assert_canonical_error(client.post("/api/v1/recommendations", json=payload,
                                             headers=auth), 400, "InvalidInput")
    assert err["details"]["field"] == field


def test_recommendation_needs_json(client, auth):
    r = client.post("/api/v1/recommendations", data="target=x", headers=auth,
                    content_type="application/x-www-form-urlencoded")
    assert_canonical_error(r, 400, "InvalidInput")
    r = client.post("/api/v1/recommendations", data="{not json", headers=auth,
                    content_type="application/json")
    assert_canonical_error(r, 400, "InvalidInput")


def test_unknown_target_is_404(client, auth):
    r = client.post("/api/v1/recommendations", json={"target": "nope"}, headers=auth)
    assert_canonical_error(r, 404, "NotFound")


@pytest.mark.parametrize("fmt, mimetype, needle", [
    ("json", "application/json", "d-payment-142"), ("text", "text/plain", "d-payment-142"),
    ("slack", "text/plain", "*Top suspects*")])
def test_suspects_formats(client, auth, fmt, mimetype, needle):
    r = client.get(f"/api/v1/suspects?target=checkout&at={ONSET}&format={fmt}", headers=auth)
    assert r.status_code == 200
    assert r.mimetype == mimetype
    assert needle in r.get_data(as_text=True)


def test_suspects_bad_format(client, auth):
    assert_canonical_error(client.get("/api/v1/suspects?target=checkout&format=xml",
                                      headers=auth), 400)


def test_suspects_blocks(client, auth):
    r = client.get(f"/api/v1/suspects/blocks?target=checkout&at={ONSET}", headers=auth)
    assert r.status_code == 200 and r.get_json()["blocks"]


def test_changes_filters_and_pagination(client, auth):
    r = client.get("/api/v1/changes?limit=2", headers=auth)
    page = r.get_json()
    assert [c["id"] for c in page["changes"]] == ["d-payment-142", "d-checkout-staging"]
    assert page["next_offset"] == 2
    r = client.get("/api/v1/changes?limit=2&offset=2", headers=auth)
    assert [c["id"] for c in r.get_json()["changes"]] == ["d-catalog-9", "cfg-1"]
    r = client.get("/api/v1/changes?service=payment", headers=auth)
    assert [c["id"] for c in r.get_json()["changes"]] == ["d-payment-142", "cfg-1"]
    r = client.get("/api/v1/changes?environment=staging&kind=deploy", headers=auth)
    assert [c["id"] for c in r.get_json()["changes"]] == ["d-checkout-staging"]
    r = client.get("/api/v1/changes?since=2026-11-20T12:00:00Z&until=2026-11-20T13:30:00Z",
                   headers=auth)
    assert [c["id"] for c in r.get_json()["changes"]] == ["d-checkout-staging"]
    last = client.get("/api/v1/changes?limit=10", headers=auth).get_json()
    assert last["next_offset"] is None


@pytest.mark.parametrize("query", ["kind=oops", "limit=0", "limit=x", "offset=-1",
                                   "since=notatime"])
def test_changes_bad_query(client, auth, query):
    assert_canonical_error(client.get(f"/api/v1/changes?{query}", headers=auth), 400)


def test_graph_and_node(client, auth):
    body = client.get("/api/v1/graph", headers=auth).get_json()
    assert body["graph"]["services"]["payment"]["depends_on"] == ["stripe"]
    assert body["nodes"] >= 6
    node = client.get("/api/v1/graph?node=payment", headers=auth).get_json()
    assert node["depends_on"] == ["stripe"] and node["dependants"] == ["checkout"]
    assert_canonical_error(client.get("/api/v1/graph?node=nope", headers=auth), 404)


# -- auth ---------------------------------------------------------------------------------------

READS = [("get", "/api/v1/changes"), ("get", "/api/v1/graph"),
         ("get", "/api/v1/suspects?target=checkout"),
         ("post", "/api/v1/recommendations")]


@pytest.mark.parametrize("method, path", READS)
def test_read_endpoints_need_a_token(client, method, path):
    err = assert_canonical_error(getattr(client, method)(path, json={"target": "checkout"}),
                                 401, "Unauthorized")
    assert "tokens create" in err["message"]


@pytest.mark.parametrize("header", ["Bearer ", "Basic abc", "Bearer ra_nothex_x",
                                    "Bearer ra_0123456789ab_wrong", "Bearer garbage"])
def test_bad_tokens_are_401_and_never_echoed(client, header):
    r = client.get("/api/v1/changes", headers={"Authorization": header})
    err = assert_canonical_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    secret_part = header.split(" ", 1)[1]
    if secret_part:
        assert secret_part not in r.get_data(as_text=True)
    assert err["details"] == {}


def test_token_with_right_id_but_wrong_secret(client, read_token):
    forged = read_token[:-4] + ("AAAA" if not read_token.endswith("AAAA") else "BBBB")
    assert_canonical_error(client.get("/api/v1/changes",
                                      headers={"Authorization": f"Bearer {forged}"}), 401)


def test_revoked_token_is_refused(app, client, read_token):
    from rollback_advisor.web.credentials import token_id_of
    from rollback_advisor.web.services import services

    headers = {"Authorization": f"Bearer {read_token}"}
    assert client.get("/api/v1/changes", headers=headers).status_code == 200
    with app.app_context():
        services().tables.revoke_token(token_id_of(read_token))
    assert_canonical_error(client.get("/api/v1/changes", headers=headers), 401)


def test_tokens_are_stored_hashed(app, read_token):
    from sqlalchemy import select

    from rollback_advisor.store.schema import api_tokens
    from rollback_advisor.web.services import services

    with app.app_context(), services().store.engine.connect() as conn:
        rows = conn.execute(select(api_tokens)).all()
    assert rows and all(read_token not in str(tuple(r)) for r in rows)


def test_read_auth_off(tmp_path):
    from rollback_advisor.web import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path, read_auth=False))
    assert app.test_client().get("/api/v1/changes").status_code == 200
    spec = app.test_client().get("/openapi.json").get_json()
    assert spec["paths"]["/api/v1/changes"]["get"]["security"] == []
    assert_canonical_error(app.test_client().get("/api/v1/hooks"), 401)


# -- hook registration over HTTP -----------------------------------------------------------------

def test_register_hook_needs_admin(client, read_token, admin_token):
    body = {"name": "gh", "source": "github", "map": {"acme/payment": "payment"}}
    assert_canonical_error(client.post("/api/v1/hooks", json=body), 401)
    err = assert_canonical_error(client.post(
        "/api/v1/hooks", json=body, headers={"Authorization": f"Bearer {read_token}"}), 403,
        "Forbidden")
    assert read_token not in err["message"]
    admin = {"Authorization": f"Bearer {admin_token}"}
    r = client.post("/api/v1/hooks", json=body, headers=admin)
    assert r.status_code == 201
    created = r.get_json()
    assert created["url"] == f"http://localhost/hooks/{created['id']}"
    assert created["secret"].startswith("whsec_")
    listed = client.get("/api/v1/hooks", headers=admin).get_json()["hooks"]
    assert [h["id"] for h in listed] == [created["id"]]
    assert created["secret"] not in str(listed) and "nonce" not in listed[0]
    assert client.delete(f"/api/v1/hooks/{created['id']}", headers=admin).status_code == 200
    assert_canonical_error(client.delete(f"/api/v1/hooks/{created['id']}", headers=admin), 404)


@pytest.mark.parametrize("body, field", [
    ({"source": "github"}, "name"), ({"name": "x", "source": "svn"}, "source"),
    ({"name": "x", "source": "github", "map": {"a": 1}}, "map"),
    ({"name": "x", "source": "github", "extra": 1}, "extra")])
def test_register_hook_validation(client, admin_token, body, field):
    err = assert_canonical_error(client.post(
        "/api/v1/hooks", json=body, headers={"Authorization": f"Bearer {admin_token}"}), 400)
    assert err["details"]["field"] == field


# -- errors, limits, ops --------------------------------------------------------------------------

def test_unknown_route_and_method(client):
    assert_canonical_error(client.get("/nope"), 404, "NotFound")
    r = client.delete("/healthz")
    assert_canonical_error(r, 405, "MethodNotAllowed")


def test_request_size_limit(tmp_path):
    from rollback_advisor.web import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path, max_request_bytes=1000))
    r = app.test_client().post("/hooks/h_x", data=b"x" * 2000,
                               content_type="application/json")
    err = assert_canonical_error(r, 413)
    assert "max_request_bytes" in err["message"]


def test_unexpected_errors_are_canonical_500(app, client, auth, monkeypatch):
    from rollback_advisor.web.services import services

    def boom(**_kw):
        raise RuntimeError("secret internals")

    with app.app_context():
        monkeypatch.setattr(services().store, "list_changes", boom)
    r = client.get("/api/v1/changes", headers=auth)
    err = assert_canonical_error(r, 500, "InternalError")
    assert "internals" not in err["message"]


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/healthz?store=1").get_json() == {"status": "ok", "store": "ok"}


def test_metrics_exposition(client, auth):
    client.get("/api/v1/changes", headers=auth)
    client.get("/api/v1/changes")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert ('rollback_advisor_http_requests_total{method="GET",route="/api/v1/changes",'
            'status="401"} 1.0') in text
    assert "rollback_advisor_http_request_duration_seconds_bucket" in text
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"rollback_advisor_http_requests", "rollback_advisor_ingested_events",
            "rollback_advisor_rejected_deliveries"} <= names


def test_openapi_lists_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(p, m.upper()) for p, ops in spec["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        # the static files and the HTML pages for people (docs/page.md) are not the JSON API
        if rule.endpoint == "static" or rule.endpoint.startswith("pages."):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_worker_freezes_the_built_graph_out_of_the_collector(app, client, auth):
    """``serve``'s workers build the graph on first use and freeze the heap (a full collection
    walking a large graph was the recommendation p99); a new stored graph unfreezes first."""
    import gc

    from rollback_advisor.web.services import services

    with app.app_context():
        svc = services()
        svc.freeze_heap = True
        try:
            advisor = svc.advisor()
            assert advisor._graph is not None and gc.get_freeze_count() > 0
            assert svc.advisor() is advisor  # same graph stamp: nothing rebuilt or refrozen
            svc.store.save_graph({"services": {"frontend": {}}})
            assert svc.advisor() is not advisor and gc.get_freeze_count() > 0
        finally:
            gc.unfreeze()
    r = client.post("/api/v1/recommendations", json={"target": "frontend", "at": ONSET},
                    headers=auth)
    assert r.status_code == 200

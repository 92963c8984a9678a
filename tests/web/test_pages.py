"""The incident page through Flask's test client (issue #9): sign-in and its session cookie,
CSRF on every form, revoked tokens, verdicts stored, ad-hoc questions, the Slack text, caching
headers, and the JSON API left as it was. The browser tests (tests/web/browser) click through
the same pages in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from flask import Flask

from rollback_advisor.advice_record import advice_from_dict
from rollback_advisor.render import advice_slack
from rollback_advisor.web import create_app
from rollback_advisor.web.credentials import create_token
from rollback_advisor.web.page_auth import signin_link
from rollback_advisor.web.services import services

from .conftest import make_settings
from .demo_incident import csrf_of, demo, load_demo, sign_in


@pytest.fixture
def demo_app(tmp_path: Any) -> Iterator[Flask]:
    settings = make_settings(tmp_path)
    assert settings.database_url
    load_demo(settings.database_url)
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        services().incidents().open(demo().incident, title=demo().title)
    yield app
    app.extensions["rollback_advisor"].store.close()


def _token(app: Flask, scope: str, name: str | None = None) -> dict[str, Any]:
    with app.app_context():
        return create_token(tables=services().tables, scope=scope, name=name)


def test_pages_ask_to_sign_in_first(demo_app):
    client = demo_app.test_client()
    r = client.get("/incidents/1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/signin?next=")
    assert client.get("/").status_code == 302


def test_sign_in_sets_a_private_session_cookie_and_opens_the_incident(demo_app):
    client = demo_app.test_client()
    token = _token(demo_app, "read")["token"]
    r = sign_in(client, token, "/incidents/1")
    assert r.status_code == 302 and r.headers["Location"] == "/incidents/1"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert token not in cookie  # the session holds the token's id, never the token
    page = client.get("/incidents/1")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "private, no-store"
    html = page.get_data(as_text=True)
    culprit = demo().culprit
    assert "Roll back" in html and culprit in html
    # the culprit is the table's first row and the timeline's #1
    assert html.index('id="suspect-1" data-change="' + culprit) > 0
    assert f'data-rank="1" data-change="{culprit}"' in html


def test_the_cookie_is_secure_over_https_or_with_an_https_public_url(demo_app, tmp_path):
    token = _token(demo_app, "read")["token"]
    client = demo_app.test_client()
    csrf = csrf_of(client.get("/signin", base_url="https://localhost").get_data(as_text=True))
    r = client.post("/signin", data={"token": token, "csrf": csrf},
                    base_url="https://localhost")
    assert "Secure" in r.headers["Set-Cookie"]


def test_a_wrong_token_is_refused_on_the_form(demo_app):
    r = sign_in(demo_app.test_client(), "ra_000000000000_nope")
    assert r.status_code == 401 and "not valid" in r.get_data(as_text=True)
    assert "tid" not in (r.headers.get("Set-Cookie") or "")


@pytest.mark.parametrize("csrf, status", [(None, 400), ("forged-token", 403)])
def test_forms_without_the_session_csrf_token_are_refused(demo_app, csrf, status):
    client = demo_app.test_client()
    admin = _token(demo_app, "admin")["token"]
    sign_in(client, admin)
    form = {"change": demo().culprit, "verdict": "culprit"}
    if csrf is not None:
        form["csrf"] = csrf
    r = client.post("/incidents/1/verdicts", data=form)
    assert r.status_code == status and r.mimetype == "text/html"
    assert "CSRF" in r.get_data(as_text=True)
    with demo_app.app_context():
        assert services().verdicts().list(1) == []
    # sign-in, sign-out and questions are forms too
    for path in ("/signin", "/signout", "/ask"):
        assert client.post(path, data={} if csrf is None else {"csrf": csrf}).status_code \
            == status


def test_a_verdict_from_the_page_is_stored_under_the_tokens_name(demo_app):
    client = demo_app.test_client()
    admin = _token(demo_app, "admin", name="ana")["token"]
    sign_in(client, admin, "/incidents/1")
    csrf = csrf_of(client.get("/incidents/1").get_data(as_text=True))
    r = client.post("/incidents/1/verdicts",
                    data={"csrf": csrf, "change": demo().culprit, "verdict": "culprit"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/incidents/1")
    with demo_app.app_context():
        [stored] = services().verdicts().list(1)
    assert (stored.change, stored.verdict.value, stored.by) == (demo().culprit, "culprit", "ana")
    page = client.get("/incidents/1").get_data(as_text=True)
    assert "recorded:" in page and 'class="given culprit"' in page


def test_a_read_token_looks_but_gives_no_verdict(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    html = client.get("/incidents/1").get_data(as_text=True)
    assert 'value="culprit"' not in html and "Sign in with an admin token" in html
    r = client.post("/incidents/1/verdicts", data={"csrf": csrf_of(html), "verdict": "no_change"})
    assert r.status_code == 403


def test_revoking_the_token_ends_the_session(demo_app):
    client = demo_app.test_client()
    token = _token(demo_app, "read")
    sign_in(client, token["token"])
    assert client.get("/incidents/1").status_code == 200
    with demo_app.app_context():
        services().tables.revoke_token(token["id"])
    r = client.get("/incidents/1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/signin")


def test_sign_out_clears_the_session(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    r = client.post("/signout", data={"csrf": csrf})
    assert r.status_code == 302 and r.headers["Location"] == "/signin"
    assert client.get("/incidents/1").status_code == 302


def test_sign_out_ends_a_copy_of_the_cookie_but_not_the_api_token(demo_app):
    """The session holds a token row of its own: signing out revokes it, so a copied cookie
    is refused after, while the API token signed in with keeps working; a second sign-in with
    the same token is a session of its own."""
    token = _token(demo_app, "admin", name="ana")
    client, other = demo_app.test_client(), demo_app.test_client()
    sign_in(client, token["token"])
    sign_in(other, token["token"])
    copy = demo_app.test_client()
    copy.set_cookie("ra_session", client.get_cookie("ra_session").value)
    assert copy.get("/incidents/1").status_code == 200
    assert "ana" in copy.get("/").get_data(as_text=True)  # named by the API token
    client.post("/signout", data={"csrf": csrf_of(client.get("/").get_data(as_text=True))})
    r = copy.get("/incidents/1")
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
    assert other.get("/incidents/1").status_code == 200  # the other session goes on
    api = demo_app.test_client().get("/api/v1/incidents",
                                     headers={"Authorization": f"Bearer {token['token']}"})
    assert api.status_code == 200
    with demo_app.app_context():
        rows = {t.id: t for t in services().tables.list_tokens()}
    sessions = [t for t in rows.values() if t.name == "page session of ana"]
    assert len(sessions) == 2 and sum(t.revoked_us is not None for t in sessions) == 1
    assert rows[token["id"]].revoked_us is None
    # recorded as what they are, so `tokens list` shows the API token alone
    assert {t.id: t.kind for t in rows.values()} == {
        token["id"]: "api", sessions[0].id: "session", sessions[1].id: "session"}
    with demo_app.app_context():  # the session's name fits the column (256)
        long = create_token(tables=services().tables, scope="read", name="n" * 256)
    assert sign_in(demo_app.test_client(), long["token"]).status_code == 302
    with demo_app.app_context():
        names = [t.name or "" for t in services().tables.list_tokens()]
    assert max(map(len, names)) == 256 and "page session of nnn" in "".join(names)


def test_the_slack_text_is_the_pasteable_renderers(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    html = client.get("/incidents/1").get_data(as_text=True)
    with demo_app.app_context():
        svc = services()
        # the advice as the incident stored it (probabilities kept to 4 decimals)
        stored = advice_from_dict(svc.advisor().advise(demo().incident).to_dict(),
                                  svc.store.get_changes)
        expected = advice_slack(stored, svc.settings.output.max_suspects)
    found = re.search(r'<textarea id="slack-text"[^>]*>(.*?)</textarea>', html, re.S)
    assert found and unescape(found.group(1)) == expected


def test_the_index_lists_the_incident_and_offers_the_graphs_nodes(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    html = client.get("/").get_data(as_text=True)
    assert "#1 demo: ticket booking fails" in html and "rollback" in html
    assert f'<option value="{demo().incident.target}">' in html  # completion from the graph


def test_an_ad_hoc_question_is_answered_in_the_same_layout(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    r = client.post("/ask", data={"csrf": csrf, "target": demo().incident.target,
                                  "at": "2026-11-20T14:05:00Z",
                                  "symptoms": "ts-seat-service@2026-11-20T14:04:00Z",
                                  "scope": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Ad-hoc question" in html
    assert f'id="suspect-1" data-change="{demo().culprit}"' in html
    assert "Also failing:" in html and 'class="symptom"' in html
    assert 'value="culprit"' not in html  # no incident: nothing to give a verdict on
    staging = client.post("/ask", data={"csrf": csrf, "target": demo().incident.target,
                                        "at": "2026-11-20T14:05:00Z",
                                        "environment": "staging"}).get_data(as_text=True)
    assert "in <strong>staging</strong>" in staging  # the demo's one staging change alone
    assert 'data-change="gh-deploy-seat-281rc1-staging"' in staging
    assert f'data-change="{demo().culprit}"' not in staging
    bad = client.post("/ask", data={"csrf": csrf, "target": "no-such-node", "at": "-5m"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 404 and "not a node" in text  # said on the form, kept filled
    assert 'value="no-such-node"' in text and 'value="-5m"' in text


def test_an_incident_without_advice_says_why(demo_app):
    with demo_app.app_context():
        services().incidents().open(demo().incident.__class__(
            target="not-in-the-graph", started_at=demo().incident.started_at))
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    html = client.get("/incidents/2").get_data(as_text=True)
    assert "No advice" in html and "not a node of the dependency graph" in html
    assert "not-in-the-graph" in client.get("/").get_data(as_text=True)


def test_the_list_shows_each_incidents_latest_advice(demo_app):
    with demo_app.app_context():
        desk = services().incidents()
        record = desk.tables.get(1)
        desk.advise(record, "symptom_added")
        latest = desk.tables.latest_advice([1, 99])
        history = desk.tables.advice_history(1)
    assert list(latest) == [1] and len(history) == 2
    assert latest[1].trigger == "symptom_added" == history[-1].trigger
    assert latest[1].advice is None and latest[1].decision == history[-1].decision


def test_text_from_changes_is_escaped(demo_app):
    with demo_app.app_context():
        svc = services()
        svc.incidents().open(demo().incident.__class__(
            target="<script>alert(1)</script>", started_at=demo().incident.started_at),
            title="<b>x</b>")
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    html = client.get("/incidents/2").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "<b>x</b>" not in html


def test_a_one_time_link_signs_in_once(demo_app):
    with demo_app.test_request_context():
        link = signin_link(services(), "http://localhost")
    path = link.removeprefix("http://localhost")
    client = demo_app.test_client()
    # opening it (a person, a chat preview, a prefetch) shows a button and spends nothing
    for _ in range(2):
        shown = client.get(path + "?next=/incidents/1")
        assert shown.status_code == 200 and "signs you in once" in shown.get_data(as_text=True)
    assert client.get("/incidents/1").status_code == 302  # not signed in yet
    form = shown.get_data(as_text=True)
    assert demo_app.test_client().post(path, data={"next": "/incidents/1"}).status_code == 400
    r = client.post(path, data={"csrf": csrf_of(form), "next": "/incidents/1"})
    assert r.status_code == 302 and r.headers["Location"] == "/incidents/1"
    assert client.get("/incidents/1").status_code == 200
    again = demo_app.test_client().get(path)
    assert again.status_code == 401 and "used already" in again.get_data(as_text=True)
    other = demo_app.test_client()
    replay = other.post(path, data={"csrf": csrf_of(other.get("/signin").get_data(
        as_text=True))})
    assert replay.status_code == 401 and "used already" in replay.get_data(as_text=True)
    forged = demo_app.test_client().get(path[:-4] + "0000")
    assert forged.status_code == 401
    # signing out of a link's session revokes the session's own token
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    client.post("/signout", data={"csrf": csrf})
    with demo_app.app_context():
        rows = services().tables.list_tokens()
    assert [t for t in rows if t.revoked_us is None] == []
    assert [(t.name, t.kind) for t in rows] == [
        ("one-time sign-in link", "link"), ("session from a one-time sign-in link", "session")]


def test_an_api_token_in_a_link_does_not_sign_in(demo_app):
    token = _token(demo_app, "admin")
    r = demo_app.test_client().get(f"/signin/once/{token['id']}.{'0' * 64}")
    assert r.status_code == 401
    # nor one signed with the server key: the row is an API token, not a link (its kind)
    from rollback_advisor.web import page_auth

    with demo_app.test_request_context():
        signature = page_auth._derive(services().server_key(),
                                      page_auth._LINK_PURPOSE + token["id"].encode())
    client = demo_app.test_client()
    path = f"/signin/once/{token['id']}.{signature}"
    assert client.get(path).status_code == 401
    csrf = csrf_of(client.get("/signin").get_data(as_text=True))
    assert client.post(path, data={"csrf": csrf}).status_code == 401
    with demo_app.app_context():
        assert services().tables.get_token(token["id"]).revoked_us is None


def test_the_json_api_sets_no_cookie_and_keeps_its_errors(demo_app):
    client = demo_app.test_client()
    token = _token(demo_app, "read")["token"]
    r = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    assert r.headers["Cache-Control"] == "no-store" and "Vary" not in r.headers
    missing = client.get("/api/v1/incidents/99", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and missing.mimetype == "application/json"


def test_an_unknown_incident_is_a_404_page(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    r = client.get("/incidents/99")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "no incident 99" in r.get_data(as_text=True)


def test_a_safe_next_only(demo_app):
    client = demo_app.test_client()
    r = sign_in(client, _token(demo_app, "read")["token"], "//evil.example/x")
    assert r.headers["Location"] == "/"


def _cookie(app: Flask, key: str, data: dict[str, Any]) -> str:
    from flask.sessions import SecureCookieSessionInterface
    from itsdangerous import URLSafeTimedSerializer

    iface = SecureCookieSessionInterface()
    return URLSafeTimedSerializer(key, salt=iface.salt, serializer=iface.serializer,
                                  signer_kwargs={"key_derivation": iface.key_derivation,
                                                 "digest_method": iface.digest_method}
                                  ).dumps(data)


def test_a_session_signed_with_another_key_is_ignored(demo_app):
    """The cookie's key is derived from the server key: neither a guessed constant nor the
    server key itself signs a session in."""
    from .conftest import SERVER_KEY

    admin = _token(demo_app, "admin")
    for key in (SERVER_KEY, "dev", "secret"):
        client = demo_app.test_client()
        client.set_cookie("ra_session", _cookie(demo_app, key, {"tid": admin["id"],
                                                                 "csrf": "x"}))
        r = client.get("/incidents/1")
        assert r.status_code == 302 and "/signin" in r.headers["Location"]
    with demo_app.app_context():
        from rollback_advisor.web.page_auth import page_key

        key = page_key(services())
    assert key != SERVER_KEY
    client = demo_app.test_client()
    client.set_cookie("ra_session", _cookie(demo_app, key, {"tid": admin["id"], "csrf": "x"}))
    assert client.get("/incidents/1").status_code == 200  # the derived key is the one


def test_pages_without_a_server_key_on_postgres_are_a_404(tmp_path, postgres_url):
    from rollback_advisor.config import ServerSettings, Settings

    app = create_app(Settings(database_url=postgres_url, data_dir=str(tmp_path),
                              server=ServerSettings()))
    try:
        client = app.test_client()
        r = client.get("/signin")
        assert r.status_code == 404 and r.mimetype == "text/html"
        assert "server.secret_key" in r.get_data(as_text=True)
        assert client.get("/healthz").status_code == 200  # the rest of the service is up
    finally:
        app.extensions["rollback_advisor"].store.close()


def test_no_change_from_the_page_also_clears_the_top_suspect(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "admin", name="ana")["token"])
    csrf = csrf_of(client.get("/incidents/1").get_data(as_text=True))
    r = client.post("/incidents/1/verdicts", data={"csrf": csrf, "verdict": "no_change",
                                                   "change": "ignored-with-no-change"})
    assert r.status_code == 302
    with demo_app.app_context():
        given = {(v.change, v.verdict.value) for v in services().verdicts().list(1)}
    assert given == {(None, "no_change"), (demo().culprit, "not_culprit")}


def test_a_question_with_no_changes_in_its_window_still_draws(demo_app):
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    r = client.post("/ask", data={"csrf": csrf, "target": demo().incident.target,
                                  "at": "2026-01-01T00:00:00Z"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'class="timeline"' in html
    assert "0 changes considered" in html and "No changes in the window" in html
    assert '<g class="suspect' not in html and '<table class="suspects">' not in html


def test_an_unexpected_error_is_a_page_without_internals(demo_app, monkeypatch, caplog):
    from rollback_advisor.web import pages

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(pages, "incident_view", broken)
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    r = client.get("/incidents/1")
    text = r.get_data(as_text=True)
    assert r.status_code == 500 and r.mimetype == "text/html"
    assert "secret internals" not in text and "its log says why" in text
    assert "secret internals" in caplog.text


def test_an_unused_link_expires(demo_app, monkeypatch):
    from rollback_advisor.web import page_auth

    with demo_app.test_request_context():
        link = signin_link(services(), "http://localhost")
    later = page_auth.time.time() + page_auth.LINK_LIFETIME.total_seconds() + 60
    monkeypatch.setattr(page_auth.time, "time", lambda: later)
    r = demo_app.test_client().get(link.removeprefix("http://localhost"))
    assert r.status_code == 401 and "expired" in r.get_data(as_text=True)


def test_a_stored_advice_of_another_shape_still_shows_the_incident(demo_app):
    from sqlalchemy import update

    from rollback_advisor.store.schema import incident_advice

    with demo_app.app_context(), services().store.engine.begin() as conn:
        conn.execute(update(incident_advice).values(
            advice='{"recommendation": {"decision": "rollback"}, "suspects": [{"x": 1}]}'))
    client = demo_app.test_client()
    sign_in(client, _token(demo_app, "read")["token"])
    r = client.get("/incidents/1")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "could not be read" in html
    assert "Advice history" in html

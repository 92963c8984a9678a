"""hooks / tokens / notify commands, notify end to end through the app (responses forwards
the HTTP call to the Flask test client, so nothing leaves the process)."""

from __future__ import annotations

import json

import pytest
import responses
from click.testing import CliRunner

from rollback_advisor.cli import cli

from .conftest import SERVER_KEY


@pytest.fixture
def runner(tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  secret_key: {$env: RA_TEST_KEY}\n  public_url: "
                      "http://advisor.test\n", encoding="utf-8")
    monkeypatch.setenv("RA_TEST_KEY", SERVER_KEY)
    monkeypatch.setenv("ROLLBACK_ADVISOR_CONFIG", str(config))
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATABASE_URL", f"sqlite:///{tmp_path / 'web.db'}")
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def invoke(runner, *args, **kw):
    result = runner.invoke(cli, list(args), catch_exceptions=False, **kw)
    return result


def test_hooks_register_list_revoke(runner):
    r = invoke(runner, "hooks", "register", "payments-ci", "--source", "github",
               "--map", "acme/payment=payment", "--environment", "production",
               "--format", "json")
    assert r.exit_code == 0, r.output
    created = json.loads(r.output)
    assert set(created) == {"id", "url", "secret"}
    assert created["url"] == f"http://advisor.test/hooks/{created['id']}"
    listed = invoke(runner, "hooks", "list", "--format", "json")
    assert created["secret"] not in listed.output
    assert json.loads(listed.output)[0]["mapping"] == {"acme/payment": "payment"}
    assert "payments-ci" in invoke(runner, "hooks", "list").output
    assert invoke(runner, "hooks", "revoke", created["id"]).exit_code == 0
    again = invoke(runner, "hooks", "revoke", created["id"])
    assert again.exit_code == 1 and "no active hook" in again.output


def test_hooks_register_bad_map(runner):
    r = invoke(runner, "hooks", "register", "x", "--source", "generic", "--map", "nomap")
    assert r.exit_code == 1 and "REPO=NODE" in r.output


def test_tokens_create_list_revoke(runner):
    r = invoke(runner, "tokens", "create", "--scope", "read", "--format", "json")
    assert r.exit_code == 0
    token = json.loads(r.output)["token"]
    assert token.startswith("ra_")
    listed = invoke(runner, "tokens", "list").output
    assert token not in listed and "read" in listed
    assert invoke(runner, "tokens", "revoke", token).exit_code == 0
    assert "(revoked)" in invoke(runner, "tokens", "list").output


def _tokens_list(runner, *args):
    r = invoke(runner, "tokens", "list", *args)
    assert r.exit_code == 0, r.output
    return r.output.splitlines()


def test_tokens_list_shows_api_tokens_and_counts_page_sessions_and_links(runner, store_url,
                                                                         monkeypatch):
    """Every sign-in mints a session row: `tokens list` shows the API tokens alone and one
    line counting what it left out, `--all` every row with its kind; `tokens revoke` still
    ends one session by its id."""
    from rollback_advisor.config import load_settings
    from rollback_advisor.web import create_app
    from rollback_advisor.web.page_auth import signin_link
    from rollback_advisor.web.services import services

    from .demo_incident import csrf_of, sign_in

    monkeypatch.setenv("ROLLBACK_ADVISOR_DATABASE_URL", store_url)
    ana = json.loads(invoke(runner, "tokens", "create", "--scope", "admin", "--name", "ana",
                            "--format", "json").output)
    ci = json.loads(invoke(runner, "tokens", "create", "--scope", "read", "--name", "ci",
                           "--format", "json").output)
    assert _tokens_list(runner) == [f"{ana['id']}  admin  ana", f"{ci['id']}  read   ci"]
    app = create_app(load_settings())
    try:
        first, second = app.test_client(), app.test_client()
        for client in (first, second):
            assert sign_in(client, ana["token"]).status_code == 302
        first.post("/signout", data={"csrf": csrf_of(first.get("/").get_data(as_text=True))})
        with app.test_request_context():
            used, unused = (signin_link(services(), "http://localhost") for _ in range(2))
        linked = app.test_client()
        path = used.removeprefix("http://localhost")
        csrf = csrf_of(linked.get(path).get_data(as_text=True))
        assert linked.post(path, data={"csrf": csrf}).status_code == 302
        assert linked.get("/").status_code == 200 and unused
    finally:
        app.extensions["rollback_advisor"].store.close()

    assert _tokens_list(runner) == [
        f"{ana['id']}  admin  ana", f"{ci['id']}  read   ci",
        "+ 3 page sessions (2 not revoked) and 2 sign-in links: --all lists them"]
    every = _tokens_list(runner, "--all")
    assert every[:2] == [f"{ana['id']}  admin  api      ana", f"{ci['id']}  read   api      ci"]
    kinds = sorted(line.split()[2] for line in every)
    assert kinds == ["api", "api", "link", "link", "session", "session", "session"]
    assert sum("page session of ana" in line for line in every) == 2
    assert not any(line.startswith("+") for line in every)

    rows = json.loads(invoke(runner, "tokens", "list", "--format", "json").output)
    assert [(r["id"], r["kind"]) for r in rows] == [(ana["id"], "api"), (ci["id"], "api")]
    assert set(rows[0]) == {"id", "scope", "name", "revoked", "kind"}
    rows = json.loads(invoke(runner, "tokens", "list", "--all", "--format", "json").output)
    assert sorted(r["kind"] for r in rows) == kinds
    live = [r for r in rows if r["kind"] == "session" and not r["revoked"]]
    assert invoke(runner, "tokens", "revoke", live[0]["id"]).exit_code == 0
    assert _tokens_list(runner)[-1] == ("+ 3 page sessions (1 not revoked) and 2 sign-in "
                                        "links: --all lists them")


@pytest.mark.parametrize("sessions, revoked, links, line", [
    (1, 0, 0, "+ 1 page session (1 not revoked): --all lists them"),
    (0, 0, 1, "+ 1 sign-in link: --all lists them"),
    (2, 2, 3, "+ 2 page sessions (0 not revoked) and 3 sign-in links: --all lists them"),
])
def test_the_line_counting_sessions_and_links(runner, tmp_path, sessions, revoked, links,
                                              line):
    """The plurals, and each part only when there is something to count."""
    from rollback_advisor.store import open_store
    from rollback_advisor.store.service_tables import ServiceTables

    api = json.loads(invoke(runner, "tokens", "create", "--scope", "read", "--format",
                            "json").output)
    store = open_store(f"sqlite:///{tmp_path / 'web.db'}")
    tables = ServiceTables(store)
    for i in range(sessions + links):
        kind = "session" if i < sessions else "link"
        tables.add_token(token_id=f"{kind[0]}{i:011d}", token_hash="0" * 64, scope="read",
                         name=f"row {i}", kind=kind)
        if i < revoked:
            tables.revoke_token(f"{kind[0]}{i:011d}")
    store.close()
    assert _tokens_list(runner) == [f"{api['id']}  read   ", line]


def test_notify_posts_a_signed_event_once(runner, tmp_path, monkeypatch):
    from rollback_advisor.config import load_settings
    from rollback_advisor.web import create_app

    r = invoke(runner, "hooks", "register", "ci", "--source", "generic", "--format", "json")
    hook = json.loads(r.output)
    app = create_app(load_settings())
    client = app.test_client()

    def forward(request):
        got = client.post(request.path_url, data=request.body, headers=dict(request.headers))
        return got.status_code, {}, got.get_data()

    monkeypatch.setenv("ROLLBACK_ADVISOR_HOOK_SECRET", hook["secret"])
    monkeypatch.setenv("GITHUB_RUN_ID", "991")
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, hook["url"], callback=forward)
        args = ["notify", "--hook-url", hook["url"], "--service", "checkout", "--version",
                "v9", "--previous-version", "v8", "--at", "2026-11-20T14:00:00Z",
                "--format", "json"]
        first = invoke(runner, *args)
        assert first.exit_code == 0, first.output
        assert json.loads(first.output)["status"] == "stored"
        assert json.loads(first.output)["changes"] == ["ci:checkout:production:v9:991-1"]
        second = invoke(runner, *args)
        assert json.loads(second.output)["status"] == "duplicate"
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"id": "x1", "kind": "config", "service": "payment",
                                     "at": "2026-11-20T14:00:00Z"}), encoding="utf-8")
        third = invoke(runner, "notify", "--hook-url", hook["url"], "--file", str(event))
        assert third.exit_code == 0 and third.output.startswith("stored: x1")
        monkeypatch.setenv("ROLLBACK_ADVISOR_HOOK_SECRET", "wrong")
        bad = invoke(runner, *args)
        assert bad.exit_code == 1 and "refused" in bad.output and "wrong" not in bad.output
    app.extensions["rollback_advisor"].store.close()


def test_notify_validates_before_sending(runner, monkeypatch):
    monkeypatch.setenv("ROLLBACK_ADVISOR_HOOK_SECRET", "s")
    r = invoke(runner, "notify", "--hook-url", "http://127.0.0.1:9/hooks/x", "--service",
               "checkout", "--at", "2026-11-20T14:00:00")
    assert r.exit_code == 1 and "offset" in r.output
    monkeypatch.delenv("ROLLBACK_ADVISOR_HOOK_SECRET")
    r = invoke(runner, "notify", "--hook-url", "http://127.0.0.1:9/hooks/x", "--service", "c")
    assert r.exit_code == 1 and "ROLLBACK_ADVISOR_HOOK_SECRET" in r.output


def test_notify_retries_then_fails(runner, monkeypatch):
    monkeypatch.setenv("ROLLBACK_ADVISOR_HOOK_SECRET", "s")
    monkeypatch.setattr("time.sleep", lambda _s: None)
    with responses.RequestsMock() as mock:
        mock.post("http://advisor.test/hooks/h", status=503)
        r = invoke(runner, "notify", "--hook-url", "http://advisor.test/hooks/h",
                   "--service", "checkout", "--retries", "2")
        assert len(mock.calls) == 3
    assert r.exit_code == 1 and "3 attempts" in r.output


def test_serve_dev_and_gunicorn_are_wired(runner, monkeypatch):
    """serve --dev runs Flask's server; serve runs gunicorn with the options given."""
    seen = {}

    def fake_run(settings, **kw):
        seen.update(kw)

    monkeypatch.setattr("rollback_advisor.web.server.run", fake_run)
    r = invoke(runner, "serve", "--port", "9999", "--workers", "3")
    assert r.exit_code == 0, r.output
    assert seen == {"host": "127.0.0.1", "port": 9999, "workers": 3, "connections": 1000}
    from flask import Flask

    monkeypatch.setattr(Flask, "run", lambda self, **kw: seen.update(dev=kw))
    assert invoke(runner, "serve", "--dev").exit_code == 0
    assert seen["dev"]["port"] == 8080


def test_notify_scope_reaches_the_stored_change(runner, monkeypatch):
    """--scope LABEL=VALUE (repeatable) puts scope in the canonical event, which the hook
    stores; a malformed one is one line naming the option, and nothing is sent."""
    from rollback_advisor.config import load_settings
    from rollback_advisor.web import create_app
    from rollback_advisor.web.services import services

    hook = json.loads(invoke(runner, "hooks", "register", "ci", "--source", "generic",
                             "--format", "json").output)
    app = create_app(load_settings())
    client = app.test_client()
    sent = []

    def forward(request):
        sent.append(json.loads(request.body))
        got = client.post(request.path_url, data=request.body, headers=dict(request.headers))
        return got.status_code, {}, got.get_data()

    monkeypatch.setenv("ROLLBACK_ADVISOR_HOOK_SECRET", hook["secret"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, hook["url"], callback=forward)
        args = ["notify", "--hook-url", hook["url"], "--service", "checkout", "--id", "d-1",
                "--at", "2026-11-20T14:00:00Z"]
        r = invoke(runner, *args, "--scope", "region=us-east-1", "--scope", "region=eu-west-1",
                   "--scope", "cell=7")
        assert r.exit_code == 0, r.output
        assert sent[0]["scope"] == {"cell": ["7"], "region": ["eu-west-1", "us-east-1"]}
        bad = invoke(runner, *args, "--scope", "region")
        assert bad.exit_code == 1 and len(sent) == 1
        assert "--scope: got 'region', expected LABEL=VALUE" in bad.output
    with app.app_context():
        stored = services().store.get_changes(["d-1"])
    assert dict(stored["d-1"].scope) == {"cell": ("7",), "region": ("eu-west-1", "us-east-1")}
    app.extensions["rollback_advisor"].store.close()


def test_notify_status_updates_of_one_change_apply(runner, monkeypatch):
    """in_progress then failed with the same --id is two deliveries: the change ends failed;
    a later in_progress does not move it back; a retry of the same post stays a duplicate."""
    from rollback_advisor.config import load_settings
    from rollback_advisor.web import create_app

    hook = json.loads(invoke(runner, "hooks", "register", "ci", "--source", "generic",
                             "--format", "json").output)
    app = create_app(load_settings())
    client = app.test_client()

    def forward(request):
        got = client.post(request.path_url, data=request.body, headers=dict(request.headers))
        return got.status_code, {}, got.get_data()

    def status(value, at):
        r = invoke(runner, "notify", "--hook-url", hook["url"], "--id", "deploy-7",
                   "--service", "checkout", "--status", value, "--at", at, "--format", "json")
        assert r.exit_code == 0, r.output
        return json.loads(r.output)["status"]

    monkeypatch.setenv("ROLLBACK_ADVISOR_HOOK_SECRET", hook["secret"])
    store = app.extensions["rollback_advisor"].store
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, hook["url"], callback=forward)
        assert status("in_progress", "2026-11-20T14:00:00Z") == "stored"
        assert status("failed", "2026-11-20T14:03:00Z") == "stored"
        assert store.get_change("deploy-7").status.value == "failed"
        assert status("failed", "2026-11-20T14:03:00Z") == "duplicate"  # a true redelivery
        assert status("in_progress", "2026-11-20T14:04:00Z") == "stored"
        assert store.get_change("deploy-7").status.value == "failed"
        assert status("succeeded", "2026-11-20T14:01:00Z") == "stored"  # older than failed
        assert store.get_change("deploy-7").status.value == "failed"
        assert status("succeeded", "2026-11-20T14:09:00Z") == "stored"  # a re-run
        assert store.get_change("deploy-7").status.value == "succeeded"
    store.close()

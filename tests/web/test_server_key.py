"""Zero-config hooks on the embedded store, a clear refusal on PostgreSQL (issue 10, items 7
and 8): the server key is made once in the data directory (0600) for SQLite, and a missing
key with PostgreSQL stops ``serve`` and ``hooks register`` before anything runs."""

from __future__ import annotations

import json
import stat
import threading

import pytest
from click.testing import CliRunner

from rollback_advisor.cli import cli
from rollback_advisor.config import ServerSettings, Settings, load_settings
from rollback_advisor.web import create_app
from rollback_advisor.web.credentials import create_token
from rollback_advisor.web.server_key import KEY_FILE, server_key
from rollback_advisor.web.services import services

from .conftest import assert_canonical_error, sign_own


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """No config file, no key, the default SQLite store in a fresh data directory."""
    monkeypatch.chdir(tmp_path)
    for name in ("ROLLBACK_ADVISOR_CONFIG", "ROLLBACK_ADVISOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(data))
    return data


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_hooks_register_without_config_makes_the_key_once(bare):
    """The first register makes the key (0600, said once on stderr); later commands and the
    server use the same key, so the secret printed works for a delivery."""
    first = invoke("hooks", "register", "ci", "--source", "generic", "--format", "json")
    assert first.exit_code == 0, first.output
    key_file = bare / KEY_FILE
    assert _mode(key_file) == 0o600 and _mode(bare) == 0o700
    assert first.stderr.count("generated a server key") == 1
    assert str(key_file) in first.stderr
    second = invoke("hooks", "register", "ci2", "--source", "generic", "--format", "json")
    assert second.exit_code == 0 and "generated" not in second.stderr
    hook = json.loads(first.stdout)

    app = create_app(load_settings())
    body = json.dumps({"id": "e1", "kind": "deploy", "service": "checkout",
                       "at": "2026-11-20T14:00:00Z"}).encode()
    r = app.test_client().post(f"/hooks/{hook['id']}", data=body, headers={
        "Content-Type": "application/json",
        "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"])})
    assert r.status_code == 201, r.get_data(as_text=True)
    app.extensions["rollback_advisor"].store.close()


def test_serve_without_config_uses_the_data_directory_key(bare, monkeypatch):
    seen = {}
    monkeypatch.setattr("rollback_advisor.web.server.run",
                        lambda settings, **kw: seen.update(settings=settings))
    r = invoke("serve")
    assert r.exit_code == 0, r.output
    key = (bare / KEY_FILE).read_text().strip()
    assert len(key) >= 32 and seen["settings"].server.secret_key == key
    assert "generated a server key" in r.stderr


def test_api_registers_a_hook_on_sqlite_without_a_configured_key(tmp_path):
    """POST /api/v1/hooks answered 500 without server.secret_key; on the embedded store the
    key is now made on first use."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}",
                              data_dir=str(tmp_path), server=ServerSettings()))
    with app.app_context():
        token = create_token(tables=services().tables, scope="admin")["token"]
    r = app.test_client().post("/api/v1/hooks", json={"name": "x", "source": "generic"},
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.get_data(as_text=True)
    assert _mode(tmp_path / KEY_FILE) == 0o600
    app.extensions["rollback_advisor"].store.close()


@pytest.mark.postgres
def test_postgres_without_key_refuses_serve_and_register(bare, postgres_url, monkeypatch):
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATABASE_URL", postgres_url)
    started = []
    monkeypatch.setattr("rollback_advisor.web.server.run", lambda *a, **kw: started.append(1))
    r = invoke("serve")
    assert r.exit_code == 1 and not started
    assert "serve needs server.secret_key with PostgreSQL" in r.stderr
    r = invoke("hooks", "register", "ci", "--source", "generic")
    assert r.exit_code == 1 and "server.secret_key" in r.stderr
    assert invoke("hooks", "list").stdout.strip() == "no hooks"
    assert not (bare / KEY_FILE).exists()


@pytest.mark.postgres
def test_api_hooks_without_key_on_postgres_is_a_404(tmp_path, postgres_url):
    """An app built on PostgreSQL without a key (not through serve, which refuses) answers
    hook registration with 404 NotConfigured, not a 500."""
    app = create_app(Settings(database_url=postgres_url, data_dir=str(tmp_path),
                              server=ServerSettings()))
    with app.app_context():
        token = create_token(tables=services().tables, scope="admin")["token"]
    r = app.test_client().post("/api/v1/hooks", json={"name": "x", "source": "generic"},
                               headers={"Authorization": f"Bearer {token}"})
    err = assert_canonical_error(r, 404, "NotConfigured")
    assert "server.secret_key" in err["message"]
    app.extensions["rollback_advisor"].store.close()


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    """Two workers starting at once must not end with two keys (one would refuse every
    delivery the other's secrets signed)."""
    settings = Settings(data_dir=str(tmp_path / "d"))
    keys: list[str | None] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        keys.append(server_key(settings))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and keys[0] == (tmp_path / "d" / KEY_FILE).read_text().strip()
    assert [p.name for p in (tmp_path / "d").iterdir()] == [KEY_FILE]


def test_configured_key_wins_and_a_short_key_file_is_refused(tmp_path):
    from rollback_advisor.errors import ConfigError

    settings = Settings(data_dir=str(tmp_path), server=ServerSettings(secret_key="k" * 40))
    assert server_key(settings) == "k" * 40 and not (tmp_path / KEY_FILE).exists()
    (tmp_path / KEY_FILE).write_text("short\n")
    with pytest.raises(ConfigError, match="shorter than 32"):
        server_key(Settings(data_dir=str(tmp_path)))

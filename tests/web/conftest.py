"""flaskr-style fixtures: an app on a fresh SQLite store with a small graph, its client, tokens
and a factory that registers hooks. No network beyond loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from rollback_advisor.config import ServerSettings, Settings
from rollback_advisor.models import change_from_dict
from rollback_advisor.web import create_app
from rollback_advisor.web.credentials import create_token, register_hook
from rollback_advisor.web.services import services

SERVER_KEY = "test-server-key-0123456789"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

GRAPH = {"services": {
    "frontend": {"depends_on": ["checkout", "catalog"],
                 "endpoints": {"POST /cart/checkout": {"depends_on": ["checkout"]}}},
    "checkout": {"depends_on": ["payment", "orders-db"]},
    "payment": {"depends_on": ["stripe"]},
    "catalog": {},
    "orders-db": {"type": "datastore"},
    "stripe": {"type": "provider"},
}}

CHANGES = [
    {"id": "d-payment-142", "kind": "deploy", "service": "payment", "at": "2026-11-20T14:01:00Z",
     "version": "v142", "previous_version": "v141", "summary": "retry tuning",
     "author": "ana", "url": "https://ci.example/142"},
    {"id": "d-catalog-9", "kind": "deploy", "service": "catalog", "at": "2026-11-20T10:00:00Z",
     "version": "v9", "previous_version": "v8"},
    {"id": "cfg-1", "kind": "config", "services": ["*"], "at": "2026-11-19T09:00:00Z"},
    {"id": "d-checkout-staging", "kind": "deploy", "service": "checkout",
     "environment": "staging", "at": "2026-11-20T13:00:00Z"},
]
ONSET = "2026-11-20T14:05:00Z"


def make_settings(tmp_path: Any, **server: Any) -> Settings:
    base = ServerSettings(secret_key=SERVER_KEY, slack_signing_secret=SLACK_SECRET)
    return Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}", data_dir=str(tmp_path),
                    server=replace(base, **server))


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        svc = services()
        svc.store.save_graph(GRAPH)
        svc.store.add_changes(change_from_dict(c) for c in CHANGES)
    yield app
    app.extensions["rollback_advisor"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _token(app: Flask, scope: str) -> str:
    with app.app_context():
        return str(create_token(tables=services().tables, scope=scope)["token"])


@pytest.fixture
def read_token(app: Flask) -> str:
    return _token(app, "read")


@pytest.fixture
def admin_token(app: Flask) -> str:
    return _token(app, "admin")


@pytest.fixture
def auth(read_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {read_token}"}


@pytest.fixture
def make_hook(app: Flask) -> Callable[..., dict[str, Any]]:
    """Register a hook directly (the API path has its own tests); returns id, url, secret."""

    def make(source: str = "generic", mapping: dict[str, str] | None = None,
             environment: str | None = None, name: str = "ci") -> dict[str, Any]:
        with app.test_request_context():
            return register_hook(tables=services().tables, server_key=SERVER_KEY,
                                 base_url="http://localhost", name=name, source=source,
                                 mapping=mapping or {}, environment=environment)

    return make


def sign_own(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def assert_canonical_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Every error has one shape: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "details"}
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], dict)
    if code is not None:
        assert err["code"] == code, err
    return err


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()

"""Limits at the HTTP edge (issue 10, item 6), against a real ``serve`` where the server's own
parsing matters (chunked bodies, the request line) and the app otherwise: a chunked body over
``server.max_request_bytes`` is refused with 413 (it was cut at the limit without a word), the
414 gunicorn answers has the service's error shape and is in the OpenAPI document, and
``/openapi.json`` never echoes a forged ``Host``. Loopback only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from .conftest import assert_canonical_error, make_settings, sign_own
from .live_server import Answer, add_hook, live_serve


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    tmp = tmp_path_factory.mktemp("limits")
    database = f"sqlite:///{tmp / 'web.db'}"
    hook = add_hook(database, "limits")
    with live_serve(database, tmp) as server:
        yield server.base, hook


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def _signed_event(padding: int) -> bytes:
    return json.dumps({"id": f"big:{padding}", "kind": "deploy", "service": "checkout",
                       "at": "2026-11-20T14:00:00Z",
                       "details": {"pad": "x" * padding}}).encode()


def test_chunked_body_over_the_limit_is_a_413(live):
    base, hook = live
    body = _signed_event(2 * 1024 * 1024)  # twice the default 1 MiB limit
    r = requests.post(f"{base}/hooks/{hook['id']}", data=_chunks(body), timeout=30, headers={
        "Content-Type": "application/json",
        "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"])})
    err = assert_canonical_error(Answer(r), 413)
    assert "server.max_request_bytes" in err["message"]


def test_chunked_body_under_the_limit_is_stored(live):
    base, hook = live
    body = _signed_event(200_000)
    r = requests.post(f"{base}/hooks/{hook['id']}", data=_chunks(body), timeout=30, headers={
        "Content-Type": "application/json",
        "X-Rollback-Advisor-Signature": sign_own(body, hook["secret"])})
    assert r.status_code == 201, r.text


def test_request_line_too_long_is_a_414_in_the_error_shape(live):
    base, _ = live
    r = requests.get(f"{base}/healthz?pad={'a' * 9000}", timeout=10)
    err = assert_canonical_error(Answer(r), 414, "URITooLong")
    assert "request line" in err["message"]
    r = requests.get(f"{base}/healthz", headers={f"X-Pad-{i}": "a" * 100 for i in range(150)},
                     timeout=10)
    assert_canonical_error(Answer(r), 431)


def test_openapi_documents_the_server_limits_and_ignores_host(tmp_path):
    from rollback_advisor.web import create_app

    client = create_app(make_settings(tmp_path)).test_client()
    spec = client.get("/openapi.json", headers={"Host": "evil.example"}).get_json()
    assert "evil" not in json.dumps(spec["servers"]) and spec["servers"] == [{"url": "/"}]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"414", "431"} <= set(operation["responses"]), (path, method)
    client = create_app(make_settings(tmp_path, public_url="https://advisor.example.com/")
                        ).test_client()
    spec = client.get("/openapi.json", headers={"Host": "evil.example"}).get_json()
    assert spec["servers"] == [{"url": "https://advisor.example.com"}]

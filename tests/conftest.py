"""Shared fixtures: the PostgreSQL server, isolated per test in a schema of its own.

PostgreSQL tests need the server named by ROLLBACK_ADVISOR_TEST_POSTGRES_URL (default: the
project machines' server, trust auth, database ``test``). When it does not answer they skip with
the reason, unless ROLLBACK_ADVISOR_REQUIRE_POSTGRES=1 (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("ROLLBACK_ADVISOR_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL at {postgres_base_url()} is not available: {reason}"
    if os.environ.get("ROLLBACK_ADVISOR_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " (ROLLBACK_ADVISOR_REQUIRE_POSTGRES=1)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections see only a fresh schema, dropped after the test."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
    except ImportError as exc:  # pragma: no cover - the test extra installs psycopg
        _unavailable(f"driver missing ({exc})")
    base = make_url(postgres_base_url())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "absent"
        admin.dispose()
        _unavailable(str(exc).strip().splitlines()[0])
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A fresh store's URL on each backend: SQLite in tmp_path, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return str(request.getfixturevalue("postgres_url"))

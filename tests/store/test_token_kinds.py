"""What each token row is (``api_tokens.kind``, migration 0013): rows stored before it get
their kind from the names the page gave them, on both backends, and the migrated database
matches the tables the store writes (``store/schema.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from rollback_advisor.store import Store
from rollback_advisor.store.service_tables import ServiceTables

from .revisions import at_revision

# name -> the kind an 0012 row of that name gets
OLD_ROWS = {
    "ci": "api",
    None: "api",
    "page session of ana": "session",
    "page session of token:0123456789ab": "session",
    "session from a one-time sign-in link": "session",
    "one-time sign-in link": "link",
    # only the page's exact names: these were made by `tokens create --name`
    "Page session of bob": "api",
    "my page session of x": "api",
    "one-time sign-in link (spare)": "api",
}


def _kinds(url: str) -> dict[str | None, str]:
    store = Store(url)  # migrates to head
    try:
        return {t.name: t.kind for t in ServiceTables(store).list_tokens()}
    finally:
        store.close()


def _schema_differences(engine: Engine) -> list[Any]:
    """What Alembic finds between the database and ``schema.metadata`` (server defaults on
    PostgreSQL only: SQLite reflects them as text that Alembic cannot always compare)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from rollback_advisor.store.schema import metadata

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "compare_server_default": conn.dialect.name == "postgresql"})
        return list(compare_metadata(context, metadata))


def test_migration_0013_gives_old_token_rows_their_kind(store_url: str) -> None:
    with at_revision(store_url, "0012") as conn:
        for i, name in enumerate(OLD_ROWS):
            conn.execute(text("INSERT INTO api_tokens (id, token_hash, scope, name, created_us)"
                              " VALUES (:id, :hash, 'read', :name, :at)"),
                         {"id": f"t{i:011d}", "hash": "0" * 64, "name": name, "at": i})
    assert _kinds(store_url) == OLD_ROWS
    engine = create_engine(store_url)
    try:
        assert _schema_differences(engine) == []
        with engine.connect() as conn:  # a row written without a kind is an API token
            conn.execute(text("INSERT INTO api_tokens (id, token_hash, scope, created_us) "
                              "VALUES ('new', :hash, 'read', 99)"), {"hash": "0" * 64})
            conn.commit()
            assert conn.execute(text("SELECT kind FROM api_tokens WHERE id = 'new'")).scalar() \
                == "api"
    finally:
        engine.dispose()


def test_migration_0013_downgrades_and_upgrades_again(store_url: str) -> None:
    """Down to 0012 drops the column and keeps the rows; up again gives them their kinds."""
    from alembic import command
    from sqlalchemy import inspect

    from rollback_advisor.store.migrate import alembic_config

    store = Store(store_url)
    tables = ServiceTables(store)
    tables.add_token(token_id="a", token_hash="0" * 64, scope="read", name="ci")
    tables.add_token(token_id="s", token_hash="0" * 64, scope="read",
                     name="page session of ci", kind="session")
    store.close()
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0012")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("api_tokens")}
            count = conn.execute(text("SELECT count(*) FROM api_tokens")).scalar()
        assert "kind" not in columns and count == 2
    finally:
        engine.dispose()
    assert _kinds(store_url) == {"ci": "api", "page session of ci": "session"}


def test_a_token_of_no_known_kind_is_refused(store_url: str) -> None:
    from rollback_advisor.errors import InvalidInput

    store = Store(store_url)
    try:
        with pytest.raises(InvalidInput, match="kind"):
            ServiceTables(store).add_token(token_id="x", token_hash="0" * 64, scope="read",
                                           kind="cookie")
        assert ServiceTables(store).list_tokens() == []
    finally:
        store.close()

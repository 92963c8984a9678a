"""Open a database at an older schema revision, to test what a migration does to its rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from sqlalchemy import Connection, create_engine

from rollback_advisor.store.migrate import alembic_config


@contextmanager
def at_revision(url: str, revision: str) -> Iterator[Connection]:
    """A connection (in a transaction committed on exit) to ``url`` migrated to ``revision``."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            yield conn
    finally:
        engine.dispose()

"""Bring a database to the newest schema with Alembic, on the store's own engine.

Run on every open: one read of Alembic's version table against ``SCHEMA_HEAD`` once at head,
so opening a current store imports no Alembic (issue 11: it cost every command ~0.2 s). Several
service instances may open one PostgreSQL store at once, so the upgrade takes an advisory lock
there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from ..store_reads import SCHEMA_HEAD

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x526F6C6C  # "Roll": one advisory lock id for schema upgrades
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str | None:
    """The head revision as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database): one plain read."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade(engine: Engine) -> None:
    """Upgrade to head unless already there (a read, so opening a current store is cheap)."""
    if current_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

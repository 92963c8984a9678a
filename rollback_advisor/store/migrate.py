"""Bring a database to the newest schema with Alembic, on the store's own engine.

Run on every open: a no-op once at head. Several service instances may open one PostgreSQL
store at once, so the upgrade takes an advisory lock there.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x526F6C6C  # "Roll": one advisory lock id for schema upgrades


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine) -> None:
    """Upgrade to head unless already there (a read, so opening a current store is cheap)."""
    target = head()
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == target:
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

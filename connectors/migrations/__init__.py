"""Schema migrations applied to application databases, read from each framework's history table.

Upstream docs are named in each reader: ``django``, ``flyway``, ``liquibase``, ``alembic`` and
``rails``. Databases are reached through SQLAlchemy URLs (any dialect whose driver is
installed; ``postgresql+psycopg://`` with the ``postgres`` extra).

Every migration becomes a DESIGN §1 change of kind ``migration`` on the configured graph node
(the datastore), ``source`` = the framework, id ``migrations:<db name>:<framework>:<external
id>``. Destructive operations (``rollback_advisor.sqlrisk``) make it ``reversible: false`` with
``details.irreversible_reason``; SQL, when the scripts are available, is in ``details.sql``;
failed migrations are ``status: failed``.

Cursor: ``{"databases": {<db name>: <reader state>}}``, one entry per configured database,
e.g. ``{"last_id": 655}`` (Django), ``{"installed_rank": 7, "schema_version": "3"}`` (Flyway),
``{"orderexecuted": 15}`` (Liquibase), ``{"heads": [...], "observed_at": ...}`` (Alembic),
``{"versions": [...], "observed_at": ...}`` (Rails). One batch per database, oldest first, so
a failure on the third database keeps what the first two gave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from connectors.base import Batch, ConnectorError, ConnectorUnavailable, Cursor, Progress
from rollback_advisor.timeutil import utc_now

from ._common import DatabaseConfig, MigrationsConfig, ReadResult, parse_config

try:
    from sqlalchemy import create_engine, exc
    from sqlalchemy.engine import Engine, make_url
except ImportError as _missing:  # pragma: no cover - SQLAlchemy is a core dependency
    raise ConnectorUnavailable("SQLAlchemy is not installed: pip install 'SQLAlchemy>=2'",
                               library="sqlalchemy") from _missing

from . import alembic, django, flyway, liquibase, rails

READERS: dict[str, ModuleType] = {"django": django, "flyway": flyway, "liquibase": liquibase,
                                  "alembic": alembic, "rails": rails}

__all__ = ["DatabaseConfig", "MigrationHistoryConnector", "MigrationsConfig", "parse_config"]


class MigrationHistoryConnector:
    """Read new rows of each configured database's migration history."""

    name = "migrations"

    def __init__(self, config: MigrationsConfig | Mapping[str, Any], *,
                 engines: Mapping[str, Engine] | None = None,
                 now: Callable[[], datetime] = utc_now, name: str = "migrations") -> None:
        """``engines`` (by database name) replace the ones built from URLs, e.g. in tests."""
        self.name = name
        self.config = (config if isinstance(config, MigrationsConfig)
                       else parse_config(config, f"connectors.{name}"))
        self._engines = dict(engines or {})
        self._now = now

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: Any = None, *,
                    name: str = "migrations") -> MigrationHistoryConnector:
        """Build from a raw config section; ``context.clients[name]`` may map db -> Engine."""
        clients = getattr(context, "clients", {}) or {}
        now = getattr(context, "now", utc_now)
        return cls(parse_config(section, f"connectors.{name}"), engines=clients.get(name),
                   now=now, name=name)

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        """One batch per database: the migrations applied since the cursor."""
        state: dict[str, Any] = {k: v for k, v in
                                 dict((cursor or {}).get("databases") or {}).items()}
        for db in self.config.databases:
            progress(f"{self.name}: reading {db.framework} history of {db.name}")
            result = self._read(db, state.get(db.name))
            state[db.name] = result.state
            yield Batch(changes=result.changes, cursor={"databases": dict(state)},
                        skipped=result.skipped, notes=result.notes)

    def _read(self, db: DatabaseConfig, previous: Mapping[str, Any] | None) -> ReadResult:
        reader = READERS[db.framework]
        owned = db.name not in self._engines
        where = _safe_url(db.url)
        try:
            engine = self._engines.get(db.name) or create_engine(db.url)
        except exc.NoSuchModuleError as err:
            raise ConnectorUnavailable(f"{self.name} {db.name}: no SQLAlchemy dialect for "
                                       f"{where} ({_line(err)})") from err
        except ModuleNotFoundError as err:
            raise ConnectorUnavailable(f"{self.name} {db.name}: the database driver for {where} "
                                       f"is not installed ({err.name})",
                                       library=err.name or "") from err
        except exc.ArgumentError as err:
            raise ConnectorError(f"{self.name} {db.name}: bad database url: {_line(err)}") \
                from err
        try:
            with engine.connect() as conn:
                return reader.read(conn, db, previous, self._now())  # type: ignore[no-any-return]
        except exc.SQLAlchemyError as err:
            raise ConnectorError(
                f"{self.name} {db.name}: cannot read {db.framework} history table {db.table} "
                f"at {where}: {_line(err)}") from err
        except ValueError as err:
            raise ConnectorError(f"{self.name} {db.name}: {err}") from err
        finally:
            if owned:
                engine.dispose()


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a url we cannot parse is shown redacted entirely
        return "(unparseable url)"


def _line(err: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's background link."""
    orig = getattr(err, "orig", None) or err
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__

"""What every migration framework reader shares: config, timestamps and the change they build.

A reader turns history rows (and, where present, the migration files) into DESIGN §1 changes of
kind ``migration`` on the configured datastore node. Destructive operations are found by
``rollback_advisor.sqlrisk`` (the same classifier the engine uses), so a migration marked
``reversible: false`` here carries the very sentence the engine will show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rollback_advisor.errors import ConfigError
from rollback_advisor.models import DEFAULT_ENVIRONMENT, Change, ChangeKind, ChangeStatus
from rollback_advisor.sqlrisk import destructive_operations
from rollback_advisor.timeutil import format_utc

from ..config import entries, optional_text, required_text, settings

FRAMEWORKS = ("django", "flyway", "liquibase", "alembic", "rails")
DEFAULT_TABLES = {"django": "django_migrations", "flyway": "flyway_schema_history",
                  "liquibase": "databasechangelog", "alembic": "alembic_version",
                  "rails": "schema_migrations"}
# A table name goes into SQL text (identifiers cannot be bound), so only plain names pass.
_TABLE = re.compile(r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$")
_MAX_SQL = 20_000  # characters of a script kept in details.sql; the rest is cut and flagged


@dataclass(frozen=True)
class DatabaseConfig:
    """One application database whose migration history is read."""

    name: str
    url: str
    framework: str
    service: str
    environment: str = DEFAULT_ENVIRONMENT
    scripts: Path | None = None
    table: str = ""
    # Flyway's installed_on and Liquibase's DATEEXECUTED are naive: they are the server's
    # local time, and only the operator knows which zone that is.
    timezone: tzinfo = UTC


@dataclass(frozen=True)
class MigrationsConfig:
    """The validated ``connectors.migrations`` section."""

    databases: tuple[DatabaseConfig, ...]


_DB_KEYS = {"name", "url", "framework", "service", "environment", "scripts", "table", "timezone"}


def parse_config(raw: Mapping[str, Any], prefix: str = "connectors.migrations") -> MigrationsConfig:
    """Validate a raw section; a ConfigError names the key, e.g. ``...databases[0].framework``."""
    raw = settings(prefix, raw, {"databases"})
    out: list[DatabaseConfig] = []
    for where, item in entries(prefix, raw, "databases", _DB_KEYS):
        texts = {key: required_text(where, item, key)
                 for key in ("name", "url", "framework", "service")}
        if texts["framework"] not in FRAMEWORKS:
            raise ConfigError(f"{where}.framework: got {texts['framework']!r}, expected one of "
                              + ", ".join(FRAMEWORKS))
        if any(db.name == texts["name"] for db in out):
            raise ConfigError(f"{where}.name: {texts['name']!r} is used twice")
        environment = optional_text(where, item, "environment", DEFAULT_ENVIRONMENT)
        scripts = item.get("scripts")
        if scripts is not None and (not isinstance(scripts, str) or not scripts):
            raise ConfigError(f"{where}.scripts: expected a directory path")
        table = item.get("table", DEFAULT_TABLES[texts["framework"]])
        if not isinstance(table, str) or not _TABLE.match(table):
            raise ConfigError(f"{where}.table: got {table!r}, expected a table name "
                              "(optionally schema.table)")
        zone_name = item.get("timezone", "UTC")
        try:
            zone: tzinfo = UTC if zone_name == "UTC" else ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}.timezone: got {zone_name!r}, expected an IANA zone "
                              "such as UTC or Europe/Berlin") from None
        out.append(DatabaseConfig(
            name=texts["name"], url=texts["url"], framework=texts["framework"],
            service=texts["service"], environment=str(environment),
            scripts=Path(scripts).expanduser() if scripts else None, table=table,
            timezone=zone))
    return MigrationsConfig(databases=tuple(out))


@dataclass
class ReadResult:
    """What one reader found in one database, and the cursor state that is true after it."""

    changes: list[Change]
    state: dict[str, Any]
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


def aware(value: object, zone: tzinfo, what: str) -> datetime:
    """A database timestamp as aware UTC; naive ones are read in the configured zone.

    SQLite hands back text, PostgreSQL a datetime (aware for ``timestamptz``).
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what}: unreadable timestamp {value!r}") from None
    else:
        raise ValueError(f"{what}: unreadable timestamp {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC)


@dataclass
class Content:
    """What the migration's own file says it does (absent when the file was not found)."""

    forward_text: str = ""       # the forward (upgrade) part only: what sqlrisk reads
    sql: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)  # risky but not provably destructive
    irreversible: list[str] = field(default_factory=list)  # the framework cannot undo it
    known: bool = False          # True when the whole forward part was read
    path: str | None = None


def build_change(db: DatabaseConfig, *, external_id: str, at: datetime,
                 summary: str, content: Content, started_at: datetime | None = None,
                 version: str | None = None, previous_version: str | None = None,
                 status: ChangeStatus = ChangeStatus.SUCCEEDED, author: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> Change:
    """One migration change; ``reversible`` follows from what its content shows.

    False when an operation is destructive or the framework cannot undo it; True when the
    whole forward part was read and is additive; None (unknown) otherwise.
    """
    destructive = destructive_operations(content.forward_text) if content.forward_text else []
    reasons = destructive + [r for r in content.irreversible if r not in destructive]
    if reasons:
        reversible: bool | None = False
    elif content.known and not content.cautions:
        reversible = True
    else:
        reversible = None
    details: dict[str, Any] = {"framework": db.framework, "database": db.name}
    if content.sql:
        details["sql"] = _cap(content.sql)
    if content.operations:
        details["operations"] = content.operations
    if destructive:
        details["destructive"] = destructive
    if reasons:
        details["irreversible_reason"] = "; ".join(reasons)
    if content.cautions:
        details["cautions"] = content.cautions
    if content.path:
        details["file"] = content.path
    details.update(extra or {})
    return Change(
        id=f"migrations:{db.name}:{db.framework}:{external_id}", kind=ChangeKind.MIGRATION,
        services=(db.service,), at=at, environment=db.environment,
        started_at=started_at if started_at is not None and started_at <= at else None,
        version=version, previous_version=previous_version, status=status,
        reversible=reversible, summary=summary[:300], author=author, source=db.framework,
        details=details)


def _cap(statements: Sequence[str]) -> list[str]:
    out: list[str] = []
    budget = _MAX_SQL
    for text in statements:
        if budget <= 0:
            out.append("-- (further statements cut)")
            break
        out.append(text if len(text) <= budget else text[:budget] + "\n-- (cut)")
        budget -= len(text)
    return out


def find_file(root: Path | None, candidates: Iterable[str]) -> Path | None:
    """The first of ``candidates`` (relative paths) under ``root``, else a same-named file."""
    if root is None or not root.is_dir():
        return None
    names = list(candidates)
    for rel in names:
        path = root / rel
        if path.is_file():
            return path
    wanted = {Path(rel).name for rel in names}
    for path in sorted(root.rglob("*")):
        if path.name in wanted and path.is_file():
            return path
    return None


def observed_window(previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """Details for a change whose application time is only known to lie between two syncs."""
    out: dict[str, Any] = {"at_is_observed": True, "observed_at": format_utc(now)}
    if previous and previous.get("observed_at"):
        out["applied_after"] = previous["observed_at"]
    return out


def previous_observation(previous: Mapping[str, Any] | None) -> datetime | None:
    """When the last sync looked: the earliest the newly seen migrations can have applied."""
    if not previous or not isinstance(previous.get("observed_at"), str):
        return None
    try:
        return aware(previous["observed_at"], UTC, "observed_at")
    except ValueError:
        return None


def millis(value: object) -> timedelta:
    try:
        return timedelta(milliseconds=max(0, int(value)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return timedelta(0)

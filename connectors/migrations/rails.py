"""Rails' ``schema_migrations`` table and, where available, ``db/migrate/*.rb``.

Upstream: https://guides.rubyonrails.org/active_record_migrations.html

``schema_migrations`` holds one ``version`` per applied migration and nothing else; the version
is the UTC time the migration *file was created* (``YYYYMMDDHHMMSS``), not when it ran, and
migrations from a merged branch run long after their version. So, as for Alembic, application
is detected by watching: the cursor keeps the versions seen and when. The first sync is a
baseline (no changes); later versions become changes with ``at`` = the observing sync,
``started_at`` = the previous sync and ``details.at_is_observed: true``; the creation time is
kept as ``details.created``. A version that disappears (``db:rollback``) is reported with
``details.direction: "down"``.

On PostgreSQL with ``track_commit_timestamp = on`` each row's commit time
(``pg_xact_commit_timestamp(xmin)``) is when that migration committed - Rails runs each in its
own transaction - and is used instead.

With ``scripts`` (``db/migrate``) the file ``<version>_<name>.rb`` is read: ``def down`` is cut
away and the rest (``change``/``up``) classified by sqlrisk (remove_column, drop_table,
change_column, rename_column, ``execute`` SQL ...); ``raise ActiveRecord::IrreversibleMigration``
makes it irreversible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from rollback_advisor.timeutil import format_utc

from ._common import (
    Content,
    DatabaseConfig,
    ReadResult,
    aware,
    build_change,
    observed_window,
    previous_observation,
)

_DOWN = re.compile(r"^([ \t]*)def\s+(?:self\.)?down\b.*?^\1end\b", re.MULTILINE | re.DOTALL)
_EXECUTE = re.compile(r"""\bexecute\s*\(?\s*(?:<<[~-]?(['"]?)(\w+)\1[^\n]*\n(.*?)^\s*\2\b"""
                      r"""|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""", re.MULTILINE | re.DOTALL)
_IRREVERSIBLE = re.compile(r"\bActiveRecord::IrreversibleMigration\b")
_CLASS = re.compile(r"^\s*class\s+(\w+)", re.MULTILINE)


def read(conn: Connection, db: DatabaseConfig, state: Mapping[str, Any] | None,
         now: datetime) -> ReadResult:
    """Compare the applied versions with the cursor's; emit what appeared or disappeared."""
    versions = sorted(str(v) for (v,) in conn.execute(text(f"SELECT version FROM {db.table}")))
    new_state = {"versions": versions, "observed_at": format_utc(now)}
    if state is None or "versions" not in state:
        return ReadResult(changes=[], state=new_state, notes=[
            f"migrations {db.name}: first sync recorded {len(versions)} applied Rails "
            "migration(s); migrations applied from now on become changes"])
    seen = {str(v) for v in state["versions"]}
    current = set(versions)
    committed = _commit_times(conn, db)
    since = previous_observation(state)
    changes = []
    for version in versions:
        if version in seen:
            continue
        content = _content(db, version)
        at = committed.get(version) or now
        window = ({"at_is_observed": False, "at_source": "pg_xact_commit_timestamp"}
                  if version in committed else observed_window(state, now))
        earlier = [v for v in versions if v < version]
        changes.append(build_change(
            db, external_id=version, at=at, started_at=None if version in committed else since,
            summary=f"Rails {version} {content.path and _title(content) or ''}".strip(),
            content=content, version=version, previous_version=earlier[-1] if earlier else None,
            extra={"direction": "up", "created": _created(version), **window}))
    for version in sorted(seen - current):
        changes.append(build_change(
            db, external_id=f"{version}:down@{format_utc(now)}", at=now, started_at=since,
            summary=f"Rails {version} rolled back", content=Content(),
            version=max(current) if current else None, previous_version=version,
            extra={"direction": "down", "created": _created(version),
                   **observed_window(state, now)}))
    return ReadResult(changes=changes, state=new_state)


def _created(version: str) -> str | None:
    try:
        return format_utc(datetime.strptime(version[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC))
    except ValueError:
        return None


def _title(content: Content) -> str:
    return content.operations[0] if content.operations else ""


def _content(db: DatabaseConfig, version: str) -> Content:
    if db.scripts is None or not db.scripts.is_dir():
        return Content()
    matches = sorted(db.scripts.rglob(f"{version}_*.rb"))
    if not matches:
        return Content()
    path = matches[0]
    source = path.read_text(encoding="utf-8", errors="replace")
    forward = _DOWN.sub("", source)
    sql = [next(g for g in m.groups()[2:] if g is not None) for m in _EXECUTE.finditer(forward)]
    content = Content(forward_text=forward, sql=sql, known=True, path=str(path))
    name = _CLASS.search(source)
    content.operations = [name.group(1)] if name else []
    if _IRREVERSIBLE.search(source):
        content.irreversible.append("raises ActiveRecord::IrreversibleMigration when "
                                    "rolled back")
    if re.search(r"\bexecute\b", forward) and not sql:
        content.known = False
    return content


def _commit_times(conn: Connection, db: DatabaseConfig) -> dict[str, datetime]:
    """Each row's commit time on PostgreSQL with track_commit_timestamp; else empty."""
    if conn.dialect.name != "postgresql":
        return {}
    try:
        if conn.execute(text("SELECT current_setting('track_commit_timestamp')")).scalar() != "on":
            return {}
        rows = conn.execute(text(
            f"SELECT version, pg_xact_commit_timestamp(xmin) AS at FROM {db.table}")).all()
    except Exception:  # noqa: BLE001 - an optional refinement; the observed time stands in
        return {}
    return {str(r.version): aware(r.at, db.timezone, "commit timestamp") for r in rows if r.at}

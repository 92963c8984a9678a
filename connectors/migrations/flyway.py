"""Flyway's ``flyway_schema_history`` table and, where available, the SQL scripts.

Upstream: https://documentation.red-gate.com/fd/flyway-schema-history-table-273973417.html

One change per row above the cursor's ``installed_rank`` (ranks only grow; a failed row removed
by ``flyway repair`` and applied again gets a new rank, hence a new change). Rows of type
BASELINE, SCHEMA and DELETE are bookkeeping, not migrations, and are skipped.

Timing: ``started_at`` = ``installed_on`` and ``at`` = ``installed_on + execution_time``.
On PostgreSQL ``installed_on`` defaults to ``now()``, the *start* of the transaction that ran
the script, so the schema change becomes visible at commit, about ``execution_time`` later;
on other databases ``installed_on`` is written just after the script and ``at`` is then late by
at most ``execution_time``. Both errors are as small as the migration is quick, and keeping
``started_at`` at the earlier bound means the engine never calls a migration "after onset"
when it may have begun before.

``success = false`` gives ``status: failed``. ``version`` is the row's version (the
description for a repeatable ``R__`` script); ``previous_version`` is the last successful
versioned row before it, the schema version a rollback would return to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from rollback_advisor.models import ChangeStatus

from ._common import Content, DatabaseConfig, ReadResult, aware, build_change, find_file, millis

_BOOKKEEPING = {"BASELINE", "SCHEMA", "DELETE"}


def read(conn: Connection, db: DatabaseConfig, state: Mapping[str, Any] | None,
         now: datetime) -> ReadResult:
    """Rows ranked above the cursor's ``installed_rank``, in rank order."""
    state = state or {}
    last = int(state.get("installed_rank", 0))
    current = state.get("schema_version")
    rows = conn.execute(text(
        "SELECT installed_rank, version, description, type, script, checksum, installed_by, "
        f"installed_on, execution_time, success FROM {db.table} "
        "WHERE installed_rank > :last ORDER BY installed_rank"), {"last": last}).all()
    changes, skipped = [], 0
    for row in rows:
        last = max(last, int(row.installed_rank))
        kind = str(row.type or "").upper()
        if kind in _BOOKKEEPING:
            if kind == "BASELINE" and row.version:
                current = str(row.version)
            skipped += 1
            continue
        started = aware(row.installed_on, db.timezone, f"{db.table}.installed_on")
        success = _truthy(row.success)
        version = str(row.version) if row.version is not None else None
        label = f"V{version}" if version else "repeatable"
        content = _content(db, str(row.script), kind)
        changes.append(build_change(
            db, external_id=str(row.installed_rank),
            started_at=started, at=started + millis(row.execution_time),
            summary=f"Flyway {label}: {row.description}" + ("" if success else " (failed)"),
            content=content, version=version or str(row.description),
            previous_version=current, author=row.installed_by,
            status=ChangeStatus.SUCCEEDED if success else ChangeStatus.FAILED,
            extra={"installed_rank": int(row.installed_rank), "script": row.script,
                   "type": kind, "checksum": row.checksum,
                   "execution_time_ms": int(row.execution_time or 0)}))
        if success and version:
            current = version
    return ReadResult(changes=changes, skipped=skipped,
                      state={"installed_rank": last, "schema_version": current})


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(value)


def _content(db: DatabaseConfig, script: str, kind: str) -> Content:
    """The script's SQL when it is a SQL migration found under ``scripts``."""
    if "SQL" not in kind or "JDBC" in kind:
        return Content()
    path = find_file(db.scripts, [script])
    if path is None:
        return Content()
    sql = path.read_text(encoding="utf-8", errors="replace")
    return Content(forward_text=sql, sql=[sql], known=True, path=str(path))

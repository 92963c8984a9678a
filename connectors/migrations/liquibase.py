"""Liquibase's ``DATABASECHANGELOG`` table.

Upstream: https://docs.liquibase.com/concepts/tracking-tables/databasechangelog-table.html

One change per changeset row above the cursor's ``ORDEREXECUTED`` (Liquibase numbers every
execution in order, because ``DATEEXECUTED`` can be too coarse to order by). ``at`` is
``DATEEXECUTED``, written when the changeset finished; it is naive, read in the configured
``timezone``. EXECTYPE maps as: EXECUTED -> succeeded; RERAN (a ``runOnChange`` changeset run
again, the row updated in place with a new ORDEREXECUTED) -> succeeded, with its own change id;
FAILED -> failed; SKIPPED and MARK_RAN -> not a change (nothing ran), counted as skipped.

The changeset identity is (ID, AUTHOR, FILENAME), hence the id
``migrations:<db>:liquibase:<FILENAME>::<ID>::<AUTHOR>``. Liquibase stores no SQL, but
DESCRIPTION lists the change types with their table and column
(``dropColumn columnName=coupon, tableName=orders``), which sqlrisk classifies. DESCRIPTION is
cut at 255 characters (ending in ``...``); a cut one, or one with a raw ``sql`` change, proves
nothing additive, so ``reversible`` then stays unknown unless something destructive is seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from rollback_advisor.models import ChangeStatus

from ._common import Content, DatabaseConfig, ReadResult, aware, build_change

_NOT_RUN = {"SKIPPED", "MARK_RAN"}
_OPAQUE = re.compile(r"(^|[;\s])(sql|sqlFile|customChange|executeCommand)\b", re.IGNORECASE)
_NO_OP = {"empty", "tagDatabase"}


def read(conn: Connection, db: DatabaseConfig, state: Mapping[str, Any] | None,
         now: datetime) -> ReadResult:
    """Changesets executed after the cursor's ORDEREXECUTED, in execution order."""
    last = int((state or {}).get("orderexecuted", 0))
    rows = conn.execute(text(
        "SELECT ID AS id, AUTHOR AS author, FILENAME AS filename, DATEEXECUTED AS dateexecuted, "
        "ORDEREXECUTED AS orderexecuted, EXECTYPE AS exectype, DESCRIPTION AS description, "
        "COMMENTS AS comments, TAG AS tag, LIQUIBASE AS liquibase "
        f"FROM {db.table} WHERE ORDEREXECUTED > :last ORDER BY ORDEREXECUTED"),
        {"last": last}).all()
    changes, skipped = [], 0
    for row in rows:
        last = max(last, int(row.orderexecuted))
        exectype = str(row.exectype or "").upper()
        description = str(row.description or "")
        if exectype in _NOT_RUN or description.strip() in _NO_OP:
            skipped += 1
            continue
        identity = f"{row.filename}::{row.id}::{row.author}"
        if exectype == "RERAN":
            identity += f"#rerun-{int(row.orderexecuted)}"
        operations = [p.strip() for p in description.split(";") if p.strip()]
        cut = description.rstrip().endswith("...")
        content = Content(forward_text=description, operations=operations,
                          known=bool(operations) and not cut and not _OPAQUE.search(description))
        failed = exectype == "FAILED"
        changes.append(build_change(
            db, external_id=identity,
            at=aware(row.dateexecuted, db.timezone, f"{db.table}.DATEEXECUTED"),
            summary=f"Liquibase {row.id} ({_short(str(row.filename))}): {description}"
            + (" (failed)" if failed else ""),
            content=content, version=str(row.id), author=row.author,
            status=ChangeStatus.FAILED if failed else ChangeStatus.SUCCEEDED,
            extra={"changeset": {"id": row.id, "author": row.author, "filename": row.filename},
                   "orderexecuted": int(row.orderexecuted), "exectype": exectype,
                   "comments": row.comments or None, "tag": row.tag or None,
                   "liquibase": row.liquibase, "description_cut": cut}))
    return ReadResult(changes=changes, skipped=skipped, state={"orderexecuted": last})


def _short(filename: str) -> str:
    return filename.rsplit("/", 1)[-1]

"""``changes.version``, indexed: what the redeploy rule (a deploy of a version live before the
current one is a rollback) asks of a whole batch in one query. Filled from the documents.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from rollback_advisor.store.migrations.paging import pages

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("version", sa.String(256)))
    bind = op.get_bind()
    table = sa.table("changes", sa.column("id", sa.String), sa.column("doc", sa.Text),
                     sa.column("version", sa.String))
    stmt = table.update().where(table.c.id == sa.bindparam("change_id")).values(
        version=sa.bindparam("v"))
    for chunk in pages(bind, table.c.id, table.c.doc, start=""):
        rows = [{"change_id": i, "v": json.loads(doc).get("version")} for i, doc in chunk]
        # a version the column cannot hold (stored before the limit) stays out of the rule
        rows = [r for r in rows if isinstance(r["v"], str) and len(r["v"]) <= 256
                and "\x00" not in r["v"]]
        if rows:
            bind.execute(stmt, rows)
    op.create_index("ix_changes_version", "changes", ["version"])


def downgrade() -> None:
    op.drop_index("ix_changes_version", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("version")

"""Who created each change (``changes.owner``): only its creator may update it (issue #10).

``hook:<hook id>`` for a change a hook delivery created, ``sync:<connector section>`` for one
a sync created, ``import`` for ``import`` and ``demo``. Existing rows that a hook stored say so
in their document (``details.delivery.hook``) and get that hook as owner; the rest came from
sync or import and stay NULL ("created before owners were recorded"): the next sync that
updates such a row takes it over, a hook may not (see docs/service.md, "Who may update a
change").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from rollback_advisor.store.migrations.paging import pages

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("owner", sa.String(128)))
    bind = op.get_bind()
    table = sa.table("changes", sa.column("id", sa.String), sa.column("doc", sa.Text),
                     sa.column("owner", sa.String))
    stmt = table.update().where(table.c.id == sa.bindparam("change_id")).values(
        owner=sa.bindparam("hook"))
    # Decoded here rather than by the database: PostgreSQL's JSONB refuses a document holding
    # an escaped NUL, which older versions stored. Only documents that mention a delivery
    # are read: most stores hold many more synced or imported changes than delivered ones.
    mentions = table.c.doc.like('%"delivery"%')
    for chunk in pages(bind, table.c.id, table.c.doc, start="", where=mentions):
        rows = []
        for change_id, doc in chunk:
            ref = (json.loads(doc).get("details") or {}).get("delivery")
            if isinstance(ref, dict) and isinstance(ref.get("hook"), str):
                rows.append({"change_id": change_id, "hook": f"hook:{ref['hook']}"[:128]})
        if rows:
            bind.execute(stmt, rows)


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("owner")

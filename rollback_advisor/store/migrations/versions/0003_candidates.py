"""What the engine's numeric pass reads, as columns and a covering index over them.

The recommendation path scores every change of a 24 h window; reading these columns instead of
decoding each stored document is what keeps it fast on a busy day. Existing rows are filled
from their documents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from rollback_advisor.models import change_from_dict
from rollback_advisor.store.columns import candidate_columns

BATCH = 5000  # rows per executemany: a store of a million changes migrates in minutes
# The covering index as this revision made it (0004 adds scope): frozen, not the current one.
WINDOW_INDEX = ("environment", "at_us", "start_us", "id", "kind", "status", "services",
                "rollout_pct", "destructive")
FILLED = ("services", "rollout_pct", "destructive")
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("services", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("rollout_pct", sa.Float))
        batch.add_column(sa.Column("destructive", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    bind = op.get_bind()
    table = sa.table("changes", sa.column("id", sa.String), sa.column("doc", sa.Text),
                     sa.column("services", sa.Text), sa.column("rollout_pct", sa.Float),
                     sa.column("destructive", sa.Boolean))
    stmt = table.update().where(table.c.id == sa.bindparam("change_id")).values(
        services=sa.bindparam("services"), rollout_pct=sa.bindparam("rollout_pct"),
        destructive=sa.bindparam("destructive"))
    last = ""
    while True:  # pages by id, so no cursor stays open over the rows being updated
        chunk = bind.execute(sa.select(table.c.id, table.c.doc).where(table.c.id > last)
                             .order_by(table.c.id).limit(BATCH)).all()
        if not chunk:
            break
        rows = []
        for change_id, doc in chunk:
            columns = candidate_columns(change_from_dict(json.loads(doc)))
            rows.append({"change_id": change_id, **{k: columns[k] for k in FILLED}})
        bind.execute(stmt, rows)
        last = chunk[-1][0]
    # A covering index: the window query reads index pages in time order instead of one table
    # page per candidate (rows arrive in any time order, so their pages are scattered).
    op.drop_index("ix_changes_env_at", table_name="changes")
    op.create_index("ix_changes_window", "changes", list(WINDOW_INDEX))


def downgrade() -> None:
    op.drop_index("ix_changes_window", table_name="changes")
    op.create_index("ix_changes_env_at", "changes", ["environment", "at_us"])
    with op.batch_alter_table("changes") as batch:
        for column in ("destructive", "rollout_pct", "services"):
            batch.drop_column(column)

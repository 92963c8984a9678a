"""Where a change took effect (DESIGN §1 ``scope``), read by the engine's numeric pass.

A column of compact JSON beside the other candidate columns, and in the covering index, so the
window query still reads index pages only. No stored document has a scope yet (the field was
refused before this revision), so nothing needs filling.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The covering index before and after this revision: frozen here, whatever later ones do.
_OLD_INDEX = ("environment", "at_us", "start_us", "id", "kind", "status", "services",
              "rollout_pct", "destructive")
_NEW_INDEX = (*_OLD_INDEX, "scope")


def upgrade() -> None:
    op.drop_index("ix_changes_window", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("scope", sa.Text))
    op.create_index("ix_changes_window", "changes", list(_NEW_INDEX))


def downgrade() -> None:
    op.drop_index("ix_changes_window", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("scope")
    op.create_index("ix_changes_window", "changes", list(_OLD_INDEX))

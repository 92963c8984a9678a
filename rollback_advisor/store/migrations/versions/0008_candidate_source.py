"""The change's source among the candidate columns, and verdicts (issue #8).

Learnt priors are per (kind, source), so the engine's numeric pass reads ``source`` with the
other candidate columns: it joins the covering index, and the window query stays index-only.
The column itself is as old as the table (0001), so nothing needs filling.

``verdicts``: responders' verdicts, one per (incident, change) (``change_key`` is the change
id, or "" for a verdict naming none, so the key has no NULL in it), each with the kind and
source of its change as they were when it was recorded.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The covering index before and after this revision: frozen here, whatever later ones do.
_OLD_INDEX = ("environment", "at_us", "start_us", "id", "kind", "status", "services",
              "rollout_pct", "destructive", "scope")
_NEW_INDEX = (*_OLD_INDEX, "source")


def upgrade() -> None:
    op.drop_index("ix_changes_window", table_name="changes")
    op.create_index("ix_changes_window", "changes", list(_NEW_INDEX))
    op.create_table(
        "verdicts",
        sa.Column("incident", sa.String(256), primary_key=True),
        sa.Column("change_key", sa.String(512), primary_key=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("by", sa.String(256), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("kind", sa.String(32)),
        sa.Column("source", sa.String(128)),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verdicts")
    op.drop_index("ix_changes_window", table_name="changes")
    op.create_index("ix_changes_window", "changes", list(_OLD_INDEX))

"""Changes, their services, the graph, store metadata and sync cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("environment", sa.String(128), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("start_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("is_global", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(128)),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("ingested_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_changes_env_at", "changes", ["environment", "at_us"])
    op.create_table(
        "change_services",
        sa.Column("change_id", sa.String(512),
                  sa.ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("service", sa.String(512), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("environment", sa.String(128), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_change_services_lookup", "change_services",
                    ["service", "environment", "kind", "at_us"])
    op.create_index("ix_change_services_at", "change_services", ["service", "at_us"])
    op.create_table(
        "graphs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("sync_cursors", "store_meta", "graphs", "change_services", "changes"):
        op.drop_table(table)

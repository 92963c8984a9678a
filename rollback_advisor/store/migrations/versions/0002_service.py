"""The HTTP service: CI deploy hooks, API tokens and raw hook deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hooks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("mapping", sa.Text, nullable=False),
        sa.Column("environment", sa.String(128)),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_us", sa.BigInteger),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_us", sa.BigInteger),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("hook_id", sa.String(64), sa.ForeignKey("hooks.id"), nullable=False),
        sa.Column("delivery_key", sa.String(256), nullable=False),
        sa.Column("event", sa.String(128), nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("change_ids", sa.Text, nullable=False),
        sa.UniqueConstraint("hook_id", "delivery_key", name="uq_deliveries_hook_key"),
    )
    op.create_index("ix_deliveries_hook_received", "deliveries", ["hook_id", "received_us"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_hook_received", "deliveries")
    for table in ("deliveries", "api_tokens", "hooks"):
        op.drop_table(table)

"""Scheduled syncs: one ``sync_state`` row per connector source (lease, next run, outcomes).

The lease is a row, not an advisory lock, so it works the same on SQLite and PostgreSQL and
expires by itself: a holder killed mid-sync stops renewing it and another process takes the
source over once ``lease_expires_us`` has passed (issue #12).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(128)),
        sa.Column("lease_expires_us", sa.BigInteger, nullable=False),
        sa.Column("next_run_us", sa.BigInteger, nullable=False),
        sa.Column("last_attempt_us", sa.BigInteger),
        sa.Column("last_success_us", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_us", sa.BigInteger),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("auth_failures", sa.Integer, nullable=False),
        sa.Column("paused", sa.Text),
        sa.Column("last_seconds", sa.Float),
        sa.Column("last_changes", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("sync_state")

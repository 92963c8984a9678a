"""The advice an incident owes: set with the delivery that triggers it, cleared with the advice.

A worker killed between storing an alert and storing its advice used to leave the incident
without advice for good (a redelivery is a duplicate, a repeated alert triggers nothing). The
marker lets the next delivery of the group make it good, exactly once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("advice_due", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("advice_due")

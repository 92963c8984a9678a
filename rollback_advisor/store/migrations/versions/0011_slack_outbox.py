"""The Slack outbox: incident advice and verdicts waiting to be posted, and where each
incident's message is (issue #8).

``slack_outbox`` holds one row per message to send; UNIQUE ``key`` (the advice row, the
verdict) keeps a message from being queued twice. A poster claims a row by a conditional
UPDATE of ``claimed_until_us`` (a lease, the same on SQLite and PostgreSQL), and a failed send
sets ``next_attempt_us`` (the back-off). ``slack_posts`` keeps the channel and ``ts`` of each
incident's first message (and what it showed), for replies in its thread and ``chat.update``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "slack_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", _ID, sa.ForeignKey("incidents.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_until_us", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_us", sa.BigInteger),
        sa.Column("channel", sa.String(64)),
        sa.Column("ts", sa.String(64)),
        sa.UniqueConstraint("key", name="uq_slack_outbox_key"),
    )
    op.create_index("ix_slack_outbox_pending", "slack_outbox", ["sent_us", "incident_id", "id"])
    op.create_table(
        "slack_posts",
        sa.Column("incident_id", _ID, sa.ForeignKey("incidents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("ts", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("posted_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_posts")
    op.drop_index("ix_slack_outbox_pending", "slack_outbox")
    op.drop_table("slack_outbox")

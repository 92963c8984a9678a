"""Incidents opened by alerts, their alerts and the history of their advice (issue #8).

``incidents`` holds one row per incident; UNIQUE (hook_id, external_sha256), the digest of the
alert group key, is what keeps a redelivered or concurrently delivered group from opening a
second incident. ``incident_alerts`` keeps each alert of the group as last reported (the
symptoms are derived from it); ``incident_advice`` keeps every advice computed, oldest first.
``hooks.labels`` holds an alert hook's label overrides (JSON, NULL for none);
``hooks.vendor_secret`` a signing secret the vendor generated (PagerDuty's), encrypted with a
key derived from the server key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                     autoincrement=True)


def upgrade() -> None:
    with op.batch_alter_table("hooks") as batch:
        batch.add_column(sa.Column("labels", sa.Text))
        batch.add_column(sa.Column("vendor_secret", sa.Text))
    op.create_table(
        "incidents", _id(),
        sa.Column("title", sa.String(512)),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("environment", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_us", sa.BigInteger),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("hook_id", sa.String(64)),
        sa.Column("external_id", sa.Text),
        sa.Column("external_sha256", sa.String(64)),
        sa.Column("url", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("hook_id", "external_sha256", name="uq_incidents_hook_external"),
    )
    op.create_index("ix_incidents_status_started", "incidents", ["status", "started_us"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("node", sa.String(512)),
        sa.Column("known", sa.Boolean, nullable=False),
        sa.Column("firing", sa.Boolean, nullable=False),
        sa.Column("starts_us", sa.BigInteger, nullable=False),
        sa.Column("ends_us", sa.BigInteger),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_table(
        "incident_advice", _id(),
        sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16)),
        sa.Column("confidence", sa.Float),
        sa.Column("change_id", sa.String(512)),
        sa.Column("error", sa.Text),
        sa.Column("advice", sa.Text),
    )
    op.create_index("ix_incident_advice_incident", "incident_advice", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_incident_advice_incident", "incident_advice")
    op.drop_table("incident_advice")
    op.drop_table("incident_alerts")
    op.drop_index("ix_incidents_status_started", "incidents")
    op.drop_table("incidents")
    with op.batch_alter_table("hooks") as batch:
        batch.drop_column("vendor_secret")
        batch.drop_column("labels")

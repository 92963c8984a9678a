"""De-duplicate deliveries on a digest of the whole key, not its first 256 characters.

Keys were cut to 256 characters, so two deliveries whose keys shared that prefix were taken
for one and the second dropped (issue #10). ``key_sha256`` (hex SHA-256 of the whole key) is
now UNIQUE per hook, and ``delivery_key`` keeps the whole key (TEXT). Existing rows get the
digest of the key as stored: a cut key then stands for itself, as it did before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

from rollback_advisor.store.migrations.paging import pages

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("key_sha256", sa.String(64)))
    bind = op.get_bind()
    table = sa.table("deliveries", sa.column("id", sa.BigInteger),
                     sa.column("delivery_key", sa.String), sa.column("key_sha256", sa.String))
    stmt = table.update().where(table.c.id == sa.bindparam("row_id")).values(
        key_sha256=sa.bindparam("digest"))
    for chunk in pages(bind, table.c.id, table.c.delivery_key, start=0):
        bind.execute(stmt, [{"row_id": i, "digest": hashlib.sha256(k.encode()).hexdigest()}
                            for i, k in chunk])
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("key_sha256", existing_type=sa.String(64), nullable=False)
        batch.alter_column("delivery_key", existing_type=sa.String(256), type_=sa.Text,
                           existing_nullable=False)
        batch.drop_constraint("uq_deliveries_hook_key", type_="unique")
        batch.create_unique_constraint("uq_deliveries_hook_key_sha256",
                                       ["hook_id", "key_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_hook_key_sha256", type_="unique")
        batch.alter_column("delivery_key", existing_type=sa.Text, type_=sa.String(256),
                           existing_nullable=False)
        batch.create_unique_constraint("uq_deliveries_hook_key", ["hook_id", "delivery_key"])
        batch.drop_column("key_sha256")

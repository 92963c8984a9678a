"""Who created each change (``changes.owner``): only its creator may update it (issue #10).

``hook:<hook id>`` for a change a hook delivery created, ``sync:<connector section>`` for one
a sync created, ``import`` for ``import`` and ``demo``. Existing rows that a hook stored say so
in their document (``details.delivery.hook``) and get that hook as owner; the rest came from
sync or import and stay NULL ("created before owners were recorded"): the next sync that
updates such a row takes it over, a hook may not (see docs/service.md, "Who may update a
change").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("owner", sa.String(128)))
    bind = op.get_bind()
    hook = ("'hook:' || (CAST(doc AS JSONB) #>> '{details,delivery,hook}')"
            if bind.dialect.name == "postgresql"
            else "'hook:' || json_extract(doc, '$.details.delivery.hook')")
    # Only documents that mention a delivery are decoded: most stores hold many more synced
    # or imported changes than hook-delivered ones.
    bind.execute(sa.text(f"UPDATE changes SET owner = {hook} "
                         "WHERE doc LIKE '%\"delivery\"%'"))


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("owner")

"""What each token row is (``api_tokens.kind``): ``api``, ``session`` or ``link``.

Every sign-in to the incident page mints a row of its own, and most people never sign out, so
``tokens list`` drowned the API tokens an operator made in page sessions. The kind is recorded
when a row is minted; rows stored before this have only their names, which the page gave them
(``rollback_advisor.web.page_auth``; copied here as they were, since a migration must not
change with that module): ``page session of <name>`` and ``session from a one-time sign-in
link`` are sessions, ``one-time sign-in link`` is a link, everything else an API token.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SESSION_PREFIX = "page session of "
_LINK_SESSION_NAME = "session from a one-time sign-in link"
_LINK_TOKEN_NAME = "one-time sign-in link"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="api"))
    tokens = sa.table("api_tokens", sa.column("name", sa.String),
                      sa.column("kind", sa.String))
    # substr and =, not LIKE: SQLite's LIKE ignores case, and the backfill must be the same
    # on both backends
    prefix = sa.func.substr(tokens.c.name, 1, len(_SESSION_PREFIX)) == _SESSION_PREFIX
    op.execute(tokens.update().where(sa.or_(prefix, tokens.c.name == _LINK_SESSION_NAME))
               .values(kind="session"))
    op.execute(tokens.update().where(tokens.c.name == _LINK_TOKEN_NAME).values(kind="link"))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("kind")

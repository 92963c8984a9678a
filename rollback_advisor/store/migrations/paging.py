"""What data migrations share: reading a table in pages by its key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

BATCH = 5000  # rows per page and per executemany: a million rows migrate in minutes


def pages(bind: sa.Connection, key: sa.ColumnClause[Any], *columns: sa.ColumnClause[Any],
          start: Any, where: Any = None) -> Iterator[list[tuple[Any, ...]]]:
    """(key, *columns) rows (those matching ``where``, if given) in pages by ``key`` from
    after ``start``: no cursor stays open over the rows the caller updates between pages."""
    last = start
    while True:
        stmt = sa.select(key, *columns).where(key > last)
        if where is not None:
            stmt = stmt.where(where)
        chunk = bind.execute(stmt.order_by(key).limit(BATCH)).all()
        if not chunk:
            return
        yield [tuple(row) for row in chunk]
        last = chunk[-1][0]

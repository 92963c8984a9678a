"""Bulk inserts on the DBAPI connection of a transaction the Store holds: what an import of
many changes spends its time in (issue 11).

The Store's statements go through SQLAlchemy, which processes every parameter of every row;
for a batch of a thousand new changes that costs more than the database's own work. Here the
same rows go straight to the driver, inside the same transaction:

- PostgreSQL: ``COPY`` (psycopg's ``cursor.copy``) into a temporary table, then one
  ``INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING RETURNING id``: ids already stored are
  left as they are and come back as duplicates, exactly as the row-by-row statement did, and
  the service rows of the new changes are copied straight into their table;
- SQLite: the first batch of a transaction by multi-row ``INSERT ... ON CONFLICT (id) DO
  NOTHING RETURNING id`` statements (as many rows as SQLite's parameter limit allows each),
  which takes SQLite's write lock; later ones read which ids are stored and ``executemany`` the
  others (no other writer can come between while the lock is held); ``executemany`` for the
  service rows.

Small batches (a hook's delivery, a sync page) keep the Store's own statements: a temporary
table is not worth it for a handful of rows.

PostgreSQL plans each batch's redeploy lookup (``Store.classify``: which of these versions were
live) from the tables' statistics, and a load inside one transaction leaves them behind: an
empty store has none, and the planner took ``version IN (1,000 values)`` for most of the table
and scanned it whole, so each batch cost more than the last (150,000 changes: 9,600/s for the
first 25,000, 2,100/s for the last). ``keep_statistics`` analyzes the two tables as the load
grows (ANALYZE sees the transaction's own rows), so the lookup stays an index scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

MIN_ROWS = 200  # below this, the Store's own statements
ANALYZE_FROM = 10_000  # rows written in the transaction before its first ANALYZE, then x2
_SQLITE_PARAMS = 32_000  # SQLite's default limit is 32,766 host parameters per statement
_TEMP = "ra_import_changes"


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def insert_changes(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert the ``changes`` rows whose id is not stored yet (each row a mapping of the same
    columns); the ids inserted."""
    columns = tuple(rows[0])
    return insert_change_values(conn, columns, _values(columns, rows))


def insert_change_values(conn: Connection, columns: Sequence[str],
                         values: Sequence[tuple[Any, ...]]) -> set[str]:
    """``insert_changes`` of rows given as tuples of ``columns`` (the first one ``id``)."""
    with _cursor(conn) as cursor:
        if conn.dialect.name == "postgresql":
            return _copy_changes(cursor, columns, values)
        return _sqlite_changes(cursor, columns, values)


def insert_services(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert service rows of changes this transaction inserted (none can exist yet)."""
    columns = tuple(rows[0])
    insert_service_values(conn, columns, _values(columns, rows))


def insert_service_values(conn: Connection, columns: Sequence[str],
                          values: Sequence[tuple[Any, ...]]) -> None:
    """``insert_services`` of rows given as tuples of ``columns``."""
    with _cursor(conn) as cursor:
        if conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY change_services ({_quoted(columns)}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO change_services ({_quoted(columns)}) "
                               f"VALUES ({marks})", values)


def _values(columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
            ) -> list[tuple[Any, ...]]:
    get = itemgetter(*columns)
    return [get(row) for row in rows] if len(columns) > 1 else [(get(row),) for row in rows]


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    """A cursor of the transaction's own DBAPI connection."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


_LIVE = ("SELECT change_services.service, change_services.environment, changes.version, "
         "changes.id FROM changes JOIN change_services ON change_services.change_id = changes.id "
         "WHERE changes.version {versions} AND changes.status = 'succeeded' "
         "AND change_services.kind IN ('deploy', 'rollback')")


def live_versions(conn: Connection, versions: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """(service, environment, version, id) of the stored succeeded deploys and rollbacks of
    ``versions``: ``Store.classify``'s one query per batch, on the driver (SQLAlchemy's
    expansion of a 500-value IN list cost more than the lookup)."""
    with _cursor(conn) as cursor:
        if conn.dialect.name == "postgresql":
            cursor.execute(_LIVE.format(versions="= ANY(%s)"), (list(versions),))
            return [tuple(row) for row in cursor.fetchall()]
        out: list[tuple[str, str, str, str]] = []
        for i in range(0, len(versions), _SQLITE_PARAMS):
            part = versions[i:i + _SQLITE_PARAMS]
            cursor.execute(_LIVE.format(versions=f"IN ({', '.join('?' * len(part))})"), part)
            out.extend(cursor.fetchall())
        return out


def keep_statistics(conn: Connection, written: int, analyzed: int) -> int:
    """ANALYZE ``changes`` and ``change_services`` (PostgreSQL) once ``written`` rows since the
    transaction began reach ANALYZE_FROM, then each time they double; the count last analyzed
    at."""
    if conn.dialect.name != "postgresql" or written < max(ANALYZE_FROM, 2 * analyzed):
        return analyzed
    conn.exec_driver_sql("ANALYZE changes, change_services")
    return written


def _copy_changes(cursor: Any, columns: Sequence[str],
                  values: Sequence[tuple[Any, ...]]) -> set[str]:
    # one temporary table per transaction, emptied for each batch
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_TEMP} "
                   "(LIKE changes INCLUDING DEFAULTS) ON COMMIT DROP")
    cursor.execute(f"TRUNCATE {_TEMP}")
    names = _quoted(columns)
    with cursor.copy(f"COPY {_TEMP} ({names}) FROM STDIN") as copy:
        for value in values:
            copy.write_row(value)
    cursor.execute(f"INSERT INTO changes ({names}) SELECT {names} FROM {_TEMP} "
                   "ON CONFLICT (id) DO NOTHING RETURNING id")
    return {row[0] for row in cursor.fetchall()}


def _sqlite_changes(cursor: Any, columns: Sequence[str],
                    values: Sequence[tuple[Any, ...]]) -> set[str]:
    if cursor.connection.in_transaction:
        return _sqlite_new_changes(cursor, columns, values)
    width = len(columns)
    per = max(1, _SQLITE_PARAMS // width)
    inserted: set[str] = set()
    for i in range(0, len(values), per):
        part = values[i:i + per]
        marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(part))
        cursor.execute(f"INSERT INTO changes ({_quoted(columns)}) VALUES {marks} "
                       "ON CONFLICT (id) DO NOTHING RETURNING id",
                       [v for row in part for v in row])
        inserted.update(row[0] for row in cursor.fetchall())
    return inserted


def _sqlite_new_changes(cursor: Any, columns: Sequence[str],
                        values: Sequence[tuple[Any, ...]]) -> set[str]:
    """Inside a write transaction (pysqlite began it at the first insert, which took SQLite's
    one write lock), no other writer can store an id between a read and an insert: read which
    ids are stored, then ``executemany`` the others (its prepared statement costs ~5 us a row
    less than a multi-row ``INSERT ... RETURNING``, and a file already imported writes nothing).
    ``values`` hold each id once (the callers keep the last of a chunk)."""
    ids = [v[0] for v in values]
    stored: set[str] = set()
    for i in range(0, len(ids), _SQLITE_PARAMS):
        part = ids[i:i + _SQLITE_PARAMS]
        cursor.execute(f"SELECT id FROM changes WHERE id IN ({', '.join('?' * len(part))})",
                       part)
        stored.update(row[0] for row in cursor.fetchall())
    new = [v for v in values if v[0] not in stored] if stored else values
    if new:
        cursor.executemany(f"INSERT INTO changes ({_quoted(columns)}) "
                           f"VALUES ({', '.join('?' * len(columns))})", new)
    return {v[0] for v in new}


__all__ = ["MIN_ROWS", "insert_change_values", "insert_changes", "insert_service_values",
           "insert_services", "keep_statistics", "live_versions"]

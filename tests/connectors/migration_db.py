"""Migration history tables built from the frameworks' own DDL (tests/fixtures/migrations), for
the migration connector tests and the end-to-end sync test."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "migrations"


def run_sql(url: str, statements: Iterable[str]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            if statement.strip():
                conn.execute(text(statement))
    engine.dispose()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def flyway_ddl(url: str) -> list[str]:
    name = "flyway.sqlite" if is_sqlite(url) else "flyway.postgresql"
    sql = (FIXTURES / f"{name}.createMetaDataTable.sql").read_text()
    sql = re.sub(r"^--.*$", "", sql, flags=re.MULTILINE)
    sql = sql.replace("${table}", "flyway_schema_history")
    sql = sql.replace('"${schema}".', "" if not is_sqlite(url) else '"main".')
    if not is_sqlite(url):
        sql = sql.replace('"main".', "")
    return sql.split(";")


def flyway_row(rank: int, version: str | None, description: str, script: str, installed_on: str,
               ms: int, success: bool, kind: str = "SQL") -> str:
    v = f"'{version}'" if version else "NULL"
    return ("INSERT INTO flyway_schema_history (installed_rank, version, description, type, "
            "script, checksum, installed_by, installed_on, execution_time, success) VALUES "
            f"({rank}, {v}, '{description}', '{kind}', '{script}', 1, 'deploy', "
            f"'{installed_on}', {ms}, {'TRUE' if success else 'FALSE'})")

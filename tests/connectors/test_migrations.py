"""Migration history connectors against real SQLite and PostgreSQL databases.

History tables are built from the frameworks' own DDL and real rows (tests/fixtures/migrations,
see SOURCES.md): Flyway's createMetaDataTable.sql, NetBox's django_migrations dump, 18F's Rails
structure.sql, Flowable's Liquibase SQL and Alembic's documented branch/merge SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from connectors.base import ConnectorError
from connectors.migrations import MigrationHistoryConnector
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import Change, ChangeKind, ChangeStatus, change_from_dict

from .migration_db import FIXTURES, flyway_ddl, flyway_row, is_sqlite, run_sql

T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("postgres_url"))


class Clock:
    """A settable clock, so 'observed' times are exact."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def connector(url: str, framework: str, clock: Callable[[], datetime] | None = None,
              **extra: Any) -> MigrationHistoryConnector:
    section = {"databases": [{"name": "orders", "url": url, "framework": framework,
                              "service": "orders-db", **extra}]}
    return MigrationHistoryConnector.from_config(section, _Context(clock or Clock()))


class _Context:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.now = clock
        self.clients: dict[str, Any] = {}


def sync(source: MigrationHistoryConnector,
         cursor: dict[str, Any] | None) -> tuple[list[Change], dict[str, Any], list[str]]:
    changes: list[Change] = []
    notes: list[str] = []
    for batch in source.fetch(cursor, lambda message: None):
        changes.extend(batch.changes)
        notes.extend(batch.notes)
        cursor = batch.cursor
    for change in changes:  # every change survives the import contract (DESIGN §1)
        assert change_from_dict(change.to_dict()).to_dict() == change.to_dict()
    assert cursor is not None
    return changes, cursor, notes


# --- Flyway ------------------------------------------------------------------------------------

def flyway_dryrun_insert() -> str:
    """The INSERT Flyway performs into its history table, from Flyway's own docs."""
    line = next(x for x in (FIXTURES / "flyway.dryrun-output.excerpt.sql").read_text()
                .splitlines() if x.startswith("INSERT INTO"))
    return line.replace('"PUBLIC".', "").rstrip(";")


def flyway_dryrun_insert_for(url: str) -> str:
    """The docs' INSERT ran on H2, where a boolean accepts 1; PostgreSQL wants TRUE."""
    insert = flyway_dryrun_insert()
    return insert if is_sqlite(url) else insert.replace(", 0, 1)", ", 0, TRUE)")


def test_flyway_history_becomes_changes_with_timing_status_and_risk(db_url: str) -> None:
    """Rows become migrations: started_at = installed_on, at = + execution_time; a failed row
    is failed; a script that drops a column is irreversible; the baseline is skipped."""
    run_sql(db_url, flyway_ddl(db_url) + [
        flyway_row(1, "1", "<< Flyway Baseline >>", "<< Flyway Baseline >>",
                   "2026-11-20 13:00:00", 0, True, kind="BASELINE"),
        flyway_dryrun_insert_for(db_url),
        "UPDATE flyway_schema_history SET installed_on = '2026-11-20 13:10:00' "
        "WHERE installed_rank = 2",
        flyway_row(3, "4", "Drop person nickname", "V4__Drop_person_nickname.sql",
                   "2026-11-20 13:30:00", 2500, True),
        flyway_row(4, "5", "Backfill", "V5__Backfill.sql", "2026-11-20 13:40:00", 90, False),
    ])
    source = connector(db_url, "flyway", scripts=str(FIXTURES / "flyway" / "sql"))
    changes, cursor, _ = sync(source, None)
    assert [c.id for c in changes] == ["migrations:orders:flyway:2", "migrations:orders:flyway:3",
                                       "migrations:orders:flyway:4"]
    couple, drop, failed = changes
    assert couple.kind is ChangeKind.MIGRATION and couple.services == ("orders-db",)
    assert couple.source == "flyway" and couple.version == "3" and couple.previous_version == "1"
    assert couple.at == datetime(2026, 11, 20, 13, 10, tzinfo=UTC)
    assert couple.reversible is True and "create table COUPLE" in couple.details["sql"][0]
    assert drop.started_at == datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    assert drop.at == drop.started_at + timedelta(milliseconds=2500)
    assert drop.reversible is False
    assert drop.details["irreversible_reason"] == "drops column PERSON.NICKNAME"
    assert failed.status is ChangeStatus.FAILED and failed.reversible is None
    assert failed.previous_version == "4"
    assert cursor == {"databases": {"orders": {"installed_rank": 4, "schema_version": "4"}}}

    run_sql(db_url, [flyway_row(5, "5", "Backfill", "V5__Backfill.sql",
                                "2026-11-20 13:50:00", 80, True)])
    again, cursor, _ = sync(source, cursor)
    assert [c.id for c in again] == ["migrations:orders:flyway:5"]
    assert again[0].previous_version == "4" and again[0].status is ChangeStatus.SUCCEEDED
    assert sync(source, cursor)[0] == []


def test_naive_timestamps_are_read_in_the_configured_zone(tmp_path: Path) -> None:
    """installed_on is the server's local time: timezone: Europe/Berlin shifts it to UTC."""
    url = f"sqlite:///{tmp_path / 'z.db'}"
    run_sql(url, flyway_ddl(url) + [flyway_row(1, "1", "init", "V1__init.sql",
                                               "2026-07-01 12:00:00", 0, True)])
    (change,), _, _ = sync(connector(url, "flyway", timezone="Europe/Berlin"), None)
    assert change.at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert change.reversible is None  # no scripts directory: content unknown


# --- Django ------------------------------------------------------------------------------------

def netbox_rows() -> list[tuple[int, str, str, str]]:
    dump = (FIXTURES / "netbox-demo-v4.2.django_migrations.excerpt.sql").read_text()
    block = dump.split("FROM stdin;\n", 1)[1].split("\n\\.", 1)[0]
    return [(int(i), app, name, applied) for i, app, name, applied in
            (line.split("\t") for line in block.splitlines())]


def netbox_ddl(url: str) -> list[str]:
    dump = (FIXTURES / "netbox-demo-v4.2.django_migrations.excerpt.sql").read_text()
    create = re.search(r"CREATE TABLE public\.django_migrations \(.*?\);", dump, re.DOTALL)
    identity = re.search(r"ALTER TABLE public\.django_migrations ALTER COLUMN id ADD GENERATED.*?"
                         r"\);", dump, re.DOTALL)
    assert create and identity
    statements = [create.group(0).replace("public.", "")]
    if not is_sqlite(url):
        statements.append(identity.group(0).replace("public.", ""))
    return statements


def insert_django(url: str, rows: list[tuple[int, str, str, str]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO django_migrations (id, app, name, applied) "
                          "VALUES (:id, :app, :name, :applied)"),
                     [{"id": i, "app": a, "name": n, "applied": t} for i, a, n, t in rows])
    engine.dispose()


def test_django_netbox_history_syncs_in_two_batches_as_it_was_applied(db_url: str) -> None:
    """NetBox's 2023 install then its 2024 upgrade: the second sync reads only the upgrade."""
    rows = netbox_rows()
    assert len(rows) == 655
    first = [r for r in rows if r[3].startswith("2023")]
    upgrade = [r for r in rows if not r[3].startswith("2023")]
    run_sql(db_url, netbox_ddl(db_url))
    insert_django(db_url, first)
    source = connector(db_url, "django", scripts=str(FIXTURES / "django"))
    changes, cursor, _ = sync(source, None)
    assert len(changes) == len(first)
    ct = next(c for c in changes if c.id == "migrations:orders:django:contenttypes."
              "0002_remove_content_type_name")
    assert ct.at == datetime(2023, 12, 29, 15, 44, 8, 535580, tzinfo=UTC)  # -05 offset kept
    assert ct.reversible is False
    assert ct.details["irreversible_reason"] == "drops contenttype.name"
    assert any("AlterField contenttype.name" in c for c in ct.details["cautions"])
    assert ct.previous_version == "contenttypes.0001"
    unknown = next(c for c in changes if c.id.endswith("dcim.0001_initial"))
    assert unknown.reversible is None and "sql" not in unknown.details

    insert_django(db_url, upgrade)
    later, cursor, _ = sync(source, cursor)
    assert [c.details["row_id"] for c in later] == [r[0] for r in upgrade]
    assert cursor == {"databases": {"orders": {"last_id": 655}}}
    prefix = next(c for c in later if c.id.endswith("ipam.0071_prefix_scope"))
    assert prefix.reversible is False  # a mass UPDATE; the reverse_sql's DROP is not read
    assert prefix.details["irreversible_reason"] == "rewrites every row of ipam_prefix"
    assert prefix.details["sql"] == ["UPDATE ipam_prefix SET scope_id = site_id"]
    ordering = next(c for c in later if c.id.endswith("wireless.0013_natural_ordering"))
    assert ordering.reversible is True and ordering.details["operations"][0].startswith(
        "migrations.AlterModelOptions(")


# --- Rails -------------------------------------------------------------------------------------

def rails_statements(url: str) -> list[str]:
    dump = (FIXTURES / "18F-e-manifest.structure.sql").read_text()
    create = re.search(r"CREATE TABLE schema_migrations \(.*?\);", dump, re.DOTALL)
    index = re.search(r"CREATE UNIQUE INDEX unique_schema_migrations .*?;", dump)
    assert create and index
    index_sql = index.group(0)
    if is_sqlite(url):  # SQLite has no "USING btree"
        index_sql = index_sql.replace(" USING btree", "")
    inserts = re.findall(r"INSERT INTO schema_migrations \(version\) VALUES \('\d+'\);", dump)
    return [create.group(0), index_sql, *inserts]


def test_rails_versions_are_observed_between_syncs(db_url: str) -> None:
    """The first sync is a baseline; a version applied later is a change observed at the next
    sync, with the previous sync as its earliest start and its file classified."""
    statements = rails_statements(db_url)
    late = [s for s in statements if "20160126213552" in s]
    run_sql(db_url, [s for s in statements if s not in late])
    clock = Clock(T0)
    source = connector(db_url, "rails", clock, scripts=str(FIXTURES / "rails" / "db" / "migrate"))
    changes, cursor, notes = sync(source, None)
    assert changes == [] and "first sync recorded" in notes[0]

    run_sql(db_url, late + ["INSERT INTO schema_migrations (version) VALUES ('20160201090000')"])
    clock.now = T0 + timedelta(minutes=5)
    changes, cursor, _ = sync(source, cursor)
    removal, addition = changes
    assert removal.id == "migrations:orders:rails:20160126213552"
    assert removal.at == T0 + timedelta(minutes=5) and removal.started_at == T0
    assert removal.details["at_is_observed"] is True
    assert removal.details["created"] == "2016-01-26T21:35:52Z"
    assert removal.reversible is False
    assert "drops column manifests.legacy_json" in removal.details["irreversible_reason"]
    assert "IrreversibleMigration" in removal.details["irreversible_reason"]
    assert removal.details["sql"] == ["UPDATE manifests SET activity_id = NULL"]
    assert addition.reversible is True and addition.previous_version == "20160126221849"

    run_sql(db_url, ["DELETE FROM schema_migrations WHERE version = '20160201090000'"])
    clock.now = T0 + timedelta(minutes=10)
    (down,), cursor, _ = sync(source, cursor)
    assert down.details["direction"] == "down" and down.previous_version == "20160201090000"
    assert sync(source, cursor)[0] == []


# --- Alembic -----------------------------------------------------------------------------------

def alembic_steps() -> list[list[str]]:
    """Alembic's documented SQL across a branch point and a merge, one step per upgrade."""
    create = (FIXTURES / "offline-mode-output.excerpt.sql.txt").read_text()
    create_sql = re.search(r"CREATE TABLE alembic_version \(.*?\);", create, re.DOTALL)
    assert create_sql
    steps: list[list[str]] = [[create_sql.group(0)]]
    for block in (FIXTURES / "branch-merge-alembic_version.excerpt.sql.txt").read_text().split(
            "-- Running upgrade")[1:]:
        steps.append([line.strip() for line in block.splitlines()[1:] if line.strip()])
    return steps


def test_alembic_heads_moving_through_a_branch_and_merge(db_url: str) -> None:
    """Each upgrade seen by a sync becomes a change at the observed time; a merge brings the
    other branch's revision along; an empty downgrade() makes a revision irreversible."""
    create, first, cart, column, merge = alembic_steps()
    run_sql(db_url, create + first)
    clock = Clock(T0)
    source = connector(db_url, "alembic", clock, scripts=str(FIXTURES / "alembic" / "versions"))
    changes, cursor, notes = sync(source, None)
    assert changes == [] and "1975ea83b712" in notes[0]
    assert cursor["databases"]["orders"]["heads"] == ["1975ea83b712"]

    run_sql(db_url, cart)
    clock.now = T0 + timedelta(minutes=3)
    (change,), cursor, _ = sync(source, cursor)
    assert change.id == "migrations:orders:alembic:27c6a30d7c24"
    assert change.at == T0 + timedelta(minutes=3) and change.started_at == T0
    assert change.details["at_is_observed"] is True
    assert change.previous_version == "1975ea83b712"
    assert change.summary == "Alembic 27c6a30d7c24: add shopping cart table"
    assert change.reversible is False
    assert change.details["irreversible_reason"] == ("rewrites every row of account; "
                                                     "downgrade() does nothing")
    assert change.details["sql"] == ["UPDATE account SET description = 'has cart'"]

    run_sql(db_url, column + merge)  # two upgrades between syncs
    clock.now = T0 + timedelta(minutes=9)
    changes, cursor, _ = sync(source, cursor)
    assert [c.version for c in changes] == ["ae1027a6acf", "53fffde5ad5"]
    added, merged = changes
    assert added.reversible is True  # the downgrade's drop_column is not read as the upgrade
    assert merged.previous_version == "ae1027a6acf+27c6a30d7c24"
    assert merged.reversible is True  # an empty merge point is not "irreversible"
    assert cursor["databases"]["orders"]["heads"] == ["53fffde5ad5"]
    assert sync(source, cursor)[0] == []


# --- Liquibase ---------------------------------------------------------------------------------

def liquibase_statements(url: str, table: str = "act_dmn_databasechangelog") -> list[str]:
    """Flowable's Liquibase-generated DDL and rows for one history table."""
    sql = (FIXTURES / "flowable.postgres.all.create.sql").read_text()
    lines = [line.rstrip(";") for line in sql.splitlines()
             if re.match(rf"(CREATE TABLE|INSERT INTO) {table} \(", line)]
    assert len(lines) > 2
    if is_sqlite(url):
        lines = [line.replace("NOW()", "'2022-12-21 18:21:46'") for line in lines]
    return lines


def liquibase_upgrade(table: str = "act_dmn_databasechangelog") -> list[str]:
    sql = (FIXTURES / "flowable.postgres.upgradestep.6.7.2.to.6.8.0.all.sql").read_text()
    return [line.rstrip(";").replace("NOW()", "'2022-12-21 18:30:00'") for line in
            sql.splitlines() if line.startswith(f"INSERT INTO {table} ")]


def test_liquibase_flowable_changesets_and_the_upgrade_step(db_url: str) -> None:
    """A Flowable 6.7.2 DMN history (the 6.8.0 create script less changeset 9) syncs; the
    6.7.2 -> 6.8.0 upgrade step's changeset 9 is new next time; MARK_RAN is skipped, FAILED is
    failed, dropColumn is irreversible."""
    upgrade = liquibase_upgrade()
    run_sql(db_url, [s for s in liquibase_statements(db_url) if "VALUES ('9'," not in s])
    source = connector(db_url, "liquibase", table="act_dmn_databasechangelog")
    changes, cursor, _ = sync(source, None)
    assert changes and all(c.source == "liquibase" for c in changes)
    first = changes[0]
    assert first.id == ("migrations:orders:liquibase:org/flowable/dmn/db/liquibase/"
                        "flowable-dmn-db-changelog.xml::1::activiti")
    assert first.author == "activiti" and first.reversible is True
    assert first.details["operations"][0] == "createTable tableName=ACT_DMN_DEPLOYMENT"
    last = cursor["databases"]["orders"]["orderexecuted"]
    assert last == len(changes)

    columns = ("ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, MD5SUM, DESCRIPTION, "
               "COMMENTS, EXECTYPE, CONTEXTS, LABELS, LIQUIBASE, DEPLOYMENT_ID")
    run_sql(db_url, upgrade + [
        f"INSERT INTO act_dmn_databasechangelog ({columns}) VALUES ('10', 'ops', 'ops.xml', "
        f"'2022-12-21 18:31:00', {last + 2}, NULL, 'dropColumn columnName=OLD_, "
        "tableName=ACT_DMN_DECISION', '', 'EXECUTED', NULL, NULL, '4.3.5', NULL)",
        f"INSERT INTO act_dmn_databasechangelog ({columns}) VALUES ('11', 'ops', 'ops.xml', "
        f"'2022-12-21 18:32:00', {last + 3}, NULL, 'sql', '', 'MARK_RAN', NULL, NULL, '4.3.5', "
        "NULL)",
        f"INSERT INTO act_dmn_databasechangelog ({columns}) VALUES ('12', 'ops', 'ops.xml', "
        f"'2022-12-21 18:33:00', {last + 4}, NULL, 'addColumn tableName=X', '', 'FAILED', NULL, "
        "NULL, '4.3.5', NULL)",
    ])
    changes, cursor, _ = sync(source, cursor)
    assert [c.version for c in changes] == ["9", "10", "12"]
    index, drop, failed = changes
    assert index.at == datetime(2022, 12, 21, 18, 30, tzinfo=UTC) and index.reversible is True
    assert drop.reversible is False
    assert drop.details["irreversible_reason"] == "drops column ACT_DMN_DECISION.OLD_"
    assert failed.status is ChangeStatus.FAILED
    assert cursor["databases"]["orders"]["orderexecuted"] == last + 4


# --- errors and config -------------------------------------------------------------------------

def test_missing_history_table_is_one_line_connector_error(tmp_path: Path) -> None:
    """Pointing a connector at a database without the table says which table and where."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(ConnectorError) as info:
        sync(connector(url, "flyway"), None)
    assert "flyway_schema_history" in info.value.message and "\n" not in info.value.message


@pytest.mark.postgres
def test_unreachable_postgres_is_one_line_connector_error() -> None:
    """A refused connection names the database, redacts the password, fits on one line."""
    url = "postgresql+psycopg://app:s3cret@127.0.0.1:1/none?connect_timeout=2"
    with pytest.raises(ConnectorError) as info:
        sync(connector(url, "django"), None)
    message = info.value.message
    assert "orders" in message and "s3cret" not in message and "\n" not in message


@pytest.mark.parametrize(("section", "key"), [
    ({"databases": [{"name": "a", "url": "sqlite://", "framework": "hibernate",
                     "service": "s"}]}, "connectors.migrations.databases[0].framework"),
    ({"databases": [{"name": "a", "url": "sqlite://", "framework": "django", "service": "s",
                     "colour": 1}]}, "connectors.migrations.databases[0].colour"),
    ({"databases": [{"name": "a", "url": "sqlite://", "framework": "django", "service": "s",
                     "table": "x; DROP TABLE y"}]}, "connectors.migrations.databases[0].table"),
    ({"databases": []}, "connectors.migrations.databases"),
    ({"dbs": []}, "connectors.migrations.dbs"),
])
def test_bad_config_names_the_key(section: dict[str, Any], key: str) -> None:
    """Unknown keys and bad values are refused with the key's full path."""
    with pytest.raises(ConfigError, match=re.escape(key)):
        MigrationHistoryConnector.from_config(section, None)

"""What the command line imports before it answers (issue 11): `--help` and `suspects` on a
current SQLite store must not pay for SQLAlchemy, Alembic, Flask or networkx. Each check runs in
a fresh interpreter and reads ``sys.modules``: the test suite's own imports do not count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from rollback_advisor.store_reads import SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "alembic", "flask", "networkx", "gunicorn", "gevent", "connectors",
         "rollback_advisor.web", "psycopg")
PROBE = """
import json, sys
from rollback_advisor.cli import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    sys.stdout.flush()
    print("\\n" + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages (and rollback_advisor.web) loaded by ``rollback-advisor ARGS``."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return {m for m in modules for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")}


def test_help_imports_no_database_web_or_graph_library() -> None:
    assert imported(["--help"]) == set()


def test_the_probe_sees_what_a_command_imports(tmp_path: Path) -> None:
    """Guard the guard: a command that opens the Store is seen importing SQLAlchemy."""
    env = {"ROLLBACK_ADVISOR_DATA_DIR": str(tmp_path)}
    assert "sqlalchemy" in imported(["changes"], env)


def test_suspects_on_a_current_sqlite_store_reads_it_with_sqlite3(tmp_path: Path) -> None:
    env = {"ROLLBACK_ADVISOR_DATA_DIR": str(tmp_path),
           "ROLLBACK_ADVISOR_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    imported(["demo"], env)
    incident = yaml.safe_load((ROOT / "rollback_advisor/demo/incident.yaml").read_text())
    for command in ("suspects", "recommend"):
        got = imported([command, incident["target"], "--at", incident["started_at"]], env)
        assert got == set(), f"{command} imported {sorted(got)}"


def test_schema_head_is_the_newest_migration() -> None:
    """The version read on open compares against SCHEMA_HEAD: it must be Alembic's head, or a
    new migration would never run (or a current store would be migrated on every open)."""
    from rollback_advisor.store.migrate import head

    assert head() == SCHEMA_HEAD


def test_help_lists_each_lazy_command_by_its_own_summary() -> None:
    """--help shows the lazy commands' kept summaries: they must read as the commands' own
    help would, at every width Click may cut them to."""
    import importlib

    import click

    from rollback_advisor.cli import _Group

    for name, (path, summary) in _Group.lazy.items():
        module, attr = path.split(":")
        command = getattr(importlib.import_module(module), attr)
        listed = click.Command(name, help=summary)  # what --help builds from the summary
        for limit in (30, 45, 80, 200):
            assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), name

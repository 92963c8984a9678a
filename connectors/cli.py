"""The ``rollback-advisor sync`` command.

It lives here, not in ``rollback_advisor.cli``, because the core must not import ``connectors``
(nor, through it, PyGithub or python-gitlab) when it loads: ``rollback_advisor.cli`` registers a
thin ``sync`` entry that imports this module only when the command runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from rollback_advisor.config import load_settings
from rollback_advisor.models import dumps
from rollback_advisor.store import open_store

from .sync import exit_code, run_sync


@click.command("sync")
@click.option("--source", "only", metavar="NAME",
              help="Run only this connectors section (a missing library is then an error).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def sync_command(ctx: click.Context, only: str | None, fmt: str) -> None:
    """Run the configured connectors and store the changes they find.

    Progress goes to stderr, the report to stdout. Exits 1 when any source failed; the others
    still ran and what they found is stored.
    """
    app: Any = ctx.find_root().obj
    if app is not None and hasattr(app, "store"):
        settings, store, close = app.settings, app.store(), None
    else:  # run on its own (tests, embedding): read the usual config and store
        settings = load_settings(None)
        store = open_store(settings.database_url, settings.data_path)
        close = store.close
    try:
        reports = run_sync(store, settings, only=only,
                           progress=lambda message: click.echo(message, err=True))
    finally:
        if close is not None:
            close()
    if fmt == "json":
        click.echo(dumps({"ok": exit_code(reports) == 0,
                          "sources": [r.to_dict() for r in reports]}))
    elif not reports:
        click.echo("no connectors configured: add a section under 'connectors:' "
                   "(see config.example.yaml)")
    else:
        for report in reports:
            click.echo(report.line())
            for note in report.notes:
                click.echo(f"  note: {note}")
    if exit_code(reports):
        sys.exit(1)


__all__ = ["sync_command"]

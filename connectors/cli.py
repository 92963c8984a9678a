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


@click.group("sync", invoke_without_command=True)
@click.option("--source", "only", metavar="NAME",
              help="Run only this connectors section (a missing library is then an error).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def sync_command(ctx: click.Context, only: str | None, fmt: str) -> None:
    """Run the configured connectors and store the changes they find.

    Progress goes to stderr, the report to stdout. Exits 1 when any source failed; the others
    still ran and what they found is stored. `sync status`, `sync resume` and `sync schedule`
    are about the scheduled syncs `serve` runs.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings, store, close = _open(ctx)
    try:
        reports = run_sync(store, settings, only=only,
                           progress=lambda message: click.echo(message, err=True))
        _record(store, reports)
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


def _record(store: Any, reports: list[Any]) -> None:
    """What this manual sync did, for `sync status` (a success lifts a pause)."""
    import time

    from rollback_advisor.store.sync_state import SyncStates

    states = SyncStates(store)
    for r in reports:
        if r.status != "skipped":
            states.record(r.source, now=time.time(), error=r.error if r.failed else None,
                          seconds=r.seconds, changes=r.added + r.updated)


def _open(ctx: click.Context) -> tuple[Any, Any, Any]:
    app: Any = ctx.find_root().obj
    if app is not None and hasattr(app, "store"):
        return app.settings, app.store(), None
    # run on its own (tests, embedding): read the usual config and store
    settings = load_settings(None)
    store = open_store(settings.database_url, settings.data_path)
    return settings, store, store.close


@sync_command.command("status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def status_command(ctx: click.Context, fmt: str) -> None:
    """Each source's scheduled syncs: last success, last error, lag, next run."""
    from .status import source_status

    settings, store, close = _open(ctx)
    try:
        rows = source_status(store, settings)
    finally:
        if close is not None:
            close()
    if fmt == "json":
        click.echo(dumps({"sources": rows}))
        return
    if not rows:
        click.echo("no connectors configured: add a section under 'connectors:' "
                   "(see config.example.yaml)")
    for row in rows:
        lag = "never" if row["lag_seconds"] is None else f"{row['lag_seconds']:.0f} s"
        click.echo(f"{row['source']}: {row['status']}; lag {lag}; next run "
                   f"{row['next_run'] or '-'}; every {row['interval_seconds']:.0f} s"
                   + ("; STALE" if row["stale"] else ""))
        click.echo(f"  {row['text']}")
        if row["last_error"]:
            click.echo(f"  last error ({row['last_error_at']}): {row['last_error']}")


@sync_command.command("resume")
@click.argument("name")
@click.pass_context
def resume_command(ctx: click.Context, name: str) -> None:
    """Un-pause source NAME (after fixing its credentials): it syncs at its next poll."""
    import time

    from rollback_advisor.store.sync_state import SyncStates

    settings, store, close = _open(ctx)
    try:
        if name not in (settings.connectors or {}):
            raise click.ClickException(f"no connectors.{name} section in the config")
        if not SyncStates(store).resume(name, now=time.time()):
            click.echo(f"{name}: has not been scheduled yet; nothing to resume")
            return
    finally:
        if close is not None:
            close()
    click.echo(f"{name}: resumed")


@sync_command.command("schedule")
@click.pass_context
def schedule_command(ctx: click.Context) -> None:
    """Run the scheduled syncs until stopped, in the foreground (``serve`` runs its own, with
    metrics: rollback_advisor/web/sync_process.py)."""
    import logging

    from .scheduler import run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s sync %(message)s")
    settings, store, close = _open(ctx)
    try:
        run_forever(store, settings)
    finally:
        if close is not None:
            close()


__all__ = ["sync_command"]

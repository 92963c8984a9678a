"""``rollback-advisor deliveries replay``: re-parse stored raw deliveries with today's parsers.

For after a parser fix (or a hook's new ``--map``): every delivery is stored with its raw body
and headers, so the changes it should have produced can be derived again and stored as its hook
would store them now (same owner, same update rules, same redeploy rule). Idempotent: a parse
that gives what is stored rewrites nothing, so a second replay reports no update. A delivery
that no longer parses, is now ignored, or names a change another source owns is reported and
left as it is; the others go on. Deliveries of alert hooks (``ALERT_SOURCES``) are skipped and
counted: they carry alerts that opened incidents, not changes, and re-applying them would
replay incident history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import click

from ..errors import Conflict, InvalidInput, NotFound
from ..store import ImportResult
from ..store.service_tables import HookRecord, ServiceTables, StoredDelivery, attach_delivery
from ..timeutil import parse_when, utc_now


@dataclass
class ReplayReport:
    """What a replay did: counts, and one line per delivery that changed or failed."""

    deliveries: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    refused: int = 0
    skipped: int = 0  # deliveries of alert hooks: not change deliveries
    lines: list[str] = field(default_factory=list)

    def add(self, result: ImportResult) -> None:
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.duplicates

    def summary(self) -> str:
        return (f"replayed {self.deliveries} deliveries: {self.inserted} changes inserted, "
                f"{self.updated} updated, {self.unchanged} unchanged; {self.ignored} now "
                f"ignored, {self.refused} refused"
                + (f"; {self.skipped} alert deliveries skipped" if self.skipped else ""))


def replay(tables: ServiceTables, context_for: Callable[[HookRecord], Any], *,
           hook_id: str | None = None, since: datetime | None = None,
           progress: Callable[[str], None] = lambda line: None) -> ReplayReport:
    """Re-parse and re-store the deliveries of ``hook_id`` (all hooks when None) received at
    or after ``since``, oldest first; ``context_for`` gives a hook's parser context, as the
    hook path builds it (``hooks.hook_context``)."""
    from connectors.hooks import ALERT_SOURCES, parser_for

    if hook_id is not None and tables.get_hook(hook_id) is None:
        raise NotFound(f"no hook {hook_id!r} (see 'rollback-advisor hooks list')")
    report = ReplayReport()
    hooks: dict[str, HookRecord | None] = {}
    since_us = int(since.timestamp() * 1_000_000) if since is not None else None
    for delivery in tables.iter_deliveries(hook_id=hook_id, since_us=since_us):
        report.deliveries += 1
        hook = hooks.setdefault(delivery.hook_id, tables.get_hook(delivery.hook_id))
        assert hook is not None  # deliveries.hook_id references hooks.id
        context = context_for(hook)
        where = _where(delivery)
        if hook.source in ALERT_SOURCES:
            report.skipped += 1
            _say(report, progress, f"{where}: skipped: a {hook.source} alert delivery, not "
                 "changes (alerts are not replayed)")
            continue
        try:
            parsed = parser_for(hook.source).parse(delivery.headers, delivery.body, context)
            if parsed.ignored is not None:
                report.ignored += 1
                _say(report, progress, f"{where}: now ignored ({parsed.ignored}); its "
                     "changes are left as stored")
                continue
            changes = attach_delivery(parsed.changes, hook.id, delivery.delivery_key)
            result = tables.restore_delivery(delivery, changes, parsed.stored_body)
        except (InvalidInput, Conflict) as exc:
            report.refused += 1
            _say(report, progress, f"{where}: refused: {exc.message}")
            continue
        report.add(result)
        if result.inserted or result.updated:
            _say(report, progress, f"{where}: {result.inserted} inserted, {result.updated} "
                 f"updated ({', '.join(c.id for c in changes)})")
    return report


def _where(delivery: StoredDelivery) -> str:
    key = delivery.delivery_key
    return f"hook {delivery.hook_id} delivery {delivery.id} ({key[:40]}{'...' * (len(key) > 40)})"


def _say(report: ReplayReport, progress: Callable[[str], None], line: str) -> None:
    report.lines.append(line)
    progress(line)


@click.group("deliveries")
def deliveries() -> None:
    """Stored raw hook deliveries."""


@deliveries.command("replay")
@click.option("--hook", "hook_id", help="Only this hook's deliveries (default: every hook).")
@click.option("--since", help="Only deliveries received at or after this time (RFC 3339, "
              "-7d, '2h ago').")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def replay_command(hook_id: str | None, since: str | None, fmt: str) -> None:
    """Re-parse stored deliveries with today's parsers and store what they give.

    Run after upgrading for a parser fix, or after changing a hook's mapping. Idempotent: a
    second run changes nothing.
    """
    from .cli import _app, _tables
    from .hooks import hook_context

    app = _app()
    when = parse_when(since, utc_now(), "--since") if since else None
    echo: Callable[[str], None] = click.echo if fmt == "text" else (lambda line: None)
    contexts: dict[str, Any] = {}

    def context_for(hook: HookRecord) -> Any:
        if hook.id not in contexts:
            contexts[hook.id] = hook_context(hook, app.settings, lambda: app.advisor().graph())
        return contexts[hook.id]

    report = replay(_tables(), context_for, hook_id=hook_id, since=when, progress=echo)
    if fmt == "json":
        out: dict[str, Any] = asdict(report)
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(report.summary())

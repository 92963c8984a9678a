"""``sync``: run the configured connectors and store what each found, batch by batch.

Each batch and the connector's cursor are stored in one transaction (``Store.sync_batch``), so a
crash or a failing vendor halfway keeps everything stored before it and the next run resumes from
there. A failing source is reported on one line and does not stop the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from rollback_advisor.config import Settings
from rollback_advisor.errors import AdvisorError, ConfigError, StoreError
from rollback_advisor.models import Change

from . import REGISTRY, ConnectorContext, is_enabled, load_connector


class SyncStore(Protocol):
    """The part of the store ``sync`` uses."""

    def get_cursor(self, source: str) -> dict[str, Any] | None: ...

    def sync_batch(self, source: str, items: list[Change], cursor: dict[str, Any]) -> Any: ...

    def load_graph(self) -> dict[str, Any] | None: ...


@dataclass
class SyncReport:
    """What one source did: counts for people, ``error`` set when it failed."""

    source: str
    connector: str
    status: str = "ok"  # ok | failed | skipped
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    batches: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    # the exception behind ``error``, for the scheduler's back-off and pause (not reported)
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, cause=None))
        del out["cause"]
        out["seconds"] = round(self.seconds, 3)
        return out

    def line(self) -> str:
        """One line a person reads: ``github: 3 added, 1 updated, 2 skipped (0.4 s)``."""
        if self.status == "failed":
            return f"{self.source}: failed: {self.error}"
        if self.status == "skipped":
            return f"{self.source}: skipped: {self.error}"
        return (f"{self.source}: {self.added} added, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.skipped} skipped ({self.seconds:.1f} s)")


def run_sync(store: SyncStore, settings: Settings, *, only: str | None = None,
             progress: Callable[[str], None] = lambda message: None,
             context: ConnectorContext | None = None) -> list[SyncReport]:
    """Run every configured connector (or only section ``only``) and store what it yields.

    Raises:
        ConfigError: ``only`` names no configured section.
        StoreError: the store failed; the remaining sources would fail the same way.
    """
    sections: Mapping[str, Mapping[str, Any]] = settings.connectors or {}
    if only is not None and only not in sections:
        known = ", ".join(sorted(sections)) or "none"
        raise ConfigError(f"--source {only}: no connectors.{only} section in the config "
                          f"(configured: {known})")
    warnings: list[str] = []
    base = context or ConnectorContext()
    ctx = replace(base, repo_map=base.repo_map or _repo_map(store), warn=warnings.append,
                  environments=base.environments or settings.environment_map)
    reports = []
    for name, section in sections.items():
        if only is not None and name != only:
            continue
        report = SyncReport(source=name, connector=str(section.get("connector", name)))
        started = time.perf_counter()
        try:
            _run_one(store, name, section, only, ctx, progress, warnings, report)
        except StoreError:
            raise
        except AdvisorError as exc:  # ConnectorError, ConfigError, InvalidInput: one line
            report.status, report.error, report.cause = "failed", exc.message, exc
        report.seconds = time.perf_counter() - started
        progress(report.line())
        reports.append(report)
    return reports


def _run_one(store: SyncStore, name: str, section: Mapping[str, Any], only: str | None,
             ctx: ConnectorContext, progress: Callable[[str], None], warnings: list[str],
             report: SyncReport) -> None:
    enabled = is_enabled(name, section)
    if enabled is False and only is None:
        report.status, report.error = "skipped", f"connectors.{name}.enabled is false"
        return
    explicit = bool(enabled) or only == name
    warnings.clear()
    connector = load_connector(name, section, explicit=explicit, context=ctx)
    if connector is None:
        report.status = "skipped"
        report.error = warnings[-1].removeprefix(f"skipped {name}: ") if warnings else (
            "connector unavailable")
        return
    cursor = store.get_cursor(name)
    progress(f"{name}: syncing" + (" (first sync)" if cursor is None else ""))
    for batch in connector.fetch(cursor, progress):
        result = store.sync_batch(name, list(batch.changes), dict(batch.cursor))
        report.batches += 1
        report.added += result.inserted
        report.updated += result.updated
        report.unchanged += result.duplicates
        report.skipped += batch.skipped + result.not_owned
        notes = list(batch.notes)
        if result.not_owned:
            notes.append(f"{result.not_owned} change(s) created by another source (a hook or "
                         "another section) left as stored: only their creator updates them")
        report.notes.extend(notes)
        for note in notes:
            progress(f"{name}: {note}")


def _repo_map(store: SyncStore) -> Mapping[str, str]:
    """The graph's ``repo:`` annotations, so deploys map to nodes without a ``map:`` key."""
    document = store.load_graph()
    if not document:
        return {}
    from rollback_advisor.graph import DependencyGraph

    return DependencyGraph.from_document(document).repo_map()


def exit_code(reports: list[SyncReport]) -> int:
    """1 when any source failed (so CI and cron notice), else 0."""
    return 1 if any(r.failed for r in reports) else 0


__all__ = ["REGISTRY", "SyncReport", "exit_code", "run_sync"]

"""What ``sync status``, ``GET /api/v1/sources``, ``/healthz`` and ``/metrics`` say about each
source: its schedule, last success, last error, lag (seconds since the last success) and next
run, read from the store's ``sync_state`` rows (one query)."""

from __future__ import annotations

import time
from typing import Any

from rollback_advisor.config import Settings
from rollback_advisor.store import Store
from rollback_advisor.store.sync_state import SourceState, SyncStates
from rollback_advisor.timeutil import format_utc

from .pull import ago, freshness
from .schedule import SourcePlan, plans


def _utc(epoch: float | None) -> str | None:
    from datetime import UTC, datetime

    return None if epoch is None else format_utc(datetime.fromtimestamp(epoch, UTC))


def stale_after(settings: Settings, plan: SourcePlan) -> float:
    """A source is stale when its last success is older than this many seconds."""
    return max(settings.sync.stale_after.total_seconds(), 3 * (plan.interval + plan.jitter))


def one_status(plan: SourcePlan, state: SourceState | None, settings: Settings,
               now: float) -> dict[str, Any]:
    fresh = freshness(plan.name, state, now)
    lag = (now - state.last_success) if state is not None and state.last_success else None
    running = state is not None and state.running(now)
    return {
        "source": plan.name, "connector": plan.connector, "status": fresh.status,
        "interval_seconds": plan.interval, "jitter_seconds": plan.jitter,
        "pull_before_advice": plan.pull_before_advice,
        "last_success": _utc(state.last_success) if state else None,
        "last_error": state.last_error if state else None,
        "last_error_at": _utc(state.last_error_at) if state else None,
        "lag_seconds": None if lag is None else round(lag, 3),
        "stale": lag is None or lag > stale_after(settings, plan),
        "next_run": _utc(state.next_run) if state and not state.paused else None,
        "running": running, "holder": state.holder if running and state else None,
        "failures": state.failures if state else 0,
        "paused": state.paused if state else None,
        "last_changes": state.last_changes if state else None,
        "last_seconds": state.last_seconds if state else None,
        "text": fresh.line,
    }


def source_status(store: Store, settings: Settings,
                  now: float | None = None) -> list[dict[str, Any]]:
    """Every planned source's status, in config order."""
    now = time.time() if now is None else now
    states = SyncStates(store).all()
    return [one_status(plan, states.get(name), settings, now)
            for name, plan in plans(settings).items()]


def stale_reasons(store: Store, settings: Settings, now: float | None = None) -> list[str]:
    """One reason per source whose last success is too old (or that never synced once it
    has been tried), for /healthz's "degraded"."""
    now = time.time() if now is None else now
    states = SyncStates(store).all()
    out = []
    for name, plan in plans(settings).items():
        state = states.get(name)
        limit = stale_after(settings, plan)
        if state is None or state.last_attempt is None:
            continue  # not tried yet: a service that just started is not degraded
        if state.last_success is None:
            if now - state.last_attempt > 0 and state.last_error:
                out.append(f"{name}: never synced: {state.last_error}")
            continue
        if now - state.last_success > limit:
            reason = f"{name}: last success {ago(now - state.last_success)} ago"
            if state.paused:
                reason += f" ({state.paused})"
            elif state.last_error:
                reason += f" (last error: {state.last_error})"
            out.append(reason)
    return out


__all__ = ["one_status", "source_status", "stale_after", "stale_reasons"]

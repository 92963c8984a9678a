"""Scheduled syncs: every configured source on its own interval, in the background.

APScheduler (3.x) runs the jobs: one interval job per source on its own thread pool
(``max_instances=1`` and ``coalesce``: a slow source never piles up runs, and one source backing
off or hanging never delays another), with APScheduler's jitter spreading the instances' polls.
We use it rather than a thread loop of our own for exactly those guarantees, plus misfire
handling and a clean shutdown.

The job only *asks* whether its source is due: the due time lives in the store
(``sync_state.next_run_us``, taken with the lease), so with several instances on one database
a source syncs once per interval whichever instance gets there first, and the job polls every
``tick`` (a sixth of the interval, between 1 and 30 s) so back-offs shorter than the interval
(a ``Retry-After: 10``) are honoured to within a tick.

Where it runs: ``serve`` starts one scheduler *process* per instance (``rollback-advisor sync
schedule``), not a thread in the gunicorn workers or master: gevent workers monkey-patch
threads into greenlets (a CPU-bound normaliser would stall requests), a master thread would be
copied into every fork, and a separate process behaves the same whatever the worker class.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from rollback_advisor.config import Settings
from rollback_advisor.errors import AdvisorError
from rollback_advisor.store import Store

from . import ConnectorContext
from .schedule import SourcePlan, SourceRunner, SyncObserver

log = logging.getLogger("rollback_advisor.sync")


def tick_for(plan: SourcePlan) -> float:
    """How often a source's job asks whether it is due."""
    return max(1.0, min(30.0, plan.interval / 6))


class SyncScheduler:
    """APScheduler jobs over one ``SourceRunner``; ``start`` returns, ``stop`` waits."""

    def __init__(self, store: Store, settings: Settings, *,
                 clock: Callable[[], float] = time.time,
                 context: ConnectorContext | None = None,
                 observe: SyncObserver | None = None,
                 ticks: Mapping[str, float] | None = None,
                 role: str = "scheduler") -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.runner = SourceRunner(store, settings, role=role, clock=clock, context=context,
                                   observe=observe)
        self.ticks = dict(ticks or {})
        workers = max(1, len(self.runner.plans))
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC")
        self.runs = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self.runner.ensure_rows()
        for name, plan in self.runner.plans.items():
            tick = self.ticks.get(name, tick_for(plan))
            self.scheduler.add_job(self._job, "interval", args=[name], id=name, name=name,
                                   seconds=tick, jitter=tick / 2, next_run_time=_utcnow())
        self.scheduler.start()

    def stop(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def _job(self, name: str) -> None:
        try:
            outcome = self.runner.run(name, due_only=True)
        except AdvisorError as exc:  # the store is down: try again next tick
            log.warning("sync %s: %s", name, exc.message)
            return
        if outcome.ran:
            with self._lock:
                self.runs += 1
            report = outcome.report
            log.info("%s", report.line() if report is not None else
                     f"{name}: retry in {outcome.retry_in:.0f} s")


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def run_forever(store: Store, settings: Settings, observe: SyncObserver | None = None,
                parent: int | None = None) -> None:
    """``sync schedule``: run the scheduler until SIGTERM/SIGINT, or (``parent``: the pid of
    ``serve``) until that process is gone, so a SIGKILLed ``serve`` leaves no orphan syncing."""
    scheduler = SyncScheduler(store, settings, observe=observe)
    scheduler.start()
    try:
        wait_for_stop(parent)
    finally:
        scheduler.stop(wait=False)


def wait_for_stop(parent: int | None = None) -> None:
    """Return on SIGTERM/SIGINT, or (``parent``) once that process is gone."""
    import os
    import signal

    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        if parent is not None and os.getppid() != parent:
            log.info("serve (pid %s) is gone: stopping", parent)
            break


__all__ = ["SyncScheduler", "run_forever", "tick_for", "wait_for_stop"]

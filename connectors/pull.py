"""A fresh pull before advice: sync the sources on the failing nodes' paths, under a deadline.

The deploy that matters most finished a minute before the question; a scheduled sync may not
have seen it yet. So before advising, each source that may hold a change on the incident's
paths gets an incremental sync (its lease taken like the scheduler's, ignoring the interval but
not a back-off or a pause: a vendor that said to wait is not asked again). The pulls run on a
small thread pool (greenlets under gevent workers, whose monkey-patching covers threads) and
the advice waits for them at most ``sync.pull_deadline``: a pull still running then finishes in
the background and the advice says so. Several requests in one process share a running pull.

Which sources: those with ``pull_before_advice`` (default: GitHub, GitLab, migrations) whose
repositories (the graph's ``repo:`` annotations of their vendor) include a node on the paths,
or that the graph gives no repositories for (it cannot tell, so they are pulled).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import UTC, datetime

from rollback_advisor.advisor import SourceFreshness
from rollback_advisor.config import Settings
from rollback_advisor.errors import AdvisorError, NotFound
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.store import Store
from rollback_advisor.store.sync_state import SourceState

from . import ConnectorContext
from .schedule import Outcome, SourcePlan, SourceRunner, SyncObserver

POLL_SECONDS = 0.05  # how often a pull waiting on another process's sync looks again
PAST_DEADLINE = "a sync is still running: past the deadline"


def ago(seconds: float) -> str:
    """``12 s``, ``4 min``, ``3 h``, ``2 d``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def freshness(name: str, state: SourceState | None, now: float, *, pulled: bool = False,
              pending: bool = False) -> SourceFreshness:
    """One source's freshness and the line a person reads."""
    if state is None or (state.last_success is None and state.last_error_at is None):
        status, line = ("syncing", f"{name}: first sync still running") if pending or (
            state is not None and state.running(now)) else ("never", f"{name}: never synced")
        if pending:
            line += f" ({PAST_DEADLINE})"
        return SourceFreshness(name, status, pulled=pulled, line=line)
    success, error_at = state.last_success, state.last_error_at
    failed_last = error_at is not None and (success is None or error_at > success)
    if state.paused:
        status, line = "paused", f"{name}: {state.paused}"
    elif failed_last and error_at is not None:
        status = "failed"
        line = f"{name}: last sync failed {ago(now - error_at)} ago: {state.last_error}"
        if success is not None:
            line += f" (last success {ago(now - success)} ago)"
    else:
        status = "ok"
        line = f"{name}: synced {ago(now - (success or now))} ago"
    if pending:
        line += f" ({PAST_DEADLINE})"
    return SourceFreshness(name, status, last_success=_dt(success),
                           last_error=state.last_error if failed_last or state.paused else None,
                           last_error_at=_dt(error_at) if failed_last else None,
                           pulled=pulled, line=line)


def path_services(graph: DependencyGraph, nodes: Iterable[str]) -> set[str]:
    """Every node the failing nodes depend on (and they themselves), with their services."""
    out: set[str] = set()
    for node in nodes:
        try:
            resolved = graph.resolve(node)
        except NotFound:
            continue
        reach = graph.reach_from(resolved)
        out.update(reach)
        out.update(graph.owner(n) for n in reach)
    return out


def relevant(plans: Mapping[str, SourcePlan], graph: DependencyGraph,
             nodes: Iterable[str]) -> list[str]:
    """The sources to pull before advising on ``nodes`` (see the module docstring)."""
    chosen = [p for p in plans.values() if p.pull_before_advice]
    if not chosen:
        return []
    on_path = path_services(graph, nodes)
    repo_map = graph.repo_map()
    out = []
    for plan in chosen:
        prefix = plan.connector.casefold() + ":"
        mapped = [node for key, node in repo_map.items() if key.startswith(prefix)]
        if not mapped or any(n in on_path or graph.owner(n) in on_path for n in mapped):
            out.append(plan.name)
    return out


@dataclass(frozen=True)
class PullResult:
    pulled: frozenset[str]  # finished (ran or found the source busy/backing off) in time
    pending: frozenset[str]  # still running at the deadline
    sources: tuple[SourceFreshness, ...]


class AdvicePuller:
    """Per process (one per web app): the runner, its thread pool and the pulls in flight."""

    def __init__(self, store: Store, settings: Settings, *,
                 clock: Callable[[], float] = time.time,
                 context: ConnectorContext | None = None,
                 observe: SyncObserver | None = None, threads: int = 8) -> None:
        self.settings = settings
        self.runner = SourceRunner(store, settings, role="advice", clock=clock,
                                   context=context, observe=observe)
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=threads,
                                        thread_name_prefix="advice-pull")
        self._inflight: dict[str, Future[Outcome]] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.runner.plans)

    def pull(self, graph: DependencyGraph, nodes: Iterable[str],
             deadline: float | None = None) -> PullResult:
        """Pull the relevant sources, wait at most ``deadline`` seconds (default
        ``sync.pull_deadline``), and report every source's freshness."""
        limit = (self.settings.sync.pull_deadline.total_seconds() if deadline is None
                 else deadline)
        names = relevant(self.runner.plans, graph, nodes)
        futures = {name: self._submit(name, graph.repo_map()) for name in names}
        done, _ = wait_for(list(futures.values()), timeout=limit) if futures else (set(), set())
        pulled = frozenset(n for n, f in futures.items() if f in done)
        pending = frozenset(futures) - pulled
        return PullResult(pulled, pending, self.sources(pulled, pending))

    def sources(self, pulled: frozenset[str] = frozenset(),
                pending: frozenset[str] = frozenset()) -> tuple[SourceFreshness, ...]:
        """Every planned source's freshness now (one query)."""
        try:
            states = self.runner.states.all()
        except AdvisorError:
            states = {}
        now = self.clock()
        return tuple(freshness(name, states.get(name), now, pulled=name in pulled,
                               pending=name in pending) for name in self.runner.plans)

    def _submit(self, name: str, repo_map: Mapping[str, str]) -> Future[Outcome]:
        with self._lock:
            running = self._inflight.get(name)
            if running is not None and not running.done():
                return running
            future = self._pool.submit(self._pull_one, name, repo_map)
            self._inflight[name] = future
            return future

    def _pull_one(self, name: str, repo_map: Mapping[str, str]) -> Outcome:
        """Sync ``name``; when another process is syncing it right now (the scheduler, another
        worker), wait for that sync instead (the deploy the question is about may be in it),
        at most a lease TTL. Requests wait on this for their own deadline only, and later
        ones share it."""
        outcome = self.runner.run(name, due_only=False, inline_wait=0.0, repo_map=repo_map)
        until = time.monotonic() + self.settings.sync.lease_ttl.total_seconds()
        while not outcome.ran and time.monotonic() < until:
            state = self.runner.states.get(name)
            if state is None or not state.running(self.clock()):
                break
            time.sleep(POLL_SECONDS)
        return outcome

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["AdvicePuller", "PullResult", "ago", "freshness", "path_services", "relevant"]

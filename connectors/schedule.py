"""One sync of one source under its lease: what the scheduler and the pull before advice share.

``plans`` reads each section's schedule (``interval``, ``jitter``, ``pull_before_advice``, with
defaults per connector: deploys every 1-2 minutes, provider feeds every 5-6, certificates every
6-6.5 hours). ``SourceRunner.run`` takes the source's lease in the store
(``rollback_advisor.store.sync_state``), runs the ordinary ``run_sync`` for that one section,
renews the lease after each stored batch, and records the outcome with the next due time:

- success: due again after ``interval`` plus a random share of ``jitter``;
- the vendor asked to wait (429 or 403 with ``Retry-After``, a rate limit reset): due after
  that wait; waits longer than ``inline_wait`` are never slept on a thread (the connector's
  retry ``sleep`` raises ``RetryLater`` instead), so one source backing off holds up nothing;
- any other failure (an outage): after ``interval``, doubling per failure up to
  ``sync.max_backoff``;
- bad credentials: as above, and the ``sync.auth_failures_before_pause``-th in a row pauses the
  source ("paused after 3 authentication failures in a row: ...") until ``sync resume NAME``.

The clock is injected (``clock``: epoch seconds) so tests step time instead of sleeping.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rollback_advisor.config import Settings
from rollback_advisor.errors import ConfigError, StoreError
from rollback_advisor.models import Change
from rollback_advisor.store import Store
from rollback_advisor.store.sync_state import SourceState, SyncStates

from . import ConnectorContext, is_enabled
from .config import duration
from .sync import SyncReport, run_sync
from .vcs.common import RateLimitWaitTooLong

# (interval, jitter, pull before advice) in seconds, per connector kind
DEFAULTS: dict[str, tuple[float, float, bool]] = {
    "github": (60.0, 60.0, True),
    "gitlab": (60.0, 60.0, True),
    "migrations": (60.0, 60.0, True),
    "providers": (300.0, 60.0, False),
    "certificates": (6 * 3600.0, 1800.0, False),
}
FALLBACK = (300.0, 60.0, False)  # a connector kind not listed above


@dataclass(frozen=True)
class SourcePlan:
    """When one section syncs."""

    name: str
    connector: str
    interval: float
    jitter: float
    pull_before_advice: bool

    def next_run(self, now: float, rand: Callable[[], float] = random.random) -> float:
        return now + self.interval + rand() * self.jitter


def plans(settings: Settings) -> dict[str, SourcePlan]:
    """The schedule of every section that runs (``enabled: false`` ones do not).

    Raises:
        ConfigError: a schedule key is malformed (naming ``connectors.<name>.<key>``).
    """
    out = {}
    for name, section in (settings.connectors or {}).items():
        if is_enabled(name, section) is False:
            continue
        kind = str(section.get("connector", name))
        interval, jitter, pull = DEFAULTS.get(kind, FALLBACK)
        where = f"connectors.{name}"
        every = duration(where, section, "interval", interval).total_seconds()
        if every < 1:
            raise ConfigError(f"{where}.interval: expected at least 1s")
        spread = 0.0 if section.get("jitter") in (0, "0", "0s") else duration(
            where, section, "jitter", jitter).total_seconds()
        before = section.get("pull_before_advice", pull)
        if not isinstance(before, bool):
            raise ConfigError(f"{where}.pull_before_advice: expected true or false")
        out[name] = SourcePlan(name, kind, every, spread, before)
    return out


class RetryLater(Exception):  # noqa: N818 - a signal, not an error a person reads
    """Raised by the runner's ``sleep`` instead of blocking a thread on a long vendor wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:.0f} s")
        self.seconds = seconds


def holder_id(role: str) -> str:
    """Who holds a lease: host, process and role, so `sync status` names the syncing process."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"[:128]


@dataclass(frozen=True)
class Outcome:
    """What ``SourceRunner.run`` did: ``ran`` False when the lease was not taken."""

    source: str
    ran: bool
    report: SyncReport | None = None
    retry_in: float | None = None
    changes: int = 0


class _LeasedStore:
    """The store as ``run_sync`` sees it, renewing the lease after every stored batch."""

    def __init__(self, store: Store, renew: Callable[[], None]) -> None:
        self.store, self.renew = store, renew

    def get_cursor(self, source: str) -> dict[str, Any] | None:
        return self.store.get_cursor(source)

    def sync_batch(self, source: str, items: list[Change], cursor: dict[str, Any]) -> Any:
        result = self.store.sync_batch(source, items, cursor)
        self.renew()
        return result

    def load_graph(self) -> dict[str, Any] | None:
        return self.store.load_graph()


SyncObserver = Callable[[str, float, str, int], None]  # source, seconds, outcome, changes


class SourceRunner:
    """Runs single sources under their leases; one per process (scheduler or web worker)."""

    def __init__(self, store: Store, settings: Settings, *, role: str,
                 clock: Callable[[], float] = time.time,
                 context: ConnectorContext | None = None,
                 observe: SyncObserver | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.store, self.settings = store, settings
        self.states = SyncStates(store)
        self.plans = plans(settings)
        self.holder = holder_id(role)
        self.clock, self.rand = clock, rand
        self.context = context or ConnectorContext()
        self.observe = observe
        self._known: set[str] = set()

    def ensure_rows(self, names: Sequence[str] | None = None) -> None:
        """Create the state rows of the planned sources (due now) unless they exist."""
        for name in names if names is not None else list(self.plans):
            if name not in self._known:
                self.states.ensure(name, first_run=self.clock())
                self._known.add(name)

    def run(self, name: str, *, due_only: bool = True, inline_wait: float = 2.0,
            repo_map: Mapping[str, str] | None = None) -> Outcome:
        """Sync ``name`` if its lease can be taken (and, ``due_only``, it is due).

        ``inline_wait``: vendor waits up to this many seconds are slept here; longer ones end
        the attempt and schedule the next after the wait. StoreError propagates.
        """
        plan = self.plans[name]
        sync = self.settings.sync
        ttl = sync.lease_ttl.total_seconds()
        self.ensure_rows([name])
        state = self.states.acquire(name, self.holder, now=self.clock(), ttl=ttl,
                                    due_only=due_only)
        if state is None:
            return Outcome(name, ran=False)

        def renew() -> None:
            self.states.renew(name, self.holder, now=self.clock(), ttl=ttl)

        def sleep(seconds: float) -> None:
            if seconds > inline_wait:
                raise RetryLater(seconds)
            if seconds > 0:
                self.context.sleep(seconds)

        ctx = replace(self.context, sleep=sleep,
                      repo_map=repo_map if repo_map is not None else self.context.repo_map)
        started = time.perf_counter()
        report: SyncReport | None = None
        retry: float | None = None
        try:
            reports = run_sync(_LeasedStore(self.store, renew), self.settings, only=name,
                               context=ctx)
            report = reports[0]
        except RetryLater as exc:
            retry = exc.seconds
        except StoreError:
            raise
        except Exception as exc:  # a bug in a connector must not stop the scheduler
            report = SyncReport(source=name, connector=plan.connector, status="failed",
                                error=f"{type(exc).__name__}: {exc}", cause=exc)
        seconds = time.perf_counter() - started
        now = self.clock()
        if report is not None and not report.failed:
            changes = report.added + report.updated
            self.states.succeeded(name, self.holder, now=now, seconds=seconds,
                                  changes=changes,
                                  next_run=plan.next_run(now, self.rand) if due_only else None)
            self._observe(name, seconds, "ok", changes)
            return Outcome(name, ran=True, report=report, changes=changes)
        error = (f"rate limited: retry after {retry:.0f} s" if retry is not None
                 else (report.error if report is not None else None) or "failed")
        cause = report.cause if report is not None else None
        if retry is None:
            retry = _asked_wait(cause)
        auth = _is_auth_failure(cause)
        wait = retry if retry is not None else self.backoff(plan, state)
        self.states.failed(name, self.holder, now=now, next_run=now + wait, error=error,
                           auth=auth, pause_after=sync.auth_failures_before_pause,
                           seconds=seconds)
        self._observe(name, seconds, "auth_failed" if auth else
                      "rate_limited" if retry is not None else "failed", 0)
        return Outcome(name, ran=True, report=report, retry_in=wait)

    def backoff(self, plan: SourcePlan, state: SourceState) -> float:
        """Seconds before retrying after a failure: the interval, doubled per earlier
        consecutive failure, at most ``sync.max_backoff`` (plus jitter, so instances spread)."""
        ceiling = self.settings.sync.max_backoff.total_seconds()
        base = min(ceiling, plan.interval * 2 ** min(state.failures, 20))
        return base + self.rand() * min(plan.jitter, base / 2)

    def _observe(self, name: str, seconds: float, outcome: str, changes: int) -> None:
        if self.observe is not None:
            self.observe(name, seconds, outcome, changes)


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 20:
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1


def _asked_wait(exc: BaseException | None) -> float | None:
    """The wait a vendor asked for (a rate limit beyond ``max_wait``), if any."""
    for e in _causes(exc):
        if isinstance(e, RateLimitWaitTooLong) and e.wait:
            return float(e.wait)
    return None


def _is_auth_failure(exc: BaseException | None) -> bool:
    """Bad credentials: a fatal connector error that is not a rate limit (GitHub's
    BadCredentialsException, GitLab's 401), or any error whose message says HTTP 401."""
    chain = list(_causes(exc))
    if not chain:
        return False
    if any(isinstance(e, RateLimitWaitTooLong) for e in chain):
        return False
    if getattr(chain[0], "fatal", False):
        return True
    return any("HTTP 401" in str(e) or "answered 401" in str(e) for e in chain)


__all__ = ["DEFAULTS", "Outcome", "RetryLater", "SourcePlan", "SourceRunner", "holder_id",
           "plans"]

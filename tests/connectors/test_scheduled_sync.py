"""Scheduled syncs (issue #12): leases, intervals, hand-over, back-off and pause.

Two ``SourceRunner`` objects on separate engines stand for two ``serve`` instances on one
database; the clock is injected, so an hour of schedule runs in milliseconds. The hand-over
test kills a real lease holder (a child process mid-sync) with SIGKILL. The vendor is the
recorded GitHub API on ``responses`` where the behaviour is GitHub's (429, 401), and a counting
connector (schedule_doubles) where only the count matters.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors import REGISTRY
from connectors.schedule import SourceRunner, plans
from connectors.scheduler import SyncScheduler
from rollback_advisor.config import Settings, SyncSettings, settings_from_dict
from rollback_advisor.errors import ConfigError
from rollback_advisor.store import open_store
from rollback_advisor.store.sync_state import SyncStates

from . import github_api, schedule_doubles
from .vcs_fixtures import payload

ROOT = Path(__file__).resolve().parents[2]
TICKING = "tests.connectors.schedule_doubles:TickingSource"
T0 = 1_790_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _ticking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(REGISTRY, "ticking", TICKING)
    schedule_doubles.reset()
    yield
    for gate in schedule_doubles.GATES.values():
        gate.set()
    schedule_doubles.reset()


def ticking_settings(url: str, **sync: Any) -> Settings:
    return Settings(database_url=url, connectors={
        "deploys": {"connector": "ticking", "interval": "60s", "jitter": "0s"},
        "feeds": {"connector": "ticking", "interval": "5m", "jitter": "0s"}},
        sync=SyncSettings(**sync))


def test_plans_default_per_connector_and_refuse_bad_keys() -> None:
    settings = settings_from_dict({"connectors": {
        "github": {"token": "t", "repos": ["a/b"]}, "certificates": {"hosts": []},
        "gl": {"connector": "gitlab", "interval": "10m", "pull_before_advice": False},
        "off": {"connector": "providers", "enabled": False}}})
    got = {n: (p.interval, p.jitter, p.pull_before_advice) for n, p in plans(settings).items()}
    assert got == {"github": (60, 60, True), "certificates": (21600, 1800, False),
                   "gl": (600, 60, False)}
    with pytest.raises(ConfigError, match=r"connectors\.github\.interval"):
        plans(settings_from_dict({"connectors": {"github": {"interval": "soon"}}}))
    with pytest.raises(ConfigError, match=r"connectors\.github\.pull_before_advice"):
        plans(settings_from_dict({"connectors": {"github": {"pull_before_advice": "yes"}}}))


def test_two_instances_sync_each_source_once_per_interval(store_url: str) -> None:
    """Two instances polling every 10 s for half an hour of injected time: the 60 s source
    syncs 30 times and the 5 min one 6, never both instances in the same interval."""
    clock = Clock()
    settings = ticking_settings(store_url)
    stores = [open_store(store_url), open_store(store_url)]
    try:
        runners = [SourceRunner(s, settings, role=f"instance{i}", clock=clock)
                   for i, s in enumerate(stores)]
        ran: dict[str, list[int]] = {"deploys": [], "feeds": []}
        for step in range(0, 1800, 10):
            clock.now = T0 + step
            for i in ((0, 1) if (step // 60) % 2 else (1, 0)):
                for name in ran:
                    if runners[i].run(name).ran:
                        ran[name].append(i)
        assert schedule_doubles.FETCHES == {"deploys": 30, "feeds": 6}
        assert len(ran["deploys"]) == 30 and len(ran["feeds"]) == 6
        assert set(ran["deploys"]) == {0, 1}  # both instances took turns
        assert stores[0].count_changes() == 36
    finally:
        for s in stores:
            s.close()


def test_a_held_lease_keeps_the_other_instance_out(store_url: str) -> None:
    """While one instance is mid-sync, the other neither syncs the source on schedule nor for
    advice; the first one's outcome is recorded when it finishes."""
    settings = ticking_settings(store_url)
    gate, entered = threading.Event(), threading.Event()
    schedule_doubles.GATES["deploys"], schedule_doubles.ENTERED["deploys"] = gate, entered
    a_store, b_store = open_store(store_url), open_store(store_url)
    try:
        a = SourceRunner(a_store, settings, role="a")
        b = SourceRunner(b_store, settings, role="b")
        result: list[Any] = []
        thread = threading.Thread(target=lambda: result.append(a.run("deploys")))
        thread.start()
        assert entered.wait(10)
        assert b.run("deploys").ran is False
        assert b.run("deploys", due_only=False).ran is False
        state = SyncStates(b_store).get("deploys")
        assert state is not None and state.holder == a.holder
        gate.set()
        thread.join(10)
        assert result[0].ran and result[0].changes == 1
        assert schedule_doubles.FETCHES["deploys"] == 1
        state = SyncStates(b_store).get("deploys")
        assert state is not None and state.holder is None and state.last_success is not None
    finally:
        gate.set()
        a_store.close()
        b_store.close()


_HOLDER = """
import sys, threading
from connectors import REGISTRY
from connectors.schedule import SourceRunner
from rollback_advisor.config import Settings
from rollback_advisor.store import open_store
from tests.connectors import schedule_doubles
REGISTRY["ticking"] = "tests.connectors.schedule_doubles:TickingSource"
schedule_doubles.GATES["deploys"] = threading.Event()  # never set: a sync that hangs
url = sys.stdin.read()
settings = Settings(database_url=url, connectors={
    "deploys": {"connector": "ticking", "interval": "60s", "jitter": "0s"}})
SourceRunner(open_store(url), settings, role="doomed").run("deploys")
"""


def test_a_killed_holder_hands_the_source_over_after_the_ttl(store_url: str) -> None:
    """A process killed with SIGKILL mid-sync never frees its lease; another instance takes the
    source over once the TTL has run out (not before), and the killed one's cursor position
    is kept (nothing was stored, so the next sync starts from the same place)."""
    settings = ticking_settings(store_url, lease_ttl=__import__("datetime").timedelta(
        seconds=120))
    store = open_store(store_url)
    child = subprocess.Popen([sys.executable, "-c", _HOLDER], cwd=ROOT, stdin=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdin is not None
        child.stdin.write(store_url)
        child.stdin.close()
        states = SyncStates(store)
        for _ in range(200):  # until the child holds the lease (bounded: 20 s)
            state = states.get("deploys")
            if state is not None and state.holder and ":doomed" in state.holder:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the child never took the lease")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        taken_at = state.lease_expires - 120
        clock = Clock(taken_at + 119)
        runner = SourceRunner(store, settings, role="survivor", clock=clock)
        assert runner.run("deploys", due_only=False).ran is False  # within the TTL
        clock.now = taken_at + 121
        outcome = runner.run("deploys", due_only=False)
        assert outcome.ran and outcome.changes == 1
        assert store.get_cursor("deploys") == {"n": 1}
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        store.close()


def _github_settings(url: str, **sync: Any) -> Settings:
    return Settings(database_url=url, sync=SyncSettings(**sync), connectors={
        "github": {"base_url": github_api.API, "token": "test-token", "repos": ["acme/checkout"],
                   "lookback": "3650d", "retries": 2, "interval": "60s", "jitter": "0s"},
        "deploys": {"connector": "ticking", "interval": "60s", "jitter": "0s"}})


def test_scheduler_brings_changes_in_without_a_manual_sync(tmp_path: Path,
                                                           mock: responses.RequestsMock) -> None:
    """``SyncScheduler`` (APScheduler jobs, as ``serve`` runs them) fills the store from the
    recorded GitHub API on its own; every recorded answer was asked for."""
    github_api.serve_history(mock)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    scheduler = SyncScheduler(store, _github_settings(url))
    try:
        scheduler.start()
        for _ in range(200):  # bounded: 20 s
            if store.count_changes() >= 4:
                break
            time.sleep(0.1)
    finally:
        scheduler.stop()
        store.close()
    store = open_store(url)
    try:
        ids = {c.id for c in store.list_changes(limit=10)}
    finally:
        store.close()
    assert {"github:Acme/Checkout:deployment:5001", "github:Acme/Checkout:deployment:5003",
            "deploys:1"} <= ids


def test_rate_limit_backs_off_that_source_only_and_honours_retry_after(tmp_path: Path) -> None:
    """GitHub answers 429 with ``Retry-After: 120``: the attempt ends at once (no thread sleeps
    two minutes), the source is due again 120 s later, not sooner, and the other source
    syncs on schedule meanwhile."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = Clock()
    store = open_store(url)
    try:
        runner = SourceRunner(store, _github_settings(url), role="s", clock=clock)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.get(github_api.DEPLOYMENTS, status=429, headers={"Retry-After": "120"},
                     json=payload("github/error_secondary_rate_limit.json"))
            outcome = runner.run("github")
            assert outcome.ran and outcome.retry_in == 120
            assert len(rsps.calls) == 1
            state = SyncStates(store).get("github")
            assert state is not None and state.next_run == T0 + 120
            assert state.last_error == "rate limited: retry after 120 s"
            assert runner.run("deploys").ran  # the other source is not held up
            clock.now = T0 + 119
            assert runner.run("github").ran is False
            assert runner.run("github", due_only=False).ran is False  # nor for advice
            assert len(rsps.calls) == 1
            clock.now = T0 + 120
            assert runner.run("github").ran
            assert len(rsps.calls) == 2
    finally:
        store.close()


def test_repeated_bad_credentials_pause_the_source_until_resumed(tmp_path: Path) -> None:
    """Three 401s in a row (each after its back-off) pause GitHub with a clear status; a
    paused source asks the vendor nothing more, however long; ``resume`` makes it due."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = Clock()
    store = open_store(url)
    try:
        runner = SourceRunner(store, _github_settings(url), role="s", clock=clock)
        states = SyncStates(store)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.get(github_api.DEPLOYMENTS, status=401,
                     json=payload("github/error_bad_credentials.json"))
            waits = []
            for _ in range(3):
                outcome = runner.run("github")
                assert outcome.ran and outcome.retry_in is not None
                waits.append(outcome.retry_in)
                clock.now += outcome.retry_in
            assert waits == [60, 120, 240]  # the interval, doubling
            state = states.get("github")
            assert state is not None and state.paused is not None
            assert state.paused.startswith("paused after 3 authentication failures in a row: ")
            assert "bad credentials (HTTP 401)" in state.paused
            calls = len(rsps.calls)
            clock.now += 86400
            assert runner.run("github").ran is False
            assert runner.run("github", due_only=False).ran is False
            assert len(rsps.calls) == calls
            assert states.resume("github", now=clock.now)
            assert runner.run("github").ran
            assert len(rsps.calls) == calls + 1
    finally:
        store.close()


def test_the_process_serve_starts_syncs_on_its_own(tmp_path: Path) -> None:
    """``serve``'s scheduler process (web/sync_process.py), given only the config file, fills
    the store from an application database's Flyway history; SIGTERM stops it."""
    from rollback_advisor.web import sync_process

    from .test_sync_end_to_end import build_orders_db

    orders = build_orders_db(tmp_path / "orders.db")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "rollback-advisor.yaml"
    config.write_text(yaml_dump({"database_url": url, "connectors": {"migrations": {
        "databases": [{"name": "orders", "url": orders, "framework": "flyway",
                       "service": "orders-db"}]}}}), encoding="utf-8")
    from rollback_advisor.config import load_settings

    settings = load_settings(config)
    open_store(url).close()  # migrated, as serve does before starting it
    child = sync_process.start(settings)
    assert child is not None
    store = open_store(url)
    try:
        for _ in range(300):  # bounded: 30 s
            state = SyncStates(store).get("migrations")
            if state is not None and state.last_success is not None:
                break
            time.sleep(0.1)
        ids = {c.id for c in store.list_changes(limit=10)}
    finally:
        sync_process.stop(child)
        store.close()
    assert ids == {"migrations:orders:flyway:2", "migrations:orders:flyway:3"}
    assert state is not None and state.last_success is not None and state.holder is None
    assert child.returncode is not None


def yaml_dump(doc: Any) -> str:
    import yaml

    return str(yaml.safe_dump(doc))


def test_the_pull_before_advice_waits_for_a_sync_under_way_elsewhere(tmp_path: Path) -> None:
    """The scheduler is mid-sync when the question comes: the pull waits for that sync (which
    may hold the deploy) rather than answering at once with the old state, and within the
    deadline only."""
    from connectors.pull import AdvicePuller
    from rollback_advisor.graph import DependencyGraph

    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(database_url=url, connectors={
        "deploys": {"connector": "ticking", "interval": "60s", "jitter": "0s",
                    "pull_before_advice": True}})
    graph = DependencyGraph.from_document({"services": {"svc": {}}})
    gate, entered = threading.Event(), threading.Event()
    schedule_doubles.GATES["deploys"], schedule_doubles.ENTERED["deploys"] = gate, entered
    store = open_store(url)
    puller = AdvicePuller(store, settings)
    try:
        scheduler = SourceRunner(store, settings, role="scheduler")
        thread = threading.Thread(target=scheduler.run, args=["deploys"])
        thread.start()
        assert entered.wait(10)
        busy = puller.pull(graph, ["svc"], deadline=0.3)
        assert busy.pending == {"deploys"} and not busy.pulled
        timer = threading.Timer(0.2, gate.set)
        timer.start()
        done = puller.pull(graph, ["svc"], deadline=20)
        timer.join()
        thread.join(10)
        assert done.pulled == {"deploys"}
        [fresh] = done.sources
        assert fresh.status == "ok" and fresh.line.startswith("deploys: synced ")
        assert schedule_doubles.FETCHES["deploys"] == 1  # the scheduler's sync, not a second
    finally:
        gate.set()
        puller.close()
        store.close()


_SERVE_THEN_DIE = """
import os, sys
from rollback_advisor.config import load_settings
from rollback_advisor.web import sync_process
child = sync_process.start(load_settings(sys.argv[1]))
print(child.pid, flush=True)
os.kill(os.getpid(), 9)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_the_scheduler_process_stops_when_serve_is_killed(tmp_path: Path) -> None:
    """``serve`` SIGKILLed (no chance to stop its child): the scheduler notices its parent is
    gone and exits, instead of syncing on as an orphan."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "rollback-advisor.yaml"
    config.write_text(yaml_dump({"database_url": url, "connectors": {"certificates": {
        "hosts": [{"host": "127.0.0.1", "port": 9, "node": "x"}]}}}), encoding="utf-8")
    open_store(url).close()
    done = subprocess.run([sys.executable, "-c", _SERVE_THEN_DIE, str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    pid = int(done.stdout.split()[0])
    for _ in range(200):  # bounded: 20 s
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the scheduler outlived serve")


def test_a_manual_sync_is_recorded_and_lifts_a_pause(tmp_path: Path) -> None:
    """`rollback-advisor sync` shows in `sync status`; its success lifts an auth pause."""
    from click.testing import CliRunner

    from connectors.cli import sync_command

    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = ticking_settings(url)
    store = open_store(url)
    try:
        states = SyncStates(store)
        states.ensure("deploys", first_run=T0)
        assert states.acquire("deploys", "x", now=T0, ttl=60, due_only=True)
        states.failed("deploys", "x", now=T0, next_run=T0 + 60, error="HTTP 401", auth=True,
                      pause_after=1, seconds=0.1)
        assert states.get("deploys").paused  # type: ignore[union-attr]

        class App:
            def __init__(self) -> None:
                self.settings = settings

            def store(self) -> Any:
                return store

        out = CliRunner().invoke(sync_command, ["--source", "deploys"], obj=App())
        assert out.exit_code == 0, out.output
        state = states.get("deploys")
        assert state is not None and state.paused is None and state.last_changes == 1
        assert state.last_success is not None and state.last_success > T0
    finally:
        store.close()

"""The background process beside ``serve``: the scheduled syncs and the Slack poster, one per
instance, whatever the worker class.

``serve`` runs ``python -m rollback_advisor.web.sync_process`` as a child
(connectors/scheduler.py says why a process rather than a thread in the workers or master).
It inherits the environment (the database URL; ``PROMETHEUS_MULTIPROC_DIR``, so its sync
metrics show in every worker's ``/metrics``) and is given the same config file. Several
instances on one database each run one; the leases in the store keep it to one sync per
source per interval, and the outbox's leases one send per Slack message (``slack_poster``).
"""

from __future__ import annotations

import subprocess
import sys

from ..config import CONFIG_ENV, DATA_DIR_ENV, DATABASE_URL_ENV, Settings

PARENT_ENV = "ROLLBACK_ADVISOR_SYNC_PARENT"  # serve's pid: the scheduler stops when it is gone


def _schedules(settings: Settings) -> bool:
    return bool(settings.sync.schedule and settings.connectors)


def start(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start the process unless it has nothing to do: nothing to schedule (no connectors, or
    ``sync.schedule: false``) and no Slack to post incident advice to.

    Raises:
        ConfigError: a section's schedule keys are malformed.
    """
    from .incident_posting import slack_configured

    if not _schedules(settings) and not slack_configured(settings):
        return None
    if _schedules(settings):
        from connectors.schedule import plans

        plans(settings)  # a malformed interval or jitter stops serve here, naming the key
    import os

    # the same settings as serve's; the URL may hold a password: environment, never argv (ps)
    env = dict(os.environ)
    for name, value in ((CONFIG_ENV, settings.source), (DATABASE_URL_ENV, settings.database_url),
                        (DATA_DIR_ENV, settings.data_dir)):
        if value:
            env[name] = value
    env[PARENT_ENV] = str(os.getpid())
    return subprocess.Popen([sys.executable, "-m", "rollback_advisor.web.sync_process"],
                            env=env)


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except ChildProcessError:  # gunicorn's master reaped it for us
        pass


def main() -> None:
    """The child: the scheduler and the Slack poster (each when configured) until SIGTERM,
    their metrics in the multiprocess directory ``serve`` set up (so every worker's /metrics
    includes them)."""
    import logging
    import os
    import threading

    from connectors.scheduler import run_forever, wait_for_stop

    from ..config import load_settings
    from ..store import open_store
    from .incident_posting import slack_configured
    from .metrics import Metrics
    from .slack_poster import SlackPoster

    logging.basicConfig(level=logging.INFO, format="%(asctime)s sync %(message)s")
    settings = load_settings()
    store = open_store(settings.database_url, settings.data_path)
    metrics = Metrics()
    stopped = threading.Event()
    poster = None
    if slack_configured(settings):
        poster = threading.Thread(target=SlackPoster(store, settings,
                                                     observe=metrics.observe_slack).run,
                                  args=(stopped,), name="slack-poster", daemon=True)
        poster.start()
    try:
        parent = os.environ.get(PARENT_ENV)
        parent_pid = int(parent) if parent and parent.isdigit() else None
        if _schedules(settings):
            run_forever(store, settings, observe=metrics.observe_sync, parent=parent_pid)
        else:
            wait_for_stop(parent_pid)
    finally:
        stopped.set()
        if poster is not None:
            poster.join(timeout=15)
        store.close()


if __name__ == "__main__":
    main()

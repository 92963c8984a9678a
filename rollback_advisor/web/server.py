"""``rollback-advisor serve``: gunicorn with several workers, one app (and engine) per worker.

``preload_app`` stays off so each worker imports and builds the app after the fork: a database
connection pool must never be shared across processes. The master points prometheus_client at a
multiprocess directory first, so ``/metrics`` from any worker reports all of them.

Workers are gevent's (gunicorn ``-k gevent``), not threads: a connection costs a greenlet, not a
thread, so clients that send their headers or body slowly (or stall) cannot occupy every
worker; with gthread 8 stalled connections (2 workers x 4 threads) stopped the service. The
first line and headers of each request must arrive within ``keepalive`` seconds (gunicorn wraps
the header read in a gevent.Timeout), and at most ``connections`` sockets are open per worker.
psycopg 3 cooperates with gevent by itself (3.1.14+); SQLite and the engine run on the worker's
one thread, as they shared one core under the GIL before. docs/service.md has the topology.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from ..config import Settings
from ..errors import StoreError

WORKER_GC_THRESHOLD = (10_000, 10, 10)


# Run by a fresh interpreter; the URL comes on stdin (never in argv, which ``ps`` shows).
_MIGRATE = """
import json, sys
from pathlib import Path
from rollback_advisor.errors import AdvisorError
from rollback_advisor.store import open_store
url, data_path = json.load(sys.stdin)
try:
    open_store(url, Path(data_path)).close()
except AdvisorError as exc:
    sys.exit(exc.message)
"""


def _migrate_in_child(settings: Settings) -> None:
    """Open (and so migrate) the store in a fresh interpreter, not in the master: psycopg
    picks its wait function when first imported, and one imported by the master before the
    fork would stay the blocking one in the gevent workers (every query then stops the whole
    worker: hook throughput halved). The child's one-line error is raised here."""
    done = subprocess.run([sys.executable, "-c", _MIGRATE], text=True, capture_output=True,
                          input=json.dumps([settings.database_url, str(settings.data_path)]),
                          check=False)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise StoreError(f"could not open the store: {lines[-1]}")


def run(settings: Settings, *, host: str, port: int, workers: int,
        connections: int = 1000) -> None:
    from gunicorn.app.base import BaseApplication

    # Migrate once before the workers start, so they start on a current schema without racing.
    _migrate_in_child(settings)
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="rollback-advisor-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir

    def child_exit(_server: Any, worker: Any) -> None:
        from .metrics import mark_worker_dead

        mark_worker_dead(worker.pid)

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {"bind": f"{host}:{port}", "workers": workers,
                       "worker_class": "rollback_advisor.web.worker.Worker",
                       "worker_connections": connections,
                       "preload_app": False, "timeout": 60,
                       "graceful_timeout": 20, "keepalive": 5, "accesslog": None,
                       "child_exit": child_exit, "proc_name": "rollback-advisor",
                       "control_socket_disable": True}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from . import create_app
            from .services import EXTENSION

            app = create_app(settings)
            # One app per worker process, so process-wide collector settings are ours: freeze
            # the heap once the graph is built (see services._freeze_heap), and collect the young
            # generation every 10,000 allocations rather than 700 (a recommendation allocates
            # some 50,000 short-lived objects; most die by reference count before then).
            app.extensions[EXTENSION].freeze_heap = True
            gc.set_threshold(*WORKER_GC_THRESHOLD)
            return app

    try:
        Application().run()
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)

"""``rollback-advisor serve``: gunicorn with several workers, one app (and engine) per worker.

``preload_app`` stays off so each worker imports and builds the app after the fork: a database
connection pool must never be shared across processes. The master points prometheus_client at a
multiprocess directory first, so ``/metrics`` from any worker reports all of them.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from typing import Any

from ..config import Settings
from ..store import open_store

WORKER_GC_THRESHOLD = (10_000, 10, 10)


def run(settings: Settings, *, host: str, port: int, workers: int, threads: int = 4) -> None:
    from gunicorn.app.base import BaseApplication

    # Migrate once in the master, so workers start on a current schema without racing.
    open_store(settings.database_url, settings.data_path).close()
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="rollback-advisor-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir

    def child_exit(_server: Any, worker: Any) -> None:
        from .metrics import mark_worker_dead

        mark_worker_dead(worker.pid)

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                       "worker_class": "gthread", "preload_app": False, "timeout": 60,
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

"""The app factory and the per-app services (store, advisor, metrics): no module globals."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from ..advisor import Advisor
from ..config import Settings, load_settings
from ..store import Store, open_store
from ..store.schema import graphs
from ..store.service_tables import HookRecord, ServiceTables
from .errors import register_error_handlers
from .metrics import Metrics

EXTENSION = "rollback_advisor"
HOOK_CACHE_SECONDS = 2.0


@dataclass
class Services:
    """What the views need, built once per app (so once per gunicorn worker, after fork)."""

    settings: Settings
    store: Store
    tables: ServiceTables
    metrics: Metrics
    # Set by ``serve`` in each worker (one app per process): see ``_freeze_heap``.
    freeze_heap: bool = False
    _advisor: Advisor | None = None
    _graph_stamp: int | None = None
    _hooks: dict[str, tuple[float, HookRecord | None]] = field(default_factory=dict)

    def advisor(self) -> Advisor:
        """The advisor, rebuilt when another process stored a new graph (``graph load``)."""
        with self.store.engine.connect() as conn:
            stamp = conn.execute(select(graphs.c.updated_us).where(graphs.c.id == 1)).scalar()
        if self._advisor is None or stamp != self._graph_stamp:
            advisor = Advisor(self.store, self.settings)
            if self.freeze_heap:
                advisor.graph()  # build it now (NotFound as before when none is stored)
                _freeze_heap()
            self._advisor = advisor
            self._graph_stamp = stamp
        return self._advisor

    def hook(self, hook_id: str) -> HookRecord | None:
        """The hook, cached per worker for HOOK_CACHE_SECONDS: saves a query per delivery; a
        revocation takes effect within that time in every worker."""
        now = time.monotonic()
        cached = self._hooks.get(hook_id)
        if cached is not None and now - cached[0] < HOOK_CACHE_SECONDS:
            return cached[1]
        record = self.tables.get_hook(hook_id)
        if len(self._hooks) > 10_000:
            self._hooks.clear()
        self._hooks[hook_id] = (now, record)
        return record

    def public_url(self) -> str:
        server = self.settings.server
        if server.public_url:
            return server.public_url.rstrip("/")
        return request.host_url.rstrip("/") if request else \
            f"http://{server.host}:{server.port}"


def _freeze_heap() -> None:
    """Move every object alive now (the built graph above all) out of the garbage collector's
    sight: with a 10,000-service graph a full collection walked it in about 100 ms, and one
    landed in a few percent of recommendation requests, which was the whole p99. Frozen objects
    are still freed by reference counting; ``unfreeze`` first hands a replaced graph back to
    the collector. Only for a process that serves a single app (``serve``'s workers): freezing
    is process-wide."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def services() -> Services:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def build_app(settings: Settings | None = None) -> Flask:
    """Create the Flask app: open (and migrate) the store, register blueprints and handlers."""
    settings = settings or load_settings()
    app = Flask("rollback_advisor.web")
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = open_store(settings.database_url, settings.data_path)
    app.extensions[EXTENSION] = Services(settings, store, ServiceTables(store), Metrics())

    from .api import bp as api_bp
    from .hooks import bp as hooks_bp
    from .ops import bp as ops_bp
    from .slack import bp as slack_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(hooks_bp)
    app.register_blueprint(slack_bp)
    app.register_blueprint(ops_bp)
    register_error_handlers(app)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()
        # Refuse oversized bodies before any view looks up a hook or reads a byte.
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()

    @app.after_request
    def _observe(response: Any) -> Any:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("started", time.perf_counter())
        services().metrics.observe_request(request.method, rule, response.status_code,
                                           time.perf_counter() - started)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app

"""The app factory: it only assembles (services, blueprints, error handlers, request hooks).

The per-app services live in ``services.py``, which the blueprints import; nothing imports this
module back (flaskr's shape: ``__init__`` builds, ``db.py`` serves, blueprints use ``db.py``).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..config import Settings, load_settings
from ..store import open_store
from ..store.service_tables import ServiceTables
from .api import bp as api_bp
from .errors import MAX_BYTES, register_error_handlers
from .hooks import bp as hooks_bp
from .incidents_api import bp as incidents_bp
from .metrics import Metrics
from .ops import bp as ops_bp
from .page_auth import install as install_page_sessions
from .pages import bp as pages_bp
from .services import EXTENSION, Services, services
from .slack import bp as slack_bp


def build_app(settings: Settings | None = None) -> Flask:
    """Create the Flask app: open (and migrate) the store, register blueprints and handlers."""
    settings = settings or load_settings()
    app = Flask("rollback_advisor.web")
    limit = settings.server.max_request_bytes
    app.config[MAX_BYTES] = limit
    # One byte above the limit: werkzeug stops a body without Content-Length (chunked) at
    # MAX_CONTENT_LENGTH without a word, so it may read one byte more than allowed, which
    # _start_timer then refuses with 413 (before, such a body was silently cut at the limit).
    app.config["MAX_CONTENT_LENGTH"] = limit + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = open_store(settings.database_url, settings.data_path)
    app.extensions[EXTENSION] = Services(settings, store, ServiceTables(store), Metrics())

    app.register_blueprint(api_bp)
    app.register_blueprint(incidents_bp)
    app.register_blueprint(hooks_bp)
    app.register_blueprint(slack_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(pages_bp)
    install_page_sessions(app)
    register_error_handlers(app)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()
        # Refuse oversized bodies before any view looks up a hook or reads a byte; a chunked
        # body has no length to check, so it is read now (at most limit + 1 bytes).
        if request.content_length is not None:
            if request.content_length > limit:
                raise RequestEntityTooLarge()
        elif "chunked" in request.headers.get("Transfer-Encoding", "").lower() \
                and len(request.get_data(cache=True)) > limit:
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

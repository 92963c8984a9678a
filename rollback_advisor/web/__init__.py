"""The HTTP service (DESIGN §6): a Flask app factory and its blueprints.

``create_app`` is imported lazily so that ``import rollback_advisor.web`` (the CLI does it)
pulls in neither Flask's app nor prometheus_client: ``serve`` must set the Prometheus
multiprocess directory before that library is first imported, and gunicorn workers build their
own app (and database engine) after the fork, e.g. ``gunicorn 'rollback_advisor.web:create_app()'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from ..config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; ``settings`` defaults to ``load_settings()`` (config file and env)."""
    from .app import build_app

    return build_app(settings)


__all__ = ["create_app"]

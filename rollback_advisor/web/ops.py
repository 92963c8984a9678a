"""Operational endpoints: ``/healthz``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from .metrics import CONTENT_TYPE
from .openapi import document
from .services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness without touching the store; ``?store=1`` also checks the database."""
    if request.args.get("store") in ("1", "true"):
        services().tables.ping()
        return {"status": "ok", "store": "ok"}
    return {"status": "ok"}


@bp.get("/metrics")
def metrics() -> Response:
    return Response(services().metrics.render(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Any:
    # servers: the configured public URL, else "/" (relative to this document): never the
    # request's Host header, which anyone can forge and which the document would then echo.
    public_url = services().settings.server.public_url
    return document(services().settings, public_url.rstrip("/") if public_url else "/")

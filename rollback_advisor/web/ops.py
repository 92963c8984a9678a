"""Operational endpoints: ``/healthz``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ..errors import StoreError
from ..store.outbox import SlackOutbox
from .incident_posting import slack_configured
from .metrics import CONTENT_TYPE
from .openapi import document
from .services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness; ``?store=1`` also checks the database. With connectors configured it reads
    their state (cached 5 s per worker): a source stale beyond ``sync.stale_after`` makes the
    answer ``degraded`` with the reasons, still 200 (the process is alive; the advice may
    miss changes). A store that does not answer leaves the plain liveness answer."""
    svc = services()
    body: dict[str, Any] = {"status": "ok"}
    if request.args.get("store") in ("1", "true"):
        svc.tables.ping()
        body["store"] = "ok"
    try:
        reasons = svc.freshness.stale()
    except StoreError:
        reasons = []
    if reasons:
        body.update(status="degraded", reasons=reasons)
    return body


@bp.get("/metrics")
def metrics() -> Response:
    svc = services()
    lags = None
    if svc.freshness.configured:
        try:
            lags = {s["source"]: s["lag_seconds"] for s in svc.freshness.status()}
        except StoreError:
            lags = None
    depth = None
    if slack_configured(svc.settings):
        try:
            depth = SlackOutbox(svc.store).depth()
        except StoreError:
            depth = None
    return Response(svc.metrics.render(lags, depth), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Any:
    # servers: the configured public URL, else "/" (relative to this document): never the
    # request's Host header, which anyone can forge and which the document would then echo.
    public_url = services().settings.server.public_url
    return document(services().settings, public_url.rstrip("/") if public_url else "/")

"""Prometheus metrics: requests, latencies, ingested events by source, rejected deliveries.

Each app owns its CollectorRegistry (no module globals, several apps per test process). Under
gunicorn, ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is imported, so
every worker writes its samples to files there and ``/metrics`` (answered by any one worker)
aggregates all workers with ``MultiProcessCollector``. Without that variable (the dev server, an
external gunicorn not set up for it) each worker reports only its own counts: scrape a single
worker or set the variable (see docs/service.md).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _mp

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("rollback_advisor_http_requests_total",
                                "HTTP requests by method, route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("rollback_advisor_http_request_duration_seconds",
                                 "HTTP request latency by route.", ["route"],
                                 registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.ingested = Counter("rollback_advisor_ingested_events_total",
                                "Change events stored from hook deliveries, by hook source.",
                                ["source"], registry=self.registry)
        self.rejected = Counter("rollback_advisor_rejected_deliveries_total",
                                "Hook deliveries refused, by reason.", ["reason"],
                                registry=self.registry)
        self.deliveries = Counter("rollback_advisor_hook_deliveries_total",
                                  "Hook deliveries by source and outcome "
                                  "(stored, duplicate, ignored).", ["source", "outcome"],
                                  registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            _mp.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def mark_worker_dead(pid: int) -> None:
    """gunicorn ``child_exit`` hook: drop a dead worker's live-gauge files."""
    if os.environ.get(MULTIPROC_ENV):
        _mp.mark_process_dead(pid)

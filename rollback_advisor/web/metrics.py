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
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _mp
from prometheus_client.core import GaugeMetricFamily

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

        # connector syncs, by this process (scheduler or a worker's pull before advice)
        self.sync_seconds = Histogram("rollback_advisor_sync_duration_seconds",
                                      "Connector sync duration by source and outcome.",
                                      ["source", "outcome"], registry=self.registry,
                                      buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
        self.sync_errors = Counter("rollback_advisor_sync_errors_total",
                                   "Failed connector syncs by source and kind (failed, "
                                   "rate_limited, auth_failed).", ["source", "kind"],
                                   registry=self.registry)
        self.sync_changes = Counter("rollback_advisor_sync_changes_total",
                                    "Changes added or updated by connector syncs, by source.",
                                    ["source"], registry=self.registry)
        # the Slack poster (web/slack_poster.py, in the process beside serve)
        self.slack_posts = Counter("rollback_advisor_slack_posts_total",
                                   "Slack messages from the outbox by outcome (sent, failed: "
                                   "tried again later).", ["outcome"], registry=self.registry)

    def observe_slack(self, outcome: str) -> None:
        """A ``SlackPoster`` observer: one send attempt."""
        self.slack_posts.labels(outcome).inc()

    def observe_sync(self, source: str, seconds: float, outcome: str, changes: int) -> None:
        """A ``SourceRunner`` observer: one finished sync attempt."""
        self.sync_seconds.labels(source, outcome).observe(seconds)
        if outcome != "ok":
            self.sync_errors.labels(source, outcome).inc()
        if changes:
            self.sync_changes.labels(source).inc(changes)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self, lags: Mapping[str, float | None] | None = None,
               outbox_depth: int | None = None) -> bytes:
        """The exposition; ``lags`` (source -> seconds since its last success, read from the
        store at scrape time so every worker agrees) adds ``rollback_advisor_sync_lag_seconds``,
        ``outbox_depth`` (likewise) ``rollback_advisor_slack_outbox_depth``."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            _mp.MultiProcessCollector(registry)
            text = generate_latest(registry)
        else:
            text = generate_latest(self.registry)
        if lags:
            text += _lag_text(lags)
        if outbox_depth is not None:
            gauge = GaugeMetricFamily("rollback_advisor_slack_outbox_depth",
                                      "Slack messages queued and not yet sent (waiting or "
                                      "backing off after a failure).", value=outbox_depth)
            text += _family_text(gauge)
        return text


def _lag_text(lags: Mapping[str, float | None]) -> bytes:
    gauge = GaugeMetricFamily("rollback_advisor_sync_lag_seconds",
                              "Seconds since each connector source last synced successfully "
                              "(absent: never).", labels=["source"])
    for source, lag in lags.items():
        if lag is not None:
            gauge.add_metric([source], lag)
    return _family_text(gauge)


def _family_text(gauge: GaugeMetricFamily) -> bytes:
    registry = CollectorRegistry()
    registry.register(_Fixed(gauge))
    return generate_latest(registry)


class _Fixed:
    """A collector that yields one prepared metric family."""

    def __init__(self, family: GaugeMetricFamily) -> None:
        self.family = family

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield self.family


def mark_worker_dead(pid: int) -> None:
    """gunicorn ``child_exit`` hook: drop a dead worker's live-gauge files."""
    if os.environ.get(MULTIPROC_ENV):
        _mp.mark_process_dead(pid)

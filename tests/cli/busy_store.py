"""A deterministic busy organisation for the output-identity tests: a layered graph and two
days of changes of every kind, status and scope shape, drawn from one seeded ``random.Random``.

Kept here, apart from ``benchmarks/busy_day.py``, so that the recorded outputs in
``tests/fixtures/outputs/`` depend only on this file: changing the benchmark's generator must
not change what the tests compare.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

ONSET = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
TARGET = "svc-000:POST /api/order"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
KINDS = ("deploy",) * 8 + ("config",) * 3 + ("feature_flag",) * 2 + (
    "migration", "infrastructure", "rollback", "provider", "certificate")
SOURCES = ("github", "argo", "terraform", "launchdarkly", None)


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_document(services: int = 300, seed: int = 11) -> dict[str, Any]:
    """Tiers of services (each depending on a few of the tiers below), datastores at the
    bottom, endpoints on the gateways, a shared infrastructure node and a provider."""
    rng = random.Random(f"graph/{seed}")
    layers = 6
    names = [f"svc-{i:03d}" for i in range(services)]
    layer = {n: min(layers - 1, i * layers // services) for i, n in enumerate(names)}
    doc: dict[str, Any] = {"k8s-cluster": {"type": "infrastructure"},
                           "stripe": {"type": "provider"}}
    for name in names:
        below = [m for m in names if layer[name] < layer[m] <= layer[name] + 2]
        spec: dict[str, Any] = {}
        if below:
            spec["depends_on"] = sorted(rng.sample(below, k=min(len(below), rng.randint(1, 4))))
        else:
            spec["type"] = "datastore"
        if layer[name] == 0:
            deps = spec.get("depends_on", [])
            spec["endpoints"] = {"POST /api/order": {"depends_on": deps[:2] + ["stripe"]},
                                 "GET /api/status": {"depends_on": deps[:1]}}
        doc[name] = spec
    return {"services": doc}


def change_events(graph: dict[str, Any], count: int = 2500, seed: int = 11) -> list[dict]:
    """``count`` changes from 30 h before the onset to 6 h after, and a month of history of
    the target's own service; rollouts, failures, partial rollouts, scopes, global changes,
    destructive migrations, staging, changes to nodes the graph lacks."""
    rng = random.Random(f"changes/{seed}")
    names = sorted(graph["services"])
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = rng.choice(KINDS)
        at = ONSET + timedelta(seconds=rng.uniform(-30 * 3600, 6 * 3600))
        event: dict[str, Any] = {"id": f"busy-{i:05d}", "kind": kind, "at": _time(at)}
        roll = rng.random()
        if roll < 0.02:
            event["services"] = ["*"]
        elif roll < 0.04:
            event["service"] = f"ghost-{rng.randint(0, 9)}"  # not in the graph
        elif roll < 0.10:
            event["services"] = sorted(rng.sample(names, k=3))
        else:
            event["service"] = rng.choice(names)
        if rng.random() < 0.3:
            event["started_at"] = _time(at - timedelta(minutes=rng.randint(1, 40)))
        status = rng.random()
        if status < 0.03:
            event["status"] = "failed"
        elif status < 0.05:
            event["status"] = "in_progress"
        if kind in ("deploy", "rollback"):
            event["version"] = f"v{i}"
            if rng.random() < 0.8:
                event["previous_version"] = f"v{i - 1}"
            if rng.random() < 0.05:
                event["details"] = {"rollout_percentage": rng.choice([10, 25, 50])}
        if kind == "migration":
            event["summary"] = rng.choice(["add nullable column note_1", "DROP TABLE legacy",
                                           "create index ix_orders_at"])
        else:
            event["summary"] = f"{kind} #{i}"
        if rng.random() < 0.05:
            event["reversible"] = False
        shape = rng.random()
        if shape < 0.6:
            event["scope"] = {"region": [rng.choice(REGIONS)]}
        elif shape < 0.7:
            event["scope"] = {"region": sorted(rng.sample(REGIONS, k=2))}
        if rng.random() < 0.03:
            event["environment"] = "staging"
        source = rng.choice(SOURCES)
        if source:
            event["source"] = source
        out.append(event)
    for j in range(30):  # the target's service's own month, older than the window
        at = ONSET - timedelta(days=2 + j, minutes=rng.randint(0, 600))
        out.append({"id": f"hist-{j:03d}", "kind": rng.choice(["deploy", "config"]),
                    "service": TARGET.split(":")[0], "at": _time(at), "version": f"h{j}",
                    "source": "github"})
    return out


__all__ = ["ONSET", "TARGET", "change_events", "graph_document"]

"""Regenerate the bundled demo: a day of changes for an organisation on the Train-Ticket topology.

    python -m rollback_advisor.demo.generate      # rewrites graph.yaml and changes.jsonl here

The topology is the real one: FudanSELab/train-ticket's service call graph as derived in
``shared/external/topology-train-ticket/call-graph.derived.json`` (commit 813dd01e), with the
MongoDB/MySQL datastores of its docker-compose.yml and the UI dashboard's booking, search, order
and payment endpoints as routed by its Istio gateway. The changes are invented but shaped like a
real day: a steady trickle of deploys, config pushes and flags from 18 teams, a migration, a
staging rollout, and the incident's culprit hidden among closer, unrelated changes.
Deterministic (fixed seed), so the demo and its test never drift.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
ONSET = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)

# A -> B: code in A calls B (FudanSELab/train-ticket @ 813dd01e, derived from http://ts-* URLs).
CALLS: dict[str, list[str]] = {
    "ts-admin-basic-info-service": ["ts-config-service", "ts-contacts-service",
                                    "ts-price-service", "ts-station-service",
                                    "ts-train-service"],
    "ts-admin-order-service": ["ts-order-other-service", "ts-order-service"],
    "ts-admin-route-service": ["ts-route-service"],
    "ts-admin-travel-service": ["ts-travel-service", "ts-travel2-service"],
    "ts-admin-user-service": ["ts-user-service"],
    "ts-auth-service": ["ts-verification-code-service"],
    "ts-basic-service": ["ts-price-service", "ts-route-service", "ts-station-service",
                         "ts-train-service"],
    "ts-cancel-service": ["ts-inside-payment-service", "ts-notification-service",
                          "ts-order-other-service", "ts-order-service", "ts-user-service"],
    "ts-consign-service": ["ts-consign-price-service"],
    "ts-execute-service": ["ts-order-other-service", "ts-order-service"],
    "ts-food-service": ["ts-food-map-service", "ts-station-service", "ts-travel-service"],
    "ts-inside-payment-service": ["ts-order-other-service", "ts-order-service",
                                  "ts-payment-service"],
    "ts-order-other-service": ["ts-station-service"],
    "ts-order-service": ["ts-station-service"],
    "ts-preserve-other-service": ["ts-assurance-service", "ts-consign-service",
                                  "ts-contacts-service", "ts-food-service",
                                  "ts-notification-service", "ts-order-other-service",
                                  "ts-seat-service", "ts-security-service",
                                  "ts-station-service", "ts-ticketinfo-service",
                                  "ts-travel2-service", "ts-user-service"],
    "ts-preserve-service": ["ts-assurance-service", "ts-consign-service", "ts-contacts-service",
                            "ts-food-service", "ts-notification-service", "ts-order-service",
                            "ts-seat-service", "ts-security-service", "ts-station-service",
                            "ts-ticketinfo-service", "ts-travel-service", "ts-user-service"],
    "ts-rebook-service": ["ts-inside-payment-service", "ts-order-other-service",
                          "ts-order-service", "ts-seat-service", "ts-station-service",
                          "ts-travel-service", "ts-travel2-service"],
    "ts-route-plan-service": ["ts-route-service", "ts-station-service", "ts-travel-service",
                              "ts-travel2-service"],
    "ts-seat-service": ["ts-config-service", "ts-order-other-service", "ts-order-service",
                        "ts-travel-service", "ts-travel2-service"],
    "ts-security-service": ["ts-order-other-service", "ts-order-service"],
    "ts-ticketinfo-service": ["ts-basic-service"],
    "ts-travel-plan-service": ["ts-route-plan-service", "ts-seat-service", "ts-station-service",
                               "ts-ticketinfo-service", "ts-travel-service",
                               "ts-travel2-service"],
    "ts-travel-service": ["ts-order-service", "ts-route-service", "ts-seat-service",
                          "ts-ticketinfo-service", "ts-train-service"],
    "ts-travel2-service": ["ts-order-other-service", "ts-route-service", "ts-seat-service",
                           "ts-ticketinfo-service", "ts-train-service"],
    "ts-user-service": ["ts-auth-service"],
}
LEAVES = ["ts-avatar-service", "ts-news-service", "ts-voucher-service", "ts-ticket-office-service",
          "ts-verification-code-service", "ts-config-service", "ts-contacts-service",
          "ts-price-service", "ts-station-service", "ts-train-service", "ts-route-service",
          "ts-notification-service", "ts-payment-service", "ts-assurance-service",
          "ts-consign-price-service", "ts-food-map-service"]
# docker-compose.yml: each service with a database of its own
STORES = {s: s.replace("-service", "-mongo") for s in (
    "ts-auth-service", "ts-route-service", "ts-contacts-service", "ts-order-service",
    "ts-order-other-service", "ts-config-service", "ts-station-service", "ts-train-service",
    "ts-travel-service", "ts-travel2-service", "ts-price-service", "ts-security-service",
    "ts-inside-payment-service", "ts-payment-service", "ts-rebook-service",
    "ts-assurance-service", "ts-ticket-office-service", "ts-news-service", "ts-food-map-service",
    "ts-consign-service", "ts-consign-price-service", "ts-food-service")}
STORES["ts-user-service"] = "ts-account-mongo"
STORES["ts-voucher-service"] = "ts-voucher-mysql"
ENDPOINTS = {
    "POST /api/v1/preserveservice/preserve": ["ts-preserve-service"],
    "POST /api/v1/preserveotherservice/preserveOther": ["ts-preserve-other-service"],
    "POST /api/v1/travelservice/trips/left": ["ts-travel-service"],
    "POST /api/v1/travelplanservice/travelPlan/cheapest": ["ts-travel-plan-service"],
    "POST /api/v1/orderservice/order/refresh": ["ts-order-service"],
    "POST /api/v1/inside_pay_service/inside_payment": ["ts-inside-payment-service"],
    "POST /api/v1/users/login": ["ts-user-service", "ts-verification-code-service"],
    "GET /api/v1/foodservice/foods/{date}/{start}/{end}/{trip}": ["ts-food-service"],
    "GET /api/v1/newsservice/news": ["ts-news-service"],
    "POST /api/v1/cancelservice/cancel/{orderId}/{loginId}": ["ts-cancel-service"],
}


def graph() -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = {}
    every = sorted(set(CALLS) | set(LEAVES) | {d for deps in CALLS.values() for d in deps}
                   | {"ts-rebook-service", "ts-execute-service"})
    for name in every:
        deps = list(CALLS.get(name, []))
        if name in STORES:
            deps.append(STORES[name])
        spec: dict[str, Any] = {"repo": f"github:trainticket/{name}"}
        if deps:
            spec["depends_on"] = deps
        services[name] = spec
    for store in sorted(set(STORES.values())):
        services[store] = {"type": "datastore"}
    services["istio-ingress"] = {"type": "infrastructure"}
    services["ts-ui-dashboard"] = {
        "repo": "github:trainticket/ts-ui-dashboard",
        "depends_on": sorted({d for deps in ENDPOINTS.values() for d in deps}),
        "endpoints": {ep: {"depends_on": deps} for ep, deps in ENDPOINTS.items()},
    }
    return {"services": dict(sorted(services.items()))}


def _v(parts: tuple[int, int, int]) -> str:
    return "v" + ".".join(map(str, parts))


AUTHORS = ["mchen", "apatel", "jsilva", "kwong", "ohara", "lnguyen", "rkaur", "tbauer"]


def changes(rng: random.Random) -> list[dict[str, Any]]:
    apps = sorted(set(CALLS) | set(LEAVES) | {"ts-ui-dashboard"})
    versions: dict[str, tuple[int, int, int]] = {s: (1, rng.randint(0, 9), rng.randint(0, 9))
                                                 for s in apps}
    out: list[dict[str, Any]] = []

    def deploy(service: str, at: datetime, **extra: Any) -> dict[str, Any]:
        major, minor, patch = versions[service]
        new = (major, minor, patch + 1) if rng.random() < 0.7 else (major, minor + 1, 0)
        versions[service] = new
        short = service.removeprefix("ts-").removesuffix("-service")
        number = sum(new) * 7 + len(out)
        item = {"id": f"gh-deploy-{short}-{number}", "kind": "deploy", "service": service,
                "at": at, "started_at": at - timedelta(minutes=rng.randint(3, 9)),
                "version": _v(new), "previous_version": _v((major, minor, patch)),
                "author": rng.choice(AUTHORS), "source": "github",
                "url": f"https://github.com/trainticket/{service}/deployments",
                "summary": f"{service} {_v(new)}"}
        item.update(extra)
        out.append(item)
        return item

    # the steady trickle of the day: deploys and config pushes from every team
    start = ONSET - timedelta(hours=26)
    t = start
    while t < ONSET - timedelta(minutes=50):
        t += timedelta(minutes=rng.randint(20, 75))
        if 1 <= t.hour < 7:  # quiet at night
            continue
        service = rng.choice([s for s in apps if s not in ("ts-seat-service",)])
        if rng.random() < 0.8:
            deploy(service, t)
        else:
            out.append({"id": f"cfg-{service.removeprefix('ts-')}-{len(out)}", "kind": "config",
                        "service": service, "at": t, "author": rng.choice(AUTHORS),
                        "source": "ci-config", "summary": f"{service}: tune connection pool"})
    # the incident's story
    deploy("ts-seat-service", ONSET - timedelta(minutes=6),
           summary="ts-seat-service v2.8.0: seat allocation via new inventory cache")
    out[-1].update(id="gh-deploy-seat-280", version="v2.8.0", previous_version="v2.7.3",
                   author="kwong")
    deploy("ts-news-service", ONSET - timedelta(minutes=2), summary="news carousel copy")
    out.append({"id": "cfg-food-menu-ttl", "kind": "config", "service": "ts-food-service",
                "at": ONSET - timedelta(minutes=41), "author": "lnguyen", "source": "ci-config",
                "summary": "food menu cache TTL 60s -> 300s"})
    out.append({"id": "flag-travel-dynamic-pricing", "kind": "feature_flag",
                "service": "ts-travel-service", "at": ONSET - timedelta(hours=5, minutes=12),
                "author": "apatel", "source": "flags",
                "summary": "dynamic pricing 10% -> 25%",
                "details": {"flag": "dynamic-pricing", "rollout_percentage": 25}})
    out.append({"id": "mig-order-0031", "kind": "migration", "service": "ts-order-mongo",
                "at": ONSET - timedelta(hours=3, minutes=20), "source": "mongock",
                "version": "0031_add_order_channel", "previous_version": "0030",
                "summary": "add optional field orders.channel (backfill not needed)",
                "author": "rkaur"})
    out.append({"id": "infra-istio-1-22-3", "kind": "infrastructure",
                "service": "istio-ingress", "at": ONSET - timedelta(hours=20), "source": "argo",
                "summary": "istio ingress gateway 1.22.2 -> 1.22.3", "author": "tbauer"})
    deploy("ts-seat-service", ONSET - timedelta(minutes=35), environment="staging",
           summary="ts-seat-service v2.8.1-rc1 to staging")
    out[-1].update(id="gh-deploy-seat-281rc1-staging", version="v2.8.1-rc1",
                   previous_version="v2.8.0")
    out.append({"id": "cfg-preserve-timeout", "kind": "config",
                "service": "ts-preserve-service", "at": ONSET + timedelta(minutes=12),
                "source": "ci-config", "author": "ohara",
                "summary": "raise seat-service client timeout 2s -> 5s (mitigation attempt)"})
    for item in out:
        for key in ("at", "started_at"):
            if key in item:
                item[key] = item[key].isoformat().replace("+00:00", "Z")
    return sorted(out, key=lambda c: (c["at"], c["id"]))


INCIDENT = {
    "description": "Ticket booking (POST /api/v1/preserveservice/preserve) starts failing with "
                   "HTTP 500s at 14:05 UTC. Among the day's changes, a seat-service deploy "
                   "six minutes earlier sits two hops down the booking path, while a news "
                   "deploy landed closer but off the path.",
    "target": "ts-ui-dashboard:POST /api/v1/preserveservice/preserve",
    "started_at": ONSET.isoformat().replace("+00:00", "Z"),
    "environment": "production",
    "expect": {"culprit": "gh-deploy-seat-280", "decision": "rollback"},
}


def main() -> None:
    rng = random.Random(20261120)
    (HERE / "graph.yaml").write_text(
        "# Train-Ticket (FudanSELab/train-ticket @ 813dd01e): call graph, datastores and\n"
        "# gateway endpoints; regenerate with python -m rollback_advisor.demo.generate\n"
        + yaml.safe_dump(graph(), sort_keys=False, width=100), encoding="utf-8")
    (HERE / "changes.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in changes(rng)), encoding="utf-8")
    (HERE / "incident.yaml").write_text(yaml.safe_dump(INCIDENT, sort_keys=False, width=100),
                                        encoding="utf-8")


if __name__ == "__main__":
    main()

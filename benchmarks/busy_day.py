"""Busy-day benchmark: every corpus case embedded in a busy organisation, then evaluated.

A hand-written case holds a handful of changes; a real production day holds a thousand. This
script keeps each case exactly as written (its graph nodes, changes, incident and expected
answer are copied untouched) and adds the rest of a busy company around it:

- **Background services** (default 340): ``bg-`` nodes in tiers (gateways with endpoints, API
  services, domain services, platform services, datastores, queues, infrastructure), each tier
  depending on the tiers below it. None of the case's own nodes depends on them and they depend
  on none of the case's nodes: they are the rest of the company, so no change to them can reach
  the incident's target.
- **Background changes** (default 1,200 a day, ``bg-`` ids) over those services, at uniform
  times from onset-30 h to onset+6 h (so the engine's 24 h window is full and changes keep
  landing after the onset, as they do while responders work): mostly deploys, config pushes,
  some feature flags, a few additive (reversible) migrations and infrastructure changes. Some
  services are much busier than others (log-normal activity).
- **Routine changes of the case's own on-path services** (``rt-`` ids): every node the target
  or a symptom depends on (transitively, via ``DependencyGraph.reach_from``), their owning
  services and the graph's global nodes, except providers (a company does not deploy its
  provider), get deploys (65%) and config pushes (35%) at about 1.5 a day each (Poisson), at
  uniform times from onset-7 d to onset+1 d: the 24 h window holds ~1.5 of them per node and
  the failing nodes have a week of realistic history. The case's nodes off every failing path
  get no routine changes (the background services stand for the rest of the company).

Every routine change: the incident's environment (3% go to staging instead), ~2% failed
rollouts, sources like ``github``/``argo``/``terraform``, versions chained per service, kind and
environment (``v412`` -> ``v413``; a failed deploy does not become the live version), deploys
with a rollout start a few minutes before they finish. Scope: a region from a pool of six
realistic regions (the incident's own regions when it names some, filled up from a matching
catalogue); 15% have no scope (unknown), 15% are in every region, 8% in two, the rest in one.
When the incident's scope uses other labels (``site``, ``datacenter``, ``cell``...), the
case's own routine changes also get values for those labels, from a set that contains the
incident's values, each value sitting in one region.

Routine changes are routine by construction: the culprit and the expected decision do not
change. Everything is drawn from ``random.Random(f"{seed}/{case name}")``: the same seed
always writes the same files, and a case's variant does not depend on which other cases run.

Writes one JSON case file per case to ``OUT/seed-N/`` (DESIGN §3; stale case files there are
removed first), loads them back with ``load_case`` and runs ``evaluate`` with the default
settings on each seed; prints per seed and on average top-1, top-3, MRR, decision accuracy,
the share of no-change incidents that got ``rollback``, the Brier score when ``evaluate``
reports one, and both baselines. The written folders also work with
``rollback-advisor eval benchmarks/out/busy/seed-1``.

    python benchmarks/busy_day.py                          # benchmarks/cases, seeds 1 2 3
    python benchmarks/busy_day.py --seeds 7 --cases benchmarks/cases/gitlab-*.yaml
    python benchmarks/busy_day.py --format json --changes-per-day 2000
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import re
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rollback_advisor.cases import CASE_SUFFIXES, Case, case_from_dict, case_paths, load_case  # noqa: E402
from rollback_advisor.config import Settings  # noqa: E402
from rollback_advisor.errors import NotFound  # noqa: E402
from rollback_advisor.evaluate import evaluate  # noqa: E402
from rollback_advisor.graph import ENDPOINT  # noqa: E402
from rollback_advisor.models import Scope  # noqa: E402
from rollback_advisor.timeutil import format_utc  # noqa: E402

DEFAULT_CASES = ROOT / "benchmarks" / "cases"
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "busy"

BACKGROUND_SPAN = (timedelta(hours=-30), timedelta(hours=6))
ON_PATH_SPAN = (timedelta(days=-7), timedelta(days=1))
STAGING_SHARE = 0.03
FAILED_SHARE = 0.02
REGION_POOL_SIZE = 6
# Scope shapes of a routine change: unknown, everywhere, two places, else one place.
NO_SCOPE, ALL_SCOPE, TWO_SCOPE = 0.15, 0.15, 0.08

REGION_CATALOGUES = (
    ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1", "eu-central-1", "ap-northeast-1",
     "us-east-2", "us-west-1", "sa-east-1", "ap-south-1"),
    ("us-central1", "europe-west1", "us-east1", "asia-east1", "us-west1", "europe-west4",
     "us-east4", "us-west2", "asia-northeast1", "northamerica-northeast1", "southamerica-east1"),
)
SITE_CATALOGUE = (
    "Amsterdam", "Ashburn", "Atlanta", "Chicago", "Dallas", "Frankfurt", "Hong Kong", "London",
    "Los Angeles", "Madrid", "Miami", "Milan", "Mumbai", "Newark", "Osaka", "Paris", "San Jose",
    "São Paulo", "Seattle", "Singapore", "Stockholm", "Sydney", "Tokyo", "Toronto", "Warsaw",
    "Zurich", "Johannesburg", "Marseille", "Vienna", "Dublin",
)

# Background organisation: (tier, share of nodes, node type, activity factor).
TIERS = (
    ("gateway", 0.04, "service", 1.0),
    ("api", 0.22, "service", 1.0),
    ("domain", 0.36, "service", 1.0),
    ("platform", 0.12, "service", 0.8),
    ("db", 0.14, "datastore", 0.4),
    ("queue", 0.05, "queue", 0.4),
    ("infra", 0.07, "infrastructure", 0.5),
)
# What each tier may depend on (tiers further down), and how many of them.
TIER_DEPS = {
    "gateway": (("api", 2, 5),),
    "api": (("domain", 1, 4), ("platform", 0, 1)),
    "domain": (("domain-lower", 0, 2), ("platform", 1, 2), ("db", 1, 2), ("queue", 0, 1)),
    "platform": (("db", 1, 1), ("queue", 0, 1), ("infra", 1, 2)),
    "db": (("infra", 1, 1),),
    "queue": (("infra", 1, 1),),
    "infra": (),
}
DOMAINS = (
    "accounts", "ads", "analytics", "audit", "billing", "booking", "cart", "catalog", "chat",
    "checkout", "comments", "compliance", "content", "coupons", "crm", "email", "events",
    "experiments", "feeds", "files", "fraud", "geo", "gifts", "identity", "images", "inventory",
    "invoices", "ledger", "listings", "loyalty", "maps", "media", "messaging", "metering",
    "notifications", "orders", "partners", "payouts", "pricing", "profiles", "promotions",
    "quotes", "ratings", "receipts", "referrals", "reports", "returns", "reviews", "rewards",
    "routing", "search", "sessions", "settings", "shipping", "social", "subscriptions",
    "support", "tax", "tickets", "uploads", "users", "video", "wallet", "warehouse",
)
ROLES = {
    "gateway": ("edge", "gateway", "bff", "web"),
    "api": ("api", "graphql", "public-api", "admin-api"),
    "domain": ("service", "worker", "indexer", "scheduler", "processor", "sync"),
    "platform": ("authz", "config", "discovery", "flags", "ratelimit", "secrets", "tracing",
                 "id-gen", "blob-proxy", "mail-relay"),
    "db": ("postgres", "mysql", "redis", "cassandra", "elasticsearch", "dynamo"),
    "queue": ("kafka", "rabbitmq", "sqs"),
    "infra": ("k8s-cluster", "service-mesh", "internal-dns", "load-balancer", "vpc", "cdn",
              "nat-gateway", "vault"),
}
# Kind mix per node type: (kind, weight).
BACKGROUND_KINDS = {
    "service": (("deploy", 66), ("config", 22), ("feature_flag", 10), ("infrastructure", 2)),
    "datastore": (("config", 50), ("migration", 30), ("infrastructure", 20)),
    "queue": (("config", 60), ("infrastructure", 40)),
    "infrastructure": (("infrastructure", 60), ("config", 40)),
}
ON_PATH_KINDS = (("deploy", 65), ("config", 35))
SOURCES = {
    "deploy": (("github", 5), ("argo", 4), ("spinnaker", 1)),
    "config": (("argo", 4), ("github", 3), ("consul", 2)),
    "feature_flag": (("launchdarkly", 1),),
    "migration": (("github", 1),),
    "infrastructure": (("terraform", 4), ("argo", 1)),
}
VERSION_PREFIX = {"deploy": "v", "config": "r", "migration": "schema-"}
TEAMS = ("team-core", "team-payments", "team-growth", "team-platform", "team-data", "team-sre",
         "team-search", "team-mobile", "team-infra", "team-identity")


@dataclass(frozen=True)
class Options:
    """What shapes the busy organisation (the command-line options)."""

    changes_per_day: float = 1200.0
    background_services: int = 340
    on_path_per_day: float = 1.5


# -- the organisation --------------------------------------------------------------------------

def background_graph(rng: random.Random, size: int, taken: set[str]) -> dict[str, dict[str, Any]]:
    """A tiered service graph of ``size`` ``bg-`` nodes; depends only on itself."""
    names: dict[str, list[str]] = {}
    used = set(taken)
    counts = _tier_counts(size)
    for tier, _, _, _ in TIERS:
        names[tier] = []
        for _ in range(counts[tier]):
            name = _fresh_name(rng, tier, used)
            used.add(name)
            names[tier].append(name)
    services: dict[str, dict[str, Any]] = {}
    for tier, _, node_type, _ in TIERS:
        for index, name in enumerate(names[tier]):
            deps: list[str] = []
            for target, low, high in TIER_DEPS[tier]:
                # A domain service may call domain services created after it (no cycles).
                pool = names["domain"][index + 1:] if target == "domain-lower" else names[target]
                k = min(len(pool), rng.randint(low, high))
                deps.extend(rng.sample(pool, k))
            spec: dict[str, Any] = {}
            if node_type != "service":
                spec["type"] = node_type
            if deps:
                spec["depends_on"] = sorted(set(deps))
            if tier == "gateway":
                spec["endpoints"] = {f"GET /{name.split('-')[1]}/{j}": {
                    "depends_on": sorted(rng.sample(spec["depends_on"],
                                                    min(2, len(spec["depends_on"]))))}
                    for j in range(rng.randint(1, 3))}
            services[name] = spec
    # Every infrastructure node has a dependant: one without would count as global (reach
    # every target), which the rest of the company is not.
    depended = {d for spec in services.values() for d in spec.get("depends_on", ())}
    for name in names["infra"]:
        if name not in depended:
            user = rng.choice(names["platform"] or names["domain"])
            services[user]["depends_on"] = sorted({*services[user].get("depends_on", ()), name})
    return services


def _tier_counts(size: int) -> dict[str, int]:
    counts = {tier: max(1, math.floor(size * share)) for tier, share, _, _ in TIERS}
    counts["domain"] += size - sum(counts.values())
    return counts


def _fresh_name(rng: random.Random, tier: str, used: set[str]) -> str:
    for _ in range(50):
        name = f"bg-{rng.choice(DOMAINS)}-{rng.choice(ROLES[tier])}"
        if name not in used:
            return name
    n = 2
    while f"{name}-{n}" in used:
        n += 1
    return f"{name}-{n}"


# -- scope pools -------------------------------------------------------------------------------

def scope_pools(incident_scope: Scope | None, rng: random.Random) -> dict[str, list[str]]:
    """Per label, the places a routine change can land: the incident's values and siblings.

    ``region`` is always present (six regions unless the incident names more); other labels
    appear only when the incident's scope uses them.
    """
    wanted = {label: list(values) for label, values in (incident_scope or {}).items()}
    pools: dict[str, list[str]] = {}
    for label in sorted({"region", *wanted}):
        values = list(dict.fromkeys(wanted.get(label, [])))
        size = max(REGION_POOL_SIZE, len(values) + max(3, len(values) // 3))
        pools[label] = values + _siblings(label, values, size - len(values), rng)
    return pools


def _siblings(label: str, values: list[str], n: int, rng: random.Random) -> list[str]:
    """``n`` plausible other places of the same kind as ``values``."""
    catalogues = [*REGION_CATALOGUES, SITE_CATALOGUE]
    best = max(catalogues, key=lambda cat: len(set(cat) & set(values)))
    if not set(best) & set(values):
        numbered = [m for m in (re.fullmatch(r"(.*?)(\d+)", v) for v in values) if m]
        if numbered:
            return _numbered(numbered, set(values), n)
        if values:
            return [f"{values[0]}-{i}" for i in range(2, n + 2)]
        best = REGION_CATALOGUES[0] if label == "region" else SITE_CATALOGUE \
            if label == "site" else tuple(f"{label}-{i}" for i in range(1, n + 1))
    return [v for v in best if v not in values][:n]


def _numbered(matches: list[re.Match[str]], taken: set[str], n: int) -> list[str]:
    out: list[str] = []
    i = 1
    while len(out) < n:
        for m in matches:
            candidate = m.group(1) + str(i).zfill(len(m.group(2)))
            if candidate not in taken and len(out) < n:
                taken.add(candidate)
                out.append(candidate)
        i += 1
    return out


def draw_scope(rng: random.Random, pools: Mapping[str, Sequence[str]],
               homes: Mapping[str, str]) -> dict[str, list[str]] | None:
    """A routine change's scope over ``pools``' labels: unknown, everywhere, two or one place.

    ``homes`` maps each value of the first non-region label to its region, so a change in one
    cell is also in that cell's region.
    """
    r = rng.random()
    if r < NO_SCOPE:
        return None
    if r < NO_SCOPE + ALL_SCOPE:
        return {label: sorted(values) for label, values in pools.items()}
    k = 2 if r < NO_SCOPE + ALL_SCOPE + TWO_SCOPE else 1
    labels = [label for label in pools if label != "region"]
    scope: dict[str, list[str]] = {}
    if labels and homes:
        first = sorted(rng.sample(list(pools[labels[0]]), min(k, len(pools[labels[0]]))))
        scope[labels[0]] = first
        scope["region"] = sorted({homes[v] for v in first})
        labels = labels[1:]
    else:
        scope["region"] = sorted(rng.sample(list(pools["region"]), k))
    for label in labels:
        scope[label] = sorted(rng.sample(list(pools[label]), min(k, len(pools[label]))))
    return scope


# -- changes -----------------------------------------------------------------------------------

@dataclass
class Draft:
    """A routine change before its id and version are known (they follow time order)."""

    prefix: str
    service: str
    kind: str
    at: datetime
    environment: str
    failed: bool
    scope: dict[str, list[str]] | None
    source: str


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; ``lam`` is small here (tens at most)."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _draft(rng: random.Random, prefix: str, service: str, kind: str, onset: datetime,
           span: tuple[timedelta, timedelta], environment: str,
           pools: Mapping[str, Sequence[str]], homes: Mapping[str, str]) -> Draft:
    start, end = onset + span[0], onset + span[1]
    at = start + (end - start) * rng.random()
    staging = "production" if environment == "staging" else "staging"
    return Draft(prefix=prefix, service=service, kind=kind,
                 at=at.replace(microsecond=0),
                 environment=staging if rng.random() < STAGING_SHARE else environment,
                 failed=rng.random() < FAILED_SHARE, scope=draw_scope(rng, pools, homes),
                 source=_weighted(rng, SOURCES[kind]))


def background_drafts(rng: random.Random, services: Mapping[str, Mapping[str, Any]],
                      onset: datetime, environment: str, options: Options,
                      pools: Mapping[str, Sequence[str]]) -> list[Draft]:
    """``changes_per_day`` over the background span, busier services changing more often."""
    names = list(services)
    types = [services[n].get("type", "service") for n in names]
    factor = {node_type: f for _, _, node_type, f in TIERS}
    weights = [factor[t] * rng.lognormvariate(0, 0.8) for t in types]
    days = (BACKGROUND_SPAN[1] - BACKGROUND_SPAN[0]) / timedelta(days=1)
    count = round(options.changes_per_day * days)
    picks = rng.choices(range(len(names)), weights=weights, k=count)
    region_only = {"region": pools["region"]}
    return [_draft(rng, "bg", names[i], _weighted(rng, BACKGROUND_KINDS[types[i]]), onset,
                   BACKGROUND_SPAN, environment, region_only, {}) for i in picks]


def on_path_nodes(case: Case) -> list[str]:
    """The nodes a change to which can reach a failing node: what the target and each symptom
    depend on (transitively), their services, and the global nodes; providers excepted."""
    graph = case.graph
    failing = [case.incident.target, *(s.node for s in case.incident.symptoms)]
    nodes: set[str] = set(graph.global_nodes)
    for name in failing:
        try:
            node = graph.resolve(name)
        except NotFound:  # a symptom outside the graph is kept by the case, reaches nothing
            continue
        nodes.update(graph.owner(n) for n in graph.reach_from(node))
    return sorted(n for n in nodes if graph.node_type(n) not in (ENDPOINT, "provider"))


def on_path_drafts(rng: random.Random, case: Case, onset: datetime, options: Options,
                   pools: Mapping[str, Sequence[str]], homes: Mapping[str, str]) -> list[Draft]:
    days = (ON_PATH_SPAN[1] - ON_PATH_SPAN[0]) / timedelta(days=1)
    drafts = []
    for node in on_path_nodes(case):
        for _ in range(_poisson(rng, options.on_path_per_day * days)):
            drafts.append(_draft(rng, "rt", node, _weighted(rng, ON_PATH_KINDS), onset,
                                 ON_PATH_SPAN, case.incident.environment, pools, homes))
    return drafts


def finish(drafts: list[Draft], rng: random.Random, taken_ids: set[str]) -> list[dict[str, Any]]:
    """Ids and versions in time order; the DESIGN §1 dicts."""
    drafts = sorted(drafts, key=lambda d: (d.at, d.prefix, d.service, d.kind))
    issued: dict[tuple[str, str, str], int] = {}  # last number given, failed or not
    live: dict[tuple[str, str, str], int] = {}  # last number that succeeded
    serial = {"bg": 0, "rt": 0}
    out: list[dict[str, Any]] = []
    for d in drafts:
        serial[d.prefix] += 1
        change_id = f"{d.prefix}-{serial[d.prefix]:05d}"
        while change_id in taken_ids:  # never collide with the case's own ids
            change_id += "x"
        event: dict[str, Any] = {"id": change_id, "kind": d.kind, "service": d.service,
                                 "environment": d.environment, "at": format_utc(d.at)}
        if d.kind in ("deploy", "infrastructure"):
            rollout = timedelta(minutes=rng.uniform(3, 25) if d.kind == "deploy"
                                else rng.uniform(5, 60))
            event["started_at"] = format_utc(d.at - rollout)
        prefix = VERSION_PREFIX.get(d.kind)
        if prefix is not None:
            chain = (d.service, d.kind, d.environment)
            if chain not in issued:
                issued[chain] = live[chain] = rng.randint(10, 900)
            # A failed attempt burns its number but does not become what is live.
            issued[chain] += 1
            event["version"] = f"{prefix}{issued[chain]}"
            event["previous_version"] = f"{prefix}{live[chain]}"
            if not d.failed:
                live[chain] = issued[chain]
        event["status"] = "failed" if d.failed else "succeeded"
        if d.kind == "migration":
            event["reversible"] = True
        if d.scope is not None:
            event["scope"] = d.scope
        event["summary"] = _summary(d, event, rng)
        event["author"] = rng.choice(TEAMS)
        event["source"] = d.source
        out.append(event)
    return out


def _summary(d: Draft, event: Mapping[str, Any], rng: random.Random) -> str:
    if d.kind == "deploy":
        return f"release {event['version']}"
    if d.kind == "config":
        return f"config push {event['version']}"
    if d.kind == "feature_flag":
        share = rng.choice([1, 5, 25, 50, 100])
        return f"flag {d.service.split('-')[1]}-{rng.randint(1, 99)} to {share}%"
    if d.kind == "migration":
        column = f"{rng.choice(['note', 'tag', 'ref', 'flags'])}_{rng.randint(1, 9)}"
        return f"add nullable column {column}"
    return rng.choice(["scale out by 2 nodes", "rotate instance type", "node pool upgrade",
                       "raise connection limit", "resize volume"])


# -- one case ----------------------------------------------------------------------------------

def busy_case(data: Mapping[str, Any], seed: int, options: Options = Options()) -> dict[str, Any]:
    """The case document with the busy organisation added; the case's own parts untouched."""
    case = case_from_dict(data)
    rng = random.Random(f"{seed}/{case.name}")
    onset = case.incident.earliest_onset
    pools = scope_pools(case.incident.scope, rng)
    homes = _homes(pools, case.incident.scope or {}, rng)
    background = background_graph(rng, options.background_services, set(case.graph.g.nodes))
    drafts = background_drafts(rng, background, onset, case.incident.environment, options, pools)
    drafts += on_path_drafts(rng, case, onset, options, pools, homes)
    routine = finish(drafts, rng, {c.id for c in case.changes})
    out = copy.deepcopy(dict(data))
    out["description"] = (f"{data.get('description') or ''}".rstrip() + f"\n\nBusy-day variant "
                          f"(benchmarks/busy_day.py, seed {seed}): {len(background)} background "
                          f"services and {len(routine)} routine changes added.")
    out["graph"] = dict(out["graph"])
    out["graph"]["services"] = {**out["graph"]["services"], **background}
    out["changes"] = [*out["changes"], *routine]
    return out


def _homes(pools: Mapping[str, Sequence[str]], incident_scope: Mapping[str, Sequence[str]],
           rng: random.Random) -> dict[str, str]:
    """The region each value of the first non-region label sits in (the incident's values in
    the incident's regions when it names some)."""
    labels = [label for label in pools if label != "region"]
    if not labels:
        return {}
    label = labels[0]
    wanted = set(incident_scope.get(label, ()))
    incident_regions = list(incident_scope.get("region", ())) or list(pools["region"])
    return {v: rng.choice(incident_regions if v in wanted else list(pools["region"]))
            for v in pools[label]}


def read_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _json_default(obj: Any) -> str:
    if isinstance(obj, datetime | date):  # an unquoted YAML timestamp
        return obj.isoformat()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def write_seed(sources: Sequence[Path], seed: int, folder: Path, options: Options) -> list[Path]:
    """Write the busy variant of every case to ``folder`` (stale case files removed first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.suffix in CASE_SUFFIXES and stale.is_file():
            stale.unlink()
    written = []
    for source in sources:
        document = busy_case(read_document(source), seed, options)
        target = folder / f"{source.stem}.json"
        target.write_text(json.dumps(document, ensure_ascii=False, default=_json_default),
                          encoding="utf-8")
        written.append(target)
    return written


# -- figures -----------------------------------------------------------------------------------

def figures(result: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one ``evaluate`` result that this benchmark reports."""
    no_change = [r for r in result["per_case"] if r["culprit"] is None]
    out: dict[str, Any] = {
        "cases": result["cases"], "top1": result["top1"], "top3": result["top3"],
        "mrr": result["mrr"], "decision_accuracy": result["decision_accuracy"],
        "no_change_cases": len(no_change),
        "no_change_rollbacks": round(sum(r["decision"] == "rollback" for r in no_change)
                                     / len(no_change), 4) if no_change else None,
    }
    if "brier" in result:
        out["brier"] = result["brier"]
    if "reliability" in result:  # per seed only (JSON): bins do not average meaningfully
        out["reliability"] = result["reliability"]
    out["baselines"] = {name: {"top1": m["top1"], "top3": m["top3"]}
                        for name, m in result["baselines"].items()}
    return out


def mean_figures(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The average over seeds of every number the seeds all report."""
    def avg(values: Iterable[Any]) -> float | None:
        numbers = list(values)
        if not numbers or not all(isinstance(v, int | float) for v in numbers):
            return None
        return round(statistics.fmean(numbers), 4)

    first = per_seed[0]
    out: dict[str, Any] = {key: avg(f.get(key) for f in per_seed) for key in first
                           if key not in ("baselines", "cases", "no_change_cases",
                                          "reliability")}
    out["baselines"] = {name: {k: avg(f["baselines"][name][k] for f in per_seed) for k in m}
                        for name, m in first["baselines"].items()}
    return out


def run(sources: Sequence[Path], seeds: Sequence[int], out: Path,
        options: Options) -> dict[str, Any]:
    started = time.perf_counter()
    per_seed: dict[str, dict[str, Any]] = {}
    generate = evaluate_s = 0.0
    changes = 0
    settings = Settings()
    for seed in seeds:
        t0 = time.perf_counter()
        paths = write_seed(sources, seed, out / f"seed-{seed}", options)
        t1 = time.perf_counter()
        cases = [load_case(p) for p in case_paths(paths)]
        changes += sum(len(c.changes) for c in cases)
        per_seed[str(seed)] = figures(evaluate(cases, settings))
        t2 = time.perf_counter()
        generate += t1 - t0
        evaluate_s += t2 - t1
    return {
        "corpus": [str(p) for p in sources], "out": str(out), "seeds": list(seeds),
        "options": {"changes_per_day": options.changes_per_day,
                    "background_services": options.background_services,
                    "on_path_per_day": options.on_path_per_day},
        "mean_changes_per_case": round(changes / max(1, len(sources) * len(seeds))),
        "per_seed": per_seed, "mean": mean_figures(list(per_seed.values())),
        "seconds": {"generate": round(generate, 1), "load_and_evaluate": round(evaluate_s, 1),
                    "total": round(time.perf_counter() - started, 1)},
    }


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def text_report(report: Mapping[str, Any]) -> str:
    o = report["options"]
    lines = [f"busy day: {len(report['corpus'])} cases x {len(report['seeds'])} seeds, "
             f"{o['background_services']} background services, "
             f"{o['changes_per_day']:g} background changes/day, on-path "
             f"{o['on_path_per_day']:g}/day each; ~{report['mean_changes_per_case']} changes "
             f"per case; written to {report['out']}", ""]
    header = (f"{'seed':<6} {'top1':>6} {'top3':>6} {'mrr':>6} {'decisions':>9} "
              f"{'no-change rollbacks':>19} {'brier':>6}   "
              f"{'recency t1/t3':>13}   {'same_service t1/t3':>18}")
    lines.append(header)
    rows = [*report["per_seed"].items(), ("mean", report["mean"])]
    for name, f in rows:
        base = f["baselines"]
        lines.append(
            f"{name:<6} {_fmt(f['top1']):>6} {_fmt(f['top3']):>6} {_fmt(f['mrr']):>6} "
            f"{_fmt(f['decision_accuracy']):>9} {_fmt(f['no_change_rollbacks']):>19} "
            f"{_fmt(f.get('brier')):>6}   "
            f"{_fmt(base['recency']['top1']) + '/' + _fmt(base['recency']['top3']):>13}   "
            f"{_fmt(base['same_service']['top1']) + '/' + _fmt(base['same_service']['top3']):>18}")
    s = report["seconds"]
    lines += ["", f"time: generate {s['generate']} s, load and evaluate "
                  f"{s['load_and_evaluate']} s, total {s['total']} s"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=[str(DEFAULT_CASES)],
                        help="case files or folders (default benchmarks/cases)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="folder for the seed-N/ folders (default benchmarks/out/busy)")
    parser.add_argument("--changes-per-day", type=float, default=Options.changes_per_day,
                        help="background changes a day across the background services")
    parser.add_argument("--background-services", type=int,
                        default=Options.background_services)
    parser.add_argument("--on-path-per-day", type=float, default=Options.on_path_per_day,
                        help="routine changes a day of each on-path node of the case")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    options = Options(changes_per_day=args.changes_per_day,
                      background_services=args.background_services,
                      on_path_per_day=args.on_path_per_day)
    sources = list(case_paths(args.cases))
    if not sources:
        parser.error("no case files found")
    report = run(sources, args.seeds, Path(args.out), options)
    print(json.dumps(report, indent=2) if args.format == "json" else text_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""POST /api/v1/recommendations p50/p99 under concurrent clients, with N stored changes.

Reuses benchmarks/scale.py's generated organisation and changes (10,000 services; 1,000,000
changes by default, the last month dense); each request carries three symptoms and a failing
region (``--symptoms 0``: the target alone). Targets (issue 11): >= 100 recommendations/s and
p99 <= 40 ms with 2 workers and 2 clients on PostgreSQL. Also prints each worker's
peak resident memory (VmHWM of /proc/<pid>/status) once the graph is loaded and the queries
answered: run it at two store sizes to see that it does not grow with the stored changes.

    python benchmarks/http_recommend.py                              # 1M changes, PostgreSQL
    python benchmarks/http_recommend.py --changes 50000 --services 1000 --queries 300
    python benchmarks/http_recommend.py --changes 100000 --queries 300   # memory, small store
    python benchmarks/http_recommend.py --keep bench_1m   # build the store once, then reuse it

``--keep SCHEMA`` (PostgreSQL) builds the store in that schema and leaves it; a later run with
the same sizes reuses it (the changes are drawn again, not stored, so the requests are the same).
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_common import (  # noqa: E402
    drive,
    percentile,
    scratch_database,
    serving,
    worker_memory,
)
from scale import END, RECENT, REGIONS, SPAN, changes, organisation  # noqa: E402

from rollback_advisor.graph import DependencyGraph  # noqa: E402
from rollback_advisor.store import Store  # noqa: E402
from rollback_advisor.timeutil import format_utc  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def request_body(rng: random.Random, graph: DependencyGraph, target: str,
                 symptoms: int) -> dict[str, Any]:
    """A recommendation request as a responder sends it: the target, an onset in the dense last
    month and, with ``symptoms``, that many of its dependencies failing a few minutes before,
    and the failing region (as benchmarks/scale.py draws them)."""
    onset = END - timedelta(seconds=rng.random() * RECENT.total_seconds() * 0.9)
    body: dict[str, Any] = {"target": target, "at": format_utc(onset)}
    if symptoms:
        reach = sorted(graph.reach_from(graph.resolve(target)))
        body["symptoms"] = [{"node": n, "started_at": format_utc(
            onset - timedelta(minutes=rng.randint(0, 5)))}
            for n in rng.sample(reach, k=min(symptoms, len(reach)))]
        body["scope"] = {"region": [rng.choice(REGIONS)]}
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=PG)
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--symptoms", type=int, default=3,
                        help="other failing nodes per request, drawn from the target's "
                             "dependencies, with a failing region (0: the target alone)")
    parser.add_argument("--keep", metavar="SCHEMA",
                        help="PostgreSQL schema to build the store in and keep; reused when it "
                             "already holds --changes changes")
    args = parser.parse_args()
    rng = random.Random(7)
    database, drop_database = scratch_database(args.database, args.keep)
    try:
        store = Store(database)
        graph = organisation(args.services, rng)
        reuse = args.keep is not None and store.count_changes() == args.changes
        names = sorted(graph["services"])
        recent = args.changes // 12
        older = changes(args.changes - recent, names, END - SPAN, SPAN - RECENT, rng, "old")
        if reuse:  # drawn all the same, so the requests that follow are the same
            for _ in older:
                pass
            for _ in changes(recent, names, END - RECENT, RECENT, rng, "new"):
                pass
        else:
            store.save_graph(graph)
            store.add_changes(older)
            store.add_changes(changes(recent, names, END - RECENT, RECENT, rng, "new"))
        if store.dialect == "postgresql":
            # What autovacuum does within minutes of a bulk load on a live server: statistics,
            # and the visibility map that lets the window query stay an index-only scan.
            with store.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE changes")
        store.close()
        targets = [f"{n}:GET /api/{n}/0" for n in names
                   if "endpoints" in graph["services"][n]]
        deps = DependencyGraph.from_document(graph)
        bodies = [request_body(rng, deps, rng.choice(targets), args.symptoms)
                  for _ in range(args.queries)]
        with serving(database, args.workers) as (base, master):
            def ask(body):
                def call(session):
                    r = session.post(f"{base}/api/v1/recommendations", json=body, timeout=60)
                    assert r.status_code == 200, r.text

                return call

            drive([ask(b) for b in bodies[:50]], args.clients)  # warm graph caches
            wall, lat = drive([ask(b) for b in bodies], args.clients)
            memory = worker_memory(master)
    finally:
        drop_database()
    print(f"changes: {args.changes}  services: {args.services}  workers: {args.workers}  "
          f"clients: {args.clients}  queries: {args.queries}")
    print(f"recommendations: {args.queries / wall:.0f}/s  p50 {percentile(lat, .5):.1f} ms  "
          f"p99 {percentile(lat, .99):.1f} ms  (targets: >= 100/s, p99 <= 40 ms; "
          + (f"{args.symptoms} symptoms and a scope a request)" if args.symptoms
             else "the target alone)"))
    for m in memory:
        print(f"worker {m['pid']}: peak RSS (VmHWM) {m['hwm_kib'] / 1024:.0f} MiB, now "
              f"{m['rss_kib'] / 1024:.0f} MiB  ({args.services:,} services, {args.changes:,} "
              "stored changes)")


if __name__ == "__main__":
    main()

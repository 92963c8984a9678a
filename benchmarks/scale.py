"""Scale benchmark: a generated organisation of 10,000 services and 1,000,000 stored changes.

Prints figures, asserts nothing (speed is measured here, never in the test suite):
- import throughput (changes per second, one transaction per batch);
- ``suspects``/``recommend`` latency in-process, p50 and p99, over random targets and onsets;
- the floor measured in the same run: the store's window query (the one the recommendation
  path runs: every candidate of the 24 h window, as the engine's light rows) plus one graph
  traversal for the same incidents, and the ratio of p50/p99 to it;
- the same with three symptoms and a scope (the richer incidents of DESIGN §3): symptoms drawn
  from the target's dependencies, the failing region from six, every change scoped to a region
  (or unknown, one in five);
- peak Python memory (tracemalloc) of the query phase with only the recent month stored and
  again after the older changes are added, to show memory does not grow with changes outside
  the window; and the process's peak RSS.

    python benchmarks/scale.py                      # 10,000 services, 1,000,000 changes
    python benchmarks/scale.py --services 1000 --changes 100000 --queries 100   # quick look
    python benchmarks/scale.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/scale.py --keep /tmp/scale-1m.db   # built once, reused by later runs

With ``--keep FILE`` an existing store of the same size is reused: its changes are drawn again
(so the incidents asked are the same as in a full run) but not imported, and the memory figure
"with only the recent month stored" is then taken with everything stored.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rollback_advisor.advisor import Advisor  # noqa: E402
from rollback_advisor.config import Settings  # noqa: E402
from rollback_advisor.models import (  # noqa: E402
    Change,
    ChangeKind,
    ChangeStatus,
    Incident,
    Symptom,
)
from rollback_advisor.store import open_store  # noqa: E402

END = datetime(2026, 11, 20, tzinfo=UTC)
SPAN = timedelta(days=365)
RECENT = timedelta(days=30)
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "sa-east-1"]
KINDS = [ChangeKind.DEPLOY] * 6 + [ChangeKind.CONFIG] * 2 + [
    ChangeKind.FEATURE_FLAG, ChangeKind.MIGRATION, ChangeKind.INFRASTRUCTURE]


def organisation(n: int, rng: random.Random) -> dict:
    """A layered service graph: gateways with endpoints on top, datastores at the bottom."""
    layers = 8
    names = [f"svc-{i:05d}" for i in range(n)]
    layer_of = {name: min(layers - 1, i * layers // n) for i, name in enumerate(names)}
    by_layer: dict[int, list[str]] = {}
    for name, layer in layer_of.items():
        by_layer.setdefault(layer, []).append(name)
    services: dict[str, dict] = {}
    for name in names:
        layer = layer_of[name]
        below = [x for lay in range(layer + 1, min(layers, layer + 3)) for x in
                 by_layer.get(lay, [])]
        deps = sorted(set(rng.sample(below, k=min(len(below), rng.randint(1, 4))))) if below \
            else []
        spec: dict = {"depends_on": deps} if deps else {"type": "datastore"}
        if layer == 0:
            spec["endpoints"] = {f"GET /api/{name}/{j}": {"depends_on": deps[: 1 + j % 2]}
                                 for j in range(3)}
        services[name] = spec
    return {"services": services}


def changes(n: int, names: list[str], start: datetime, span: timedelta, rng: random.Random,
            prefix: str) -> Iterator[Change]:
    seconds = span.total_seconds()
    for i in range(n):
        at = start + timedelta(seconds=rng.random() * seconds)
        kind = rng.choice(KINDS)
        region = rng.choice(REGIONS + [None])
        yield Change(id=f"{prefix}:{i}", kind=kind, services=(rng.choice(names),), at=at,
                     version=f"v{i}", previous_version=f"v{i - 1}",
                     scope={"region": (region,)} if region else None,
                     status=ChangeStatus.FAILED if rng.random() < 0.02 else
                     ChangeStatus.SUCCEEDED, summary=f"{kind.value} #{i}", source="bench")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def query_phase(advisor: Advisor, targets: list[str], queries: int, rng: random.Random,
                symptoms: int = 0) -> tuple[list[float], list[float], int, int]:
    """Time advise() and the floor on the same incidents, interleaved; return ms lists, then
    the peak traced memory of a separate, shorter pass (tracemalloc slows every allocation
    several times over, so it must not run while latency is measured)."""
    store, graph = advisor.store, advisor.graph()
    window = advisor.settings.engine.window
    after = advisor.settings.engine.list_after_onset

    def incident() -> Incident:
        onset = END - timedelta(seconds=rng.random() * RECENT.total_seconds() * 0.9)
        target = rng.choice(targets)
        if not symptoms:
            return Incident(target=target, started_at=onset)
        deps = sorted(graph.reach_from(graph.resolve(target)))
        failing = rng.sample(deps, k=min(symptoms, len(deps)))
        return Incident(target=target, started_at=onset,
                        symptoms=tuple(Symptom(n, onset - timedelta(minutes=rng.randint(0, 5)))
                                       for n in failing),
                        scope={"region": (rng.choice(REGIONS),)})

    def cold() -> None:
        graph._reach_cache.clear()
        graph._dependants_cache.clear()

    full: list[float] = []
    floor: list[float] = []
    candidates = 0
    for _ in range(queries):
        inc = incident()
        onset = inc.started_at
        cold()
        t0 = time.perf_counter()
        got = store.window_candidates(start=onset - window, end=onset + after,
                                      environment="production")
        graph.reach_from(graph.resolve(inc.target))
        t1 = time.perf_counter()
        cold()
        advice = advisor.advise(inc)
        t2 = time.perf_counter()
        floor.append((t1 - t0) * 1000)
        full.append((t2 - t1) * 1000)
        candidates += len(got)
        assert advice.recommendation is not None
    tracemalloc.start()
    for _ in range(max(10, queries // 10)):
        cold()
        advisor.advise(incident())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return full, floor, peak, candidates // max(queries, 1)


def report(label: str, full: list[float], floor: list[float]) -> None:
    p50, p99 = percentile(full, 0.50), percentile(full, 0.99)
    f50, f99 = percentile(floor, 0.50), percentile(floor, 0.99)
    print(f"{label}: recommend latency p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          "(target p99 <= 25 ms)")
    print(f"  floor (window query + one traversal): p50 {f50:.1f} ms, p99 {f99:.1f} ms")
    print(f"  ratio to floor: p50 {p50 / f50:.2f}, p99 {p99 / f99:.2f}, "
          f"mean {statistics.mean(full) / statistics.mean(floor):.2f} "
          "(target <= 1.5 at p50 and p99)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, metavar="FILE",
                        help="SQLite file to build the store in and keep; reused when it "
                             "already holds --changes changes")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory()
    url = args.database or f"sqlite:///{args.keep or Path(tmp.name) / 'scale.db'}"
    store = open_store(url, Path(tmp.name))
    reuse = args.keep is not None and store.count_changes() == args.changes
    if args.keep is not None and not reuse and store.count_changes():
        sys.exit(f"{args.keep} holds another store: remove it first")
    advisor = Advisor(store, Settings())
    doc = organisation(args.services, rng)
    t = time.perf_counter()
    if reuse:
        advisor.graph()
    else:
        advisor.save_graph(doc)
    # A long-lived process freezes the heap once the graph is built, as `serve` workers do
    # (rollback_advisor/web/services.py): otherwise full collections walk the 10,000-node graph.
    gc.freeze()
    print(f"graph: {args.services} services, {advisor.graph().g.number_of_edges()} edges, "
          f"built and stored in {time.perf_counter() - t:.2f} s", flush=True)
    names = list(doc["services"])
    targets = [n for n, s in doc["services"].items() if "endpoints" in s]
    targets = [f"{n}:{ep}" for n in targets for ep in doc["services"][n]["endpoints"]]
    recent_n = int(args.changes * RECENT / SPAN)
    older_n = args.changes - recent_n

    def load(n: int, start: datetime, span: timedelta, prefix: str) -> float:
        t0 = time.perf_counter()
        batch: list[Change] = []
        done = 0
        for change in changes(n, names, start, span, rng, prefix):
            if reuse:  # drawn all the same, so the incidents that follow are the same
                continue
            batch.append(change)
            if len(batch) == 50_000:
                store.add_changes(batch)
                done += len(batch)
                batch.clear()
                print(f"  imported {done:,}/{n:,}", file=sys.stderr, flush=True)
        if batch:
            store.add_changes(batch)
        return n / (time.perf_counter() - t0)

    rate_recent = load(recent_n, END - RECENT, RECENT, "recent")
    if reuse:
        print(f"store: {args.keep} reused ({args.changes:,} changes); no import timed")
    else:
        print(f"import: {recent_n:,} changes of the last 30 days at {rate_recent:,.0f}/s")
    small = query_phase(advisor, targets, max(50, args.queries // 3), rng)
    rate_older = load(older_n, END - SPAN, SPAN - RECENT, "older")
    if not reuse:
        print(f"import: {older_n:,} older changes at {rate_older:,.0f}/s "
              f"(total stored {store.count_changes():,})")
    full, floor, peak, per_query = query_phase(advisor, targets, args.queries, rng)
    print(f"queries: {args.queries} recommend() calls, ~{per_query:,} candidate changes each "
          f"(24 h window)")
    report("target only", full, floor)
    rich, rich_floor, _, _ = query_phase(advisor, targets, args.queries, rng, symptoms=3)
    report("3 symptoms and a scope", rich, rich_floor)
    first = f"{store.count_changes():,} (reused store)" if reuse else f"{recent_n:,}"
    print(f"query-phase peak Python memory: {small[2] / 2**20:.1f} MiB with "
          f"{first} stored, {peak / 2**20:.1f} MiB with {store.count_changes():,} stored")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    store.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()

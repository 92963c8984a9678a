"""Hook ingestion throughput over HTTP with durable commits, as a ratio to a do-nothing endpoint.

Same server, same worker count, same client threads, same run: N signed canonical deliveries to
``POST /hooks/<id>`` (each one transaction: raw delivery + change, committed) against N calls to
``GET /healthz`` (no store access). Target: ratio >= 0.8 (issue 11).

The machine runs the client threads, the workers and the database together, so the run also
prints the CPU each of them used per request (this process, the gunicorn workers, and on
PostgreSQL the server processes of the workers' connections, less any a worker closed during
the run): what a delivery costs beyond ``/healthz``, and where.

    python benchmarks/http_ingest.py                                   # PostgreSQL, 2 workers
    python benchmarks/http_ingest.py --deliveries 500 --database sqlite:////tmp/ra-bench.db

With SQLite it first prints what durable commits cost: the same deliveries stored in-process
(``ServiceTables.store_delivery``, one committed transaction each) on a fresh file with
``synchronous=NORMAL`` (before: a power loss could lose acknowledged deliveries) and with
``synchronous=FULL`` (what the store uses: each commit syncs the WAL).

``--cpu`` measures instead what the server spends of its own: the app in this process (Flask's
test client, no HTTP, no gunicorn), the same deliveries and ``GET /healthz`` calls, and the
process CPU time (``time.process_time``) per request of each, and on PostgreSQL the CPU of the
server processes of the app's connections per delivery. On a machine shared with other
work this moves far less than the HTTP ratio, which the load on the client threads and the
database sets as much as the server.

    python benchmarks/http_ingest.py --cpu --deliveries 1500
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_common import (  # noqa: E402
    KEY,
    cpu_seconds,
    drive,
    percentile,
    postgres_backends,
    scratch_database,
    serving,
    worker_pids,
)
from sqlalchemy import event  # noqa: E402

from connectors.hooks import sign  # noqa: E402
from rollback_advisor.models import change_from_dict  # noqa: E402
from rollback_advisor.store import Store  # noqa: E402
from rollback_advisor.store.service_tables import ServiceTables  # noqa: E402
from rollback_advisor.web.credentials import register_hook  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def commit_cost(synchronous: str, count: int) -> tuple[float, float, float]:
    """Deliveries per second, p50 and p99 ms of ``count`` in-process deliveries on a fresh
    SQLite file with the given ``synchronous`` setting."""
    store = Store(f"sqlite:///{tempfile.mkdtemp(prefix='ra-sync-')}/bench.db")

    def pragma(dbapi_conn, _record) -> None:  # after the store's own pragmas
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")

    event.listen(store.engine, "connect", pragma)
    store.engine.dispose()  # reconnect with it
    tables = ServiceTables(store)
    hook = register_hook(tables=tables, server_key=KEY, base_url="http://x", name="bench",
                         source="generic", mapping={}, environment=None)
    took = []
    started = time.perf_counter()
    for i in range(count):
        change = change_from_dict({"id": f"sync:{i}", "kind": "deploy", "service": "s",
                                   "at": "2026-11-20T14:00:00Z", "version": f"v{i}"})
        t0 = time.perf_counter()
        tables.store_delivery(hook_id=hook["id"], delivery_key=f"k{i}", event="deploy", headers={},
                              body=b"{}", changes=[change])
        took.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == (
            2 if synchronous == "FULL" else 1)
    store.close()
    return count / elapsed, percentile(took, .5), percentile(took, .99)


def worker_cpu(database: str, count: int) -> tuple[float, float, float]:
    """Process CPU ms per ``GET /healthz`` and per delivery, the app in this process, and on
    PostgreSQL the database's (its server processes for this process's connections) per
    delivery."""
    import os

    directory = tempfile.mkdtemp(prefix="ra-cpu-")
    config = Path(directory) / "config.yaml"
    config.write_text("server:\n  secret_key: {$env: RA_BENCH_KEY}\n  read_auth: false\n")
    os.environ.update(RA_BENCH_KEY=KEY, ROLLBACK_ADVISOR_DATABASE_URL=database,
                      ROLLBACK_ADVISOR_DATA_DIR=directory, ROLLBACK_ADVISOR_CONFIG=str(config))
    store = Store(database)
    hook = register_hook(tables=ServiceTables(store), server_key=KEY, base_url="http://x",
                         name="bench", source="generic", mapping={}, environment=None)
    store.close()
    from rollback_advisor.web.app import build_app

    client = build_app().test_client()
    run = uuid.uuid4().hex[:6]
    bodies = [json.dumps({"id": f"cpu:{run}:{i}", "kind": "deploy", "service": f"s{i % 50}",
                          "at": "2026-11-20T14:00:00Z", "version": f"v{i}"}).encode()
              for i in range(count + 20)]

    def deliver(body: bytes) -> None:
        r = client.post(f"/hooks/{hook['id']}", data=body, headers={
            "Content-Type": "application/json",
            "X-Rollback-Advisor-Signature": sign(body, hook["secret"])})
        assert r.status_code == 201, r.data

    for body in bodies[:20]:  # warm up: connections, caches, prepared statements
        deliver(body)
        client.get("/healthz")
    backends = (postgres_backends(database, [os.getpid()])
                if database.startswith("postgresql") else [])
    t0 = time.process_time()
    for _ in range(count):
        client.get("/healthz")
    t1 = time.process_time()
    db1 = cpu_seconds(backends)
    for body in bodies[20:]:
        deliver(body)
    t2 = time.process_time()
    db2 = cpu_seconds(backends)
    return (t1 - t0) * 1000 / count, (t2 - t1) * 1000 / count, (db2 - db1) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=PG)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cpu", action="store_true",
                        help="server CPU per request in-process instead of the HTTP run")
    args = parser.parse_args()
    if args.cpu:
        database, drop_database = scratch_database(args.database)
        try:
            healthz, hook, db = worker_cpu(database, args.deliveries)
        finally:
            drop_database()
        print(f"server CPU per request, in-process: GET /healthz {healthz:.3f} ms, "
              f"POST /hooks (committed) {hook:.3f} ms; ratio {healthz / hook:.2f}"
              + (f"; database CPU per delivery {db:.3f} ms"
                 if args.database.startswith("postgresql") else ""))
        return
    if args.database.startswith("sqlite"):
        for label, mode in (("before", "NORMAL"), ("after", "FULL")):
            rate, p50, p99 = commit_cost(mode, min(args.deliveries, 2000))
            print(f"in-process, synchronous={mode:<6} ({label}): {rate:6.0f} deliveries/s  "
                  f"p50 {p50:5.2f} ms  p99 {p99:5.2f} ms")
    database, drop_database = scratch_database(args.database)
    store = Store(database)
    hook = register_hook(tables=ServiceTables(store), server_key=KEY, base_url="http://x",
                         name="bench", source="generic", mapping={}, environment=None)
    store.close()
    run = uuid.uuid4().hex[:6]
    bodies = [json.dumps({"id": f"bench:{run}:{i}", "kind": "deploy", "service": f"s{i % 50}",
                          "at": "2026-11-20T14:00:00Z", "version": f"v{i}"}).encode()
              for i in range(args.deliveries)]
    warm = [json.dumps({"id": f"warm:{run}:{i}", "kind": "deploy", "service": f"s{i % 50}",
                        "at": "2026-11-20T14:00:00Z", "version": f"w{i}"}).encode()
            for i in range(100)]
    try:
        with serving(database, args.workers) as (base, master):
            url = f"{base}/hooks/{hook['id']}"

            def deliver(body: bytes):
                headers = {"Content-Type": "application/json",
                           "X-Rollback-Advisor-Signature": sign(body, hook["secret"])}

                def call(session):
                    r = session.post(url, data=body, headers=headers, timeout=30)
                    assert r.status_code == 201, r.text

                return call

            def noop(session):
                assert session.get(f"{base}/healthz", timeout=30).ok

            drive([noop] * 200, args.clients)  # warm up connections and workers
            drive([deliver(b) for b in warm], args.clients)
            workers = worker_pids(master)
            backends = (postgres_backends(database, workers)
                        if database.startswith("postgresql") else [])

            def cpu() -> tuple[float, float, float]:
                return time.process_time(), cpu_seconds(workers), cpu_seconds(backends)

            cpu0 = cpu()
            t_noop, lat_noop = drive([noop] * args.deliveries, args.clients)
            cpu1 = cpu()
            t_ingest, lat_ingest = drive([deliver(b) for b in bodies], args.clients)
            if backends:  # and the connections opened since (all their CPU is the run's)
                backends += [p for p in postgres_backends(database, workers)
                             if p not in backends]
            cpu2 = cpu()
    finally:
        drop_database()
    noop_rate = args.deliveries / t_noop
    ingest_rate = args.deliveries / t_ingest
    print(f"database: {args.database.split('?')[0]}  workers: {args.workers}  "
          f"clients: {args.clients}  requests: {args.deliveries}")
    print(f"do-nothing GET /healthz : {noop_rate:8.0f} req/s   p50 "
          f"{percentile(lat_noop, .5):6.2f} ms  p99 {percentile(lat_noop, .99):6.2f} ms")
    print(f"POST /hooks (committed): {ingest_rate:8.0f} req/s   p50 "
          f"{percentile(lat_ingest, .5):6.2f} ms  p99 {percentile(lat_ingest, .99):6.2f} ms")
    for label, (a, b) in (("GET /healthz", (cpu0, cpu1)), ("POST /hooks ", (cpu1, cpu2))):
        client, workers_cpu, database_cpu = ((y - x) * 1000 / args.deliveries
                                             for x, y in zip(a, b, strict=True))
        print(f"CPU per request, {label}: client threads {client:.3f} ms, workers "
              f"{workers_cpu:.3f} ms, database {database_cpu:.3f} ms")
    print(f"ratio ingest / do-nothing: {ingest_rate / noop_rate:.2f}  (target >= 0.8)")

if __name__ == "__main__":
    main()

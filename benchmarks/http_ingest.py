"""Hook ingestion throughput over HTTP with durable commits, as a ratio to a do-nothing endpoint.

Same server, same worker count, same client threads, same run: N signed canonical deliveries to
``POST /hooks/<id>`` (each one transaction: raw delivery + change, committed) against N calls to
``GET /healthz`` (no store access). Target: ratio >= 0.5.

    python benchmarks/http_ingest.py                                   # PostgreSQL, 2 workers
    python benchmarks/http_ingest.py --deliveries 500 --database sqlite:////tmp/ra-bench.db
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_common import KEY, drive, percentile, scratch_database, server  # noqa: E402

from connectors.hooks import sign  # noqa: E402
from rollback_advisor.store import Store  # noqa: E402
from rollback_advisor.store.service_tables import ServiceTables  # noqa: E402
from rollback_advisor.web.credentials import register_hook  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=PG)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    database, drop_database = scratch_database(args.database)
    store = Store(database)
    hook = register_hook(tables=ServiceTables(store), server_key=KEY, base_url="http://x",
                         name="bench", source="generic", mapping={}, environment=None)
    store.close()
    run = uuid.uuid4().hex[:6]
    bodies = [json.dumps({"id": f"bench:{run}:{i}", "kind": "deploy", "service": f"s{i % 50}",
                          "at": "2026-11-20T14:00:00Z", "version": f"v{i}"}).encode()
              for i in range(args.deliveries)]
    try:
        with server(database, args.workers) as base:
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
            t_noop, lat_noop = drive([noop] * args.deliveries, args.clients)
            t_ingest, lat_ingest = drive([deliver(b) for b in bodies], args.clients)
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
    print(f"ratio ingest / do-nothing: {ingest_rate / noop_rate:.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()

"""Import throughput through the command line: ``rollback-advisor import FILE`` of generated
change events into a fresh SQLite file and a fresh PostgreSQL schema, in changes per second.

Prints figures, asserts nothing. The time is the whole command (start-up, reading and
validating every line, the writes and the commit), measured from outside the process; the file
is written first and not timed. Target: >= 50,000 changes/s on both stores.

    python benchmarks/import_throughput.py                     # 200,000 changes, both stores
    python benchmarks/import_throughput.py --changes 50000 --stores sqlite
    python benchmarks/import_throughput.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
END = datetime(2026, 11, 20, tzinfo=UTC)
KINDS = ["deploy"] * 6 + ["config"] * 2 + ["feature_flag", "migration", "infrastructure"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "sa-east-1"]


def events(n: int, services: int, seed: int) -> Iterator[dict]:
    """A year of changes over ``services`` services, as ``scale.py`` generates them."""
    rng = random.Random(seed)
    span = timedelta(days=365).total_seconds()
    for i in range(n):
        at = END - timedelta(seconds=rng.random() * span)
        kind = rng.choice(KINDS)
        event = {"id": f"bench:{i}", "kind": kind, "service": f"svc-{rng.randrange(services):05d}",
                 "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "version": f"v{i}",
                 "previous_version": f"v{i - 1}", "summary": f"{kind} #{i}", "source": "bench"}
        if rng.random() < 0.3:
            event["started_at"] = (at - timedelta(minutes=rng.randint(1, 30))).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
        region = rng.choice(REGIONS + [None])
        if region:
            event["scope"] = {"region": [region]}
        if rng.random() < 0.02:
            event["status"] = "failed"
        yield event


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A URL whose connections see only a fresh schema of their own, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def timed_import(url: str, path: Path, data_dir: str, again: bool) -> tuple[float, dict]:
    """Seconds for ``rollback-advisor import PATH`` (the store already created, so migrations
    are not timed) and its JSON summary; ``again`` imports the file a second time (every line a
    duplicate)."""
    env = {**os.environ, "ROLLBACK_ADVISOR_DATABASE_URL": url,
           "ROLLBACK_ADVISOR_DATA_DIR": data_dir}
    env.pop("ROLLBACK_ADVISOR_CONFIG", None)
    command = [sys.executable, "-m", "rollback_advisor.cli", "import", str(path),
               "--format", "json"]
    subprocess.run([sys.executable, "-m", "rollback_advisor.cli", "changes", "--limit", "1"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    runs = 2 if again else 1
    took = 0.0
    summary: dict = {}
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"import failed: {done.stderr[-2000:]}")
        summary = json.loads(done.stdout)
    return took, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=PG, help="server URL (a scratch schema is used)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ra-import-") as tmp:
        path = Path(tmp) / "changes.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for event in events(args.changes, args.services, args.seed):
                out.write(json.dumps(event) + "\n")
        size = path.stat().st_size
        print(f"{args.changes:,} generated changes, {size / 2**20:.1f} MiB of JSON Lines")
        for name in args.stores:
            for again in (False, True):
                if name == "sqlite":
                    url = f"sqlite:///{tmp}/{uuid.uuid4().hex}.db"
                    took, summary = timed_import(url, path, tmp, again)
                else:
                    with postgres_schema(args.postgres) as url:
                        took, summary = timed_import(url, path, tmp, again)
                what = "re-import (all duplicates)" if again else "import"
                print(f"{name:<9} {what:<27} {took:6.2f} s  {args.changes / took:>9,.0f} "
                      f"changes/s  (inserted {summary['inserted']:,}, duplicates "
                      f"{summary['duplicates']:,}; target >= 50,000/s)", flush=True)


if __name__ == "__main__":
    main()

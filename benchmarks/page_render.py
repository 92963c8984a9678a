"""Incident page render time: ``GET /incidents/<id>`` for an incident with 2,000 changes in
its window, rendered server-side through Flask's test client (no network, no browser).

The store is the demo's (the Train-Ticket graph, the day's changes) plus ``--changes``
generated changes spread over the 24 hours before the demo incident's onset and the two hours
after it, on the graph's services. The incident is opened once (its advice computed and
stored, as an alert would); then the page is rendered ``--renders`` times after a few warm-up
renders. Each render reads the incident, its advice history and verdicts, the window's changes
for the timeline, and draws both SVGs. Prints p50/p99/mean, the page's size and the timeline's
element count. Target (issue #9): p50 and p99 <= 150 ms.

    python benchmarks/page_render.py                         # 2,000 changes, 50 renders
    python benchmarks/page_render.py --worker-gc             # collecting as serve's workers do
    python benchmarks/page_render.py --changes 20000 --renders 20 --save /tmp/page.html
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rollback_advisor.config import Settings  # noqa: E402
from rollback_advisor.models import ChangeKind, change_from_dict  # noqa: E402
from rollback_advisor.timeutil import format_utc  # noqa: E402
from rollback_advisor.web import create_app  # noqa: E402
from rollback_advisor.web.credentials import create_token  # noqa: E402
from rollback_advisor.web.services import services  # noqa: E402
from tests.web.demo_incident import demo, load_demo, sign_in  # noqa: E402

KINDS = [ChangeKind.DEPLOY] * 6 + [ChangeKind.CONFIG] * 2 + [ChangeKind.FEATURE_FLAG,
                                                             ChangeKind.INFRASTRUCTURE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--renders", type=int, default=50)
    parser.add_argument("--save", help="write the rendered page here")
    parser.add_argument("--worker-gc", action="store_true",
                        help="collect as serve's workers do (gc.set_threshold(10_000, 10, 10), "
                             "the heap frozen after the warm-up renders)")
    args = parser.parse_args()
    rng = random.Random(9)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", data_dir=tmp)
        assert settings.database_url
        load_demo(settings.database_url)
        app = create_app(settings)
        the = demo()
        onset = the.incident.started_at
        with app.app_context():
            svc = services()
            nodes = [n for n in svc.advisor().graph().services()]
            changes = []
            for i in range(args.changes):
                at = onset - timedelta(hours=24) + timedelta(seconds=rng.random() * 26 * 3600)
                changes.append(change_from_dict({
                    "id": f"bench-{i}", "kind": rng.choice(KINDS).value,
                    "service": rng.choice(nodes), "at": format_utc(at),
                    "environment": the.incident.environment, "version": f"v{i}",
                    "source": "bench"}))
            svc.store.add_changes(changes)
            record = svc.incidents().open(the.incident, title=the.title)
            token = create_token(tables=svc.tables, scope="admin")["token"]
            window = len(svc.store.window_candidates(
                start=onset - timedelta(hours=24), end=onset + timedelta(hours=2),
                environment=the.incident.environment))
        client = app.test_client()
        sign_in(client, token)
        path = f"/incidents/{record.id}"
        for _ in range(3):
            assert client.get(path).status_code == 200
        if args.worker_gc:
            gc.set_threshold(10_000, 10, 10)
            gc.collect()
            gc.freeze()
        times = []
        for _ in range(args.renders):
            started = time.perf_counter()
            page = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert page.status_code == 200
        html = page.get_data(as_text=True)
        timeline = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" class="timeline"'):]
        timeline = timeline[:timeline.index("</svg>")]
        if args.save:
            Path(args.save).write_text(html, encoding="utf-8")
        app.extensions["rollback_advisor"].store.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print(f"incident page, {window} changes in the window ({args.changes} generated), "
          f"{args.renders} renders, SQLite, in-process test client"
          f"{', worker GC settings' if args.worker_gc else ''}")
    print(f"  p50 {statistics.median(times):.1f} ms   p99 {p99:.1f} ms   "
          f"mean {statistics.fmean(times):.1f} ms   max {times[-1]:.1f} ms  (target <= 150 ms)")
    print(f"  page {len(html) / 1024:.0f} KiB; timeline {len(re.findall(r'<[a-z]', timeline))} "
          "SVG elements")


if __name__ == "__main__":
    main()

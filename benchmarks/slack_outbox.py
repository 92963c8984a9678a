"""What posting incident advice to Slack costs an alert delivery, and how fast the poster drains.

In process (Flask test client, a throw-away SQLite store, the test suite's graph and changes):
N Alertmanager deliveries, each opening an incident of its own (so each computes advice),
first with Slack not configured, then with a bot token (the hook renders the message and
queues it in the outbox); prints the median and p95 per delivery of both. Then one poster
drains the N queued messages to a fake Slack Web API on loopback (tests/web/fake_slack.py) and
prints messages per second.

    python benchmarks/slack_outbox.py                  # 200 deliveries
    python benchmarks/slack_outbox.py --deliveries 500
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rollback_advisor.models import change_from_dict  # noqa: E402
from rollback_advisor.store.outbox import SlackOutbox  # noqa: E402
from rollback_advisor.web import create_app  # noqa: E402
from rollback_advisor.web.services import services  # noqa: E402
from rollback_advisor.web.slack_poster import SlackPoster  # noqa: E402
from tests.web.conftest import CHANGES, GRAPH, make_settings  # noqa: E402
from tests.web.fake_slack import fake_slack  # noqa: E402
from tests.web.test_incidents import alert, am_payload, hook, post  # noqa: E402


def deliveries(settings: Any, n: int) -> tuple[list[float], Any]:
    app = create_app(settings)
    with app.app_context():
        services().store.save_graph(GRAPH)
        services().store.add_changes(change_from_dict(c) for c in CHANGES)
    h = hook(app)
    client = app.test_client()
    times = []
    for i in range(n):
        payload = am_payload(alert(f"f{i}", {"service": "frontend",
                                             "route": "POST /cart/checkout"},
                                   "2026-11-20T14:05:00Z"), group=f"group-{i}")
        start = time.perf_counter()
        r = post(client, h, payload)
        times.append(time.perf_counter() - start)
        assert r.status_code == 201, r.get_json()
    return times, app


def line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    return (f"{name}: median {statistics.median(ordered) * 1000:.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95) - 1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    n = args.deliveries
    with fake_slack() as slack:
        off_dir, on_dir = (Path(tempfile.mkdtemp(prefix="ra-slack-bench-")) for _ in range(2))
        off, app = deliveries(make_settings(off_dir), n)
        app.extensions["rollback_advisor"].store.close()
        on_settings = make_settings(on_dir, slack_bot_token="xoxb-bench", slack_channel="C1",
                                    slack_api_url=slack.url + "/api/")
        on, app = deliveries(on_settings, n)
        store = app.extensions["rollback_advisor"].store
        print(f"{n} alert deliveries, each opening an incident (SQLite)")
        print(line("  Slack off         ", off))
        print(line("  Slack on (queued) ", on))
        assert SlackOutbox(store).depth() == n
        start = time.perf_counter()
        drained = SlackPoster(store, replace(on_settings)).drain()
        seconds = time.perf_counter() - start
        assert drained.sent == n and len(slack.calls) == n
        print(f"poster: {n} messages to the fake Slack Web API in {seconds:.2f} s "
              f"({n / seconds:.0f} messages/s, one chat.postMessage each)")
        store.close()


if __name__ == "__main__":
    main()

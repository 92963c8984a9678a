"""How long a Slack verdict click takes to answer (Slack wants 200 within 3 seconds).

In process (Flask test client, a throw-away SQLite store, the test suite's graph and changes):
N incidents opened by hand, then one signed ``block_actions`` click per incident on a verdict
button (the Bolt for Python payload of tests/fixtures/slack), alternating ``culprit`` on the
top suspect and ``no_change`` (which also records the implied ``not_culprit``); prints the
median and p95 per click, with Slack not configured and with a webhook configured (each
verdict then also queues the message update in the outbox).

    python benchmarks/slack_interactions.py                # 200 clicks each
    python benchmarks/slack_interactions.py --clicks 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rollback_advisor.models import change_from_dict  # noqa: E402
from rollback_advisor.verdicts import VerdictKind  # noqa: E402
from rollback_advisor.web import create_app  # noqa: E402
from rollback_advisor.web.services import services  # noqa: E402
from rollback_advisor.web.slack import slack_signature  # noqa: E402
from rollback_advisor.web.verdict_actions import VerdictAction, encode  # noqa: E402
from tests.web.conftest import CHANGES, GRAPH, ONSET, SLACK_SECRET, make_settings  # noqa: E402
from tests.web.test_verdicts import BOLT, TOP, named_admin  # noqa: E402


def clicks(settings: Any, n: int) -> list[float]:
    app = create_app(settings)
    with app.app_context():
        services().store.save_graph(GRAPH)
        services().store.add_changes(change_from_dict(c) for c in CHANGES)
    client, admin = app.test_client(), named_admin(app, "bench")
    incidents = []
    for _ in range(n):
        r = client.post("/api/v1/incidents", headers=admin,
                        json={"target": "frontend:POST /cart/checkout", "at": ONSET})
        incidents.append(r.get_json()["id"])
    payload = json.loads(BOLT.read_text())
    times = []
    for i, incident in enumerate(incidents):
        action = (VerdictAction(str(incident), TOP, VerdictKind.CULPRIT) if i % 2 else
                  VerdictAction(str(incident), None, VerdictKind.NO_CHANGE))
        payload["actions"][0].update(action_id="verdict", value=encode(action))
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": slack_signature(SLACK_SECRET, stamp, body)}
        start = time.perf_counter()
        r = client.post("/slack/interactions", data=body, headers=headers)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    app.extensions["rollback_advisor"].store.close()
    return times


def line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    return (f"{name}: median {statistics.median(ordered) * 1000:.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95) - 1] * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200)
    args = parser.parse_args()
    for name, server in [("slack off", {}),
                         ("webhook", {"slack_webhook_url": "http://127.0.0.1:9/hook"})]:
        with tempfile.TemporaryDirectory() as tmp:
            print(line(f"{args.clicks} verdict clicks, {name}",
                       clicks(make_settings(Path(tmp), **server), args.clicks)))


if __name__ == "__main__":
    main()

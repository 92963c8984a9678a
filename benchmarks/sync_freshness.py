"""What keeping current costs: vendor requests per source per hour when nothing changes, and
the latency the pull before advice adds to a recommendation when nothing is new.

The GitHub and GitLab connectors run against the fake APIs of ``sync_requests.py`` on a loopback
HTTP server (real sockets and urllib3). Part 1 runs two scheduler "instances" (``SourceRunner``
on two engines, one SQLite store) polling every 5 s over an hour of injected time, with the
default intervals (60 s + up to 60 s jitter). Part 2 asks the service (Flask test client, the
same ``Services.advise_request`` the API and Slack use) for recommendations with the pull before
advice on and off, after a first sync, and prints the difference and the requests per question.
Targets: at most one request per resource kind per interval; the pull at most one request per
source and <= 100 ms.

    python benchmarks/sync_freshness.py [--repos 1] [--questions 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_requests import FakeApis, serve  # noqa: E402

from connectors.schedule import SourceRunner  # noqa: E402
from rollback_advisor.config import ServerSettings, Settings, SyncSettings  # noqa: E402
from rollback_advisor.store import open_store  # noqa: E402


def connectors(apis: FakeApis) -> dict[str, Any]:
    return {"github": {"base_url": f"{apis.base}/api/v3", "token": "bench",
                       "repos": apis.repos, "lookback": "90d"},
            "gitlab": {"url": apis.base, "token": "bench", "projects": apis.repos,
                       "lookback": "90d"}}


def requests_per_hour(apis: FakeApis, tmp: Path) -> None:
    url = f"sqlite:///{tmp / 'schedule.db'}"
    settings = Settings(database_url=url, connectors=connectors(apis))
    clock = [time.time()]
    stores = [open_store(url), open_store(url)]
    runners = [SourceRunner(s, settings, role=f"bench{i}", clock=lambda: clock[0])
               for i, s in enumerate(stores)]
    for name in runners[0].plans:  # the first sync of everything, not counted
        runners[0].run(name)
    apis.calls.clear()
    syncs = dict.fromkeys(runners[0].plans, 0)
    start = clock[0]
    while clock[0] < start + 3600:
        clock[0] += 5
        for runner in runners:
            for name in runner.plans:
                outcome = runner.run(name)
                if outcome.ran:
                    syncs[name] += 1
                    if outcome.report is not None and outcome.report.failed:
                        print(f"  FAILED {outcome.report.line()}")
    print("part 1: one hour, nothing new upstream, two instances polling every 5 s "
          "(interval 60 s + jitter up to 60 s)")
    for name, n in syncs.items():
        kinds = {k: v for k, v in apis.calls.items() if k.startswith(name)}
        total = sum(kinds.values())
        print(f"  {name}: {n} syncs/hour, {total} requests/hour "
              f"({total / len(apis.repos):.0f} per repository; "
              f"{total / max(n, 1) / len(apis.repos):.2f} per repository per sync)")
        for kind, count in sorted(kinds.items()):
            print(f"    {kind:<24} {count:>5}  ({count / max(n, 1) / len(apis.repos):.2f} "
                  "per repository per interval)")
    for s in stores:
        s.close()


def pull_latency(apis: FakeApis, tmp: Path, questions: int) -> None:
    from rollback_advisor.web import create_app
    from rollback_advisor.web.services import services

    url = f"sqlite:///{tmp / 'web.db'}"
    graph = {"services": {f"svc{i}": {"repo": f"github:{r}"} for i, r in enumerate(apis.repos)}}
    graph["services"]["deploy-gl"] = {"repo": f"gitlab:{apis.repos[0]}"}
    graph["services"]["svc0"]["depends_on"] = ["deploy-gl"]
    base = Settings(database_url=url, data_dir=str(tmp), connectors=connectors(apis),
                    server=ServerSettings(read_auth=False, secret_key="b" * 32))
    timings: dict[str, list[float]] = {}
    calls: dict[str, float] = {}
    for label, pull in (("pull off", False), ("pull on", True)):
        settings = replace(base, sync=SyncSettings(pull_before_advice=pull,
                                                   pull_deadline=timedelta(seconds=3)))
        app = create_app(settings)
        with app.app_context():
            services().store.save_graph(graph)
        client = app.test_client()
        body = {"target": "svc0"}
        client.post("/api/v1/recommendations", json=body)  # warm: first sync, graph built
        apis.calls.clear()
        samples = []
        for _ in range(questions):
            started = time.perf_counter()
            answer = client.post("/api/v1/recommendations", json=body)
            samples.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.json
        timings[label] = samples
        calls[label] = sum(apis.calls.values()) / questions
        if pull:
            print(f"  sources in the last answer: {[s['text'] for s in answer.json['sources']]}")
            print("  requests per question by kind: " + ", ".join(
                f"{k} {v / questions:.2f}" for k, v in sorted(apis.calls.items())))
        svc = app.extensions["rollback_advisor"]
        if svc._freshness is not None and svc._freshness._puller is not None:
            svc._freshness._puller.close()
        svc.store.close()
    print(f"part 2: {questions} recommendations on svc0 (2 sources on its paths), "
          "nothing new upstream")
    for label, samples in timings.items():
        ordered = sorted(samples)
        print(f"  {label:<9} median {statistics.median(ordered) * 1000:6.1f} ms, "
              f"p95 {ordered[int(len(ordered) * 0.95) - 1] * 1000:6.1f} ms, "
              f"{calls[label]:.2f} vendor requests per question")
    added = statistics.median(timings["pull on"]) - statistics.median(timings["pull off"])
    print(f"  the pull adds {added * 1000:.1f} ms (median) per recommendation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=1)
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    apis = FakeApis(args.repos, args.deployments)
    server = serve(apis)
    with tempfile.TemporaryDirectory() as tmp:
        requests_per_hour(apis, Path(tmp))
        pull_latency(apis, Path(tmp), args.questions)
    server.shutdown()


if __name__ == "__main__":
    main()

"""Per-delivery time of GitHub deployment webhooks that map their repository through the graph.

Every GitHub or GitLab delivery names its service through the stored graph's ``repo:``
annotations (as ``sync`` does), so a large graph must not make deliveries slow. In process
(Flask test client, a throw-away SQLite store), N signed ``deployment`` deliveries against a
graph of S services, each with a ``repo:`` annotation; prints the median, p95 and slowest time.

    python benchmarks/hook_repo_mapping.py                   # 10,000 services, 300 deliveries
    python benchmarks/hook_repo_mapping.py --services 100 --deliveries 1000
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rollback_advisor.config import ServerSettings, Settings  # noqa: E402
from rollback_advisor.web import create_app  # noqa: E402
from rollback_advisor.web.app import services  # noqa: E402
from rollback_advisor.web.credentials import register_hook  # noqa: E402

KEY = "benchmark-server-key-0123456789abcdef"
PAYLOAD = (Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hooks" /
           "github-webhooks-octokit" / "deployment" / "payload.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=300)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ra-hook-bench-"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp / 'bench.db'}", data_dir=str(tmp),
                              server=ServerSettings(secret_key=KEY)))
    graph = {"services": {f"svc{i}": {"repo": f"github:acme/svc{i}"}
                          for i in range(args.services)}}
    with app.app_context():
        services().store.save_graph(graph)
    with app.test_request_context():
        hook = register_hook(tables=services().tables, server_key=KEY, base_url="http://bench",
                             name="gh", source="github", mapping={}, environment=None)
    payload = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    payload["repository"]["full_name"] = f"acme/svc{args.services // 2}"
    client = app.test_client()
    times = []
    for i in range(args.deliveries):
        payload["deployment"]["id"] = 1_000_000 + i
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(hook["secret"].encode(), body,
                                         hashlib.sha256).hexdigest()
        started = time.perf_counter()
        response = client.post(f"/hooks/{hook['id']}", data=body, headers={
            "X-GitHub-Event": "deployment", "X-GitHub-Delivery": f"bench-{i}",
            "X-Hub-Signature-256": signature, "Content-Type": "application/json"})
        times.append(time.perf_counter() - started)
        if response.status_code != 201:
            raise SystemExit(f"delivery {i} answered {response.status_code}: "
                             f"{response.get_json()}")
    with app.app_context():
        change = services().store.get_change(response.get_json()["changes"][0])
    app.extensions["rollback_advisor"].store.close()
    times.sort()
    print(f"{args.deliveries} GitHub deliveries, graph of {args.services} services: median "
          f"{times[len(times) // 2] * 1000:.2f} ms, p95 {times[int(len(times) * 0.95)] * 1000:.2f}"
          f" ms, slowest {times[-1] * 1000:.1f} ms (the first builds the graph); mapped to "
          f"{', '.join(change.services)}")


if __name__ == "__main__":
    main()

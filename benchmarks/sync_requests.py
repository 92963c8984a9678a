"""Requests spent by ``sync``: a first full sync, then one with nothing new.

Runs the GitHub and GitLab connectors through ``run_sync`` into a throw-away SQLite store,
against a fake API on a loopback HTTP server (real sockets, real urllib3 retries, no internet),
and prints the requests each sync spent by resource kind and the changes stored per second.
Target: a sync with nothing new spends at most one request per repository and resource kind.

    python benchmarks/sync_requests.py [--repos 5] [--deployments 200]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import ConnectorContext  # noqa: E402
from connectors.sync import run_sync  # noqa: E402
from rollback_advisor.config import Settings  # noqa: E402
from rollback_advisor.store import open_store  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApis:
    """GitHub (``/api/v3``) and GitLab (``/api/v4``) answers for generated deployments."""

    def __init__(self, repos: int, deployments: int) -> None:
        self.repos = [f"acme/svc{i}" for i in range(repos)]
        self.count = deployments
        self.calls: Counter[str] = Counter()
        self.base = ""

    def github_deployment(self, repo: str, n: int) -> dict[str, Any]:
        r = self.repos.index(repo)
        did = 100_000 * (r + 1) + n
        created = NOW - timedelta(hours=2 * (self.count - n) + 1)
        return {"url": f"{self.base}/api/v3/repos/{repo}/deployments/{did}", "id": did,
                "sha": f"{did:040x}", "ref": f"v1.{n}", "task": "deploy", "payload": {},
                "environment": "production", "description": None,
                "creator": {"login": "deployer", "id": 1, "type": "User"},
                "created_at": _ts(created), "updated_at": _ts(created),
                "statuses_url": f"{self.base}/api/v3/repos/{repo}/deployments/{did}/statuses",
                "repository_url": f"{self.base}/api/v3/repos/{repo}"}

    def gitlab_deployment(self, pid: int, n: int) -> dict[str, Any]:
        did = 100_000 * (pid + 1) + n
        created = NOW - timedelta(hours=2 * (self.count - n) + 1)
        done = created + timedelta(minutes=5)
        return {"id": did, "iid": n, "ref": f"v1.{n}", "sha": f"{did:040x}",
                "status": "success", "created_at": _ts(created), "updated_at": _ts(done),
                "user": {"username": "deployer"},
                "environment": {"id": 1, "name": "production"},
                "deployable": {"id": did, "status": "success", "started_at": _ts(created),
                               "finished_at": _ts(done), "web_url": f"{self.base}/jobs/{did}"}}

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[Any, dict[str, str]]:
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["30"])[0])
        if m := re.fullmatch(r"/api/v3/repos/(.+?/.+?)/deployments", path):
            self.calls["github deployments"] += 1
            items = [self.github_deployment(m.group(1), n)
                     for n in range(self.count, 0, -1)]
            return self.page(path, query, items, page, per_page)
        if re.fullmatch(r"/api/v3/repos/.+/deployments/(\d+)/statuses", path):
            self.calls["github statuses"] += 1
            return [{"id": 1, "state": "success", "created_at": _ts(NOW - timedelta(hours=1)),
                     "log_url": None, "target_url": None, "environment_url": None}], {}
        if re.fullmatch(r"/api/v3/repos/.+/compare/.+", path):
            self.calls["github compare"] += 1
            return {"html_url": "", "total_commits": 1, "commits": [
                {"sha": "f" * 40, "commit": {"message": "Fix (#1)", "author": {"name": "a"}},
                 "author": {"login": "a"}}], "files": [{"filename": "app.py"}]}, {}
        if m := re.fullmatch(r"/api/v4/projects/([^/]+)", path):
            self.calls["gitlab project"] += 1
            name = m.group(1).replace("%2F", "/")
            pid = self.repos.index(name) if name in self.repos else int(name)
            return {"id": pid, "path_with_namespace": self.repos[pid]}, {}
        if m := re.fullmatch(r"/api/v4/projects/(\d+)/deployments", path):
            self.calls["gitlab deployments"] += 1
            after = query.get("updated_after", [""])[0]
            items = [d for d in (self.gitlab_deployment(int(m.group(1)), n)
                                 for n in range(1, self.count + 1)) if d["updated_at"] >= after]
            return self.page(path, query, items, page, per_page)
        if re.fullmatch(r"/api/v4/projects/\d+/deployments/\d+/merge_requests", path):
            self.calls["gitlab merge_requests"] += 1
            return [], {}
        if re.fullmatch(r"/api/v4/projects/\d+/repository/compare", path):
            self.calls["gitlab compare"] += 1
            return {"commits": [{"id": "f" * 40, "title": "Fix", "message": "Fix"}],
                    "diffs": [{"new_path": "app.rb"}], "web_url": ""}, {}
        raise KeyError(path)

    def page(self, path: str, query: dict[str, list[str]], items: list[Any], page: int,
             per_page: int) -> tuple[Any, dict[str, str]]:
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            q = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "page")
            headers["Link"] = f'<{self.base}{path}?{q}&page={page + 1}>; rel="next"'
        return chunk, headers


def serve(apis: FakeApis) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            try:
                body, headers = apis.route(url.path, parse_qs(url.query))
                status = 200
            except KeyError:
                body, headers, status = {"message": "Not Found"}, {}, 404
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    apis.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--deployments", type=int, default=200)
    args = parser.parse_args()
    apis = FakeApis(args.repos, args.deployments)
    server = serve(apis)
    settings = Settings(connectors={
        "github": {"base_url": f"{apis.base}/api/v3", "token": "bench", "repos": apis.repos,
                   "lookback": "90d"},
        "gitlab": {"url": apis.base, "token": "bench", "projects": apis.repos,
                   "lookback": "90d"},
    })
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(None, Path(tmp))
        for label in ("first sync", "nothing new"):
            apis.calls.clear()
            started = time.perf_counter()
            reports = run_sync(store, settings, context=ConnectorContext(sleep=time.sleep))
            seconds = time.perf_counter() - started
            stored = sum(r.added + r.updated for r in reports)
            print(f"{label}: {sum(apis.calls.values())} requests in {seconds:.2f} s, "
                  f"{stored} changes stored ({stored / seconds:.0f}/s)")
            for kind, n in sorted(apis.calls.items()):
                print(f"  {kind:<24} {n:>6}  ({n / len(apis.repos):.1f} per repository)")
            for r in reports:
                if r.failed:
                    print(f"  FAILED {r.line()}")
        store.close()
    server.shutdown()


if __name__ == "__main__":
    main()

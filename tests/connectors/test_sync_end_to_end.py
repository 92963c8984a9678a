"""The connectors issue's "done when", as one test: a config naming a GitHub repo, a GitLab
project, an application database, a status page and a host makes ``rollback-advisor sync`` fill
the store, and ``suspects`` ranks what it found.

Every source is real up to the wire: the GitHub, GitLab and Statuspage APIs answer with the
recorded shapes the connector tests use (``responses``), the application database is a SQLite
file with Flyway's own history table, and the host is a TLS server on 127.0.0.1 presenting an
expired trustme certificate. Nothing leaves loopback (``conftest._no_network``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
import trustme
from click.testing import CliRunner

from rollback_advisor.cli import cli

from . import github_api, gitlab_api
from .migration_db import FIXTURES, flyway_ddl, flyway_row, run_sql
from .statuspage_api import BASE, incidents_doc, load

# The incident: checkout's payment endpoint fails from 14:15 on 2026-11-20.
ONSET = "2026-11-20T14:15:00Z"
TARGET = "checkout:POST /pay"
# The host's certificate expired ten minutes before, on the node the endpoint calls.
EXPIRED_AT = datetime(2026, 11, 20, 14, 13, tzinfo=UTC)

GRAPH = """\
services:
  checkout:
    repo: github:Acme/Checkout
    endpoints:
      "POST /pay": {depends_on: [payments-gateway, orders-db]}
    depends_on: [payments-gateway, orders-db, cart]
  cart:
    repo: gitlab:shop/checkout
  payments-gateway:
    depends_on: [github]
  orders-db: {type: datastore}
  github: {type: provider}
"""

CONFIG = """\
connectors:
  github:
    base_url: {github_api}
    token: {{$env: GITHUB_TOKEN}}
    repos: [acme/checkout]
    lookback: 3650d
  gitlab:
    url: {gitlab_url}
    token: {{$env: GITLAB_TOKEN}}
    projects: [shop/checkout]
    lookback: 3650d
  migrations:
    databases:
      - name: orders
        url: {{$env: ORDERS_DB_URL}}
        framework: flyway
        service: orders-db
        scripts: {scripts}
  providers:
    feeds:
      - name: githubstatus
        type: statuspage
        url: {statuspage}
        node: github
    backoff: 0.001s
  certificates:
    hosts:
      - {{host: 127.0.0.1, port: {port}, node: payments-gateway, server_name: pay.example.test}}
"""


def build_orders_db(path: Path) -> str:
    """A SQLite application database whose Flyway history holds a baseline, an additive V3
    and the destructive V4 (drops a column), applied the afternoon of the incident."""
    url = f"sqlite:///{path}"
    run_sql(url, flyway_ddl(url) + [
        flyway_row(1, "1", "<< Flyway Baseline >>", "<< Flyway Baseline >>",
                   "2026-11-20 09:00:00", 0, True, kind="BASELINE"),
        flyway_row(2, "3", "Couple", "V3__Couple.sql", "2026-11-20 12:00:00", 40, True),
        flyway_row(3, "4", "Drop person nickname", "V4__Drop_person_nickname.sql",
                   "2026-11-20 13:30:00", 2500, True),
    ])
    return url


def statuspage_incident() -> dict[str, Any]:
    """incidents.json holding one recorded GitHub incident, moved to the incident's afternoon."""
    doc = incidents_doc()
    incident = copy.deepcopy(doc["incidents"][1])
    incident.update(id="e2e1", started_at="2026-11-20T11:00:00.000Z",
                    created_at="2026-11-20T11:00:00.000Z")
    return {**doc, "incidents": [incident]}


def serve_apis(mock: responses.RequestsMock) -> None:
    """GitHub (success, failure, in progress), GitLab (two successes, one running) and the
    status page, all from the recorded fixture shapes."""
    github_api.serve_history(mock)
    gitlab_api.serve_history(mock)
    mock.get(BASE + "incidents.json", json=statuspage_incident())
    mock.get(BASE + "summary.json", json=load("githubstatus-summary-2022-11-25.json"))


def invoke(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.stdout) if "json" in args else result.stdout


def test_sync_fills_the_store_from_five_sources_and_suspects_ranks_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock: responses.RequestsMock,
        ca: trustme.CA,
        tls_server: Callable[[trustme.LeafCert], AbstractContextManager[int]]) -> None:
    """First sync: each source adds what it found; second sync: nothing new, nothing added;
    ``suspects`` puts the certificate that expired on the endpoint's path first, then the
    rollout under way on its service, the destructive migration and the failed deploy, and
    the deploys of a service it does not call last, each with its reasons."""
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITLAB_TOKEN", "test-token")
    monkeypatch.setenv("ORDERS_DB_URL", build_orders_db(tmp_path / "orders.db"))
    cert = ca.issue_cert("pay.example.test", not_before=EXPIRED_AT - timedelta(days=90),
                         not_after=EXPIRED_AT)
    (tmp_path / "graph.yaml").write_text(GRAPH, encoding="utf-8")
    runner = CliRunner()
    with tls_server(cert) as port:
        config = tmp_path / "rollback-advisor.yaml"
        config.write_text(CONFIG.format(
            github_api=github_api.API, gitlab_url=gitlab_api.URL, statuspage=BASE, port=port,
            scripts=FIXTURES / "flyway" / "sql"), encoding="utf-8")
        base = ("--config", str(config))
        invoke(runner, *base, "graph", "load", str(tmp_path / "graph.yaml"))

        serve_apis(mock)
        first = invoke(runner, *base, "sync", "--format", "json")
        added = {s["source"]: (s["status"], s["added"]) for s in first["sources"]}
        assert first["ok"] is True
        assert added == {"github": ("ok", 3), "gitlab": ("ok", 3), "migrations": ("ok", 2),
                         "providers": ("ok", 1), "certificates": ("ok", 1)}

        # Nothing new upstream: every source runs again and adds nothing.
        mock.calls.reset()
        again = invoke(runner, *base, "sync", "--format", "json")
        assert {s["source"]: (s["status"], s["added"], s["updated"])
                for s in again["sources"]} == {name: ("ok", 0, 0) for name in added}
        # GitHub: the deployment list and the one still in progress; GitLab: one list;
        # the status page: its two documents. (Database and host are read directly.)
        assert len(mock.calls) == 5

        ranked = invoke(runner, *base, "suspects", TARGET, "--at", ONSET, "--format", "json")
    stored = invoke(runner, *base, "changes", "--format", "json")
    assert len(stored) == 10 and {c["source"] for c in stored} == {
        "github", "gitlab", "flyway", "statuspage", "certificates"}

    suspects = ranked["suspects"]
    ids = [s["change"]["id"] for s in suspects]
    # 801 (cart) landed more than the 24 h window before; 5001 too, but it changed the failing
    # endpoint's own service, which stays a candidate at any age (DESIGN §4), at its lag's weight
    assert ranked["candidates"] == 9
    assert "github:Acme/Checkout:deployment:5001" in ids
    # First: the certificate that expired two minutes before, one hop down the endpoint's path.
    top = suspects[0]
    serial = top["change"]["details"]["serial"]
    assert top["change"]["id"] == f"certificates:127.0.0.1:{port}:{serial}"
    assert top["change"]["at"] == "2026-11-20T14:13:00Z" and top["change"]["reversible"] is False
    assert top["path"] == [TARGET, "payments-gateway"] and top["probability"] > 0.5
    assert [r["text"] for r in top["reasons"]] == [
        "certificate: base risk 1.5", "certificate expired 2 min before onset",
        "1 hop: checkout:POST /pay -> payments-gateway"]
    # Then the rollout still under way on the target's own service, the destructive migration
    # of the datastore it calls (above the additive one), and the failed deploy.
    assert ids[1:4] == ["github:Acme/Checkout:deployment:5003", "migrations:orders:flyway:3",
                        "github:Acme/Checkout:deployment:5002"]
    assert ids.index("migrations:orders:flyway:3") < ids.index("migrations:orders:flyway:2")
    reasons = {s["change"]["id"]: [r["text"] for r in s["reasons"]] for s in suspects}
    assert "migration drops column PERSON.NICKNAME: destructive, irreversible" in reasons[
        "migrations:orders:flyway:3"]
    assert "rollout failed: a partial or broken state" in reasons[
        "github:Acme/Checkout:deployment:5002"]
    assert "2 hops: checkout:POST /pay -> payments-gateway -> github" in reasons[
        "githubstatus:incident:e2e1"]
    # Low: cart's deploys, which the endpoint does not depend on: below every change on its
    # path from the last hour and a half; the finished one last of all (the one still rolling
    # out at the onset keeps a little weight).
    assert ids.index("gitlab:shop/checkout:deployment:803") > ids.index(
        "github:Acme/Checkout:deployment:5002")
    assert ids[-1] == "gitlab:shop/checkout:deployment:802"
    assert "the target does not depend on cart" in reasons["gitlab:shop/checkout:deployment:802"]
    assert all({r["factor"] for r in s["reasons"]} >= {"prior", "time", "graph"}
               for s in suspects)
    probabilities = [s["probability"] for s in suspects]
    assert probabilities == sorted(probabilities, reverse=True)

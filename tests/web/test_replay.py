"""``deliveries replay`` re-parses stored raw deliveries with today's parsers (issue #10, item
10): what an older parser got wrong is corrected, a PagerDuty body loses its routing key, a
delivery today's rules refuse is reported and left, and a second replay changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rollback_advisor.models import change_from_dict
from rollback_advisor.store import Store
from rollback_advisor.store.service_tables import ServiceTables, attach_delivery

from .test_cli_service import invoke, runner  # noqa: F401 - the CLI fixture

EVENT = {"id": "ci:checkout:2", "kind": "deploy", "service": "checkout", "version": "v2",
         "at": "2026-11-20T14:00:00Z"}
PD_EVENT = {"routing_key": "R0UT1NGKEY", "payload": {
    "summary": "Deploy payment v7", "timestamp": "2026-11-20T14:02:00Z", "source": "payment"}}


def _hook(cli: Any, source: str) -> str:
    r = invoke(cli, "hooks", "register", source, "--source", source, "--format", "json")
    return str(json.loads(r.output)["id"])


def _replay(cli: Any, *args: str) -> dict[str, Any]:
    r = invoke(cli, "deliveries", "replay", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.output))


def test_replay_corrects_then_changes_nothing(runner, tmp_path):  # noqa: F811
    generic, pagerduty = _hook(runner, "generic"), _hook(runner, "pagerduty")
    store = Store(f"sqlite:///{tmp_path / 'web.db'}")
    tables = ServiceTables(store)
    old = change_from_dict({**EVENT, "service": "checkout-old"})  # what an old parser made
    tables.store_delivery(hook_id=generic, delivery_key="k1", event="change", headers={},
                          body=json.dumps(EVENT).encode(),
                          changes=attach_delivery([old], generic, "k1"))
    nan = json.dumps({**EVENT, "id": "ci:nan", "details": {"x": float("nan")}}).encode()
    tables.store_delivery(hook_id=generic, delivery_key="k2", event="change", headers={},
                          body=nan, changes=[])  # stored before NaN was refused
    tables.store_delivery(hook_id=pagerduty, delivery_key="p1", event="change_event",
                          headers={}, body=json.dumps(PD_EVENT).encode(), changes=[])

    first = _replay(runner)
    assert (first["deliveries"], first["inserted"], first["updated"], first["refused"]) == (
        3, 1, 1, 1)
    assert any("details.x" in line and "refused" in line for line in first["lines"])
    fixed = store.get_change(EVENT["id"])
    assert fixed.services == ("checkout",)
    assert fixed.details["delivery"] == {"hook": generic, "delivery_key": "k1"}
    (pd,) = tables.list_deliveries(pagerduty)
    assert b"R0UT1NGKEY" not in pd["body"] and pd["change_ids"][0].startswith("pagerduty:")

    second = _replay(runner)
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 0, 2)
    assert all("refused" in line for line in second["lines"])  # only the NaN delivery again

    assert _replay(runner, "--hook", pagerduty)["deliveries"] == 1
    assert _replay(runner, "--since", "2999-01-01T00:00:00Z")["deliveries"] == 0
    unknown = invoke(runner, "deliveries", "replay", "--hook", "h_nope")
    assert unknown.exit_code == 1 and "no hook 'h_nope'" in unknown.output
    text = invoke(runner, "deliveries", "replay").output
    assert text.splitlines()[-1].startswith("replayed 3 deliveries: 0 changes inserted, "
                                            "0 updated")
    store.close()


def test_replay_builds_the_hook_path_context(app, client, make_hook):
    """A GitHub delivery mapped by the graph's repo: annotation replays to exactly what the
    hook stored: the replay's parser context is the hook path's (hooks.hook_context)."""
    from pathlib import Path

    from rollback_advisor.web.hooks import hook_context
    from rollback_advisor.web.replay import replay
    from rollback_advisor.web.services import services

    from .conftest import GRAPH
    from .test_hooks import github_headers

    graph = {"services": {**GRAPH["services"],
                          "catalog": {"repo": "github:Codertocat/Hello-World"}}}
    with app.app_context():
        services().store.save_graph(graph)
    hook = make_hook("github")
    body = (Path(__file__).parents[1] / "fixtures/hooks/github-webhooks-octokit/deployment"
            / "payload.json").read_bytes()
    r = client.post(f"/hooks/{hook['id']}", data=body,
                    headers=github_headers(body, hook["secret"], "deployment", "g-1"))
    assert r.status_code == 201, r.get_json()
    (change_id,) = r.get_json()["changes"]
    with app.app_context():
        svc = services()
        assert svc.store.get_change(change_id).services == ("catalog",)
        report = replay(svc.tables, lambda h: hook_context(h, svc.settings,
                                                           lambda: svc.advisor().graph()))
        assert (report.deliveries, report.updated, report.unchanged) == (1, 0, 1)
        assert svc.store.get_change(change_id).services == ("catalog",)


def test_replay_skips_alert_deliveries_and_says_so(runner, tmp_path):  # noqa: F811
    generic, alerts = _hook(runner, "generic"), _hook(runner, "alertmanager")
    tables = ServiceTables(Store(f"sqlite:///{tmp_path / 'web.db'}"))
    payload = (Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
               / "alertmanager-webhook-zulip" / "alert.json").read_bytes()
    tables.store_delivery(hook_id=alerts, delivery_key="a1", event="alert", headers={},
                          body=payload, changes=[])
    tables.store_delivery(hook_id=generic, delivery_key="k1", event="change", headers={},
                          body=json.dumps(EVENT).encode(), changes=[])
    report = _replay(runner)
    assert (report["deliveries"], report["skipped"], report["inserted"], report["refused"],
            report["ignored"]) == (2, 1, 1, 0, 0)
    (line,) = [x for x in report["lines"] if alerts in x]
    assert "skipped" in line and "alertmanager" in line
    text = invoke(runner, "deliveries", "replay", "--hook", alerts).output
    assert text.splitlines()[-1].endswith("; 1 alert deliveries skipped")

"""``rollback-advisor incidents`` and alert hook registration through Click's runner."""

from __future__ import annotations

import json


def test_open_show_list_resolve(run, loaded) -> None:
    expect = loaded["expect"]["culprit"]
    incident = loaded["incident"]
    opened = run("incidents", "open", incident["target"], "--at", str(incident["started_at"]),
                 "--title", "checkout errors", "--scope", "region=eu", "--format", "json")
    assert opened.exit_code == 0, opened.output
    data = json.loads(opened.output)
    assert data["id"] == 1 and data["status"] == "open" and data["source"] == "manual"
    assert data["scope"] == {"region": ["eu"]} and data["title"] == "checkout errors"
    (advice,) = data["advice"]
    assert advice["trigger"] == "opened" and advice["change_id"] == expect
    shown = run("incidents", "show", "1")
    assert shown.exit_code == 0 and f"[opened]: {advice['decision']} {expect}" in shown.output
    listed = run("incidents", "list", "--status", "open")
    assert listed.output.split()[:2] == ["1", "open"]
    assert run("incidents", "resolve", "1").exit_code == 0
    assert run("incidents", "list", "--status", "open").output.strip() == "no incidents"
    assert json.loads(run("incidents", "show", "1", "--format", "json").output)[
        "status"] == "resolved"


def test_unknown_incident_and_target(run) -> None:
    missing = run("incidents", "show", "42")
    assert missing.exit_code == 1 and "no incident 42" in missing.output
    # no graph stored: the incident opens all the same, its advice entry says why
    opened = run("incidents", "open", "checkout", "--format", "json")
    assert opened.exit_code == 0, opened.output
    (advice,) = json.loads(opened.output)["advice"]
    assert advice["decision"] is None and "graph" in advice["error"]


def test_alert_hook_register_prints_the_bearer_config(run) -> None:
    result = run("hooks", "register", "am", "--source", "alertmanager", "--label",
                 "service=app", "--label", "scope.region=aws_region", "--format", "json")
    assert result.exit_code == 0, result.output
    created = json.loads(next(x for x in result.output.splitlines() if x.startswith("{")))
    assert f"credentials: {created['secret']}" in created["configure"]
    assert "type: Bearer" in created["configure"]
    listed = json.loads(run("hooks", "list", "--format", "json").output)
    assert listed[0]["labels"] == {"service": "app", "scope.region": "aws_region"}
    bad = run("hooks", "register", "x", "--source", "alertmanager", "--label", "colour=red")
    assert bad.exit_code == 1 and "--label" in bad.output
    deploy = run("hooks", "register", "x", "--source", "github", "--label", "service=app")
    assert deploy.exit_code == 1 and "alert hook" in deploy.output


def test_vendor_secret_command(run, monkeypatch) -> None:
    result = run("hooks", "register", "pd", "--source", "pagerduty-incidents", "--format",
                 "json")
    created = json.loads(next(x for x in result.output.splitlines() if x.startswith("{")))
    assert f"hooks vendor-secret {created['id']}" in created["configure"]
    monkeypatch.setenv("PD_SECRET", "from-pagerduty")
    stored = run("hooks", "vendor-secret", created["id"], "--secret-env", "PD_SECRET")
    assert stored.exit_code == 0 and "stored" in stored.output
    assert "from-pagerduty" not in run("hooks", "list", "--format", "json").output
    assert run("hooks", "vendor-secret", created["id"]).exit_code == 1
    assert run("hooks", "vendor-secret", "h_nope", "--clear").exit_code == 1
    assert run("hooks", "vendor-secret", created["id"], "--clear").exit_code == 0

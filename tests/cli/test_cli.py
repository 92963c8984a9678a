"""The command line through Click's runner: every command and format, and bad input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from .conftest import CASE

ROOT = Path(__file__).resolve().parents[2]
SHARED_CASES = ROOT.parent / "shared" / "cases"


def test_demo_runs_on_bundled_data(run) -> None:
    """`demo` stores the bundled organisation and recommends a rollback of its culprit."""
    result = run("demo")
    assert result.exit_code == 0, result.output
    expect = yaml.safe_load((ROOT / "rollback_advisor" / "demo" / "incident.yaml").read_text())
    assert "ROLL BACK" in result.output
    assert expect["expect"]["culprit"] in result.output
    again = run("demo", "--format", "json")
    data = json.loads(again.output)
    assert data["recommendation"]["change_id"] == expect["expect"]["culprit"]
    assert data["recommendation"]["decision"] == "rollback"
    assert run("demo", "--format", "slack").output.startswith(":rewind: *ROLL BACK")


def test_import_counts_and_idempotence(run, loaded, tmp_path: Path) -> None:
    """Re-importing the same file inserts nothing and counts duplicates."""
    result = run("import", "changes.jsonl", "--format", "json")
    data = json.loads(result.output)
    assert data["inserted"] == 0 and data["duplicates"] == len(loaded["changes"])


def test_import_rejections_store_nothing(run, tmp_path: Path) -> None:
    """A file with bad lines names each line and reason, stores nothing and exits non-zero;
    --skip-invalid stores the good lines."""
    good = {"id": "g1", "kind": "deploy", "service": "a", "at": "2026-11-20T10:00:00Z"}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "id": "g2",
                                                        "at": "2026-11-20T10:00:00"}),
             json.dumps({**good, "id": "g3"})]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    result = run("import", "bad.jsonl")
    assert result.exit_code == 1
    assert "line 2: not JSON" in result.output
    assert "line 3: at: got '2026-11-20T10:00:00', expected a timestamp with a UTC offset" \
        in result.output
    assert "nothing stored" in result.output
    assert run("changes", "--format", "json").output.strip() == "[]"
    result = run("import", "bad.jsonl", "--skip-invalid", "--format", "json")
    data = json.loads(result.output)
    assert (data["inserted"], data["rejected"]) == (2, 2)
    assert [r["line"] for r in data["rejections"]] == [2, 3]


def test_import_from_stdin(run) -> None:
    """`import -` reads JSON Lines from standard input."""
    line = json.dumps({"id": "s1", "kind": "config", "services": ["*"],
                       "at": "2026-11-20T10:00:00Z"})
    result = run("import", "-", input=line + "\n")
    assert result.exit_code == 0 and "inserted 1" in result.output


def test_changes_filters_and_formats(run, loaded) -> None:
    """`changes` filters by service and time, as text and as JSON."""
    result = run("changes", "--service", "paymentservice", "--format", "json")
    assert [c["id"] for c in json.loads(result.output)] == ["d-payment-143", "d-payment-142"]
    text = run("changes", "--since", "2026-11-20T13:00:00Z", "--until",
               "2026-11-20T14:10:00Z").output
    assert "d-ad-77" in text and "d-email-9" not in text and "d-payment-143" not in text


def test_suspects_every_format(run, loaded) -> None:
    """`suspects` ranks the culprit first in text, JSON and Slack forms."""
    args = ("suspects", "frontend:POST /cart/checkout", "--at", "2026-11-20T14:05:00Z")
    text = run(*args).output.splitlines()
    assert text[0] == ("incident: frontend:POST /cart/checkout since 2026-11-20T14:05:00Z "
                       "(production)")
    first = text.index(next(line for line in text if line.startswith("suspects"))) + 1
    assert text[first].split()[2] == "d-payment-142"
    data = json.loads(run(*args, "--format", "json").output)
    assert data["suspects"][0]["change"]["id"] == "d-payment-142"
    assert data["suspects"][0]["reasons"][2]["text"].startswith("2 hops")
    slack = run(*args, "--format", "slack").output
    assert "d-payment-142" in slack and "14:05 UTC" in slack
    # pasted into the message box: only what the composer renders (issue #10 item 12)
    assert "-> paymentservice" in slack
    for markup in ("<", "&gt;", "&lt;", "&amp;"):
        assert markup not in slack


def test_recommend_every_format(run, loaded) -> None:
    """`recommend` says roll back paymentservice to v1.4.1 and names the later hotfix."""
    args = ("recommend", "POST /cart/checkout", "--at", "2026-11-20T14:05:00Z")
    text = run(*args).output
    assert text.startswith("ROLL BACK") and "paymentservice v1.4.1" in text
    data = json.loads(run(*args, "--format", "json").output)
    assert data["recommendation"]["decision"] == "rollback"
    assert data["recommendation"]["also_affected"][0]["id"] == "d-payment-143"
    slack = run(*args, "--format", "slack").output
    assert slack.startswith(":rewind: *ROLL BACK") and len(slack.splitlines()) <= 25


def test_relative_times_and_window(run, loaded) -> None:
    """`--at` takes relative forms; a short window leaves the old changes out."""
    result = run("suspects", "frontend", "--at", "now", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(run("suspects", "frontend", "--at", "2026-11-20T14:05:00Z",
                          "--window", "1h", "--format", "json").output)
    assert "d-email-9" not in [s["change"]["id"] for s in data["suspects"]]


def test_graph_commands(run, loaded) -> None:
    """`graph show` prints dependencies and dependants; `graph check` flags unknown nodes."""
    show = run("graph", "show", "checkoutservice").output
    assert "paymentservice" in show and "frontend" in show
    data = json.loads(run("graph", "show", "checkoutservice", "--format", "json").output)
    assert "frontend" in data["dependants"]
    assert run("graph", "check").exit_code == 0
    line = json.dumps({"id": "u1", "kind": "deploy", "service": "brand-new",
                       "at": "2026-11-20T10:00:00Z"})
    run("import", "-", input=line)
    result = run("graph", "check", "--format", "json")
    assert result.exit_code == 1
    assert "brand-new" in json.loads(result.output)["unknown_nodes"]


@pytest.mark.parametrize(("args", "message"), [
    (("suspects", "nowhere", "--at", "now"), "not a node of the dependency graph"),
    (("suspects", "frontend", "--at", "yesterday-ish"), "--at: got 'yesterday-ish'"),
    (("suspects", "frontend", "--window", "forever"), "--window: got 'forever'"),
    (("eval", "no-such-dir"), "an existing case file or folder"),
    (("--config", "missing.yaml", "changes"), "cannot read config missing.yaml"),
    (("--database", "postgresql+psycopg://u:hunter2@127.0.0.1:1/x", "changes"), "127.0.0.1"),
])
def test_errors_are_one_line(run, loaded, args, message) -> None:
    """Errors are one actionable line on stderr with exit code 1, never a traceback."""
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_suspects_without_graph(run) -> None:
    """Asking before any graph is loaded says how to load one."""
    result = run("suspects", "frontend")
    assert result.exit_code == 1 and "graph load" in result.output


def test_eval_json_and_text(run) -> None:
    """`eval` prints the DESIGN §3 object with both baselines, and a table."""
    result = run("eval", str(CASE.parent), "--format", "json")
    data = json.loads(result.output)
    assert set(data) == {"cases", "top1", "top3", "mrr", "decision_accuracy", "per_case",
                         "baselines", "brier", "reliability"}
    assert 0 <= data["brier"] <= 1
    assert sum(row["cases"] for row in data["reliability"]) == data["cases"]
    assert set(data["baselines"]) == {"recency", "same_service"}
    assert set(data["per_case"][0]) == {"name", "culprit", "rank", "decision",
                                        "expected_decision", "confidence", "ranking"}
    text = run("eval", str(CASE)).output
    assert "baseline recency" in text and "online-boutique-payment-deploy" in text
    assert "Brier score of the top suspect" in text


SYMPTOMS = ("--symptom", "checkoutservice@2026-11-20T14:03:00Z", "--symptom", "cartservice",
            "--scope", "region=us-east-1", "--scope", "region=eu-west-1", "--scope", "cell=7")


def test_symptoms_and_scope_make_the_incident(run, loaded) -> None:
    """--symptom NODE[@TIME] and --scope LABEL=VALUE (both repeatable) make the incident the
    JSON echoes; a symptom without a time takes the onset; a repeated label adds values."""
    args = ("suspects", "frontend:POST /cart/checkout", "--at", "2026-11-20T14:05:00Z",
            *SYMPTOMS)
    data = json.loads(run(*args, "--format", "json").output)
    assert data["incident"]["symptoms"] == [
        {"node": "checkoutservice", "started_at": "2026-11-20T14:03:00Z"},
        {"node": "cartservice", "started_at": "2026-11-20T14:05:00Z"}]
    assert data["incident"]["scope"] == {"cell": ["7"], "region": ["eu-west-1", "us-east-1"]}
    plain = json.loads(run("suspects", "frontend:POST /cart/checkout", "--at",
                           "2026-11-20T14:05:00Z", "--format", "json").output)
    assert "symptoms" not in plain["incident"] and "scope" not in plain["incident"]


def test_symptoms_and_scope_in_text_and_slack_headers(run, loaded) -> None:
    """The text and Slack headers show each symptom's onset against the incident's, and the
    scope."""
    args = ("suspects", "frontend:POST /cart/checkout", "--at", "2026-11-20T14:05:00Z",
            *SYMPTOMS)
    text = run(*args).output
    assert ("also failing: checkoutservice since 2026-11-20T14:03:00Z, 2 min before onset; "
            "cartservice since onset") in text
    assert "failing in: cell 7; region eu-west-1, us-east-1" in text
    recommend = run("recommend", *args[1:]).output
    assert "also failing: checkoutservice" in recommend.splitlines()[2]
    slack = run("recommend", *args[1:], "--format", "slack").output
    assert "*Also failing:* `checkoutservice` since 2026-11-20T14:03:00Z, 2 min before onset" \
        in slack
    assert "*Failing in:* cell 7; region eu-west-1, us-east-1" in slack


def test_symptom_times_take_the_forms_of_at(run, loaded) -> None:
    """A symptom's time is relative to now like --at's; an @ not followed by a time is part of
    the node's name (endpoint names may hold one)."""
    data = json.loads(run("suspects", "frontend", "--at", "2026-11-20T14:05:00Z", "--symptom",
                          "cartservice@now", "--symptom", "adservice@-15m", "--symptom",
                          "emailservice@2h ago", "--symptom", "frontend:GET /@me",
                          "--format", "json").output)
    got = {s["node"]: s["started_at"] for s in data["incident"]["symptoms"]}
    assert set(got) == {"cartservice", "adservice", "emailservice", "frontend:GET /@me"}
    assert got["frontend:GET /@me"] == "2026-11-20T14:05:00Z"
    ago = {k: datetime.fromisoformat(v) for k, v in got.items() if k != "frontend:GET /@me"}
    assert ago["cartservice"] - ago["adservice"] == timedelta(minutes=15)
    assert ago["cartservice"] - ago["emailservice"] == timedelta(hours=2)


@pytest.mark.parametrize(("extra", "message"), [
    (("--symptom", "cartservice@-12x"), "--symptom: got 'cartservice@-12x'"),
    (("--symptom", "cartservice@2026-11-20T14:00:00"), "expected a timestamp with a UTC offset"),
    (("--symptom", "cartservice@"), "--symptom: got 'cartservice@', expected a time after the @"),
    (("--symptom", "@-5m"), "a node name before the @"),
    (("--symptom", " "), "--symptom: got ' ', expected NODE or NODE@TIME"),
    (("--scope", "region"), "--scope: got 'region', expected LABEL=VALUE"),
    (("--scope", "=us-east-1"), "--scope: got '=us-east-1'"),
    (("--scope", "region="), "--scope: got 'region='"),
])
@pytest.mark.parametrize("command", ["suspects", "recommend"])
def test_bad_symptom_or_scope_is_one_line(run, loaded, command, extra, message) -> None:
    """A malformed --symptom or --scope is one line naming the option, exit 1."""
    result = run(command, "frontend", *extra)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_import_keeps_scope_and_changes_shows_it(run, loaded) -> None:
    """A change's scope in an imported line is stored and shown by `changes --format json`."""
    line = json.dumps({"id": "d-cart-5", "kind": "deploy", "service": "cartservice",
                       "at": "2026-11-20T14:00:00Z",
                       "scope": {"region": ["us-east-1"], "cell": ["7", "3"]}})
    assert run("import", "-", input=line + "\n").exit_code == 0
    shown = json.loads(run("changes", "--service", "cartservice", "--format", "json").output)
    assert shown == [{"id": "d-cart-5", "kind": "deploy", "service": "cartservice",
                      "environment": "production", "at": "2026-11-20T14:00:00Z",
                      "status": "succeeded",
                      "scope": {"cell": ["3", "7"], "region": ["us-east-1"]}}]

"""``suspects --format json`` stays byte-identical through the speed work (issue 11).

The expected outputs in ``tests/fixtures/outputs/`` were recorded by the code before it (main at
0284dd2) with ``python -m tests.cli.test_output_identity --record``; see the README there. A
change to the ranking, the store's decoding of rows, the lazy imports or the schema-version read
that alters one byte of the answer fails here. When the engine changes an answer on purpose,
re-record on that commit and say so in its message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from rollback_advisor.cli import cli
from rollback_advisor.timeutil import format_utc

from .busy_store import ONSET, TARGET, change_events, graph_document

OUTPUTS = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
DEMO = Path(__file__).resolve().parents[2] / "rollback_advisor" / "demo" / "incident.yaml"
Invoke = Callable[..., Result]

# name -> the suspects arguments after the store is filled
ASKS: dict[str, tuple[str, list[str]]] = {
    "demo": ("demo", []),
    "busy": ("busy", [TARGET, "--at", format_utc(ONSET)]),
    "busy-rich": ("busy", [TARGET, "--at", format_utc(ONSET), "--symptom",
                           "svc-133@2026-11-20T14:02:00Z", "--symptom", "svc-135",
                           "--scope", "region=us-east-1"]),
    "busy-limit": ("busy", [TARGET, "--at", format_utc(ONSET), "--window", "6h",
                            "--limit", "3"]),
}


def fill(invoke: Invoke, kind: str, folder: Path) -> list[str]:
    """Fill the store for ``kind`` (the bundled demo, or the generated busy organisation);
    return the demo's suspects arguments (target and onset from its incident.yaml)."""
    if kind == "demo":
        assert invoke("demo").exit_code == 0
        incident = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
        return [incident["target"], "--at", incident["started_at"]]
    graph = graph_document()
    (folder / "graph.yaml").write_text(yaml.safe_dump(graph), encoding="utf-8")
    (folder / "changes.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in change_events(graph)), encoding="utf-8")
    assert invoke("graph", "load", str(folder / "graph.yaml")).exit_code == 0
    result = invoke("import", str(folder / "changes.jsonl"))
    assert result.exit_code == 0, result.output
    return []


def outputs(invoke: Invoke, folder: Path) -> dict[str, str]:
    """Every recorded ask's ``suspects --format json`` output, stores filled once per kind."""
    got: dict[str, str] = {}
    filled: dict[str, list[str]] = {}
    for name, (kind, args) in ASKS.items():
        if kind not in filled:
            filled[kind] = fill(invoke, kind, folder)
        result = invoke("suspects", *(args or filled[kind]), "--format", "json")
        assert result.exit_code == 0, result.output
        got[name] = result.output
    return got


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """The CLI on one SQLite store in tmp_path (the demo and the busy data apart: the busy
    organisation uses other node names, so the demo's answers do not see its changes)."""
    monkeypatch.delenv("ROLLBACK_ADVISOR_CONFIG", raising=False)
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


def test_suspects_json_is_byte_identical_to_the_recorded_outputs(
        invoke: Invoke, tmp_path: Path) -> None:
    got = outputs(invoke, tmp_path)
    for name, text in got.items():
        expected = (OUTPUTS / f"{name}.json").read_text(encoding="utf-8")
        assert text == expected, f"suspects --format json changed for {name!r}"


def test_recorded_outputs_rank_many_suspects() -> None:
    """The comparison has teeth: the busy answers list the full number of suspects, with
    distinct probabilities, so a reordering or a changed score shows in the bytes."""
    busy = json.loads((OUTPUTS / "busy.json").read_text(encoding="utf-8"))
    probabilities = [s["probability"] for s in busy["suspects"] if not s.get("after_onset")]
    assert len(probabilities) >= 20
    assert len(set(probabilities)) >= 10
    assert busy["candidates"] > 500


def test_a_changed_prior_changes_the_output(invoke: Invoke, tmp_path: Path) -> None:
    """A different kind prior (config file) gives a different answer than recorded: the test
    above would catch a ranking change."""
    (tmp_path / "bumped.yaml").write_text("engine:\n  kind_prior:\n    config: 9.0\n",
                                          encoding="utf-8")
    fill(invoke, "busy", tmp_path)
    result = invoke("--config", str(tmp_path / "bumped.yaml"), "suspects", *ASKS["busy"][1],
                    "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.output != (OUTPUTS / "busy.json").read_text(encoding="utf-8")


def _record() -> None:  # pragma: no cover - run by hand, on the commit whose outputs count
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("ROLLBACK_ADVISOR_CONFIG", None)
        os.environ["ROLLBACK_ADVISOR_DATA_DIR"] = f"{tmp}/data"
        os.environ["ROLLBACK_ADVISOR_DATABASE_URL"] = f"sqlite:///{tmp}/store.db"
        os.chdir(tmp)
        runner = CliRunner()
        got = outputs(lambda *a: runner.invoke(cli, list(a), catch_exceptions=False), Path(tmp))
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    for name, text in got.items():
        (OUTPUTS / f"{name}.json").write_text(text, encoding="utf-8")
        print(f"recorded {OUTPUTS / name}.json ({len(text)} bytes)")


if __name__ == "__main__" and "--record" in sys.argv:  # pragma: no cover
    _record()
